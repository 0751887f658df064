"""Device DUT: conveyed information encrypted to the device (RFC 8572 §3.1, §3.4, §5.3):
CMS EnvelopedData to its IDevID certificate, decrypted with the IDevID's private key."""

from __future__ import annotations

import pytest

from harness.protocols.sztp import codec
from harness.protocols.sztp.device_bed import DeviceDutBed
from harness.protocols.sztp.testbed import onboarding_info
from harness.verdicts import check

pytestmark = pytest.mark.dut_role("sztp", "device")
REQ = "RFC8572-5.3-MUST-09"


@pytest.mark.requirement(REQ)
@pytest.mark.ics("SZTP-DEVICE-ENCRYPTED")
def test_encrypted_onboarding_decrypted(device_bed: DeviceDutBed) -> None:
    """Unsigned onboarding information, encrypted, from a trusted server: accepted, and
    what the device took is what was encrypted."""
    device_bed.serve(trusted=True, encrypted=True)
    outcome = device_bed.bootstrap()
    check(outcome.result == "onboarded",
          f"encrypted onboarding information was not accepted: {outcome.steps}", REQ)
    check(outcome.onboarding == codec.conveyed_to_dict(onboarding_info()),
          f"the device took other onboarding information: {outcome.onboarding}", REQ)


@pytest.mark.requirement(REQ)
@pytest.mark.ics("SZTP-DEVICE-ENCRYPTED", "SZTP-DEVICE-SIGNED-DATA")
def test_signed_encrypted_onboarding_decrypted(device_bed: DeviceDutBed) -> None:
    """Signed, then encrypted (§3.4), from an untrusted server: decrypted, then validated
    (§5.4) and accepted."""
    device_bed.serve(signed=True, trusted=False, encrypted=True)
    outcome = device_bed.bootstrap()
    check(outcome.result == "onboarded",
          f"signed and encrypted onboarding information was not accepted: {outcome.steps}",
          REQ)  # fmt: skip
