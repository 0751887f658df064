"""EST server DUT: enrollment and re-enrollment (RFC 7030 §3.2.2, §4.2; RFC 8951 §3)."""

from __future__ import annotations

import email.utils

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.campaign_state import Campaign
from harness.crypto.certs import spki
from harness.crypto.pki import CertifiedKey, PrivateKey, generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer, EstResponse
from harness.protocols.est.frames import header, media_type, response_to, wire_certs
from harness.protocols.est.probes import issued_for, post_waiting
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

SUBJECT = "onboardcheck enroll probe"


def success_of(op: str) -> object:
    """A filter for a 200 answer to operation `op` (after any 202 of manual approval)."""
    return {"http.response.code": "200", "http.response_for.uri": lambda u: u.endswith(f"/{op}")}


def enrolled_peer(bed: ServerDutBed, key: PrivateKey, resp: EstResponse) -> EstClientPeer:
    """A client peer that authenticates with the certificate the DUT just issued."""
    cert = issued_for(key, resp)
    return EstClientPeer(
        bed.url, bed.trust_anchors(), client=CertifiedKey(cert, key, []), keylog=bed.keylog,
        connect=bed.connect,
    )


@pytest.mark.requirement("RFC7030-4.2-MUST-01")
def test_enroll_and_reenroll_supported(server_bed: ServerDutBed) -> None:
    """EST servers MUST support the /simpleenroll and /simplereenroll functions."""
    req = "RFC7030-4.2-MUST-01"
    # Step 1: an authorized tester client enrolls a fresh key.
    server_bed.start()
    key = generate_key()
    first = post_waiting(server_bed.client(auth="cert"), codec.SIMPLEENROLL, make_csr(key, SUBJECT))
    # Step 2: with the certificate it got, it re-enrolls (same subject, new key).
    if first.ok:
        renew = enrolled_peer(server_bed, key, first)
        post_waiting(renew, codec.SIMPLEREENROLL, make_csr(generate_key(), SUBJECT))
    # Step 3: both operations answered 200.
    wire = server_bed.wire()
    for op in (codec.SIMPLEENROLL, codec.SIMPLEREENROLL):
        with wire.rewinding():
            wire.expect_next(success_of(op), req, f"a 200 answer to .../{op}")


@pytest.mark.requirement("RFC7030-4.2.3-MUST-01")
def test_enroll_success_media_type(server_bed: ServerDutBed) -> None:
    """If the enrollment is successful, the server response MUST contain an HTTP 200
    response code with a content-type of "application/pkcs7-mime"."""
    req = "RFC7030-4.2.3-MUST-01"
    # Step 1: enroll a fresh key.
    server_bed.start()
    post_waiting(
        server_bed.client(auth="cert"), codec.SIMPLEENROLL, make_csr(generate_key(), SUBJECT)
    )
    # Step 2: the answer is 200 with Content-Type application/pkcs7-mime.
    wire = server_bed.wire()
    answer = wire.expect_next(success_of(codec.SIMPLEENROLL), req, "a 200 to /simpleenroll")
    check(
        media_type(answer) == codec.PKCS7_MIME,
        f"frame {answer.number}: Content-Type {answer.get('http.content_type')!r}",
        req,
    )


@pytest.mark.requirement("RFC7030-4.2.3-MUST-02")
def test_enroll_returns_only_issued_cert(server_bed: ServerDutBed) -> None:
    """A successful response MUST be a certs-only CMC Simple PKI Response, as defined in
    [RFC5272], containing only the certificate that was issued."""
    req = "RFC7030-4.2.3-MUST-02"
    # Step 1: enroll a fresh key.
    server_bed.start()
    key = generate_key()
    post_waiting(server_bed.client(auth="cert"), codec.SIMPLEENROLL, make_csr(key, SUBJECT))
    # Step 2: the body holds exactly one certificate, for the CSR's public key.
    wire = server_bed.wire()
    answer = wire.expect_next(success_of(codec.SIMPLEENROLL), req, "a 200 to /simpleenroll")
    certs = wire_certs(answer, req, strict=False)
    subjects = [c.subject.rfc4514_string() for c in certs]
    check(
        len(certs) == 1 and spki(certs[0].public_key()) == spki(key.public_key()),
        f"frame {answer.number}: {len(certs)} certificate(s) {subjects}, want only the one "
        "issued for the CSR's key",
        req,
    )


@pytest.mark.requirement("RFC8951-3-MUST-01")
def test_base64_bodies_regardless_of_transfer_encoding(server_bed: ServerDutBed) -> None:
    """[RFC 8951 §3] requires the POST request and payload response of all endpoints
    using base64 encoding; DER is used to produce the input for the base64 encoding."""
    req = "RFC8951-3-MUST-01"
    server_bed.start()
    peer = server_bed.client(auth="cert")
    # Step 1: a base64 CSR labelled Content-Transfer-Encoding: binary, then one unlabelled.
    csr = make_csr(generate_key(), SUBJECT)
    post_waiting(peer, codec.SIMPLEENROLL, csr, headers={"Content-Transfer-Encoding": "binary"})
    post_waiting(peer, codec.SIMPLEENROLL, make_csr(generate_key(), SUBJECT))
    peer.cacerts()
    # Step 2: both CSRs are served, and every 200 body is base64 of DER.
    wire = server_bed.wire()
    answers = wire.all(lambda f: f.get("http.response.code") == "200")
    enrolled = [f for f in answers if (f.get("http.response_for.uri") or "").endswith("enroll")]
    check(
        len(enrolled) == 2,
        f"{len(enrolled)} of 2 base64 CSRs were served (200); the header "
        "Content-Transfer-Encoding must not change the result",
        req,
    )
    for answer in answers:
        wire_certs(answer, req)


