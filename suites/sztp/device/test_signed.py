"""Device DUT: signed conveyed information from an untrusted server (RFC 8572 §5.3,
§5.4): accepted only with a valid signature, owner certificate and ownership voucher."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.protocols.sztp.device_bed import DeviceDutBed
from harness.protocols.sztp.server import ServerBehaviour
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("sztp", "device")


def _refused(device_bed: DeviceDutBed, req: str, what: str) -> None:
    outcome = device_bed.bootstrap()
    served = [c for c in device_bed.calls if c.serial == device_bed.serial]
    if not served:  # a device may decline a server it cannot authenticate at all
        inconclusive("the device never asked the server: there is no refusal to judge")
    check(outcome.result != "onboarded" and outcome.onboarding is None,
          f"the device accepted signed onboarding information with {what}", req)


@pytest.mark.requirement("RFC8572-5.4-MUST-01")
@pytest.mark.ics("SZTP-DEVICE-SIGNED-DATA")
def test_signed_onboarding_accepted(device_bed: DeviceDutBed) -> None:
    """Valid signed data from an untrusted server: trust-state TRUE, accepted."""
    req = "RFC8572-5.4-MUST-01"
    device_bed.serve(signed=True, trusted=False)
    outcome = device_bed.bootstrap()
    check(outcome.result == "onboarded",
          f"valid signed onboarding information was not accepted: {outcome.steps}", req)


@pytest.mark.requirement("RFC8572-5.4-MUST-01")
def test_bad_signature_refused(device_bed: DeviceDutBed) -> None:
    device_bed.serve(signed=True, trusted=False, behaviour=ServerBehaviour(bad_signature=True))
    _refused(device_bed, "RFC8572-5.4-MUST-01", "a broken signature")


@pytest.mark.requirement("RFC8572-5.3-MUST-06")
def test_bad_signature_from_trusted_server_refused(device_bed: DeviceDutBed) -> None:
    """Signed data that fails validation sets trust-state FALSE even when the server
    itself was authenticated: its onboarding information is refused."""
    device_bed.serve(signed=True, trusted=True, behaviour=ServerBehaviour(bad_signature=True))
    _refused(device_bed, "RFC8572-5.3-MUST-06", "a broken signature from a trusted server")


@pytest.mark.requirement("RFC8572-5.4-MUST-02")
def test_signed_without_voucher_refused(device_bed: DeviceDutBed) -> None:
    device_bed.serve(signed=True, trusted=False,
                     behaviour=ServerBehaviour(omit_owner_artifacts=True))  # fmt: skip
    _refused(device_bed, "RFC8572-5.4-MUST-02", "no owner certificate or ownership voucher")


@pytest.mark.requirement("RFC8572-5.4-MUST-03")
def test_expired_voucher_refused(device_bed: DeviceDutBed) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    voucher = device_bed.pki.voucher(device_bed.serial, created_on=now - dt.timedelta(days=2),
                                     expires_on=now - dt.timedelta(hours=1))  # fmt: skip
    device_bed.serve(signed=True, trusted=False, voucher=voucher)
    _refused(device_bed, "RFC8572-5.4-MUST-03", "an expired ownership voucher")


@pytest.mark.requirement("RFC8572-5.4-MUST-04")
def test_voucher_for_another_serial_refused(device_bed: DeviceDutBed) -> None:
    voucher = device_bed.pki.voucher("ONBC-SZTP-SOMEONE-ELSE")
    device_bed.serve(signed=True, trusted=False, voucher=voucher)
    _refused(device_bed, "RFC8572-5.4-MUST-04", "a voucher for another serial number")


@pytest.mark.requirement("RFC8572-5.4-MUST-05")
def test_pinned_cert_not_owner_root_refused(device_bed: DeviceDutBed) -> None:
    # pins a root that exists but did not issue the owner certificate
    voucher = device_bed.pki.voucher(device_bed.serial, pinned=device_bed.pki.next_root.cert)
    device_bed.serve(signed=True, trusted=False, voucher=voucher)
    _refused(device_bed, "RFC8572-5.4-MUST-05", "an owner certificate the voucher does not pin")
