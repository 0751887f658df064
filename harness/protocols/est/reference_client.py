"""The reference EST client (RFC 7030, RFC 8951) as a DUT: the `builtin` EST client.

    run_action("enroll", EstClientParams(...))            # in-process
    python -m harness.protocols.est.reference_client enroll [--mutant NAME]   # from env

Parameters come from `params.py` (the same environment variables the curl+openssl
client reads); the client's state (TA database, certificate, key) lives in STATE_DIR.
Exit codes: 0 done, 1 refused a bad answer or could not complete (reason on stderr,
one line), 2 usage error. Mutants bend the client at the `ClientQuirks` points.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.crypto.pki import CertifiedKey, PrivateKey, generate_key, make_csr
from harness.errors import PeerError
from harness.protocols.est import codec
from harness.protocols.est import params as P
from harness.protocols.est.client import EstClientPeer, EstResponse, EstSession
from harness.protocols.est.client_bootstrap import bootstrap
from harness.protocols.est.client_http import MAX_REDIRECTS, HttpAuth, redirect_path
from harness.protocols.est.client_rollover import same_name_roots
from harness.protocols.est.client_support import (
    CsrPlan,
    Refused,
    UsageError,
    copied_attributes,
    csr_plan,
    is_certs_only,
    issued_for,
    load_credential,
    load_pem_certs,
    resigned,
    retry_after_seconds,
    san_strings,
    self_signed_only,
    stored_csrattrs,
    tls_1_0_allowed,
    tls_1_0_only,
    validated_cacerts,
    write_credential,
)
from harness.protocols.est.client_trust import Database, authorizer, resolve
from harness.protocols.est.params import EstClientParams

__all__ = ["ActionOutcome", "ClientQuirks", "Refused", "UsageError", "main", "run_action"]

MAX_ATTEMPTS = 20  # 401 + 202 rounds of one action; the deadline usually ends it first
DEFAULT_RETRY = 1.0  # seconds to wait on a 202 that lacks Retry-After (a server fault)
# Blanks other than LF inside base64: RFC 8951 §3.1 asks receivers to tolerate them.
BLANKS = re.compile(rb"[ \t\r]")


@dataclass
class ActionOutcome:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class ClientQuirks:
    """Points where a client mutant deviates; the defaults are the reference behaviour."""

    verify_server: bool = True  # check the server certificate against the explicit TA
    check_hostname: bool = True  # RFC 6125 identity check of the URL's host
    csr_content_type: str = codec.PKCS10
    csr_base64: bool = True  # RFC 8951: the PKCS#10 body is base64
    honour_retry_after: bool = True  # wait at least Retry-After after a 202
    check_media_type: bool = True  # refuse answers whose Content-Type is wrong
    require_base64: bool = True  # RFC 8951 §3: answers are base64, binary DER is refused
    fallback_unverified: bool = False  # on a rejected server certificate, go on without checks
    pop_from_other_connection: bool = False  # tls-unique of an earlier connection, not this one
    keep_reenroll_identity: bool = True  # reenroll CSR copies subject and SAN
    basic_only_when_challenged: bool = True  # no Authorization header before a 401
    csr_signed_by_other_key: bool = False  # first CSR of an action signed by a stray key
    reenroll_with_idevid: bool = False  # reenroll handshake presents the IDevID
    install_cacerts_on_error: bool = False  # TA store written even when /cacerts is not 200
    validate_cacerts: bool = True  # RFC 7030 §4.1.3: path-validate /cacerts to the TA
    tolerate_blanks: bool = True  # RFC 8951 §3.1: spaces, tabs, CR inside base64 bodies
    fetch_cacerts_first: bool = True  # RFC 7030 §4.2: /cacerts before a certificate request
    fetch_csrattrs_first: bool = True  # RFC 7030 §4.5: /csrattrs before building the CSR
    cacerts_request_body: bytes = b""  # a body sent with the /cacerts GET (§4.1.2: none)
    keep_cacerts_roots_only: bool = False  # install only the self-signed certs of the bag
    copy_unknown_csrattrs: bool = False  # unrecognised csrattrs items go into the CSR
    tls_1_0_first: bool = False  # first ClientHello of an action offers TLS 1.0 alone (§3.3)
    enroll_with_idevid: bool = True  # §3.3.2: the IDevID authenticates /simpleenroll
    refuse_root_key_update: bool = False  # refuse a bag with two roots of one name (§4.1.3)
    pin_first_ta: bool = False  # keeps the first TA it was given, ignoring later ones (§3.1)
    implicit_always: bool = False  # Implicit TA database used even when disabled (§3.1)
    implicit_check_hostname: bool = True  # §3.6.2: URI check under an Implicit TA
    cmcra_under_implicit: bool = False  # id-kp-cmcRA authorizes under an Implicit TA too
    implicit_after_cacerts: bool = False  # Implicit TAs still used once /cacerts gave one
    bootstrap_check_fingerprint: bool = True  # §4.1.1: the out-of-band fingerprint check
    bootstrap_enroll_provisional: bool = False  # enrolls on the provisional connection
    follow_redirects: bool = True  # §3.2.1: same-origin 3xx repeated at the Location
    accept_tls_1_0: bool = False  # offer TLS 1.0 too (at security level 0), §3.2.3
    answer_digest: bool = True  # §3.2.3: Digest challenges answered, not only Basic
    empty_username_credential: bool = True  # §3.2.3: username "" with a password is used
    resend_after_401: int = 0  # unanswerable 401: the request re-sent N times, same connection


def run_action(action: str, params: EstClientParams, mutant: str | None = None) -> ActionOutcome:
    """Carry out one client action in-process; never raises for what the server does."""
    out, err = io.StringIO(), io.StringIO()
    quirks = ClientQuirks()
    try:
        if mutant is not None:
            from harness.protocols.est.mutants import CLIENT_MUTANTS  # mutants import us

            if mutant not in CLIENT_MUTANTS:
                raise UsageError(f"unknown client mutant {mutant!r}")
            CLIENT_MUTANTS[mutant].apply(quirks)
        if action not in _ACTIONS:
            raise UsageError(f"unknown action {action!r}; expected one of {', '.join(P.ACTIONS)}")
        client = _Client(params, quirks, out)
        if client.trust.bootstrap_fingerprint and bootstrap(client, action):
            return ActionOutcome(P.EXIT_OK, out.getvalue(), err.getvalue())
        _ACTIONS[action](client)
        return ActionOutcome(P.EXIT_OK, out.getvalue(), err.getvalue())
    except Refused as exc:
        err.write(f"refused: {exc}\n")
        return ActionOutcome(P.EXIT_REFUSED, out.getvalue(), err.getvalue())
    except (UsageError, PeerError) as exc:
        err.write(f"usage: {exc}\n")
        return ActionOutcome(P.EXIT_USAGE, out.getvalue(), err.getvalue())


class _Client:
    def __init__(self, params: EstClientParams, quirks: ClientQuirks, out: io.StringIO):
        self.params = params
        self.quirks = quirks
        self.out = out
        self.state = params.state_dir
        self.deadline = time.monotonic() + params.timeout
        self.pop = params.pop  # may be switched on by csrattrs asking for challengePassword
        self.unverified = False  # mutant only: server authentication given up for the action
        self.stray_signer_sent = False  # mutant only: a CSR signed by a stray key is out
        self.legacy_tls = quirks.tls_1_0_first  # mutant only: this connection offers TLS 1.0
        self.auth = HttpAuth(params.username, params.password,
                             quirks.empty_username_credential, quirks.answer_digest)  # fmt: skip
        self.state.mkdir(parents=True, exist_ok=True)
        self.trust = resolve(params, quirks)  # §3.1 Explicit and Implicit TA databases
        self.database: Database = self.trust.first()  # the one tried on the next connection

    def say(self, line: str) -> None:
        self.out.write(line + "\n")

    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())

    def peer(self, credential: CertifiedKey | None) -> EstClientPeer:
        """A connection factory; Authorization headers are added per request (HttpAuth)."""
        quirks = self.quirks
        verify = quirks.verify_server and not self.unverified
        host = urlsplit(self.params.est_url).hostname or ""
        peer = EstClientPeer(
            self.params.est_url,
            self.trust.path(self.database) if verify else None,
            client=credential,
            keylog=self.params.keylog,
            timeout=self.remaining(),
            verify_hostname=False,  # §3.6.1 / §3.6.2 checks in `authorizer`
            authorize=authorizer(host, self.database, quirks) if verify else None,
        )
        if self.legacy_tls:
            tls_1_0_only(peer.context)  # mutant: until a handshake fails (_may_fall_back)
        elif quirks.accept_tls_1_0:
            tls_1_0_allowed(peer.context)  # mutant: whatever the server picks, down to 1.0
        return peer

    def get(self, op: str, body: bytes = b"") -> EstResponse:
        """One GET operation (cacerts, csrattrs) with the IDevID, if any, following
        same-origin redirects (§3.2.1). No HTTP credentials: §3.2.3 sends them only in
        answer to a challenge."""
        path = op
        for _hop in range(MAX_REDIRECTS + 1):
            resp = self.peer(self.idevid()).request("GET", path, body=body)
            if resp.error is not None and self._may_fall_back(resp.error):
                resp = self.peer(self.idevid()).request("GET", path, body=body)
            moved = self.redirected(path, resp, op)
            if moved is None:
                return resp
            path = moved
        raise Refused(f"{op}: more than {MAX_REDIRECTS} redirects")

    def redirected(self, path: str, resp: EstResponse, op: str) -> str | None:
        """The same-origin path a 3xx sends `path` to (None: no redirect to follow)."""
        if not self.quirks.follow_redirects:
            return None  # mutant: the 3xx is taken as the final answer
        try:
            moved = redirect_path(self.params.est_url, path, resp)
        except Refused as exc:
            raise Refused(f"{op}: {exc}") from None
        if moved is not None:
            self.say(f"{op}: HTTP {resp.status}, repeating the request at {moved}")
        return moved

    def idevid(self) -> CertifiedKey | None:
        cert, key = self.params.client_cert, self.params.client_key
        if cert is None or key is None:
            return None
        return load_credential(cert, key)

    # -- checks of answers -------------------------------------------------------------------

    def expect_ok(self, resp: EstResponse, what: str) -> None:
        if resp.error is not None:
            raise Refused(f"{what}: {resp.error}")
        if resp.status != 200:
            first = resp.body.decode("utf-8", "replace").strip().splitlines()[:1]
            raise Refused(f"{what}: HTTP {resp.status} {resp.reason} {' '.join(first)}".strip())

    def base64_body(self, resp: EstResponse, what: str) -> bytes:
        """RFC 8951 §3: the body is base64 of DER, whatever Content-Transfer-Encoding says."""
        if not self.quirks.tolerate_blanks and BLANKS.search(resp.body.strip()):
            # Mutant: only bare LF line breaks are taken, as `base64 -d` does.
            raise Refused(f"{what}: base64 body holds spaces, tabs or CR")
        return codec.b64_decode(resp.body)

    def certs_of(self, resp: EstResponse, what: str) -> list[x509.Certificate]:
        """RFC 7030 §4.1.3 / §4.2.3: certs-only media type, base64 DER body."""
        if self.quirks.check_media_type and not is_certs_only(resp.content_type):
            raise Refused(f"{what}: Content-Type {resp.content_type!r} is not certs-only")
        try:
            return codec.parse_certs_only(self.base64_body(resp, what))
        except codec.CodecError as exc:
            if self.quirks.require_base64:
                raise Refused(f"{what}: body is not base64 certs-only: {exc}") from exc
        # Lenient mutant: install binary DER too.
        try:
            return codec.parse_certs_only(resp.body)
        except codec.CodecError as exc:
            raise Refused(f"{what}: body does not parse: {exc}") from exc

    # -- enrollment exchange (RFC 7030 §4.2, with §3.2.3 auth and §4.2.3 pending) ------------

    def enroll_exchange(
        self,
        op: str,
        credential: CertifiedKey | None,
        build_csr: Callable[[bytes | None], x509.CertificateSigningRequest],
    ) -> EstResponse:
        """POST a CSR until 200 or a refusal; answers 401 once, follows same-origin
        redirects, waits out 202s. A new connection (and CSR) for every round."""
        auth, path, hops = self.auth, op, 0
        preempt = not self.quirks.basic_only_when_challenged and self.params.username != ""
        peer = self.peer(credential)
        for _attempt in range(MAX_ATTEMPTS):
            peer.timeout = self.remaining()
            stale = peer.tls_unique() if self.quirks.pop_from_other_connection else None
            with peer.session() as session:
                if session.error is not None and self._may_fall_back(session.error):
                    peer = self.peer(credential)
                    continue
                if session.error is not None:
                    raise Refused(f"{op}: {session.error}")
                binding = stale if self.quirks.pop_from_other_connection else session.tls_unique
                csr = self._signed(build_csr(binding))
                header = auth.header("POST", peer.path_of(path)) if auth.scheme else None
                resp = self._post(session, path, csr, header or (auth.basic() if preempt else None))
                for _again in range(self.quirks.resend_after_401 if resp.status == 401 else 0):
                    # Mutant: the same request again on this connection, no credentials.
                    resp = self._post(session, path, csr, None)
            if resp.error is not None:
                raise Refused(f"{op}: {resp.error}")
            moved = self.redirected(path, resp, op)
            if moved is not None:
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise Refused(f"{op}: more than {MAX_REDIRECTS} redirects")
                path = moved
                continue
            if resp.status == 401 and auth.scheme is None:
                # §3.2.3: only now, with the server authenticated by TLS, send the password;
                # a challenge it cannot answer ends the action (the connection is closed).
                scheme = auth.take_challenge(resp)
                self.say(f"{op}: 401 {scheme} challenge, retrying with credentials")
                continue
            if resp.status == 400 and self.stray_signer_sent:
                # Mutant: the refused CSR was the stray-signed one; try once more, properly.
                self.say(f"{op}: 400 for the first CSR; retrying with a new one")
                self.stray_signer_sent = False
                continue
            if resp.status == 202:
                self.wait_retry_after(op, resp)
                continue
            return resp
        raise Refused(f"{op}: no final answer after {MAX_ATTEMPTS} attempts")

    def _signed(self, csr: x509.CertificateSigningRequest) -> x509.CertificateSigningRequest:
        """Mutant hook: the action's first CSR gets a signature by a key it does not name."""
        if not self.quirks.csr_signed_by_other_key:
            return csr
        self.quirks.csr_signed_by_other_key = False  # once per action
        self.stray_signer_sent = True
        return resigned(csr, ec.generate_private_key(ec.SECP256R1()))

    def _may_fall_back(self, error: str) -> bool:
        """Mutant hooks: after a failed TLS 1.0-only connection, retry with the default
        versions; carry on without server verification after a rejected certificate."""
        if self.legacy_tls and "connect:" in error:
            self.say(f"TLS 1.0 connection failed ({error}); retrying with TLS 1.2 or later")
            self.legacy_tls = False  # for the rest of the action
            return True
        if "certificate rejected" in error and self.database == "explicit" and self.trust.implicit:
            # The explicit TAs do not authenticate the server: try the Implicit TA
            # database alone, so the client knows which one did (§3.3.1).
            self.say(f"explicit TA: {error}; trying the Implicit TA database")
            self.database = "implicit"
            return True
        if not self.quirks.fallback_unverified or "certificate rejected" not in error:
            return False
        if self.unverified:
            return False
        self.say("server certificate rejected; continuing without verification")
        self.unverified = True  # for the rest of the action
        return True

    def _post(
        self,
        session: EstSession,
        path: str,
        csr: x509.CertificateSigningRequest,
        authorization: str | None,
    ) -> EstResponse:
        der = csr.public_bytes(serialization.Encoding.DER)
        body = codec.b64_encode(der) if self.quirks.csr_base64 else der
        headers = {"Content-Type": self.quirks.csr_content_type}
        if authorization is not None:
            headers["Authorization"] = authorization
        return session.request("POST", path, headers, body, auth=False)

    def wait_retry_after(self, op: str, resp: EstResponse) -> None:
        delay = retry_after_seconds(resp.header("retry-after"))
        if delay is None:
            self.say(f"{op}: 202 without a usable Retry-After; waiting {DEFAULT_RETRY}s")
            delay = DEFAULT_RETRY
        if not self.quirks.honour_retry_after:
            delay = 0.0
        if time.monotonic() + delay > self.deadline:
            raise Refused(f"{op}: still pending; Retry-After {delay:.0f}s passes the timeout")
        self.say(f"{op}: 202 pending, retrying after {delay:g}s")
        time.sleep(delay)

    def pop_password(self, tls_unique: bytes | None) -> bytes | None:
        """RFC 7030 §3.5: challengePassword = base64(tls-unique) when linking is wanted."""
        if not self.pop:
            return None
        if tls_unique is None:
            if self.params.pop:
                raise Refused("PoP linking needs tls-unique; the connection is TLS 1.3")
            # Asked for only by csrattrs: tls-unique does not exist in TLS 1.3 (RFC 8446
            # §C.5), so the attribute goes empty, which says "not linked" (§3.5).
            self.say("csrattrs asks for linking but TLS 1.3 has no tls-unique; empty password")
            return b""
        return base64.b64encode(tls_unique)

    def install(
        self, cert: x509.Certificate, key: PrivateKey, cert_name: str, key_name: str
    ) -> None:
        write_credential(cert, key, self.state / cert_name, self.state / key_name)


