"""EST client DUT: CSR attributes (RFC 7030 §4.5.2) and proof-of-possession linking
(RFC 7030 §3.5)."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography import x509

from harness.capture import Frame, PacketCursor
from harness.protocols.est import codec
from harness.protocols.est.server_ops import ServerBehaviour
from harness.protocols.est.testbed import ClientDutBed
from harness.vectors import vector_bytes
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

ENROLL_POST = {
    "http.request.method": "POST",
    "http.request.uri": re.compile(r"^/\.well-known/est/(?:[^/]+/)?simpleenroll$"),
}
# RFC 7030 Appendix A.2 (binary in RFC 9148 A.4) uses 2.999.x, an example arc no client
# can know: those are the items the client must leave out.
UNKNOWN_ARC = "2.999."
FINISHED = "20"  # TLS HandshakeType finished(20)


def _csr(post: Frame, req: str) -> x509.CertificateSigningRequest:
    try:
        return codec.csr_from_body((post.get("http.file_data") or "").encode("latin-1", "replace"))
    except codec.CodecError as exc:
        fail(f"frame {post.number}: the body is not a base64 PKCS#10: {exc}", req,
             frames=[post.line()])


def _oids(csr: x509.CertificateSigningRequest) -> list[str]:
    found = [attr.oid.dotted_string for attr in csr.attributes]
    found += [ext.oid.dotted_string for ext in csr.extensions]
    return found


@pytest.mark.requirement("RFC7030-4.5.2-MUST-03")
def test_unknown_csrattrs_ignored(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.5.2: The client MUST ignore any OID or attribute it does not
    recognize."""
    req = "RFC7030-4.5.2-MUST-03"
    # Step 1: /csrattrs serves RFC 7030's example, which holds 2.999.x items; the DUT
    # learns the attributes, then enrolls.
    client_bed.serve(csrattrs=vector_bytes("est", "a4_csrattrs", "expected", "payload"))
    learnt = client_bed.run("csrattrs")
    enrolled = client_bed.run("enroll")
    wire = client_bed.wire()
    # Step 2: "the client still POSTs a CSR" ...
    post = wire.expect_next(ENROLL_POST, requirement=req,
                            what=f"a CSR after csrattrs with unknown OIDs ({learnt.describe()}; "
                                 f"{enrolled.describe()}: {enrolled.stderr.strip()[-160:]})")
    # Step 3: ... "which contains neither unknown item".
    unknown = [oid for oid in _oids(_csr(post, req)) if oid.startswith(UNKNOWN_ARC)]
    check(not unknown, f"the CSR carries unrecognisable items {unknown}", req,
          frames=[post.line()])


def _tls_unique(wire: PacketCursor, post: Frame) -> bytes | None:
    """tls-unique (RFC 5929) of the TLS 1.2 connection carrying `post`: the verify_data
    of its first Finished message, which tshark shows once the key log decrypts it."""
    stream = post.get("tcp.stream") or ""
    for frame in wire.all({"tls.handshake.type": FINISHED, "tcp.stream": stream}):
        data = frame.get("tls.handshake.verify_data")
        if data:
            return bytes.fromhex(data.replace(":", ""))
    return None


def _negotiated_tls_1_3(wire: PacketCursor, post: Frame) -> bool:
    stream = post.get("tcp.stream") or ""
    hello = wire.all({"tls.handshake.type": "2", "tcp.stream": stream})
    return bool(hello) and "0x0304" in hello[0].values(
        "tls.handshake.extensions.supported_version")


@pytest.mark.requirement("RFC7030-3.5-MUST-02")
def test_challenge_password_is_tls_unique_or_empty(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.5: If tls-unique information is not embedded within the certification
    request, the challenge-password field MUST be empty."""
    req = "RFC7030-3.5-MUST-02"
    # Step 1: TLS 1.2, the last version with tls-unique; the DUT enrolls.
    from ssl import TLSVersion

    client_bed.serve(ServerBehaviour(max_tls=TLSVersion.TLSv1_2))
    result = client_bed.run("enroll")
    wire = client_bed.wire()
    post = wire.expect_next(ENROLL_POST, requirement=req,
                            what=f"the DUT's simpleenroll POST ({result.describe()})")
    password = codec.challenge_password(_csr(post, req))
    # Step 2: an absent or empty challengePassword says "no channel binding".
    if not password or not password.strip():
        return
    # Step 3: otherwise it must be base64(tls-unique) of the connection carrying it.
    if _negotiated_tls_1_3(wire, post):
        fail("challengePassword set on a TLS 1.3 connection, which has no tls-unique", req,
             frames=[post.line()])
    unique = _tls_unique(wire, post)
    if unique is None:
        inconclusive("the capture does not show the Finished message (key log missing?)")
    check(password.strip() == base64.b64encode(unique),
          f"challengePassword {password[:40]!r} is neither empty nor base64(tls-unique) "
          "of its connection", req, frames=[post.line()])
