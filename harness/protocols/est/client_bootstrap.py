"""Bootstrap Distribution of CA Certificates (RFC 7030 §4.1.1) for the reference EST client.

With no TA for the server and a fingerprint verified out of band, the client completes
the TLS handshake provisionally (the server is not authenticated), asks /cacerts and
nothing else on that connection, and accepts the answer only if a certificate in it has
the fingerprint. The accepted certificates become the Explicit TA database; every other
request goes over a new TLS session authenticated with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est import params as P
from harness.protocols.est.client import EstClientPeer, EstSession
from harness.protocols.est.client_support import Refused, issued_for, validated_cacerts
from harness.protocols.est.client_trust import fingerprint_match

if TYPE_CHECKING:
    from harness.protocols.est.reference_client import _Client


def bootstrap(c: _Client, action: str) -> bool:
    """Install the CA certificates of a provisional /cacerts; True when the action was
    already carried out there (a mutant that enrolls on the provisional connection)."""
    fingerprint = c.trust.bootstrap_fingerprint
    provisional = EstClientPeer(
        c.params.est_url,
        None,  # provisional: the server is not authenticated (§4.1.1)
        client=c.idevid(),
        keylog=c.params.keylog,
        timeout=c.remaining(),
        verify_hostname=False,
    )
    done = False
    with provisional.session() as session:
        if session.error is not None:
            raise Refused(f"bootstrap: {session.error}")
        resp = session.request("GET", codec.CACERTS, auth=False)
        if c.quirks.bootstrap_enroll_provisional and action == "enroll" and resp.ok:
            done = _enroll_here(c, session)  # mutant
    c.expect_ok(resp, "bootstrap cacerts")
    certs = c.certs_of(resp, "bootstrap cacerts")
    anchor = fingerprint_match(certs, fingerprint)
    if c.quirks.bootstrap_check_fingerprint:
        if anchor is None:
            # §4.1.1: without the out-of-band match the answer is not accepted.
            raise Refused(f"bootstrap: no /cacerts certificate has fingerprint {fingerprint}")
        certs, _dropped = validated_cacerts(certs, [anchor])
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
    target = c.state / P.CACERTS_FILE
    target.write_bytes(pem)
    c.trust.explicit = target
    c.trust.bootstrap_fingerprint = ""
    c.say(f"bootstrap: {len(certs)} CA certificate(s) accepted as explicit TA")
    return done


def _enroll_here(c: _Client, session: EstSession) -> bool:
    """Mutant: POSTs its CSR on the provisional connection and keeps what it gets."""
    key = generate_key()
    resp = session.simpleenroll(make_csr(key, c.params.subject_cn))
    if not resp.ok:
        return False
    try:
        certs = codec.parse_certs_only(codec.b64_decode(resp.body))
    except codec.CodecError:
        return False
    cert: x509.Certificate = issued_for(certs, key, "simpleenroll")
    c.install(cert, key, P.CERT_FILE, P.KEY_FILE)
    c.say("bootstrap: enrolled on the provisional connection")
    return True