# -- actions ------------------------------------------------------------------------------------


def _cacerts(c: _Client) -> None:
    body = c.quirks.cacerts_request_body  # empty but for the mutant, whose GET has a body
    resp = c.get(codec.CACERTS, body)
    ta = c.trust.explicit
    if c.quirks.install_cacerts_on_error and resp.error is None and resp.status != 200 and ta:
        # Mutant: the TA store is written before the status is looked at.
        (c.state / P.CACERTS_FILE).write_bytes(ta.read_bytes())
    c.expect_ok(resp, "cacerts")
    certs = c.certs_of(resp, "cacerts")
    if not certs:
        raise Refused("cacerts: no certificates")
    if c.quirks.refuse_root_key_update and (twins := same_name_roots(certs)):
        raise Refused(f"cacerts: more than one self-signed certificate named {twins[0]}")
    if c.quirks.validate_cacerts and c.trust.explicit is not None:
        # RFC 7030 §4.1.3: only certificates with a path to the explicit TA are installed.
        certs, dropped = validated_cacerts(certs, load_pem_certs(c.trust.explicit))
        for cert in dropped:
            c.say(f"cacerts: dropped {cert.subject.rfc4514_string()}: no path to the TA")
        if not certs:
            raise Refused("cacerts: no certificate chains to the explicit trust anchor")
    if c.quirks.keep_cacerts_roots_only:
        certs = self_signed_only(certs)  # mutant: the rest of the bag is lost
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
    (c.state / P.CACERTS_FILE).write_bytes(pem)
    c.say(f"cacerts: {len(certs)} certificate(s) written to {P.CACERTS_FILE}")


