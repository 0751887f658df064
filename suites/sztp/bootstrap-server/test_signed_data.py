"""Bootstrap server DUT: signed-data-preferred, signed conveyed information, owner
certificate and ownership voucher (RFC 8572 §3.1-3.3, §7.3)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from harness.protocols.sztp import codec
from harness.protocols.sztp.peer import owner_chains_to, signer_is_owner
from harness.protocols.sztp.testbed import ONBOARD_SN, REDIRECT_SN, SIGNED_SN, BootstrapServerBed
from harness.protocols.voucher.cms import ID_CT_ANIMA_JSON_VOUCHER, verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import parse_voucher_json
from harness.verdicts import check, fail

pytestmark = pytest.mark.dut_role("sztp", "bootstrap-server")

PREFERRED = codec.GetBootstrappingDataInput(signed_data_preferred=True)


@pytest.mark.requirement("RFC8572-7.3-MUST-01")
def test_signed_data_preferred_honoured(server_bed: BootstrapServerBed) -> None:
    """Upon receiving this input parameter, the bootstrap server MUST return either
    signed data or unsigned redirect information."""
    req = "RFC8572-7.3-MUST-01"
    server_bed.start()
    serials = [REDIRECT_SN, ONBOARD_SN] + ([SIGNED_SN] if server_bed.signed else [])
    for serial in serials:
        answer = server_bed.call(serial, PREFERRED)
        if answer.status != 200 and not answer.carries_conveyed_information():
            # properly refused: nothing to offer but unsigned onboarding information
            check(serial == ONBOARD_SN, f"{serial}: refused: {answer.describe()}", req)
            continue
        opened = server_bed.opened(answer, req, serial)
        check(opened.signed or isinstance(opened.info, codec.RedirectInformation),
              f"{serial}: signed-data-preferred answered with unsigned {opened.info}", req)
        if serial == SIGNED_SN:
            check(opened.signed, f"{SIGNED_SN} is configured with signed data; got unsigned", req)


@pytest.mark.requirement("RFC8572-7.3-MUST-NOT-01")
def test_no_unsigned_onboarding_when_signed_preferred(server_bed: BootstrapServerBed) -> None:
    """the bootstrap server MUST NOT return unsigned onboarding information."""
    req = "RFC8572-7.3-MUST-NOT-01"
    server_bed.start()
    answer = server_bed.call(ONBOARD_SN, PREFERRED)
    if answer.status != 200 and not answer.carries_conveyed_information():
        # refused: the device was configured with unsigned onboarding data only
        server_bed.refusal_counts("signed-data-preferred from a device with unsigned data")
        return
    opened = server_bed.opened(answer, req, ONBOARD_SN)
    check(opened.signed or not isinstance(opened.info, codec.OnboardingInformation),
          "signed-data-preferred was answered with unsigned onboarding information", req)


def _signed(server_bed: BootstrapServerBed, req: str) -> codec.GetBootstrappingDataOutput:
    server_bed.start()
    opened = server_bed.opened(server_bed.call(SIGNED_SN, PREFERRED), req, SIGNED_SN)
    check(opened.signed, f"{SIGNED_SN} is configured with signed data; got unsigned", req)
    return opened.output


@pytest.mark.requirement("RFC8572-7.3-MUST-06")
@pytest.mark.ics("SZTP-SERVER-SIGNED-DATA")
def test_owner_certificate_with_voucher(server_bed: BootstrapServerBed) -> None:
    """An ownership voucher must be present whenever an owner certificate is presented."""
    req = "RFC8572-7.3-MUST-06"
    output = _signed(server_bed, req)
    owner = output.owner_certificate is not None
    voucher = output.ownership_voucher is not None
    check(owner == voucher, f"owner-certificate {'present' if owner else 'absent'} but "
          f"ownership-voucher {'present' if voucher else 'absent'}: each comes with the other",
          req)  # fmt: skip
    check(owner, "signed conveyed information without owner-certificate and ownership-voucher",
          req)  # fmt: skip


@pytest.mark.requirement("RFC8572-3.2-MUST-01")
@pytest.mark.ics("SZTP-SERVER-SIGNED-DATA")
def test_owner_certificate_signed_it(server_bed: BootstrapServerBed) -> None:
    """The owner certificate verifies the signature over the conveyed information and
    chains to the certificate the ownership voucher pins."""
    req = "RFC8572-3.2-MUST-01"
    server_bed.start()
    opened = server_bed.opened(server_bed.call(SIGNED_SN, PREFERRED), req, SIGNED_SN)
    check(signer_is_owner(opened),
          "the owner certificate's key does not verify the conveyed information's signature",
          req)
    check(owner_chains_to(opened, server_bed.pki.owner_root.cert),
          "the owner certificate does not chain to the owner's root", req)


@pytest.mark.requirement("RFC8572-3.3-MUST-01")
@pytest.mark.ics("SZTP-SERVER-SIGNED-DATA")
def test_ownership_voucher(server_bed: BootstrapServerBed) -> None:
    """The ownership voucher is the manufacturer's (RFC 8366: signed by it, as the device
    verifies it, RFC 8572 §5.4), names the device and pins the owner's certificate."""
    req = "RFC8572-3.3-MUST-01"
    output = _signed(server_bed, req)
    if output.ownership_voucher is None:
        fail("no ownership-voucher with the signed conveyed information", req)
    try:
        signed = verify_cms(output.ownership_voucher)
        voucher = parse_voucher_json(signed.content)
    except VoucherError as exc:
        fail(f"the ownership voucher does not verify or decode: {exc}", req)
    check(signed.content_type == ID_CT_ANIMA_JSON_VOUCHER,
          f"voucher content type {signed.content_type}", req)
    # a bootstrap server cannot make vouchers: it serves the one the manufacturer signed
    check(signed.signer == server_bed.pki.masa.cert,
          f"the ownership voucher is signed by {signed.signer.subject.rfc4514_string()}, "
          "not by the manufacturer's voucher signer", req)  # fmt: skip
    check(voucher.serial_number == SIGNED_SN,
          f"voucher serial-number {voucher.serial_number!r}, device {SIGNED_SN!r}", req)
    pinned = server_bed.pki.owner_root.cert.public_bytes(Encoding.DER)
    check(voucher.pinned_domain_cert == pinned,
          "the voucher's pinned-domain-cert is not the owner's root", req)
