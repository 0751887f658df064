"""The EST server's operations (RFC 7030 §4): authentication, CSR checks, issuing.

This module knows nothing about sockets or HTTP framing: `EstOperations.handle` takes
one parsed request (with what the TLS layer learned: peer certificate, tls-unique,
version) and returns the reply to send. `server.py` does TLS and HTTP around it.

Two kinds of deviation from the spec are consulted here, at named points only:
`ServerBehaviour` (knobs a test turns to probe a client DUT) and `ServerQuirks`
(the hooks mutants use to break one requirement each; see mutants/server.py).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from dataclasses import dataclass, field
from ssl import TLSVersion

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.crypto.certs import issued_by, self_signed, subject_of
from harness.crypto.pki import CertifiedKey, KeyType, Pki, PkiError, generate_key
from harness.protocols.est import cmc, codec
from harness.protocols.est import server_fullcmc as fullcmc
from harness.protocols.est.http_digest import (
    ALGORITHMS,
    DigestError,
    check_digest,
    digest_challenge,
    parse_auth,
)

# Operations that need an authenticated, authorized client by default (RFC 7030 §3.7).
AUTHENTICATED_OPS = frozenset(
    {codec.SIMPLEENROLL, codec.SIMPLEREENROLL, codec.SERVERKEYGEN, codec.FULLCMC}
)
ENROLL_OPS = frozenset({codec.SIMPLEENROLL, codec.SIMPLEREENROLL})
REALM = "estrealm"
CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"  # PKCS #9 challengePassword (RFC 2985)
MAX_BODY = 1 << 20  # a CSR is a few kB; anything near this is a broken or hostile client
# Where a redirected operation moves to (RFC 7030 §3.2.1): same origin, another path the
# server also serves, e.g. /est-moved/cacerts (with the CA label, if any, in between).
REDIRECT_PREFIX = "/est-moved"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass
class ServerBehaviour:
    """How the server peer deviates from the spec to probe a client DUT (defaults: none)."""

    content_type: dict[str, str] = field(default_factory=dict)  # op -> response media type
    corrupt_base64: set[str] = field(default_factory=set)  # ops whose body gets non-base64 bytes
    raw_der: set[str] = field(default_factory=set)  # ops answered with binary DER
    pending: int = 0  # answer the first N (re)enroll requests with 202
    retry_after: int | str | None = 1  # Retry-After of a 202; None = omit the header
    require_basic: bool = False  # HTTP auth (auth_schemes) must succeed even with a client cert
    require_cert: bool = False  # a TLS client certificate must be presented
    require_pop: bool = False  # CSR challengePassword must be base64(tls-unique), §3.5
    status: dict[str, int] = field(default_factory=dict)  # op -> forced error status
    garbage: bool = False  # answer every request with non-HTTP bytes
    close_early: bool = False  # close the connection after reading the request
    hang: bool = False  # never answer (until the peer stops)
    max_tls: TLSVersion | None = None
    min_tls: TLSVersion | None = None
    extra_certs_in_enroll: bool = False  # CA certificate next to the issued one
    # Blanks mixed into every base64 body (e.g. " \t\r\n"), RFC 8951 §3.1; None: LF lines.
    wrap_base64: str | None = None
    # Content-Transfer-Encoding sent with base64 bodies; None: "base64", "": no header.
    transfer_encoding_header: str | None = None
    # Certificates added to /cacerts, e.g. ones that do not chain to the root (§4.1.3).
    extra_cacerts: list[x509.Certificate] = field(default_factory=list)
    ciphers: str | None = None  # OpenSSL cipher string for TLS 1.2 and older (server_tls.py)
    # §3.2.3: the schemes a 401 offers, in order, and the only ones whose credentials
    # count: "Basic", "Digest" (RFC 7616: SHA-256 and MD5 challenges, qop=auth) or any
    # other token, offered bare (a scheme no EST client is expected to know).
    auth_schemes: tuple[str, ...] = ("Basic",)
    # §3.2.1: op -> 3xx status; Location names the op under REDIRECT_PREFIX, same origin.
    redirect: dict[str, int] = field(default_factory=dict)


@dataclass
class ServerQuirks:
    """Hooks for mutants: each flag skips or bends exactly one check of the reference."""

    cacerts_requires_auth: bool = False  # /cacerts demands authentication like enroll
    enroll_without_auth: bool = False  # issue to clients that authenticated in no way
    skip_pop_check: bool = False  # claim require_pop but accept any challengePassword
    skip_reenroll_identity_check: bool = False  # renew with a different subject / SAN
    skip_csr_signature_check: bool = False  # issue for a CSR whose signature is wrong
    serverkeygen_single_part: bool = False  # answer serverkeygen with certs-only, no key part
    serverkeygen_checks_csr_key: bool = False  # refuse a serverkeygen CSR whose signature fails
    cacerts_without: str | None = None  # "root", "issuer" or "links": left out of /cacerts
    success_status: dict[str, int] = field(default_factory=dict)  # op -> 2xx sent for 200
    serverkeygen_key_media_type: str | None = None  # key part labelled so, not pkcs8
    csrattrs_without_challenge_password: bool = False  # even when require_pop is on
    csr_refuses_blanks: bool = False  # 400 for a CSR body with spaces/tabs (CR/LF pass)
    error_media_type: str | None = None  # Content-Type of every 4xx/5xx answer
    # server.py / server_tls.py: the TLS and URL layer
    no_session_resumption: bool = False  # no session tickets (RFC 5077, TLS 1.3)
    no_client_certificates: bool = False  # never send CertificateRequest
    path_prefix: str | None = None  # serve the operations here, not under /.well-known/est
    any_label: bool = False  # any path segment is a CA label, operation names too (§3.2.2)
    labels_ignored: bool = False  # CA labels of the config are not served (§3.2.2)
    fullcmc_accepts_anything: bool = False  # /fullcmc issues for any body holding a PKCS#10


@dataclass
class OpRequest:
    """One HTTP request as the operations see it (header names lower case)."""

    op: str
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    peer_cert_der: bytes | None = None  # verified against client_trust by the TLS layer
    tls_unique: bytes | None = None
    tls_version: str | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass
class OpReply:
    """What to send back, plus what the exchange record wants to know."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    note: str = ""  # why: the one-line reason of an error, or what was issued
    client_subject: str | None = None
    basic_user: str | None = None