def _fetch_csrattrs(c: _Client) -> list[codec.CsrAttr]:
    resp = c.get(codec.CSRATTRS_OPERATION)
    target = c.state / P.CSRATTRS_FILE
    if resp.error is None and resp.status in (204, 404):
        # RFC 7030 §4.5.2: no attributes wanted; forget any old ones.
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        c.say(f"csrattrs: none ({resp.status})")
        return []
    c.expect_ok(resp, "csrattrs")
    if c.quirks.check_media_type and resp.media_type != codec.CSRATTRS:
        raise Refused(f"csrattrs: Content-Type {resp.content_type!r} is not {codec.CSRATTRS}")
    try:
        der = c.base64_body(resp, "csrattrs")
        items = codec.parse_csrattrs(der)
    except codec.CodecError as exc:
        raise Refused(f"csrattrs: {exc}") from exc
    target.write_bytes(der)
    c.say(f"csrattrs: {len(items)} item(s) written to {P.CSRATTRS_FILE}")
    return items


def _csrattrs(c: _Client) -> None:
    _fetch_csrattrs(c)


def _before_request(c: _Client, want_csrattrs: bool) -> CsrPlan:
    """RFC 7030 §4.2 and §4.5: CA certificates, then CSR attributes, then the CSR."""
    if c.quirks.fetch_cacerts_first and not (c.state / P.CACERTS_FILE).is_file():
        _cacerts(c)  # a failure here aborts the action (§4.1.3)
    if not want_csrattrs:
        return CsrPlan()
    if c.quirks.fetch_csrattrs_first:
        try:
            items = _fetch_csrattrs(c)
        except Refused as exc:
            # The attributes are advice (§4.5): enroll without them rather than not at all.
            c.say(f"enroll: going on without CSR attributes ({exc})")
            items = []
    else:
        items = stored_csrattrs(c.state / P.CSRATTRS_FILE)
    plan = csr_plan(items)
    if plan.ignored:
        c.say(f"csrattrs: ignored {plan.ignored} item(s) this client does not recognise")
    if plan.challenge_password and not c.pop:
        # RFC 7030 §4.5.2: a challengePassword OID in csrattrs asks for §3.5 linking.
        c.say("enroll: csrattrs asks for challengePassword; linking tls-unique")
        c.pop = True
    return plan


