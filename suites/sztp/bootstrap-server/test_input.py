"""Bootstrap server DUT: RPC input the YANG module refuses, and report-progress
(RFC 8572 §7.3; RFC 8040 §7)."""

from __future__ import annotations

import base64
import json

import pytest

from harness.protocols.sztp import codec
from harness.protocols.sztp.errors import SztpCodecError
from harness.protocols.sztp.peer import Answer
from harness.protocols.sztp.testbed import REDIRECT_SN, BootstrapServerBed
from harness.verdicts import check

pytestmark = pytest.mark.dut_role("sztp", "bootstrap-server")

SHORT_NONCE = json.dumps({"ietf-sztp-bootstrap-server:input": {
    "nonce": base64.b64encode(b"12345678").decode()}}).encode()  # 8 octets, not 16..32
BAD_PROGRESS = json.dumps({"ietf-sztp-bootstrap-server:input": {
    "progress-type": "onboardcheck-no-such-type"}}).encode()


def _is_400_with_errors(answer: Answer) -> tuple[bool, str]:
    if answer.status != 400:
        return False, f"expected 400, got {answer.describe()}"
    try:
        answer.errors()
    except SztpCodecError as exc:
        return False, f"400 without an ietf-restconf:errors body: {exc}"
    return True, ""


@pytest.mark.requirement("RFC8572-7.3-MUST-03")
def test_short_nonce_refused(server_bed: BootstrapServerBed) -> None:
    """leaf nonce { type binary { length "16..32"; } }"""
    req = "RFC8572-7.3-MUST-03"
    server_bed.start()
    answer = server_bed.device(REDIRECT_SN).post("get-bootstrapping-data", SHORT_NONCE)
    check(answer.status is not None and answer.status >= 400
          and not answer.carries_conveyed_information(),
          f"an 8-octet nonce was answered {answer.describe()}", req)


@pytest.mark.requirement("RFC8040-7-MUST-01")
def test_short_nonce_400(server_bed: BootstrapServerBed) -> None:
    """Input that its YANG definition refuses gets 400 with an errors body."""
    req = "RFC8040-7-MUST-01"
    server_bed.start()
    answer = server_bed.device(REDIRECT_SN).post("get-bootstrapping-data", SHORT_NONCE)
    ok, why = _is_400_with_errors(answer)
    check(ok, f"8-octet nonce: {why}", req)


@pytest.mark.requirement("RFC8572-7.3-MUST-04")
@pytest.mark.ics("SZTP-SERVER-REPORT-PROGRESS")
def test_unknown_progress_type_refused(server_bed: BootstrapServerBed) -> None:
    """leaf progress-type { type enumeration { ... } }"""
    req = "RFC8572-7.3-MUST-04"
    server_bed.start()
    answer = server_bed.device(REDIRECT_SN).post("report-progress", BAD_PROGRESS)
    check(answer.status is not None and answer.status >= 400,
          f"an unknown progress-type was answered {answer.describe()}", req)


@pytest.mark.requirement("RFC8040-7-MUST-01")
@pytest.mark.ics("SZTP-SERVER-REPORT-PROGRESS")
def test_unknown_progress_type_400(server_bed: BootstrapServerBed) -> None:
    """Input that its YANG definition refuses gets 400 with an errors body."""
    req = "RFC8040-7-MUST-01"
    server_bed.start()
    answer = server_bed.device(REDIRECT_SN).post("report-progress", BAD_PROGRESS)
    ok, why = _is_400_with_errors(answer)
    check(ok, f"unknown progress-type: {why}", req)


@pytest.mark.requirement("RFC8572-7.3-MUST-07")
@pytest.mark.ics("SZTP-SERVER-REPORT-PROGRESS")
def test_report_progress_accepted(server_bed: BootstrapServerBed) -> None:
    """A known device's progress report is accepted: 204 No Content."""
    req = "RFC8572-7.3-MUST-07"
    server_bed.start()
    answer = server_bed.device(REDIRECT_SN).report_progress(
        codec.ReportProgressInput("bootstrap-initiated", "onboardcheck progress report"))
    check(answer.status == 204 and answer.body == b"",
          f"bootstrap-initiated was answered {answer.describe()}", req)
