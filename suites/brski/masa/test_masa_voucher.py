"""BRSKI MASA DUT: the vouchers it issues for registrar voucher-requests (RFC 8995 §5.5.4
- §5.6; RFC 8366 §5.3, §5.4). The harness is the registrar: it builds pledge
voucher-requests with the IDevID the MASA gave and wraps them in its own signed
registrar voucher-requests."""

from __future__ import annotations

import secrets

import pytest
from cryptography import x509

from harness.protocols.brski.common import VOUCHER_CMS_JSON
from harness.protocols.brski.suite_support import (
    MasaDutBed,
    is_voucher_request,
    not_signed_data,
    numbers,
)
from harness.protocols.est.client import EstResponse
from harness.protocols.voucher.cms import chains_to, verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import Voucher, parse_voucher_json
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("brski", "masa")


def _ask(bed: MasaDutBed, nonce: bytes | None = None) -> tuple[EstResponse, bytes]:
    nonce = nonce if nonce is not None else secrets.token_bytes(16)
    return bed.post(bed.rvr_cms(nonce)), nonce


def _voucher(resp: EstResponse) -> Voucher:
    """The voucher of a 200 answer; inconclusive when there is none to judge."""
    if resp.status != 200:
        inconclusive(f"no 200 voucher response to judge (status {resp.status or resp.error})")
    try:
        return parse_voucher_json(verify_cms(resp.body).content)
    except VoucherError as exc:
        inconclusive(f"the voucher does not verify or parse: {exc}")


def _frames(bed: MasaDutBed) -> list[str]:
    return numbers(bed.wire().all(is_voucher_request))


@pytest.mark.requirement("RFC8995-5.6-MUST-04")
def test_voucher_response_is_200(masa_bed: MasaDutBed) -> None:
    """The voucher response to a successful request MUST contain an HTTP 200 (with the
    voucher media type)."""
    req = "RFC8995-5.6-MUST-04"
    masa_bed.start()
    resp, _ = _ask(masa_bed)
    frames = _frames(masa_bed)
    if not resp.status:  # no HTTP answer at all: nothing to judge the status code by
        inconclusive(f"the MASA gave no HTTP answer: {resp.error}")
    check(resp.status == 200, f"the MASA answered {resp.status} to a valid "
          "registrar voucher-request", req, frames=frames)  # fmt: skip
    check(resp.media_type == VOUCHER_CMS_JSON,
          f"Content-Type {resp.content_type!r}, not {VOUCHER_CMS_JSON}", req, frames=frames)
    why = not_signed_data(resp.body)
    if why is not None:  # a 200 without a voucher is no voucher response to judge
        inconclusive(f"the MASA answered 200 with a body that is no voucher ({why})")


@pytest.mark.requirement("RFC8366-5.4-MUST-01")
def test_voucher_signed_under_anchor(masa_bed: MasaDutBed) -> None:
    """The voucher is CMS-signed by the MASA, chaining to the pledge's trust anchor."""
    req = "RFC8366-5.4-MUST-01"
    facts = masa_bed.start()
    resp, _ = _ask(masa_bed)
    frames = _frames(masa_bed)
    if resp.status != 200:
        inconclusive(f"no 200 voucher response to judge (status {resp.status or resp.error})")
    try:
        signed = verify_cms(resp.body)
    except VoucherError as exc:
        fail(f"the voucher's signature does not verify: {exc}", req, frames=frames)
    anchor = facts.voucher_anchor
    check(
        signed.signer == anchor or chains_to(signed.signer, anchor, signed.certificates),
        "the voucher signer does not chain to the manufacturer anchor",
        req,
        frames=frames,
    )


@pytest.mark.requirement("RFC8995-5.5.6-MUST-01")
def test_voucher_carries_request_nonce(masa_bed: MasaDutBed) -> None:
    """When the registrar voucher-request carries a nonce, the voucher carries it."""
    req = "RFC8995-5.5.6-MUST-01"
    masa_bed.start()
    # Two requests with fresh nonces: a MASA echoing an earlier nonce fails the second.
    answers = [_ask(masa_bed) for _ in range(2)]
    vouchers = [(_voucher(resp), nonce) for resp, nonce in answers]
    frames = _frames(masa_bed)
    for n, (voucher, nonce) in enumerate(vouchers, 1):
        check(voucher.nonce is not None, f"voucher {n} has no nonce", req, frames=frames)
        check(
            voucher.nonce == nonce, f"voucher {n}'s nonce is not its request's", req, frames=frames
        )


@pytest.mark.requirement("RFC8366-5.3-MUST-01")
def test_voucher_names_the_serial(masa_bed: MasaDutBed) -> None:
    """The voucher's serial-number is the device's."""
    req = "RFC8366-5.3-MUST-01"
    masa_bed.start()
    resp, _ = _ask(masa_bed)
    voucher = _voucher(resp)
    frames = _frames(masa_bed)
    check(
        voucher.serial_number == masa_bed.serial,
        f"the voucher names {voucher.serial_number!r}, the request {masa_bed.serial!r}",
        req,
        frames=frames,
    )


@pytest.mark.requirement("RFC8995-5.5.4-MUST-01")
def test_voucher_pins_registrar_domain(masa_bed: MasaDutBed) -> None:
    """The voucher pins a certificate the requesting registrar chains to."""
    req = "RFC8995-5.5.4-MUST-01"
    masa_bed.start()
    resp, _ = _ask(masa_bed)
    voucher = _voucher(resp)
    frames = _frames(masa_bed)
    try:
        pinned = x509.load_der_x509_certificate(voucher.pinned_domain_cert or b"")
    except ValueError as exc:
        fail(f"pinned-domain-cert does not parse: {exc}", req, frames=frames)
    registrar = masa_bed.pki.registrar
    check(
        pinned == registrar.cert or chains_to(registrar.cert, pinned, registrar.chain),
        f"the registrar does not chain to the pinned {pinned.subject.rfc4514_string()}",
        req,
        frames=frames,
    )


@pytest.mark.requirement("RFC8995-5.5.5-MUST-01")
def test_refuses_serial_mismatch(masa_bed: MasaDutBed) -> None:
    """The MASA refuses a registrar voucher-request whose serial-number is not that of its
    prior-signed-voucher-request."""
    req = "RFC8995-5.5.5-MUST-01"
    masa_bed.start()
    # Step 1: a valid request, so a refusal below is the MASA's judgement, not its state.
    valid, _ = _ask(masa_bed)
    if valid.status != 200:
        inconclusive(
            f"the MASA answered a valid request {valid.status or valid.error}, "
            "not 200: a refusal below would prove nothing"
        )
    # Step 2: the registrar names another serial-number than the pledge's request.
    nonce = secrets.token_bytes(16)
    body = masa_bed.rvr_cms(nonce, serial="ONBC-NOT-THIS-PLEDGE",
                            prior=masa_bed.pvr_cms(nonce))  # fmt: skip
    resp = masa_bed.post(body)
    frames = _frames(masa_bed)
    check(400 <= resp.status < 500, f"the MASA answered {resp.status or resp.error} to a "
          "registrar voucher-request whose serial-number differs from the pledge's", req,
          frames=frames)  # fmt: skip