def _enroll(c: _Client) -> None:
    plan = _before_request(c, want_csrattrs=True)
    key = generate_key(plan.key_type)
    extra = copied_attributes(plan) if c.quirks.copy_unknown_csrattrs else None  # mutant

    def build(tls_unique: bytes | None) -> x509.CertificateSigningRequest:
        password = c.pop_password(tls_unique)
        return make_csr(key, c.params.subject_cn, challenge_password=password, attributes=extra)

    credential = c.idevid() if c.quirks.enroll_with_idevid else None
    resp = c.enroll_exchange(codec.SIMPLEENROLL, credential, build)
    c.expect_ok(resp, "simpleenroll")
    cert = issued_for(c.certs_of(resp, "simpleenroll"), key, "simpleenroll")
    c.install(cert, key, P.CERT_FILE, P.KEY_FILE)
    c.say(f"enroll: issued {cert.subject.rfc4514_string()} serial {cert.serial_number:x}")


def _reenroll(c: _Client) -> None:
    cert_path, key_path = c.state / P.CERT_FILE, c.state / P.KEY_FILE
    if not cert_path.is_file() or not key_path.is_file():
        raise UsageError(f"reenroll needs {P.CERT_FILE} and {P.KEY_FILE} in the state folder")
    current = load_credential(cert_path, key_path)
    _before_request(c, want_csrattrs=False)  # §4.2.2: the CSR copies the current identity
    key = generate_key()
    subject = current.cert.subject
    if not c.quirks.keep_reenroll_identity:
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"{c.params.subject_cn}-renamed")]
        )
    sans = san_strings(current.cert)

    def build(tls_unique: bytes | None) -> x509.CertificateSigningRequest:
        # RFC 7030 §4.2.2: subject and SAN identical to the certificate being renewed.
        return make_csr(key, subject, challenge_password=c.pop_password(tls_unique), sans=sans)

    # §3.3.2: the handshake presents the certificate being renewed (the mutant: the IDevID).
    credential = c.idevid() if c.quirks.reenroll_with_idevid else current
    resp = c.enroll_exchange(codec.SIMPLEREENROLL, credential, build)
    c.expect_ok(resp, "simplereenroll")
    cert = issued_for(c.certs_of(resp, "simplereenroll"), key, "simplereenroll")
    c.install(cert, key, P.CERT_FILE, P.KEY_FILE)
    c.say(f"reenroll: issued {cert.subject.rfc4514_string()} serial {cert.serial_number:x}")


