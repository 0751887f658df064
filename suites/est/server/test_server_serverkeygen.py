"""EST server DUT: server-side key generation, /serverkeygen (RFC 7030 §4.4)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from harness.capture import Frame, PacketCursor
from harness.crypto.certs import spki
from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.frames import response_to
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

SUBJECT = "onboardcheck serverkeygen probe"


def serverkeygen_exchange(bed: ServerDutBed, body: bytes | None = None) -> PacketCursor:
    bed.start()
    csr = make_csr(generate_key(), SUBJECT)
    data = body if body is not None else codec.csr_to_body(csr)
    bed.client(auth="cert").request(
        "POST", codec.SERVERKEYGEN, {"Content-Type": codec.PKCS10}, data
    )
    return bed.wire()


def parts(answer: Frame, requirement: str, strict: bool = True) -> codec.ServerKeygenResult:
    """Both parts of a multipart/mixed answer seen on the wire.

    A different shape fails `requirement` when it is about the shape (`strict`);
    otherwise it is RFC7030-4.4.2-MUST-01's verdict and leaves this test without its
    precondition.
    """
    content_type = answer.get("http.content_type") or ""
    body = (answer.get("http.file_data") or "").encode("latin-1", "replace")
    try:
        return codec.parse_serverkeygen_response(content_type, body)
    except codec.CodecError as exc:
        reason = (
            f"frame {answer.number}: {content_type!r} answer is not a key part and a "
            f"certs-only part: {exc}"
        )
        if not strict:
            inconclusive(reason)
        fail(reason, requirement)


@pytest.mark.requirement("RFC7030-4.4.2-MUST-01")
def test_serverkeygen_multipart(server_bed: ServerDutBed) -> None:
    """If the request is successful, the server response MUST have an HTTP 200 response
    code with a content-type of "multipart/mixed" consisting of two parts: one part is the
    private key data and the other part is the certificate data."""
    req = "RFC7030-4.4.2-MUST-01"
    # Step 1: POST a valid CSR to .../serverkeygen.
    answer = serverkeygen_exchange(server_bed).expect_next(
        response_to(codec.SERVERKEYGEN), req, "the answer to POST .../serverkeygen"
    )
    # Step 2: 200, multipart/mixed, one key part and one certs-only part.
    check(
        answer.get("http.response.code") == "200",
        f"frame {answer.number}: /serverkeygen answered {answer.get('http.response.code')}",
        req,
    )
    parts(answer, req)


@pytest.mark.requirement("RFC7030-4.4.2-MUST-02")
def test_serverkeygen_pkcs8_key(server_bed: ServerDutBed) -> None:
    """If additional encryption is not being employed, the private key data MUST be placed
    in an "application/pkcs8"."""
    req = "RFC7030-4.4.2-MUST-02"
    # Step 1: POST a CSR without encryption attributes to .../serverkeygen.
    answer = serverkeygen_exchange(server_bed).expect_next(
        response_to(codec.SERVERKEYGEN), req, "the answer to POST .../serverkeygen"
    )
    check(
        answer.get("http.response.code") == "200",
        f"frame {answer.number}: /serverkeygen answered {answer.get('http.response.code')}",
        req,
    )
    # Step 2: the key part is application/pkcs8 of the returned certificate's key.
    result = parts(answer, req, strict=False)
    check(
        result.key_media_type == codec.PKCS8,
        f"frame {answer.number}: key part is {result.key_media_type}",
        req,
    )
    try:
        key = serialization.load_der_private_key(result.private_key_der, None)
    except (ValueError, TypeError) as exc:
        fail(f"frame {answer.number}: key part is not a DER PrivateKeyInfo: {exc}", req)
    check(
        spki(key.public_key()) == spki(result.certs[0].public_key()),
        f"frame {answer.number}: the returned key is not the certificate's",
        req,
    )


@pytest.mark.requirement("RFC7030-4.4.1-MUST-01")
def test_serverkeygen_ignores_csr_signature(server_bed: ServerDutBed) -> None:
    """In all respects, the server SHOULD treat the CSR as it would any enroll or
    re-enroll CSR; the only distinction here is that the server MUST ignore the public key
    values and signature in the CSR."""
    req = "RFC7030-4.4.1-MUST-01"
    # Step 1: POST to .../serverkeygen a CSR whose signature does not verify.
    csr = make_csr(generate_key(), SUBJECT)
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # last byte of the signature: still parses, never verifies
    answer = serverkeygen_exchange(server_bed, codec.b64_encode(bytes(der))).expect_next(
        response_to(codec.SERVERKEYGEN), req, "the answer to POST .../serverkeygen"
    )
    # Step 2: served anyway, for the server's key rather than the CSR's.
    check(
        answer.get("http.response.code") == "200",
        f"frame {answer.number}: a CSR with a bad signature got "
        f"{answer.get('http.response.code')} from /serverkeygen",
        req,
    )
    result = parts(answer, req, strict=False)
    check(
        spki(result.certs[0].public_key()) != spki(csr.public_key()),
        f"frame {answer.number}: the certificate certifies the CSR's key",
        req,
    )
