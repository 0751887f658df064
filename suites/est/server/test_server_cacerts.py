"""EST server DUT: distribution of CA certificates, /cacerts (RFC 7030 §4.1)."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from harness.capture import Frame, PacketCursor
from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer, EstResponse
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

MAX_PENDING_ROUNDS = 3  # a server in manual-approval mode answers 202 before it issues
MAX_RETRY_WAIT = 5.0  # bound on one Retry-After wait, so a hostile value cannot hang the run


def response_to(op: str) -> object:
    """A filter for the HTTP response to the request for operation `op`."""

    def match(frame: Frame) -> bool:
        uri = frame.get("http.response_for.uri") or ""
        return frame.get("http.response.code") is not None and uri.endswith(f"/{op}")

    match.__name__ = f"the HTTP response to .../{op}"
    return match


def wire_certs(frame: Frame, requirement: str, strict: bool = True) -> list[x509.Certificate]:
    """The certificates of a certs-only body seen on the wire.

    A broken body fails `requirement` when it is about the body (`strict`); otherwise it
    is another requirement's verdict and leaves this test without its precondition.
    """
    try:
        return codec.parse_certs_only(codec.b64_decode(frame.get("http.file_data") or ""))
    except codec.CodecError as exc:
        reason = f"frame {frame.number}: body is not a base64 certs-only message: {exc}"
        if not strict:
            inconclusive(reason)
        fail(reason, requirement)


def enroll(peer: EstClientPeer, csr: x509.CertificateSigningRequest) -> EstResponse:
    """/simpleenroll, waiting out the 202s of a server in manual-approval mode (§4.2.3)."""
    resp = peer.simpleenroll(csr)
    for _ in range(MAX_PENDING_ROUNDS):
        if resp.status != 202:
            break
        # A missing or unreadable Retry-After is judged by its own test; here wait 1 s.
        value = resp.header("retry-after") or "1"
        time.sleep(min(float(value), MAX_RETRY_WAIT) if value.isdigit() else 1.0)
        resp = peer.simpleenroll(csr)
    return resp


def self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def chain_to_root(
    leaf: x509.Certificate, pool: list[x509.Certificate]
) -> list[x509.Certificate] | None:
    """The path from `leaf` to a self-signed certificate using only `pool`, or None."""
    path, current = [leaf], leaf
    for _ in range(len(pool) + 1):
        if self_signed(current):
            return path
        issuer = next((c for c in pool if _issued(current, c) and c not in path), None)
        if issuer is None:
            return None
        path.append(issuer)
        current = issuer
    return None


def _issued(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def cacerts_exchange(bed: ServerDutBed, auth: str = "cert") -> tuple[EstResponse, PacketCursor]:
    bed.start()
    resp = bed.client(auth=auth).cacerts()
    return resp, bed.wire()


@pytest.mark.requirement("RFC7030-4.1.2-MUST-02")
def test_cacerts_supported(server_bed: ServerDutBed) -> None:
    """EST clients and servers MUST support the /cacerts function."""
    # Step 1: an authenticated tester client sends GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    # Step 2: the DUT answers 200.
    req = "RFC7030-4.1.2-MUST-02"
    wire.expect_next({"http.request.method": "GET"}, req, "the GET .../cacerts")
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    check(
        answer.get("http.response.code") == "200",
        f"frame {answer.number}: /cacerts answered {answer.get('http.response.code')}",
        req,
    )


@pytest.mark.requirement("RFC7030-4.1.2-SHOULD-NOT-01")
def test_cacerts_without_client_auth(server_bed: ServerDutBed) -> None:
    """The EST server SHOULD NOT require client authentication or authorization to reply
    to this request."""
    # Step 1: a tester client with no client certificate and no HTTP credentials asks.
    _, wire = cacerts_exchange(server_bed, auth="none")
    # Step 2: the DUT answers 200, not a 401 challenge or a 403.
    req = "RFC7030-4.1.2-SHOULD-NOT-01"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    code = answer.get("http.response.code")
    check(code == "200", f"frame {answer.number}: anonymous /cacerts answered {code}", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-01")
def test_cacerts_success_is_200(server_bed: ServerDutBed) -> None:
    """If successful, the server response MUST have an HTTP 200 response code."""
    # Step 1: GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    # Step 2: an answer carrying certificates has status 200, not another 2xx.
    req = "RFC7030-4.1.3-MUST-01"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    code = answer.get("http.response.code") or ""
    if not code.startswith("2"):
        inconclusive(f"frame {answer.number}: /cacerts answered {code}, no success to judge")
    check(code == "200", f"frame {answer.number}: successful /cacerts answered {code}", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-03")
def test_cacerts_certs_only(server_bed: ServerDutBed) -> None:
    """A successful response MUST be a certs-only CMC Simple PKI Response, as defined in
    [RFC5272], containing the certificates described in the following paragraph."""
    # Step 1: GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    req = "RFC7030-4.1.3-MUST-03"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    if answer.get("http.response.code") != "200":
        inconclusive(f"frame {answer.number}: /cacerts was not successful, nothing to judge")
    # Step 2: Content-Type application/pkcs7-mime, body base64 of a certs-only SignedData.
    media = (answer.get("http.content_type") or "").split(";", 1)[0].strip().lower()
    check(
        media == codec.PKCS7_MIME,
        f"frame {answer.number}: Content-Type {answer.get('http.content_type')!r}",
        req,
    )
    check(wire_certs(answer, req), f"frame {answer.number}: certs-only with no certificate", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-04")
def test_cacerts_has_root(server_bed: ServerDutBed) -> None:
    """The EST server MUST include the current root CA certificate in the response."""
    # Step 1: GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    req = "RFC7030-4.1.3-MUST-04"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    if answer.get("http.response.code") != "200":
        inconclusive(f"frame {answer.number}: /cacerts was not successful, nothing to judge")
    # Step 2: the set holds a self-signed CA certificate.
    roots = [c for c in wire_certs(answer, req, strict=False) if self_signed(c)]
    check(roots, f"frame {answer.number}: no self-signed root CA certificate in /cacerts", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-05")
def test_cacerts_builds_chain_of_issued(server_bed: ServerDutBed) -> None:
    """The EST server MUST include any additional certificates the client would need to
    build a chain from an EST CA-issued certificate to the current EST CA TA."""
    req = "RFC7030-4.1.3-MUST-05"
    # Step 1: GET .../cacerts, then enroll a fresh key with /simpleenroll.
    server_bed.start()
    peer = server_bed.client(auth="cert")
    peer.cacerts()
    enroll(peer, make_csr(generate_key(), "onboardcheck chain probe"))
    wire = server_bed.wire()
    ca_answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to /cacerts")
    issued = wire.expect_next(
        {"http.response.code": "200", "http.response_for.uri": lambda u: u.endswith("enroll")},
        req,
        "a successful /simpleenroll",
    )
    # Step 2: the issued certificate path-validates to a root with /cacerts alone.
    pool = wire_certs(ca_answer, req, strict=False)
    leaves = wire_certs(issued, req, strict=False)
    path = chain_to_root(leaves[0], pool)
    check(
        path is not None,
        f"frame {issued.number}: the certificate issued to "
        f"{leaves[0].subject.rfc4514_string()} does not chain to a root through the "
        f"{len(pool)} certificate(s) of /cacerts (frame {ca_answer.number})",
        req,
    )