def _serverkeygen(c: _Client) -> None:
    plan = _before_request(c, want_csrattrs=True)
    # The CSR's key only proves the request's origin; the server makes the real key.
    placeholder = generate_key(plan.key_type)

    def build(tls_unique: bytes | None) -> x509.CertificateSigningRequest:
        return make_csr(
            placeholder, c.params.subject_cn, challenge_password=c.pop_password(tls_unique)
        )

    resp = c.enroll_exchange(codec.SERVERKEYGEN, c.idevid(), build)
    c.expect_ok(resp, "serverkeygen")
    try:
        result = codec.parse_serverkeygen_response(resp.content_type or "", resp.body)
        key = serialization.load_der_private_key(result.private_key_der, password=None)
    except (codec.CodecError, ValueError, TypeError) as exc:
        raise Refused(f"serverkeygen: {exc}") from exc
    cert = issued_for(result.certs, key, "serverkeygen")
    c.install(cert, key, P.SERVERKEYGEN_CERT_FILE, P.SERVERKEYGEN_KEY_FILE)  # type: ignore[arg-type]
    c.say(f"serverkeygen: issued {cert.subject.rfc4514_string()} with a server-generated key")


_ACTIONS: dict[str, Callable[[_Client], None]] = {
    "cacerts": _cacerts,
    "csrattrs": _csrattrs,
    "enroll": _enroll,
    "reenroll": _reenroll,
    "serverkeygen": _serverkeygen,
}


# -- helpers ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.protocols.est.reference_client",
        description="Reference EST client; parameters come from ONBOARDCHECK_* variables.",
    )
    parser.add_argument("action", choices=P.ACTIONS)
    parser.add_argument("--mutant", help="run a named client mutant (see est/mutants/client.py)")
    args = parser.parse_args(argv)
    try:
        params = EstClientParams.from_env()
    except ValueError as exc:
        print(f"usage: {exc}", file=sys.stderr)
        return P.EXIT_USAGE
    outcome = run_action(args.action, params, args.mutant)
    sys.stdout.write(outcome.stdout)
    sys.stderr.write(outcome.stderr)
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main())
