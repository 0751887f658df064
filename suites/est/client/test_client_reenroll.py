"""EST client DUT: Re-enrollment (RFC 7030 §4.2.2, §3.3.2), and the certificate the
client presents when it first enrolls (§3.3.2).

Each re-enrollment test enrolls first (a precondition: if that fails the verdict is
inconclusive), keeps the certificate the DUT then holds, and asks the DUT to re-enroll
against the same server, so one capture holds both exchanges. The certificates a client
presents are read off the wire: its Certificate handshake message, decrypted by tshark.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.campaign_state import KnowledgeLog
from harness.capture import Frame, PacketCursor
from harness.crypto.certs import issued_by
from harness.protocols.est import codec
from harness.protocols.est.frames import request_of
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

REENROLL_POST = request_of("POST", codec.SIMPLEREENROLL)
ENROLL_POST = request_of("POST", codec.SIMPLEENROLL)
CERTIFICATE = "11"  # TLS HandshakeType certificate(11)
CLIENT_HELLO = "1"


def _enrolled_then_reenroll(bed: ClientDutBed) -> tuple[x509.Certificate, PacketCursor]:
    """Enroll, keep the issued certificate, re-enroll; the cursor covers both."""
    bed.serve()
    first = bed.run("enroll")
    data = bed.state().get("client_certificate")
    if not first.ok or not data:
        inconclusive(f"precondition: the DUT did not enroll ({first.describe()})")
    try:
        current = x509.load_pem_x509_certificates(data)[0]
    except (ValueError, IndexError):
        inconclusive("precondition: the DUT's client-certificate state is not a PEM certificate")
    bed.run("reenroll")
    return current, bed.wire()


def _san(obj: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    try:
        ext = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return sorted(str(name) for name in ext)


def _changes_subject(csr: x509.CertificateSigningRequest) -> bool:
    # RFC 6402 id-cmc-changeSubjectName (1.3.6.1.5.5.7.7.36) lets a renewal rename.
    return any(attr.oid.dotted_string == "1.3.6.1.5.5.7.7.36" for attr in csr.attributes)


@pytest.mark.requirement("RFC7030-4.2.2-MUST-01")
def test_reenroll_keeps_identity(client_bed: ClientDutBed, knowledge: KnowledgeLog) -> None:
    """RFC 7030 §4.2.2: The request Subject field and SubjectAltName extension MUST be
    identical to the corresponding fields in the certificate being renewed/rekeyed."""
    req = "RFC7030-4.2.2-MUST-01"
    # Step 1: enroll, then re-enroll the certificate just issued.
    current, wire = _enrolled_then_reenroll(client_bed)
    post = wire.expect_next(REENROLL_POST, requirement=req,
                            what="the DUT's simplereenroll POST")
    body = post.get("http.file_data") or ""
    try:
        csr = codec.csr_from_body(body.encode("latin-1", "replace"))
    except codec.CodecError as exc:
        fail(f"frame {post.number}: the re-enroll body is not a base64 PKCS#10: {exc}", req,
             frames=[post.line()])
    if _changes_subject(csr):
        inconclusive("the CSR carries ChangeSubjectName: a rename, not a plain renewal")
    # Step 2: Subject and SubjectAltName equal those of the certificate being renewed.
    check(csr.subject == current.subject and _san(csr) == _san(current),
          f"re-enroll CSR names {csr.subject.rfc4514_string()} {_san(csr)}, the certificate "
          f"being renewed {current.subject.rfc4514_string()} {_san(current)}", req,
          frames=[post.line()])
    knowledge.record("client-certificate", "pass", f"renewed {current.subject.rfc4514_string()}")


def _client_certificate(wire: PacketCursor, post: Frame) -> bytes | None:
    """DER of the first certificate in the client's Certificate message of the TLS
    connection that carried `post` (decrypted from TLS 1.3 with the key log)."""
    stream = post.get("tcp.stream")
    hellos = wire.all({"tls.handshake.type": CLIENT_HELLO, "tcp.stream": stream or ""})
    if not hellos:
        return None
    server_port = hellos[0].dport
    for frame in wire.all({"tls.handshake.type": CERTIFICATE, "tcp.stream": stream or ""}):
        if frame.dport == server_port and frame.values("tls.handshake.certificate"):
            return bytes.fromhex(frame.values("tls.handshake.certificate")[0].replace(":", ""))
    return None


@pytest.mark.requirement("RFC7030-3.3.2-MUST-03")
def test_reenroll_authenticates_with_renewed_cert(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.3.2: If the certificate to be renewed or rekeyed is appropriate for the
    negotiated cipher suite, then the client MUST use it for the TLS handshake."""
    req = "RFC7030-3.3.2-MUST-03"
    # Step 1: enroll, then re-enroll the certificate just issued.
    current, wire = _enrolled_then_reenroll(client_bed)
    post = wire.expect_next(REENROLL_POST, requirement=req,
                            what="the DUT's simplereenroll POST")
    # Step 2: the client Certificate message of that connection carries the certificate
    # being renewed (tshark shows it from the decrypted TLS 1.3 handshake as well).
    presented = _client_certificate(wire, post)
    if presented is None:
        fail("the re-enroll connection carries no client Certificate message", req,
             frames=[post.line()])
    try:
        subject = x509.load_der_x509_certificate(presented).subject.rfc4514_string()
    except ValueError:
        subject = "(unparsable)"
    check(presented == current.public_bytes(Encoding.DER),
          f"the re-enroll handshake presents {subject}, not the certificate being renewed "
          f"{current.subject.rfc4514_string()}", req, frames=[post.line()])


@pytest.mark.requirement("RFC7030-3.3.2-MAY-01")
def test_enroll_authenticates_with_idevid(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.3.2: When requesting an enroll operation, the client MAY use a client
    certificate issued by a third party to authenticate itself."""
    req = "RFC7030-3.3.2-MAY-01"
    # Step 1: the DUT holds an IDevID from the manufacturer CA (not the EST CA), which the
    # tester server accepts; it enrolls from an empty state.
    client_bed.serve()
    result = client_bed.run("enroll")
    wire = client_bed.wire()
    post = wire.expect_next(ENROLL_POST, requirement=req,
                            what=f"the DUT's simpleenroll POST ({result.describe()})")
    # Step 2: the client Certificate message of that connection carries the IDevID.
    presented = _client_certificate(wire, post)
    if presented is None:
        fail("the enroll connection carries no client Certificate message: the DUT did not "
             "authenticate with its third-party certificate", req, frames=[post.line()])
    try:
        cert = x509.load_der_x509_certificate(presented)
    except ValueError:
        fail("the enroll handshake presents an unparsable certificate", req,
             frames=[post.line()])
    if "idevid_ca" in client_bed.oob:
        # The DUT brings its factory IDevID: any certificate the EST CA did not issue.
        third_party = not issued_by(cert, client_bed.pki.ca.cert)
    else:
        third_party = presented == client_bed.pki.idevid.cert.public_bytes(Encoding.DER)
    check(third_party, f"the enroll handshake presents {cert.subject.rfc4514_string()}, "
          "not the IDevID", req, frames=[post.line()])