@pytest.mark.requirement("RFC8951-3.1-SHOULD-01")
def test_csr_with_whitespace_accepted(server_bed: ServerDutBed) -> None:
    """This specification clarifies that despite what [RFC2616] says, white space
    including CR, LF, spaces (ASCII 32), and tabs (ASCII 9) SHOULD be tolerated by
    receivers."""
    req = "RFC8951-3.1-SHOULD-01"
    server_bed.start()
    peer = server_bed.client(auth="cert")
    # Step 1: a CSR wrapped at 64 columns with CRLF, then one with spaces and tabs inside.
    wrapped = make_csr(generate_key(), SUBJECT)
    post_waiting(peer, codec.SIMPLEENROLL, wrapped, body=codec.b64_encode(_der(wrapped), 64))
    spaced = make_csr(generate_key(), SUBJECT)
    text = codec.b64_encode(_der(spaced), 0)
    body = b" \t".join(text[i : i + 16] for i in range(0, len(text), 16)) + b"\r\n"
    post_waiting(peer, codec.SIMPLEENROLL, spaced, body=body)
    # Step 2: each is served like an unwrapped one.
    wire = server_bed.wire()
    codes = [f.get("http.response.code") for f in wire.all(response_to(codec.SIMPLEENROLL))]
    check(codes.count("200") == 2, f"/simpleenroll answered {codes} to CSRs with white space", req)


def _der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


@pytest.mark.requirement("RFC7030-4.2.3-MUST-04")
def test_pending_carries_retry_after(server_bed: ServerDutBed) -> None:
    """If the server responds with an HTTP 202, this indicates that the request has been
    accepted for processing but that a response is not yet available. The server MUST
    include a Retry-After header as defined for HTTP 503 responses."""
    req = "RFC7030-4.2.3-MUST-04"
    # Step 1: the DUT is put into manual-approval mode; a tester client enrolls.
    server_bed.start(pending="1")
    server_bed.client(auth="cert").simpleenroll(make_csr(generate_key(), SUBJECT))
    # Step 2: the 202 answer carries Retry-After with delta-seconds or an HTTP-date.
    wire = server_bed.wire()
    if not wire.all({"http.response.code": "202"}):
        inconclusive("the DUT in manual-approval mode did not answer 202")
    pending = wire.expect_next({"http.response.code": "202"}, req, "the 202 answer")
    value = header(pending, "Retry-After")
    check(
        value is not None and (value.isdigit() or email.utils.parsedate_tz(value)),
        f"frame {pending.number}: 202 with Retry-After {value!r}",
        req,
    )


@pytest.mark.requirement("RFC7030-3.2.2-MUST-01")
def test_operations_under_well_known(server_bed: ServerDutBed, campaign: Campaign) -> None:
    """The EST server MUST support the use of the path-prefix of "/.well-known/" as
    defined in [RFC5785] and the registered name of "est"."""
    req = "RFC7030-3.2.2-MUST-01"
    ics = campaign.ics("est")
    server_bed.start()
    peer = server_bed.client(auth="cert")
    # Step 1: request every operation the DUT supports under /.well-known/est/.
    peer.cacerts()
    csr = make_csr(generate_key(), SUBJECT)
    post_waiting(peer, codec.SIMPLEENROLL, csr)
    peer.simplereenroll(csr)  # refused or served: only a 404 would miss the path
    claimed = {
        codec.CSRATTRS_OPERATION: "EST-SERVER-CSRATTRS",
        codec.SERVERKEYGEN: "EST-SERVER-SERVERKEYGEN",
        codec.FULLCMC: "EST-SERVER-FULLCMC",
    }
    ops = [codec.CACERTS, codec.SIMPLEENROLL, codec.SIMPLEREENROLL]
    ops += [op for op, option in claimed.items() if ics.get(option)]
    if ics.get("EST-SERVER-CSRATTRS"):
        peer.csrattrs()
    if ics.get("EST-SERVER-SERVERKEYGEN"):
        peer.serverkeygen(csr)
    if ics.get("EST-SERVER-FULLCMC"):
        peer.fullcmc(b"\x30\x00")  # any answer but 404 shows the path is served
    # Step 2: each request went to /.well-known/est/... and none was answered 404.
    wire = server_bed.wire()
    for op in ops:
        with wire.rewinding():
            wire.expect_next(
                {"http.request.uri": f"{codec.WELL_KNOWN}/{op}"},
                req,
                f"the request to {codec.WELL_KNOWN}/{op}",
            )
            answer = wire.expect_next(response_to(op), req, f"the answer to .../{op}")
            check(
                answer.get("http.response.code") != "404",
                f"frame {answer.number}: {codec.WELL_KNOWN}/{op} answered 404",
                req,
            )
