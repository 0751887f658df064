"""Device DUT: progress reports to a trusted bootstrap server (RFC 8572 §5.6, §7.3)."""

from __future__ import annotations

import pytest

from harness.protocols.sztp.device_bed import DeviceDutBed
from harness.verdicts import Inconclusive, check

pytestmark = pytest.mark.dut_role("sztp", "device")


@pytest.mark.requirement("RFC8572-5.6-SHOULD-01")
@pytest.mark.ics("SZTP-DEVICE-REPORT-PROGRESS")
def test_reports_progress(device_bed: DeviceDutBed) -> None:
    req = "RFC8572-5.6-SHOULD-01"
    device_bed.serve()
    outcome = device_bed.bootstrap()
    if outcome.result != "onboarded":
        # progress is reported while onboarding information is processed: none was
        raise Inconclusive("the device did not take the trusted server's onboarding "
                           f"information (RFC8572-5.3-MUST-03): {outcome.steps}")  # fmt: skip
    assert device_bed.entry is not None
    kinds = [r.progress_type for s, r in device_bed.entry.progress if s == device_bed.serial]
    check("bootstrap-initiated" in kinds, f"no bootstrap-initiated report: {kinds}", req)
    check("bootstrap-complete" in kinds
          and kinds.index("bootstrap-complete") > kinds.index("bootstrap-initiated"),
          f"no bootstrap-complete after bootstrap-initiated: {kinds}", req)
