"""EST client DUT: Enrollment of Clients (RFC 7030 §4.2, §4.2.1, §4.2.3; RFC 8951 §3).

The CSR is read from the decrypted POST on the wire (tshark's http.file_data), never
from the server peer's log; what the DUT installed is read from its state.
"""

from __future__ import annotations

import re

import pytest
from cryptography import x509

from harness.campaign_state import KnowledgeLog
from harness.capture import Frame, PacketCursor
from harness.control import ActionResult
from harness.crypto.certs import spki
from harness.protocols.est import codec
from harness.protocols.est.frames import csr_in, op_uri, request_of
from harness.protocols.est.server_ops import ServerBehaviour
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

CACERTS_URI = op_uri(codec.CACERTS)
ENROLL_POST = request_of("POST", codec.SIMPLEENROLL)
RETRY_AFTER = 2  # seconds; long enough to tell waiting from retrying at once


def _csr_of(post: Frame, req: str) -> x509.CertificateSigningRequest:
    """The PKCS#10 of a POST frame; a body that is not base64 DER fails `req`."""
    body = post.get("http.file_data")
    if body is None:
        fail(f"frame {post.number}: the POST has no body", req, frames=[post.line()])
    try:
        return codec.csr_from_body(body.encode("latin-1", "replace"))
    except codec.CodecError as exc:
        fail(f"frame {post.number}: the body is not base64 DER PKCS#10: {exc}", req,
             frames=[post.line()])


def _installed(bed: ClientDutBed) -> x509.Certificate | None:
    data = bed.state().get("client_certificate")
    if not data:
        return None
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except (ValueError, IndexError):
        return None


def _enroll(bed: ClientDutBed, behaviour: ServerBehaviour | None = None) -> tuple[
    ActionResult, PacketCursor
]:
    bed.serve(behaviour)
    result = bed.run("enroll")
    return result, bed.wire()


@pytest.mark.requirement("RFC7030-4.2.1-MUST-01")
def test_enroll_post_is_pkcs10(client_bed: ClientDutBed, knowledge: KnowledgeLog) -> None:
    """RFC 7030 §4.2.1: When HTTPS POSTing to /simpleenroll, the client MUST include a
    Simple PKI Request ... (i.e., a PKCS #10 Certification Request). The HTTP
    content-type of "application/pkcs10" is used here."""
    req = "RFC7030-4.2.1-MUST-01"
    # Step 1: the DUT enrolls with a spec-exact server.
    result, wire = _enroll(client_bed)
    # Step 2: its POST .../simpleenroll is labelled application/pkcs10 ...
    post = wire.expect_next(ENROLL_POST, requirement=req, what="the DUT's simpleenroll POST")
    media = (post.get("http.content_type") or "").split(";")[0].strip().lower()
    check(media == codec.PKCS10, f"frame {post.number}: Content-Type {media!r}, "
          f"not {codec.PKCS10}", req, frames=[post.line()])
    # Step 3: ... and its body base64-decodes to a DER PKCS#10.
    _csr_of(post, req)
    cert = _installed(client_bed)
    if result.ok and cert is not None:
        knowledge.record("client-certificate", "pass", cert.subject.rfc4514_string())


@pytest.mark.requirement("RFC8951-3-MUST-02")
def test_enroll_post_body_base64(client_bed: ClientDutBed) -> None:
    """RFC 8951 §3: ... require the POST request and payload response of all endpoints
    using base64 encoding ... DER ... used to produce the input for the base64 encoding."""
    req = "RFC8951-3-MUST-02"
    # Step 1: the DUT enrolls with a spec-exact server.
    _, wire = _enroll(client_bed)
    post = wire.expect_next(ENROLL_POST, requirement=req, what="the DUT's simpleenroll POST")
    # Step 2: the POST body is base64 (line breaks allowed) of a DER PKCS#10.
    _csr_of(post, req)


@pytest.mark.requirement("RFC8951-3-MUST-02")
def test_enroll_binary_der_answer_refused(client_bed: ClientDutBed) -> None:
    """RFC 8951 §3: [base64] is to be used regardless of any Content-Transfer-Encoding
    header, and any value in such a header MUST be ignored."""
    req = "RFC8951-3-MUST-02"
    # Step 1: /simpleenroll answers 200 with binary DER and Content-Transfer-Encoding:
    # binary; processed as base64 (as the RFC demands) that body does not decode.
    result, wire = _enroll(client_bed, ServerBehaviour(raw_der={codec.SIMPLEENROLL}))
    answer = wire.peek_next({"http.response.code": "200"})
    if answer is None:
        inconclusive(f"the binary answer never reached the DUT ({result.describe()})")
    # Step 2: the DUT must not install a certificate from a body that is not base64.
    cert = _installed(client_bed)
    check(cert is None, "the DUT installed a certificate from a binary DER answer "
          f"({cert.subject.rfc4514_string() if cert else ''})", req, frames=[answer.line()])


