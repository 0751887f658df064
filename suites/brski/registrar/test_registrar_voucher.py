"""BRSKI registrar DUT: what it checks in a pledge voucher-request and what it sends the
MASA (RFC 8995 §5.3, §5.5, §5.6). The harness plays the pledge (hand-made requests over
TLS with its IDevID) and the MASA, which takes whatever the registrar sends so the
test can judge it."""

from __future__ import annotations

import pytest
from cryptography import x509

from harness.protocols.brski.common import VOUCHER_CMS_JSON
from harness.protocols.brski.suite_support import (
    HOST,
    PLEDGE_SERIAL,
    RegistrarDutBed,
    is_voucher_request,
    numbers,
)
from harness.protocols.est.client import EstResponse
from harness.protocols.voucher.cms import verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import VoucherRequest, parse_voucher_request_json
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("brski", "registrar")


def _valid_request(bed: RegistrarDutBed) -> tuple[EstResponse, x509.Certificate]:
    """A spec-exact pledge voucher-request; (the answer, the registrar's certificate)."""
    bed.start()
    cert = bed.registrar_cert()
    return bed.post_pvr(bed.pvr(cert)), cert


def _rvr(bed: RegistrarDutBed, req: str, frames: list[str]) -> tuple[bytes, VoucherRequest]:
    """The registrar voucher-request the tester MASA received (body, parsed)."""
    found = bed.rvrs()
    if not found:
        inconclusive("the registrar sent no voucher-request to the tester MASA")
    body = found[0].request_body
    try:
        return body, parse_voucher_request_json(verify_cms(body).content)
    except VoucherError as exc:
        fail(f"the registrar voucher-request does not parse: {exc}", req, frames=frames)


def _refused(bed: RegistrarDutBed, resp: EstResponse, req: str, what: str) -> None:
    """Fails `req` unless the registrar answered 4xx and asked the MASA nothing."""
    rvrs = bed.rvrs()
    frames = numbers(bed.wire().all(is_voucher_request))
    if resp.status == 0:
        inconclusive(f"the registrar did not answer ({resp.error}): its silence proves nothing")
    check(
        not rvrs, f"the registrar forwarded a request with {what} to the MASA", req, frames=frames
    )
    check(400 <= resp.status < 500, f"the registrar answered {resp.status} to a request "
          f"with {what}", req, frames=frames)  # fmt: skip


@pytest.mark.requirement("RFC8995-5.6-MUST-01")
def test_voucher_response_is_200(registrar_bed: RegistrarDutBed) -> None:
    """The voucher response to a successful request MUST contain an HTTP 200 (with the
    voucher media type)."""
    req = "RFC8995-5.6-MUST-01"
    resp, _ = _valid_request(registrar_bed)
    wire = registrar_bed.wire()
    frames = numbers(wire.all(is_voucher_request))
    assert registrar_bed.masa is not None
    if not registrar_bed.rvrs():
        inconclusive(f"the registrar asked the MASA nothing (it answered {resp.status})")
    # A registrar relays the MASA's refusal (§5.6): only a voucher makes the request a
    # successful one.
    if not registrar_bed.masa.vouchers:
        inconclusive(f"the tester MASA issued no voucher for the registrar's request "
                     f"(the registrar answered {resp.status})")  # fmt: skip
    check(resp.status == 200, f"the registrar answered {resp.status or resp.error} to a valid "
          "request for which the MASA issued a voucher", req, frames=frames)  # fmt: skip
    check(
        resp.media_type == VOUCHER_CMS_JSON,
        f"Content-Type {resp.content_type!r}, not {VOUCHER_CMS_JSON}",
        req,
        frames=frames,
    )


@pytest.mark.requirement("RFC8995-5.5-MUST-NOT-01")
def test_rvr_has_no_proximity_cert(registrar_bed: RegistrarDutBed) -> None:
    """'proximity-registrar-cert' field MUST NOT be present in the registrar
    voucher-request."""
    req = "RFC8995-5.5-MUST-NOT-01"
    _valid_request(registrar_bed)
    frames = numbers(registrar_bed.wire().all(is_voucher_request))
    _, rvr = _rvr(registrar_bed, req, frames)
    check(
        rvr.proximity_registrar_cert is None,
        "the registrar voucher-request carries proximity-registrar-cert",
        req,
        frames=frames,
    )


@pytest.mark.requirement("RFC8995-5.5-MUST-02")
def test_rvr_carries_prior_request(registrar_bed: RegistrarDutBed) -> None:
    """The registrar voucher-request includes the pledge's request as
    prior-signed-voucher-request."""
    req = "RFC8995-5.5-MUST-02"
    _valid_request(registrar_bed)
    frames = numbers(registrar_bed.wire().all(is_voucher_request))
    _, rvr = _rvr(registrar_bed, req, frames)
    check(
        rvr.prior_signed_voucher_request == registrar_bed.sent_pvrs[0],
        "prior-signed-voucher-request is not the pledge voucher-request sent",
        req,
        frames=frames,
    )


@pytest.mark.requirement("RFC8995-5.5-MUST-03")
def test_rvr_signed_by_registrar(registrar_bed: RegistrarDutBed) -> None:
    """The registrar signs its voucher-request with its registrar certificate."""
    req = "RFC8995-5.5-MUST-03"
    _, cert = _valid_request(registrar_bed)
    frames = numbers(registrar_bed.wire().all(is_voucher_request))
    body, _ = _rvr(registrar_bed, req, frames)
    try:
        verify_cms(body, signer=cert)
    except VoucherError as exc:
        fail(
            f"the registrar voucher-request does not verify with the registrar's TLS "
            f"certificate: {exc}",
            req,
            frames=frames,
        )


@pytest.mark.requirement("RFC8995-5.5-MUST-01")
def test_refuses_other_serial(registrar_bed: RegistrarDutBed) -> None:
    """The registrar MUST verify that the serial number field it parsed matches the serial
    number field the pledge provided."""
    registrar_bed.start()
    cert = registrar_bed.registrar_cert()
    resp = registrar_bed.post_pvr(registrar_bed.pvr(cert, serial="ONBC-NOT-THIS-PLEDGE"))
    _refused(registrar_bed, resp, "RFC8995-5.5-MUST-01", "another serial-number")


@pytest.mark.requirement("RFC8995-5.3-MUST-01")
def test_refuses_foreign_proximity_cert(registrar_bed: RegistrarDutBed) -> None:
    """The registrar refuses a proximity-registrar-cert that is not its own."""
    registrar_bed.start()
    cert = registrar_bed.registrar_cert()
    pvr = registrar_bed.pvr(cert, proximity=registrar_bed.pki.other_domain.cert)
    resp = registrar_bed.post_pvr(pvr)
    _refused(registrar_bed, resp, "RFC8995-5.3-MUST-01", "another proximity-registrar-cert")


@pytest.mark.requirement("RFC8995-5.3-MUST-02")
def test_refuses_request_signed_by_another_key(registrar_bed: RegistrarDutBed) -> None:
    """The registrar verifies that the request is signed by the TLS client's IDevID."""
    registrar_bed.start()
    cert = registrar_bed.registrar_cert()
    # Another IDevID of the same manufacturer and serial: only the key differs.
    other = registrar_bed.pki.idevid(f"{HOST}:1", serial=PLEDGE_SERIAL)
    resp = registrar_bed.post_pvr(registrar_bed.pvr(cert), signer=other)
    _refused(registrar_bed, resp, "RFC8995-5.3-MUST-02", "a signature of another key")
