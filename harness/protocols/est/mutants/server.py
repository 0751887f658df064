"""Mutants of the reference EST server: broken servers that show the server suite's
tests can fail."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from cryptography import x509

from harness.crypto.pki import CertifiedKey, Pki, generate_key
from harness.protocols.est import codec
from harness.protocols.est.mutants.base import WRONG_MEDIA_TYPE, Mutant
from harness.protocols.est.server import EstServerConfig, EstServerPeer, ServerBehaviour


def _set(**changes: object) -> Callable[[EstServerPeer], None]:
    """An apply() that sets ServerBehaviour / ServerQuirks attributes by name."""

    def apply(peer: EstServerPeer) -> None:
        for name, value in changes.items():
            target: object = peer.quirks if hasattr(peer.quirks, name) else peer.behaviour
            if not hasattr(target, name):
                raise AttributeError(f"no server hook named {name!r}")
            setattr(target, name, value)

    return apply


def _media(op: str) -> Callable[[EstServerPeer], None]:
    def apply(peer: EstServerPeer) -> None:
        peer.behaviour.content_type[op] = WRONG_MEDIA_TYPE

    return apply


def _raw_der(op: str) -> Callable[[EstServerPeer], None]:
    def apply(peer: EstServerPeer) -> None:
        peer.behaviour.raw_der.add(op)

    return apply


def _status(op: str, code: int) -> Callable[[EstServerPeer], None]:
    def apply(peer: EstServerPeer) -> None:
        peer.behaviour.status[op] = code

    return apply


def _success_status(op: str, code: int) -> Callable[[EstServerPeer], None]:
    def apply(peer: EstServerPeer) -> None:
        peer.quirks.success_status[op] = code

    return apply


def _key_cert_sign_server_cert(peer: EstServerPeer) -> None:
    """Re-issue the server certificate from the EST CA with keyCertSign but cA FALSE,
    which RFC 5280 §4.2.1.3 forbids; hostnames and EKU stay, so TLS clients accept it."""
    ca, old = peer.config.ca, peer.config.credential.cert
    fresh = Pki.create().server_cert(ca, "localhost")  # SKI, AKI, serial, validity
    key = generate_key()
    usage = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(fresh.cert.serial_number)
        .not_valid_before(fresh.cert.not_valid_before_utc)
        .not_valid_after(fresh.cert.not_valid_after_utc)
    )
    for ext in old.extensions:
        value = usage if isinstance(ext.value, x509.KeyUsage) else ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = builder.add_extension(value, ext.critical)
    cert = builder.sign(ca.key, fresh.cert.signature_hash_algorithm)
    peer.config.credential = CertifiedKey(cert, key, [ca.cert, *ca.chain])


def _server(
    name: str, breaks: list[str], description: str, apply: Callable[[EstServerPeer], None]
) -> tuple[str, Mutant[EstServerPeer]]:
    return name, Mutant(name, breaks, description, apply)


SERVER_MUTANTS: dict[str, Mutant[EstServerPeer]] = dict(
    [
        _server(
            "cacerts-wrong-media-type",
            ["RFC7030-4.1.3-MUST-03"],
            f"/cacerts answers 200 with Content-Type {WRONG_MEDIA_TYPE} instead of a "
            "certs-only application/pkcs7-mime.",
            _media(codec.CACERTS),
        ),
        _server(
            "cacerts-requires-auth",
            ["RFC7030-4.1.2-SHOULD-NOT-01"],
            "/cacerts demands authentication (401 Basic challenge to anonymous clients).",
            _set(cacerts_requires_auth=True),
        ),
        _server(
            "enroll-wrong-media-type",
            ["RFC7030-4.2.3-MUST-01"],
            f"/simpleenroll answers 200 with Content-Type {WRONG_MEDIA_TYPE} instead of "
            "application/pkcs7-mime.",
            _media(codec.SIMPLEENROLL),
        ),
        _server(
            "enroll-not-base64",
            ["RFC8951-3-MUST-01"],
            "/simpleenroll answers with binary DER instead of base64.",
            _raw_der(codec.SIMPLEENROLL),
        ),
        _server(
            "enroll-extra-certs",
            ["RFC7030-4.2.3-MUST-02"],
            "/simpleenroll answers with the issued certificate plus the CA certificate, "
            "where only the issued certificate is allowed.",
            _set(extra_certs_in_enroll=True),
        ),
        _server(
            "enroll-without-auth",
            # an anonymous client is served, so it is never challenged either (§3.2.3)
            ["RFC7030-3.3.2-MUST-02", "RFC7030-3.2.3-MAY-01"],
            "/simpleenroll issues certificates to clients that authenticated in no way "
            "(no client certificate, no HTTP Basic): no authorization check.",
            _set(enroll_without_auth=True),
        ),
        _server(
            "pop-not-checked",
            ["RFC7030-3.5-MUST-01", "RFC7030-3.5-MAY-01"],
            "Requires PoP linking (TLS 1.2, challengePassword) but accepts a CSR whose "
            "challengePassword is not this connection's tls-unique.",
            _set(require_pop=True, skip_pop_check=True),
        ),
        _server(
            "pending-no-retry-after",
            ["RFC7030-4.2.3-MUST-04"],
            "In manual-approval mode, answers 202 without a Retry-After header.",
            _set(retry_after=None),
        ),
        _server(
            "reenroll-any-subject",
            ["RFC7030-3.3.2-MUST-02"],
            "/simplereenroll renews with a subject or subjectAltName that differs from the "
            "certificate being renewed (RFC 7030 §4.2.2 identity not enforced).",
            _set(skip_reenroll_identity_check=True),
        ),
        _server(
            "accepts-bad-csr-signature",
            ["RFC7030-4.2.3-MUST-03"],
            "/simpleenroll answers 200 (issues) for a CSR whose signature does not verify, "
            "instead of a 4xx error.",
            _set(skip_csr_signature_check=True),
        ),
        _server(
            "csrattrs-wrong-media-type",
            ["RFC7030-4.5.2-MUST-02"],
            f"/csrattrs answers 200 with Content-Type {WRONG_MEDIA_TYPE} instead of "
            "application/csrattrs (the config must carry csrattrs for a 200).",
            _media(codec.CSRATTRS_OPERATION),
        ),
        _server(
            "serverkeygen-not-multipart",
            ["RFC7030-4.4.2-MUST-01"],
            "/serverkeygen answers with a bare certs-only body: no multipart/mixed, no key part.",
            _set(serverkeygen_single_part=True),
        ),
        _server(
            "serverkeygen-checks-csr-key",
            ["RFC7030-4.4.1-MUST-01"],
            "/serverkeygen refuses (400) a CSR whose signature does not verify, where the "
            "server must ignore the CSR's public key and signature.",
            _set(serverkeygen_checks_csr_key=True),
        ),
        _server(
            "cacerts-status-203",
            ["RFC7030-4.1.2-MUST-02", "RFC7030-4.1.3-MUST-01"],
            "/cacerts answers the CA certificates with 203 Non-Authoritative Information "
            "instead of 200.",
            _success_status(codec.CACERTS, 203),
        ),
        _server(
            "cacerts-without-root",
            # during a root key update both roots, OldWithOld and NewWithNew, go too
            ["RFC7030-4.1.3-MUST-04", "RFC7030-4.1.3-MUST-05", "RFC7030-4.1.3-SHOULD-01"],
            "/cacerts leaves out the root CA certificate (only the issuing EST CA), so no "
            "chain ends at a trust anchor.",
            _set(cacerts_without="root"),
        ),
        _server(
            "cacerts-without-rollover-links",
            ["RFC7030-4.1.3-SHOULD-01"],
            "During a root CA key update (start parameter rollover=1) /cacerts holds the old "
            "and the new root but neither link certificate (OldWithNew, NewWithOld).",
            _set(cacerts_without="links"),
        ),
        _server(
            "fullcmc-accepts-anything",
            ["RFC7030-4.3.1-MUST-01"],
            "/fullcmc issues for any body holding a PKCS#10: a bare one, one in a SignedData "
            "of another content type, or one under a signature that does not verify.",
            _set(fullcmc_accepts_anything=True),
        ),
        _server(
            "label-ignored",
            ["RFC7030-3.2.2-MAY-01"],
            "Claims a CA label but serves only the unlabelled paths: "
            "/.well-known/est/<label>/... answers 404.",
            _set(labels_ignored=True),
        ),
        _server(
            "any-label",
            ["RFC7030-3.2.2-MUST-02"],
            "Takes any path segment as a CA label, operation names too: "
            "/.well-known/est/simpleenroll/cacerts is served as /cacerts.",
            _set(any_label=True),
        ),
        _server(
            "cacerts-without-issuer",
            ["RFC7030-4.1.3-MUST-05"],
            "/cacerts holds only the root: the EST CA that issues client certificates is "
            "missing, so an issued certificate cannot be chained.",
            _set(cacerts_without="issuer"),
        ),
        _server(
            "no-simplereenroll",
            ["RFC7030-4.2-MUST-01"],
            "/simplereenroll is not implemented (501).",
            _status(codec.SIMPLEREENROLL, 501),
        ),
        _server(
            "serverkeygen-key-not-pkcs8",
            ["RFC7030-4.4.2-MUST-02"],
            "/serverkeygen labels the unencrypted PKCS#8 key part "
            f"{codec.PKCS7_SERVER_GENERATED_KEY!r} instead of {codec.PKCS8}.",
            _set(serverkeygen_key_media_type=codec.PKCS7_SERVER_GENERATED_KEY),
        ),
        _server(
            "csrattrs-status-203",
            ["RFC7030-4.5.2-MUST-01", "RFC7030-4.5.2-MUST-04"],
            "/csrattrs answers its attributes with 203 instead of 200 (so a POP-linking "
            "server also gives no CSR Attributes Response naming challengePassword).",
            _success_status(codec.CSRATTRS_OPERATION, 203),
        ),
        _server(
            "csrattrs-no-challenge-password",
            ["RFC7030-4.5.2-MUST-04"],
            "/csrattrs never names challengePassword, even when the server requires PoP "
            "linking (start parameter pop=1).",
            _set(csrattrs_without_challenge_password=True),
        ),
        _server(
            "csr-blanks-refused",
            ["RFC8951-3.1-SHOULD-01"],
            "/simpleenroll refuses (400) a base64 CSR body holding spaces or tabs "
            "(line breaks still pass).",
            _set(csr_refuses_blanks=True),
        ),
        _server(
            "error-wrong-media-type",
            ["RFC8951-5.1-MAY-01"],
            f"Error answers (4xx/5xx) carry Content-Type {WRONG_MEDIA_TYPE}, neither "
            "text/plain nor a CMC response.",
            _set(error_media_type=WRONG_MEDIA_TYPE),
        ),
        _server(
            "no-session-resumption",
            ["RFC7030-3.3-SHOULD-01"],
            "Issues no session tickets (num_tickets 0, OP_NO_TICKET): every TLS 1.3 "
            "handshake is a full one.",
            _set(no_session_resumption=True),
        ),
        _server(
            "server-cert-key-cert-sign",
            ["RFC7030-3.3.1-MUST-02"],
            "The TLS server certificate asserts keyUsage keyCertSign without basicConstraints "
            "cA (RFC 5280 §4.2.1.3).",
            _key_cert_sign_server_cert,
        ),
        _server(
            "not-under-well-known",
            # the CA label lives under /.well-known/est too (§3.2.2)
            ["RFC7030-3.2.2-MUST-01", "RFC7030-3.2.2-MAY-01"],
            "Serves the EST operations under /est/ only; /.well-known/est/... answers 404.",
            _set(path_prefix="/est"),
        ),
        _server(
            "accepts-tls-1-0",
            ["RFC7030-3.3-MUST-02"],
            "Accepts TLS 1.0 clients (minimum TLS 1.0, cipher string DEFAULT:@SECLEVEL=0).",
            _set(min_tls=ssl.TLSVersion.TLSv1, ciphers="DEFAULT:@SECLEVEL=0"),
        ),
        _server(
            "accepts-null-anon-suites",
            # a NULL suite exposes the serverkeygen private key too (§4.4)
            ["RFC7030-3.2.3-MUST-NOT-02", "RFC7030-4.4-MUST-NOT-01"],
            "Accepts NULL-encryption and anonymous cipher suites in TLS 1.2 "
            "(ALL:eNULL:@SECLEVEL=0; DEFAULT would delete them for good with !eNULL).",
            _set(ciphers="ALL:eNULL:@SECLEVEL=0"),
        ),
        _server(
            "no-client-cert-auth",
            ["RFC7030-3.3.2-MUST-01", "RFC7030-3.3.2-MUST-02", "RFC7030-3.2.3-MAY-01"],
            "Never asks for a TLS client certificate (no CertificateRequest) and, having no "
            "way to authenticate clients by certificate, serves enrollment to anyone.",
            _set(no_client_certificates=True, enroll_without_auth=True),
        ),
        _server(
            "no-http-auth-challenge",
            ["RFC7030-3.2.3-MAY-01"],
            "Claims HTTP authentication but never challenges: enrollment without a TLS "
            "client certificate gets 403 (no 401 WWW-Authenticate), with or without valid "
            "HTTP Basic credentials.",
            _set(require_cert=True),
        ),
    ]
)


def make_server(
    config: EstServerConfig,
    behaviour: ServerBehaviour | str | None = None,
    mutant: str | None = None,
) -> EstServerPeer:
    """The reference server peer, or the named mutant of it (not started).

    `make_server(config, "pop-not-checked")` also works: a string in the second place is
    the mutant's name. The mutant is applied after `behaviour`, so it wins where both
    set the same knob.
    """
    if isinstance(behaviour, str):
        if mutant is not None:
            raise TypeError("make_server: mutant given twice")
        behaviour, mutant = None, behaviour
    peer = EstServerPeer(config, behaviour)
    if mutant is not None:
        if mutant not in SERVER_MUTANTS:
            raise KeyError(
                f"unknown EST server mutant {mutant!r}; known: {', '.join(sorted(SERVER_MUTANTS))}"
            )
        SERVER_MUTANTS[mutant].apply(peer)
    return peer