@pytest.mark.requirement("RFC7030-4.2.1-MUST-02")
def test_enroll_csr_signed_with_key(client_bed: ClientDutBed, knowledge: KnowledgeLog) -> None:
    """RFC 7030 §4.2.1: If the CSR KeyUsage extension indicates that the private key can
    be used to generate digital signatures, then the client MUST generate the CSR
    signature using the private key."""
    req = "RFC7030-4.2.1-MUST-02"
    # Step 1: the DUT enrolls with a spec-exact server.
    result, wire = _enroll(client_bed)
    post = wire.expect_next(ENROLL_POST, requirement=req, what="the DUT's simpleenroll POST")
    csr = csr_in(post)
    # Step 2: the CSR signature verifies with the CSR's own SubjectPublicKeyInfo.
    check(csr.is_signature_valid, f"frame {post.number}: the CSR signature does not verify "
          "with its own public key", req, frames=[post.line()])
    # Step 3: the key the DUT certified is the key it holds with the issued certificate.
    cert = _installed(client_bed)
    if not result.ok or cert is None:
        inconclusive(f"the DUT installed no certificate ({result.describe()})")
    check(spki(cert.public_key()) == spki(csr.public_key()),
          "the installed certificate is not for the key of the CSR on the wire", req)
    knowledge.record("client-certificate", "pass", cert.subject.rfc4514_string())


@pytest.mark.requirement("RFC7030-4.2.3-MUST-05")
def test_enroll_waits_retry_after(client_bed: ClientDutBed, knowledge: KnowledgeLog) -> None:
    """RFC 7030 §4.2.3: The client MUST wait at least the specified "retry-after" time
    before repeating the same request."""
    req = "RFC7030-4.2.3-MUST-05"
    # Step 1: the first POST is answered 202 with Retry-After: 2.
    result, wire = _enroll(client_bed, ServerBehaviour(pending=1, retry_after=RETRY_AFTER))
    wire.expect_next(ENROLL_POST, requirement=req, what="the first simpleenroll POST")
    pending = wire.peek_next({"http.response.code": "202"})
    if pending is None:
        inconclusive(f"the 202 never reached the DUT ({result.describe()})")
    wire.expect_next({"http.response.code": "202"}, requirement=req, what="the 202")
    # Step 2: the repeated POST comes no earlier than Retry-After after the 202.
    again = wire.expect_next(ENROLL_POST, requirement=req, what="the repeated simpleenroll POST")
    waited = again.time - pending.time
    check(waited >= RETRY_AFTER, f"the POST was repeated {waited:.3f} s after the 202 with "
          f"Retry-After: {RETRY_AFTER}", req, frames=[pending.line(), again.line()])
    cert = _installed(client_bed)
    if result.ok and cert is not None:
        issued = cert.subject.rfc4514_string()
        knowledge.record("client-certificate", "pass", f"after a 202: {issued}")


@pytest.mark.requirement("RFC7030-4.2-SHOULD-01")
def test_enroll_fetches_cacerts_first(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.2: It is RECOMMENDED that a client obtain the current CA certificates,
    as described in Section 4.1, before performing certificate request functions."""
    req = "RFC7030-4.2-SHOULD-01"
    # Step 1: from an empty state the DUT is asked only to enroll.
    _, wire = _enroll(client_bed)
    post = wire.peek_next(ENROLL_POST)
    if post is None:
        inconclusive("the DUT sent no simpleenroll POST")
    # Step 2: a GET .../cacerts comes before the first POST .../simpleenroll.
    first = wire.expect_next({"http.request.uri": re.compile(r"/\.well-known/est/")},
                             requirement=req, what="the DUT's first EST request")
    check(CACERTS_URI.match(first.get("http.request.uri") or ""),
          f"the first EST request is {first.get('http.request.method')} "
          f"{first.get('http.request.uri')}, not GET .../cacerts", req, frames=[first.line()])


@pytest.mark.requirement("RFC7030-4.5-SHOULD-01")
def test_enroll_asks_csrattrs_first(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.5: clients SHOULD request a list of expected attributes that are
    required, or desired, by the CA in an enrollment request or if dictated by local
    policy."""
    req = "RFC7030-4.5-SHOULD-01"
    # Step 1: the DUT is asked to enroll.
    _, wire = _enroll(client_bed)
    if wire.peek_next(ENROLL_POST) is None:
        inconclusive("the DUT sent no simpleenroll POST")
    # Step 2: a GET .../csrattrs precedes its POST .../simpleenroll.
    wire.expect_next({"http.request.method": "GET",
                      "http.request.uri": re.compile(r"/\.well-known/est/(?:[^/]+/)?csrattrs$")},
                     requirement=req, what="a GET of csrattrs before the CSR")
    wire.expect_next(ENROLL_POST, requirement=req, what="the simpleenroll POST after csrattrs")
