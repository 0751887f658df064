"""The Full CMC codec (harness/protocols/est/cmc.py) against a published Full PKI Request
and against itself."""

from __future__ import annotations

import pytest
from cryptography import x509

from harness.crypto.pki import Pki, generate_key, make_csr
from harness.protocols.est import cmc
from harness.vectors import load_vector, vector_bytes

VECTOR = "cmc_full_pki_request"


def test_published_request_parses_and_verifies() -> None:
    expected = load_vector("est", VECTOR)["expected"]
    request = cmc.parse_full_pki_request(vector_bytes("est", VECTOR, "expected",
                                                      "full_pki_request_b64"))
    assert request.signed.content_type == expected["econtent_type"]
    assert [part for part, _ in request.requests] == expected["request_body_part_ids"]
    csr_key = request.requests[0][1].public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(csr_key).digest  # type: ignore[arg-type]
    assert ski.hex() == expected["signer_subject_key_identifier"]
    assert request.signed.signer_infos[0]["sid"].native == ski
    cmc.verify_request(request, csr_key)  # signed with the PKCS#10's own key
    with pytest.raises(cmc.CmcError):
        cmc.verify_request(request, generate_key("rsa2048").public_key())


def test_request_and_response_round_trip() -> None:
    key = generate_key()
    csr = make_csr(key, "cmc round trip")
    request = cmc.parse_full_pki_request(cmc.full_pki_request(csr, key, body_part_id=7))
    assert [(p, c.subject) for p, c in request.requests] == [(7, csr.subject)]
    cmc.verify_request(request, key.public_key())
    ca = Pki.create().root_ca("cmc CA")
    cert = Pki.create().issue_from_csr(ca, csr)
    response = cmc.parse_full_pki_response(cmc.full_pki_response(cmc.SUCCESS, [7], ca, [cert]))
    assert response.statuses == [(cmc.SUCCESS, [7])]
    assert response.certificates == [cert]
    cmc.verify_signed(response.signed, ca.cert.public_key())


@pytest.mark.parametrize(
    "body", [b"", b"garbage", b"\x30\x00", b"\x30\x03\x02\x01\x01", b"\x30\x84\xff\xff\xff\xff"]
)
def test_malformed_requests_raise_cmc_error(body: bytes) -> None:
    with pytest.raises(cmc.CmcError):
        cmc.parse_full_pki_request(body)


def test_wrong_content_type_and_bare_csr_refused() -> None:
    key = generate_key()
    csr = make_csr(key, "cmc negative")
    with pytest.raises(cmc.CmcError, match="id-cct-PKIData"):
        cmc.parse_full_pki_request(cmc.full_pki_request(csr, key, content_type=cmc.ID_DATA))
    from cryptography.hazmat.primitives import serialization

    with pytest.raises(cmc.CmcError):
        cmc.parse_full_pki_request(csr.public_bytes(serialization.Encoding.DER))
