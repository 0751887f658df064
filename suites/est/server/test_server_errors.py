"""EST server DUT: error answers to bad requests (RFC 7030 §4.2.3; RFC 8951 §5.1)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import generate_key, make_csr
from harness.evidence import EvidenceDir
from harness.protocols.est import codec
from harness.protocols.est.frames import response_to
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check

pytestmark = pytest.mark.dut_role("est", "server")

NOT_BASE64 = b"!!! this is not a base64 PKCS#10 request !!!\r\n"
ERROR_MEDIA = ("application/pkcs7-mime", "text/plain")


def broken_signature(csr: x509.CertificateSigningRequest) -> bytes:
    """The CSR's DER with the last byte of its signature flipped: it parses, never verifies."""
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return bytes(der)


def is_error(code: str | None) -> bool:
    return bool(code) and code[0] in "45"  # type: ignore[index]


@pytest.mark.requirement("RFC7030-4.2.3-MUST-03")
def test_bad_csr_signature_refused(server_bed: ServerDutBed) -> None:
    """The server MUST answer with a suitable 4xx or 5xx HTTP [RFC2616] error code when a
    problem occurs. (Here: a CSR whose signature does not verify.)"""
    req = "RFC7030-4.2.3-MUST-03"
    # Step 1: POST a CSR whose signature is broken.
    server_bed.start()
    body = codec.b64_encode(broken_signature(make_csr(generate_key(), "onboardcheck bad sig")))
    server_bed.client(auth="cert").request(
        "POST", codec.SIMPLEENROLL, {"Content-Type": codec.PKCS10}, body
    )
    # Step 2: the DUT answers 4xx or 5xx, never 200 or 202.
    wire = server_bed.wire()
    answer = wire.expect_next(response_to(codec.SIMPLEENROLL), req, "the answer to the bad CSR")
    code = answer.get("http.response.code")
    check(is_error(code), f"frame {answer.number}: a CSR with a bad signature got {code}", req)


@pytest.mark.requirement("RFC7030-4.2.3-MUST-03")
def test_non_base64_body_refused(server_bed: ServerDutBed) -> None:
    """The server MUST answer with a suitable 4xx or 5xx HTTP [RFC2616] error code when a
    problem occurs. (Here: a body that is not base64 of a CSR.)"""
    req = "RFC7030-4.2.3-MUST-03"
    # Step 1: POST a body that is not base64.
    server_bed.start()
    server_bed.client(auth="cert").request(
        "POST", codec.SIMPLEENROLL, {"Content-Type": codec.PKCS10}, NOT_BASE64
    )
    # Step 2: the DUT answers 4xx or 5xx.
    wire = server_bed.wire()
    answer = wire.expect_next(response_to(codec.SIMPLEENROLL), req, "the answer to the garbage")
    code = answer.get("http.response.code")
    check(is_error(code), f"frame {answer.number}: a non-base64 CSR body got {code}", req)


@pytest.mark.requirement("RFC8951-5.1-MAY-01")
def test_error_body_is_readable(server_bed: ServerDutBed, evidence: EvidenceDir) -> None:
    """Servers MAY use the "text/plain" content-type [RFC2046] for human-readable errors."""
    req = "RFC8951-5.1-MAY-01"
    # Step 1: provoke an enrollment error with a body that is not base64.
    server_bed.start()
    server_bed.client(auth="cert").request(
        "POST", codec.SIMPLEENROLL, {"Content-Type": codec.PKCS10}, NOT_BASE64
    )
    wire = server_bed.wire()
    answer = wire.expect_next(response_to(codec.SIMPLEENROLL), req, "the error answer")
    # Step 2: the error is a CMC error, text/plain, or an untyped readable text.
    media = (answer.get("http.content_type") or "").split(";", 1)[0].strip().lower()
    text = answer.get("http.file_data") or ""
    evidence.note(
        f"error answer {answer.get('http.response.code')}: "
        f"Content-Type {media or '(none)'}: {text[:120]!r}"
    )
    readable = media in ERROR_MEDIA or (not media and text.isprintable())
    check(readable, f"frame {answer.number}: error answer with Content-Type {media!r}", req)
