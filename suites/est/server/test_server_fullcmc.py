"""EST server DUT: Full CMC, /fullcmc (RFC 7030 §4.3; RFC 5272)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from harness.capture import Frame
from harness.crypto.certs import cert_for_key
from harness.crypto.pki import PrivateKey, generate_key, make_csr
from harness.protocols.est import cmc, codec
from harness.protocols.est.exchanges import body_bytes
from harness.protocols.est.frames import response_to
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

SUBJECT = "onboardcheck fullcmc probe"


def _issued(frame: Frame, key: PrivateKey) -> bool:
    """Whether an answer issues a certificate for `key`: a 2xx whose Full (or Simple)
    PKI Response carries one, and no CMC status says the request failed."""
    if not (frame.get("http.response.code") or "").startswith("2"):
        return False
    try:
        der = codec.b64_decode(body_bytes(frame))
    except codec.CodecError:
        return False
    try:
        answer = cmc.parse_full_pki_response(der)
    except cmc.CmcError:
        try:
            return cert_for_key(codec.parse_certs_only(der), key) is not None
        except codec.CodecError:
            return False
    failed = any(status != cmc.SUCCESS for status, _ in answer.statuses)
    return not failed and cert_for_key(answer.certificates, key) is not None


def _broken_signature(der: bytes) -> bytes:
    """The request with the last byte of its SignerInfo signature flipped."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


@pytest.mark.requirement("RFC7030-4.3.1-MUST-01")
@pytest.mark.ics("EST-SERVER-FULLCMC")
def test_fullcmc_invalid_request_rejected(server_bed: ServerDutBed) -> None:
    """RFC 7030 §4.3.1: If the HTTP POST to /fullcmc is not a valid Full PKI Request,
    the server MUST reject the message."""
    req = "RFC7030-4.3.1-MUST-01"
    server_bed.start()
    peer = server_bed.client(auth="cert")
    # Step 1: a valid Full PKI Request: SignedData over a PKIData holding one PKCS#10,
    # signed with the PKCS#10's key.
    good_key = generate_key()
    peer.fullcmc(cmc.full_pki_request(make_csr(good_key, SUBJECT), good_key))
    # Step 2: four requests that are not valid Full PKI Requests, each for a fresh key.
    keys = [generate_key() for _ in range(4)]
    csrs = [make_csr(key, SUBJECT) for key in keys]
    bodies = [
        ("a bare PKCS#10, no CMS around it", csrs[0].public_bytes(serialization.Encoding.DER)),
        ("a SignedData whose eContentType is id-data, not id-cct-PKIData",
         cmc.full_pki_request(csrs[1], keys[1], content_type=cmc.ID_DATA)),
        ("a PKIData SignedData whose signature does not verify",
         _broken_signature(cmc.full_pki_request(csrs[2], keys[2]))),
        ("bytes that are no DER at all", b"this is not a CMC request"),
    ]  # fmt: skip
    for _, body in bodies:
        peer.fullcmc(body)
    cases = [(what, key) for (what, _), key in zip(bodies, keys, strict=True)]
    wire = server_bed.wire()
    # Step 3: precondition: the valid request was accepted, so a rejection means something.
    first = wire.expect_next(response_to(codec.FULLCMC), req, "the answer to the valid request")
    if not _issued(first, good_key):
        inconclusive(f"frame {first.number}: the DUT issued nothing for a valid Full PKI "
                     f"Request (HTTP {first.get('http.response.code')}), so its rejections "
                     "tell nothing", frames=[first.line()])
    # Step 4: each invalid request is rejected: 4xx/5xx or a CMC failure, no certificate.
    for what, key in cases:
        answer = wire.expect_next(response_to(codec.FULLCMC), req, f"the answer to {what}")
        check(not _issued(answer, key), f"frame {answer.number}: /fullcmc issued a "
              f"certificate for {what} (HTTP {answer.get('http.response.code')})", req,
              frames=[answer.line()])
