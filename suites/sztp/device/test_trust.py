"""Device DUT: authentication to the bootstrap server and trust-state (RFC 8572 §5.3,
§7.3): what it accepts from a trusted server, what it must refuse from an untrusted one."""

from __future__ import annotations

import pytest

from harness.protocols.sztp import codec
from harness.protocols.sztp.device_bed import DeviceDutBed
from harness.protocols.sztp.server import ServerBehaviour
from harness.protocols.sztp.testbed import onboarding_info
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("sztp", "device")


def _configured() -> dict[str, object]:
    return codec.conveyed_to_dict(onboarding_info())


@pytest.mark.requirement("RFC8572-5.3-MUST-03")
def test_trusted_server_onboarding_accepted(device_bed: DeviceDutBed) -> None:
    """A server authenticated with the device's trust anchor: trust-state TRUE, so its
    unsigned onboarding information is accepted."""
    req = "RFC8572-5.3-MUST-03"
    device_bed.serve()
    outcome = device_bed.bootstrap()
    check(outcome.result == "onboarded",
          f"the device did not onboard from a trusted server: {outcome.steps}", req)
    check(outcome.onboarding == _configured(),
          f"the device accepted {outcome.onboarding}, not what was served", req)


@pytest.mark.requirement("RFC8572-5.3-MUST-04")
def test_client_certificate_identifies_device(device_bed: DeviceDutBed) -> None:
    """Every call comes with the device's IDevID as TLS client certificate."""
    req = "RFC8572-5.3-MUST-04"
    device_bed.serve()
    device_bed.bootstrap()
    calls = device_bed.calls
    check(bool(calls), "the device never called get-bootstrapping-data", req)
    for call in calls:
        check(call.serial == device_bed.serial,
              f"a call identified {call.serial!r}, not {device_bed.serial!r}", req)


@pytest.mark.requirement("RFC8572-5.3-MUST-05")
def test_intermediate_certificates_sent(device_bed: DeviceDutBed) -> None:
    """IDevID issued by a sub-CA; the server trusts only the manufacturer root: only a
    device that sends the intermediate is authenticated."""
    req = "RFC8572-5.3-MUST-05"
    device_bed.serve(intermediate=True)
    outcome = device_bed.bootstrap()
    identified = [c for c in device_bed.calls if c.serial == device_bed.serial]
    check(bool(identified),
          f"the server never authenticated the device (steps: {outcome.steps})", req)
    check(outcome.result == "onboarded", f"the device did not onboard: {outcome.steps}", req)


@pytest.mark.requirement("RFC8572-5.3-MUST-08")
def test_untrusted_unsigned_onboarding_refused(device_bed: DeviceDutBed) -> None:
    """Unsigned onboarding information from a server the device cannot authenticate is
    never acceptable."""
    req = "RFC8572-5.3-MUST-08"
    device_bed.serve(trusted=False, behaviour=ServerBehaviour(ignore_signed_preferred=True))
    outcome = device_bed.bootstrap()
    served = [c for c in device_bed.calls if c.serial == device_bed.serial]
    if not served:  # a device may decline a server it cannot authenticate at all
        inconclusive("the device never asked the server: there is no refusal to judge")
    check(outcome.result != "onboarded" and outcome.onboarding is None,
          "the device accepted unsigned onboarding information from an untrusted server", req)


@pytest.mark.requirement("RFC8572-7.3-SHOULD-01")
def test_signed_data_preferred_when_untrusted(device_bed: DeviceDutBed) -> None:
    """A device without a trust anchor for the server asks for signed data."""
    req = "RFC8572-7.3-SHOULD-01"
    device_bed.serve(signed=True, trusted=False)
    device_bed.bootstrap()
    calls = device_bed.calls
    check(bool(calls), "the device never called get-bootstrapping-data", req)
    for call in calls:
        request = codec.parse_get_input(call.request)
        check(request.signed_data_preferred,
              f"input without signed-data-preferred: {call.request[:200]!r}", req)