@dataclass
class OpsSettings:
    """The parts of EstServerConfig the operations need (kept apart to avoid a cycle)."""

    ca: CertifiedKey
    cacerts: list[x509.Certificate]
    users: dict[str, str]
    csrattrs: bytes | None
    days: int = 365


class EstOperations:
    """Answers EST operations; thread-safe records of what it issued."""

    def __init__(self, settings: OpsSettings, behaviour: ServerBehaviour, quirks: ServerQuirks):
        self.settings = settings
        self.behaviour = behaviour
        self.quirks = quirks
        self._pki = Pki.create()
        self._lock = threading.Lock()
        self._pending_sent = 0
        self._nonces: set[str] = set()  # Digest nonces this server has challenged with
        self.issued: list[x509.Certificate] = []

    # -- entry point ------------------------------------------------------------------------

    def handle(self, req: OpRequest) -> OpReply:
        subject = subject_of(req.peer_cert_der)
        user, basic_ok = self._basic(req)
        reply = self._dispatch(req, subject, user, basic_ok)
        if reply.status >= 400 and self.quirks.error_media_type is not None:
            media = self.quirks.error_media_type
            reply.headers = [
                (k, media if k.lower() == "content-type" else v) for k, v in reply.headers
            ]
        reply.client_subject = subject
        reply.basic_user = user
        return reply

    def _dispatch(
        self, req: OpRequest, subject: str | None, user: str | None, basic_ok: bool
    ) -> OpReply:
        op = req.op
        if op in self.behaviour.status:
            code = self.behaviour.status[op]
            return _text(code, f"status {code} forced by the test")
        moved = self._redirect(req)
        if moved is not None:
            return moved
        expected = "GET" if op in (codec.CACERTS, codec.CSRATTRS_OPERATION) else "POST"
        if req.method != expected:
            reply = _text(405, f"{op} takes {expected}, not {req.method}")
            reply.headers.append(("Allow", expected))
            return reply
        needs_auth = op in AUTHENTICATED_OPS or (
            op == codec.CACERTS and self.quirks.cacerts_requires_auth
        )
        if needs_auth:
            denied = self._authorize(req, basic_ok)
            if denied is not None:
                return denied
        if op == codec.CACERTS:
            certs = [*self.settings.cacerts, *self.behaviour.extra_cacerts]
            if self.quirks.cacerts_without == "root":
                certs = [c for c in certs if not self_signed(c)]
            elif self.quirks.cacerts_without == "issuer":
                certs = [c for c in certs if c != self.settings.ca.cert]
            elif self.quirks.cacerts_without == "links":  # root key update links (§4.1.3)
                certs = [c for c in certs if c.issuer != c.subject or self_signed(c)]
            return self._certs_reply(op, certs, "CA certificates")
        if op == codec.CSRATTRS_OPERATION:
            return self._csrattrs()
        if op == codec.FULLCMC:
            return self._fullcmc(req)
        return self._enroll(req)

    # -- authentication (RFC 7030 §3.2.3, §3.3.2) --------------------------------------------

    def _basic(self, req: OpRequest) -> tuple[str | None, bool]:
        """(user named in an Authorization header or None, credentials correct); only the
        schemes the server offers (ServerBehaviour.auth_schemes) count."""
        value = req.header("authorization")
        if value and value[:7].lower() == "digest " and "Digest" in self.behaviour.auth_schemes:
            return self._digest(req, value)
        if not value or value[:6].lower() != "basic " or "Basic" not in self.behaviour.auth_schemes:
            return None, False
        try:
            decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        user, sep, password = decoded.partition(":")
        if not sep:
            return user, False
        expected = self.settings.users.get(user)
        return user, expected is not None and secrets.compare_digest(expected, password)

    def _digest(self, req: OpRequest, value: str) -> tuple[str | None, bool]:
        """RFC 7616 §3.4: the response must match a nonce we issued, the request target
        and the user's password."""
        found = parse_auth(value)
        if not found:
            return None, False
        with self._lock:
            issued = set(self._nonces)
        try:
            user = check_digest(found[0], req.method, req.path, self.settings.users.get,
                                issued.__contains__, realm=REALM)  # fmt: skip
        except DigestError:
            return found[0].params.get("username"), False
        return user, True

    def _challenge(self, message: str) -> OpReply:
        """401 offering the ServerBehaviour.auth_schemes, each a WWW-Authenticate field."""
        reply = _text(401, message)
        for scheme in self.behaviour.auth_schemes:
            if scheme == "Basic":
                reply.headers.append(("WWW-Authenticate", f'Basic realm="{REALM}"'))
            elif scheme == "Digest":
                for algorithm in ALGORITHMS:  # RFC 7616 §3.7: preferred algorithm first
                    nonce = secrets.token_urlsafe(24)
                    with self._lock:
                        self._nonces.add(nonce)
                    value = digest_challenge(REALM, algorithm, nonce, secrets.token_hex(8))
                    reply.headers.append(("WWW-Authenticate", value))
            else:
                reply.headers.append(("WWW-Authenticate", f'{scheme} realm="{REALM}"'))
        return reply

    def _redirect(self, req: OpRequest) -> OpReply | None:
        """ServerBehaviour.redirect: 3xx to the same operation under REDIRECT_PREFIX, an
        absolute URL of the origin the client named in Host (RFC 7030 §3.2.1)."""
        status = self.behaviour.redirect.get(req.op)
        prefix = self.quirks.path_prefix or codec.WELL_KNOWN
        if status is None or not req.path.startswith(prefix + "/"):
            return None  # at the new location already: served there
        moved = REDIRECT_PREFIX + req.path[len(prefix) :]
        host = req.header("host")
        location = f"https://{host}{moved}" if host else moved
        reply = _text(status, f"{req.op} has moved to {moved}")
        reply.headers.append(("Location", location))
        return reply

    def _authorize(self, req: OpRequest, basic_ok: bool) -> OpReply | None:
        """None when the client may go on, else the 401/403 reply."""
        if self.quirks.enroll_without_auth:
            return None
        has_cert = req.peer_cert_der is not None
        if self.behaviour.require_cert and not has_cert:
            return _text(403, "a TLS client certificate is required")
        if self.behaviour.require_basic and not basic_ok:
            return self._challenge("HTTP authentication is required")
        if not (has_cert or basic_ok):
            return self._challenge("neither a client certificate nor HTTP credentials")
        return None

    # -- responses --------------------------------------------------------------------------

    def _certs_reply(self, op: str, certs: list[x509.Certificate], note: str) -> OpReply:
        return self._der_reply(op, codec.certs_only(certs), codec.PKCS7_CERTS_ONLY, note)

    def _der_reply(self, op: str, der: bytes, media_type: str, note: str) -> OpReply:
        """200 with base64 DER, unless the test asked for a broken body or media type."""
        behaviour = self.behaviour
        headers = [("Content-Type", behaviour.content_type.get(op, media_type))]
        if op in behaviour.raw_der:
            # Binary DER, as pre-RFC 8951 servers that trusted Content-Transfer-Encoding did.
            body = der
            encoding: str | None = "binary"
        else:
            # RFC 8951 §3 makes the header meaningless, but RFC 7030's examples send it and
            # old clients look for it.
            if behaviour.wrap_base64 is not None:
                body = _wrapped_b64(der, behaviour.wrap_base64)
            else:
                body = _b64_body(der)
            encoding = codec.CONTENT_TRANSFER_ENCODING
            if op in behaviour.corrupt_base64:
                body = _corrupt(body)
        if behaviour.transfer_encoding_header is not None:
            encoding = behaviour.transfer_encoding_header or None
        if encoding is not None:
            headers.append(("Content-Transfer-Encoding", encoding))
        return OpReply(self.quirks.success_status.get(op, 200), headers, body, note)

    def _csrattrs(self) -> OpReply:
        der = self.settings.csrattrs
        if der is not None and self.quirks.csrattrs_without_challenge_password:
            items = codec.parse_csrattrs(der)
            der = codec.encode_csrattrs([i for i in items if i.oid != CHALLENGE_PASSWORD])
        if der is None:
            # RFC 7030 §4.5.2: 204 when the server has no attributes to ask for.
            return OpReply(204, [], b"", "no CSR attributes")
        return self._der_reply(codec.CSRATTRS_OPERATION, der, codec.CSRATTRS, "CSR attributes")

    # -- enrollment (RFC 7030 §4.2, §4.4) -----------------------------------------------------

    def _enroll(self, req: OpRequest) -> OpReply:
        csr_or_reply = self._read_csr(req)
        if isinstance(csr_or_reply, OpReply):
            return csr_or_reply
        csr = csr_or_reply
        if self.behaviour.require_pop and not self.quirks.skip_pop_check:
            refused = _check_pop(csr, req.tls_unique)
            if refused is not None:
                return _text(400, refused)
        if req.op == codec.SIMPLEREENROLL:
            refused_reply = self._check_reenroll(req, csr)
            if refused_reply is not None:
                return refused_reply
        if req.op in ENROLL_OPS and self._take_pending():
            return self._pending_reply()
        if req.op == codec.SERVERKEYGEN:
            return self._serverkeygen(csr)
        cert = self._issue(csr)
        if isinstance(cert, OpReply):
            return cert
        certs = [cert]
        if self.behaviour.extra_certs_in_enroll:
            certs.append(self.settings.ca.cert)
        return self._certs_reply(req.op, certs, f"issued {cert.subject.rfc4514_string()}")

    def _read_csr(self, req: OpRequest) -> x509.CertificateSigningRequest | OpReply:
        content_type = req.header("content-type") or ""
        try:
            media, _ = codec.parse_content_type(content_type)
        except codec.CodecError:
            media = ""
        if media != codec.PKCS10:
            return _text(415, f"request Content-Type {content_type!r} is not {codec.PKCS10}")
        if self.quirks.csr_refuses_blanks and (b" " in req.body or b"\t" in req.body):
            return _text(400, "spaces or tabs in the base64 CSR body")
        try:
            csr = codec.csr_from_body(req.body)
        except codec.CodecError as exc:
            return _text(400, f"bad CSR body: {exc}")
        if req.op == codec.SERVERKEYGEN and not self.quirks.serverkeygen_checks_csr_key:
            # RFC 7030 §4.4.1: the server MUST ignore the CSR's public key and signature.
            return csr
        if not self.quirks.skip_csr_signature_check and not csr.is_signature_valid:
            return _text(400, "CSR signature does not verify (no proof of possession)")
        return csr

    def _check_reenroll(
        self, req: OpRequest, csr: x509.CertificateSigningRequest
    ) -> OpReply | None:
        """RFC 7030 §4.2.2: renew only certificates of this CA, same subject and SAN."""
        if req.peer_cert_der is None:
            if self.quirks.no_client_certificates:
                return None  # nothing to renew against: served like an enrollment
            return _text(403, "simplereenroll needs the TLS client certificate being renewed")
        current = x509.load_der_x509_certificate(req.peer_cert_der)
        if not issued_by(current, self.settings.ca.cert):
            return _text(403, "the TLS client certificate was not issued by this EST CA")
        if self.quirks.skip_reenroll_identity_check:
            return None
        if csr.subject != current.subject:
            return _text(400, "CSR subject differs from the certificate being renewed")
        if _san(csr.extensions) != _san(current.extensions):
            return _text(400, "CSR subjectAltName differs from the certificate being renewed")
        return None

    def _take_pending(self) -> bool:
        with self._lock:
            if self._pending_sent < self.behaviour.pending:
                self._pending_sent += 1
                return True
        return False

    def _pending_reply(self) -> OpReply:
        headers: list[tuple[str, str]] = [("Content-Type", "text/plain; charset=utf-8")]
        if self.behaviour.retry_after is not None:
            headers.append(("Retry-After", str(self.behaviour.retry_after)))
        return OpReply(202, headers, b"request accepted, pending approval\n", "pending")

    def _serverkeygen(self, csr: x509.CertificateSigningRequest) -> OpReply:
        key = generate_key(_key_type_like(csr))
        # The server issues for its own key: a CSR carrying the client's subject and SAN.
        builder = x509.CertificateSigningRequestBuilder().subject_name(csr.subject)
        san = _san(csr.extensions)
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        cert = self._pki.issue_from_csr(
            self.settings.ca, builder.sign(key, hashes.SHA256()), days=self.settings.days
        )
        self._record(cert)
        certs_der = codec.certs_only([cert])
        if self.quirks.serverkeygen_single_part:
            return self._der_reply(
                codec.SERVERKEYGEN,
                certs_der,
                codec.PKCS7_CERTS_ONLY,
                "serverkeygen without the key part",
            )
        key_der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        content_type, body = codec.encode_serverkeygen_response(
            key_der, certs_der, boundary=f"est-{secrets.token_hex(8)}"
        )
        if self.quirks.serverkeygen_key_media_type is not None:
            label = f"Content-Type: {self.quirks.serverkeygen_key_media_type}"
            body = body.replace(f"Content-Type: {codec.PKCS8}".encode(), label.encode(), 1)
        override = self.behaviour.content_type.get(codec.SERVERKEYGEN)
        note = f"server-generated key for {cert.subject.rfc4514_string()}"
        return OpReply(200, [("Content-Type", override or content_type)], body, note)

    def _issue(self, csr: x509.CertificateSigningRequest) -> x509.Certificate | OpReply:
        """A certificate from the EST CA for a checked CSR, or the 400 that refuses it."""
        try:
            cert = self._pki.issue_from_csr(
                self.settings.ca, csr, days=self.settings.days, verify_signature=False
            )
        except PkiError as exc:
            return _text(400, f"cannot issue: {exc}")
        self._record(cert)
        return cert

    def _fullcmc(self, req: OpRequest) -> OpReply:
        """RFC 7030 §4.3: a Full PKI Request in, a Full PKI Response out."""
        lenient = self.quirks.fullcmc_accepts_anything
        try:
            part, csr = fullcmc.read_request(req.header("content-type") or "", req.body, lenient)
        except fullcmc.FullCmcRefused as exc:
            return _text(400, str(exc))
        cert = self._issue(csr)
        if isinstance(cert, OpReply):
            return cert
        der = fullcmc.response(part, cert, self.settings.ca)
        note = f"issued {cert.subject.rfc4514_string()} (Full PKI Response)"
        return self._der_reply(codec.FULLCMC, der, cmc.CMC_RESPONSE, note)

    def issued_certs(self) -> list[x509.Certificate]:
        with self._lock:
            return list(self.issued)

    def _record(self, cert: x509.Certificate) -> None:
        with self._lock:
            self.issued.append(cert)


