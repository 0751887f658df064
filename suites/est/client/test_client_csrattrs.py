"""EST client DUT: CSR attributes (RFC 7030 §4.5.2) and proof-of-possession linking
(RFC 7030 §3.5)."""

from __future__ import annotations

import base64
from ssl import TLSVersion

import pytest
from cryptography import x509

from harness.capture import Frame, PacketCursor
from harness.protocols.est import codec
from harness.protocols.est.frames import csr_in, request_of
from harness.protocols.est.server_ops import ServerBehaviour
from harness.protocols.est.testbed import ClientDutBed
from harness.vectors import vector_bytes
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

ENROLL_POST = request_of("POST", codec.SIMPLEENROLL)
# RFC 7030 Appendix A.2 (binary in RFC 9148 A.4) uses 2.999.x, an example arc no client
# can know: those are the items the client must leave out.
UNKNOWN_ARC = "2.999."


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
    unknown = [oid for oid in _oids(csr_in(post)) if oid.startswith(UNKNOWN_ARC)]
    check(not unknown, f"the CSR carries unrecognisable items {unknown}", req,
          frames=[post.line()])


def _connection_tls_unique(bed: ClientDutBed, wire: PacketCursor, post: Frame) -> bytes | None:
    """tls-unique (RFC 5929) of the connection that carried `post`, from its first
    handshake. Taken from the server peer's own record of the same POST: tshark 4.0
    shows no Finished verify_data even with the key log, so the wire cannot give it.
    The peer reads it once, when the connection is set up (the first handshake, RFC 7030
    §3.5). None when the connection has none (TLS 1.3); inconclusive when unrecorded."""
    posts = [frame.number for frame in wire.all(ENROLL_POST)]
    seen = [] if bed.server is None else [
        e for e in bed.server.exchanges if e.method == "POST" and e.op == codec.SIMPLEENROLL
    ]
    n = posts.index(post.number) if post.number in posts else len(seen)
    if n >= len(seen):
        inconclusive(f"the server peer has no record of frame {post.number}'s POST",
                     frames=[post.line()])
    return seen[n].tls_unique


def _linked(password: bytes, unique: bytes | None) -> bool:
    return unique is not None and password.strip() == base64.b64encode(unique)


def _enroll_post(bed: ClientDutBed, req: str, max_tls: TLSVersion | None) -> tuple[
    Frame, bytes, bytes | None
]:
    """Enroll once; (the POST, its challengePassword or b"", tls-unique of its connection)."""
    bed.serve(ServerBehaviour(max_tls=max_tls))
    result = bed.run("enroll")
    wire = bed.wire()
    post = wire.expect_next(ENROLL_POST, requirement=req,
                            what=f"the DUT's simpleenroll POST ({result.describe()})")
    password = codec.challenge_password(csr_in(post)) or b""
    return post, password, _connection_tls_unique(bed, wire, post)


@pytest.mark.requirement("RFC7030-3.5-SHOULD-01")
@pytest.mark.ics("EST-CLIENT-POP-LINKING")  # a DUT that declares no linking has said so
def test_csr_links_tls_unique(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.5: Regardless of the CSR Attributes Response, clients SHOULD link
    identity and POP by embedding tls-unique information in the certification request."""
    req = "RFC7030-3.5-SHOULD-01"
    # Step 1: TLS 1.2, the last version with tls-unique, and no CSR attribute asking for
    # challengePassword; the DUT enrolls.
    post, password, unique = _enroll_post(client_bed, req, TLSVersion.TLSv1_2)
    if unique is None:
        inconclusive("the POST's connection has no tls-unique (not TLS 1.2)",
                     frames=[post.line()])
    # Step 2: the CSR's challengePassword is base64(tls-unique) of that connection.
    check(_linked(password, unique),
          f"challengePassword {password[:40]!r} does not embed its connection's tls-unique "
          f"{base64.b64encode(unique).decode()!r}", req, frames=[post.line()])
