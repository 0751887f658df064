"""Bootstrap server DUT: who gets bootstrapping data (RFC 8572 §5.3, §7.3; RFC 8040 §2.5)."""

from __future__ import annotations

import pytest

from harness.protocols.sztp import codec
from harness.protocols.sztp.errors import SztpCodecError
from harness.protocols.sztp.testbed import (
    ACTIVATION_CODE,
    CODE_SN,
    ONBOARD_SN,
    REDIRECT_SN,
    UNKNOWN_SN,
    BootstrapServerBed,
)
from harness.verdicts import check

pytestmark = pytest.mark.dut_role("sztp", "bootstrap-server")


@pytest.mark.requirement("RFC8040-2.5-MUST-01")
def test_no_client_certificate_refused(server_bed: BootstrapServerBed) -> None:
    """The RESTCONF server MUST authenticate client access to any protected resource."""
    req = "RFC8040-2.5-MUST-01"
    # Step 1: a device without a client certificate asks for its bootstrapping data.
    server_bed.start()
    answer = server_bed.call(None)
    # Step 2: no conveyed information, no 200.
    check(answer.status != 200 and not answer.carries_conveyed_information(),
          f"a device without a client certificate was answered {answer.describe()}", req)
    server_bed.refusal_counts("a device without a client certificate")


@pytest.mark.requirement("RFC8040-2.5-SHOULD-01")
def test_no_client_certificate_401(server_bed: BootstrapServerBed) -> None:
    """An unauthenticated client SHOULD get 401 with error-tag access-denied."""
    req = "RFC8040-2.5-SHOULD-01"
    server_bed.start()
    answer = server_bed.call(None)
    check(answer.status == 401, f"expected 401, got {answer.describe()}", req)
    try:
        tags = [e.get("error-tag") for e in answer.errors()]
    except SztpCodecError as exc:
        check(False, f"the 401 has no ietf-restconf:errors body: {exc}", req)
        return
    check("access-denied" in tags, f"error-tag {tags}, not access-denied", req)


@pytest.mark.requirement("RFC8572-5.3-MUST-01")
def test_client_of_other_ca_refused(server_bed: BootstrapServerBed) -> None:
    """The bootstrap server MUST authenticate the device's client certificate against the
    trust anchors for the device's manufacturer. (The CA here is one the DUT knows, but
    only as the trust anchor of a redirect target.)"""
    req = "RFC8572-5.3-MUST-01"
    server_bed.start()
    # Step 1: a configured serial number in a certificate from the redirect target's CA.
    answer = server_bed.call(REDIRECT_SN, issuer=server_bed.pki.next_ca)
    # Step 2: the handshake fails, or the answer has no conveyed information.
    check(answer.status != 200 and not answer.carries_conveyed_information(),
          f"a certificate from a CA that is not a device CA got {answer.describe()}", req)
    server_bed.refusal_counts("a certificate from a CA that is not a device CA")


@pytest.mark.requirement("RFC8572-7.3-MUST-05")
def test_unknown_serial_refused(server_bed: BootstrapServerBed) -> None:
    """bootstrapping data that has been made available for it: an unknown serial number
    gets none, each known one its own."""
    req = "RFC8572-7.3-MUST-05"
    server_bed.start()
    # Step 1: a genuine IDevID with a serial number the DUT was not configured for.
    answer = server_bed.call(UNKNOWN_SN)
    check(answer.status != 200 and not answer.carries_conveyed_information(),
          f"an unknown serial number got {answer.describe()}", req)
    # Step 2: the configured devices get what was configured for each of them.
    redirect = server_bed.opened(server_bed.call(REDIRECT_SN), req, REDIRECT_SN)
    check(isinstance(redirect.info, codec.RedirectInformation),
          f"{REDIRECT_SN} was configured with redirect information, got {redirect.info}", req)
    onboard = server_bed.opened(server_bed.call(ONBOARD_SN), req, ONBOARD_SN)
    check(isinstance(onboard.info, codec.OnboardingInformation),
          f"{ONBOARD_SN} was configured with onboarding information, got {onboard.info}", req)


@pytest.mark.requirement("RFC8040-2.5-SHOULD-02")
def test_unknown_serial_status(server_bed: BootstrapServerBed) -> None:
    """A client the server cannot identify SHOULD get 401 or 403 (access-denied)."""
    req = "RFC8040-2.5-SHOULD-02"
    server_bed.start()
    answer = server_bed.call(UNKNOWN_SN)
    check(answer.status in (401, 403), f"an unknown serial number got {answer.describe()}", req)


@pytest.mark.requirement("RFC8572-5.3-MUST-02")
@pytest.mark.ics("SZTP-SERVER-ACTIVATION-CODE")
def test_activation_code(server_bed: BootstrapServerBed) -> None:
    """A device configured with an activation code must present it (HTTP Basic)."""
    req = "RFC8572-5.3-MUST-02"
    server_bed.start()
    # Step 1: without credentials, then with a wrong code: nothing.
    for basic in (None, (CODE_SN, "wrong-code")):
        answer = server_bed.call(CODE_SN, basic=basic)
        check(answer.status != 200 and not answer.carries_conveyed_information(),
              f"activation code {basic[1] if basic else '(none)'} got {answer.describe()}", req)
    # Step 2: with serial number and code: its redirect information.
    opened = server_bed.opened(server_bed.call(CODE_SN, basic=(CODE_SN, ACTIVATION_CODE)),
                               req, f"{CODE_SN} with its activation code")  # fmt: skip
    check(isinstance(opened.info, codec.RedirectInformation),
          f"expected the configured redirect information, got {opened.info}", req)