# -- helpers ---------------------------------------------------------------------------------


def _text(status: int, message: str) -> OpReply:
    return OpReply(
        status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode(), message
    )


def _b64_body(der: bytes) -> bytes:
    """Base64 in 64-character lines ending in LF.

    RFC 8951 §3 lets the receiver ignore line breaks; LF rather than CRLF keeps the body
    readable by `base64 -d`, which rejects CR.
    """
    return codec.b64_encode(der).replace(b"\r\n", b"\n") + b"\n"


def _wrapped_b64(der: bytes, blanks: str) -> bytes:
    """Base64 cut into 16-character pieces joined by `blanks` (spaces, tabs, CR, LF).

    Short pieces put the blanks mid-body several times, where a receiver that only
    strips a trailing newline or 64-column LF lines would trip over them.
    """
    text = base64.b64encode(der)
    pieces = [text[i : i + 16] for i in range(0, len(text), 16)]
    return blanks.encode("ascii").join(pieces) + b"\n"


def _corrupt(body: bytes) -> bytes:
    # '!' and '*' are outside the base64 alphabet, so a strict decoder must reject the body.
    middle = len(body) // 2
    return body[:middle] + b"!*!*" + body[middle:]


def _check_pop(csr: x509.CertificateSigningRequest, tls_unique: bytes | None) -> str | None:
    """RFC 7030 §3.5: challengePassword = base64(tls-unique); None when it matches."""
    if tls_unique is None:
        return "proof-of-possession linking needs tls-unique, which this TLS version lacks"
    password = codec.challenge_password(csr)
    if password is None:
        return "CSR has no challengePassword carrying tls-unique"
    if password.strip() != base64.b64encode(tls_unique):
        return "CSR challengePassword does not match this connection's tls-unique"
    return None


def _san(extensions: x509.Extensions) -> x509.SubjectAlternativeName | None:
    try:
        return extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _key_type_like(csr: x509.CertificateSigningRequest) -> KeyType:
    """The key type of the CSR's key, so a server-generated key suits the same device."""
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa2048"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size > 256:
        return "p384"
    return "p256"
