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
import datetime as dt
import email.utils
import io
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AttributeOID, NameOID

from harness.crypto.pki import CertifiedKey, PrivateKey, generate_key, make_csr
from harness.errors import OnboardcheckError, PeerError
from harness.protocols.est import codec
from harness.protocols.est import params as P
from harness.protocols.est.client import EstClientPeer, EstResponse, EstSession
from harness.protocols.est.params import EstClientParams

MAX_ATTEMPTS = 20  # 401 + 202 rounds of one action; the deadline usually ends it first
DEFAULT_RETRY = 1.0  # seconds to wait on a 202 that lacks Retry-After (a server fault)


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


class Refused(OnboardcheckError):
    """The client refused an answer or could not complete the action (exit 1)."""


class UsageError(OnboardcheckError):
    """Missing or bad parameters or state (exit 2)."""


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
        _ACTIONS[action](_Client(params, quirks, out))
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
        if params.trust_anchors is None or not params.trust_anchors.is_file():
            # RFC 7030 §3.6.1: without an explicit TA the client cannot authenticate the server.
            raise UsageError(f"{P.TRUST_ANCHORS} must name a PEM file")
        self.state.mkdir(parents=True, exist_ok=True)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")

    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())

    def peer(self, credential: CertifiedKey | None, verify: bool = True) -> EstClientPeer:
        quirks = self.quirks
        basic = (self.params.username, self.params.password) if self.params.username else None
        return EstClientPeer(
            self.params.est_url,
            self.params.trust_anchors if quirks.verify_server and verify else None,
            client=credential,
            basic_auth=basic,
            keylog=self.params.keylog,
            timeout=self.remaining(),
            verify_hostname=quirks.check_hostname,
        )

    def idevid(self) -> CertifiedKey | None:
        cert, key = self.params.client_cert, self.params.client_key
        if cert is None or key is None:
            return None
        return _load_credential(cert, key)

    # -- checks of answers -------------------------------------------------------------------

    def expect_ok(self, resp: EstResponse, what: str) -> None:
        if resp.error is not None:
            raise Refused(f"{what}: {resp.error}")
        if resp.status != 200:
            first = resp.body.decode("utf-8", "replace").strip().splitlines()[:1]
            raise Refused(f"{what}: HTTP {resp.status} {resp.reason} {' '.join(first)}".strip())

    def certs_of(self, resp: EstResponse, what: str) -> list[x509.Certificate]:
        """RFC 7030 §4.1.3 / §4.2.3: certs-only media type, base64 DER body."""
        if self.quirks.check_media_type and not _is_certs_only(resp.content_type):
            raise Refused(f"{what}: Content-Type {resp.content_type!r} is not certs-only")
        try:
            return codec.parse_certs_only(codec.b64_decode(resp.body))
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
        """POST a CSR until 200 or a refusal; answers 401 once, waits out 202s."""
        send_auth = not self.quirks.basic_only_when_challenged and self.params.username != ""
        peer = self.peer(credential)
        for _attempt in range(MAX_ATTEMPTS):
            peer.timeout = self.remaining()
            stale = peer.tls_unique() if self.quirks.pop_from_other_connection else None
            with peer.session() as session:
                if session.error is not None and self._may_fall_back(session.error):
                    peer = self.peer(credential, verify=False)
                    continue
                if session.error is not None:
                    raise Refused(f"{op}: {session.error}")
                binding = stale if self.quirks.pop_from_other_connection else session.tls_unique
                resp = self._post(session, op, build_csr(binding), send_auth)
            if resp.error is not None:
                raise Refused(f"{op}: {resp.error}")
            if resp.status == 401 and _basic_challenge(resp) and not send_auth:
                if not self.params.username:
                    raise Refused(f"{op}: server wants HTTP Basic, no credentials configured")
                # §3.2.3: only now, with the server authenticated by TLS, send the password.
                self.say(f"{op}: 401 Basic challenge, retrying with credentials")
                send_auth = True
                continue
            if resp.status == 202:
                self.wait_retry_after(op, resp)
                continue
            return resp
        raise Refused(f"{op}: no final answer after {MAX_ATTEMPTS} attempts")

    def _may_fall_back(self, error: str) -> bool:
        """Mutant hook: carry on without server verification after a rejected certificate."""
        if not self.quirks.fallback_unverified or "certificate rejected" not in error:
            return False
        self.say("server certificate rejected; continuing without verification")
        self.quirks.fallback_unverified = False  # once
        return True

    def _post(
        self, session: EstSession, op: str, csr: x509.CertificateSigningRequest, auth: bool
    ) -> EstResponse:
        der = csr.public_bytes(serialization.Encoding.DER)
        body = codec.b64_encode(der) if self.quirks.csr_base64 else der
        headers = {"Content-Type": self.quirks.csr_content_type}
        return session.request("POST", op, headers, body, auth=auth)

    def wait_retry_after(self, op: str, resp: EstResponse) -> None:
        delay = _retry_after_seconds(resp.header("retry-after"))
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
            # §C.5), so the CSR goes without it and the challengePassword stays absent.
            self.say("csrattrs asks for linking but TLS 1.3 has no tls-unique; not linking")
            return None
        return base64.b64encode(tls_unique)

    def install(
        self, cert: x509.Certificate, key: PrivateKey, cert_name: str, key_name: str
    ) -> None:
        (self.state / cert_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = self.state / key_name
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)


# -- actions ------------------------------------------------------------------------------------


def _cacerts(c: _Client) -> None:
    resp = c.peer(c.idevid()).cacerts()
    c.expect_ok(resp, "cacerts")
    certs = c.certs_of(resp, "cacerts")
    if not certs:
        raise Refused("cacerts: no certificates")
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
    (c.state / P.CACERTS_FILE).write_bytes(pem)
    c.say(f"cacerts: {len(certs)} certificate(s) written to {P.CACERTS_FILE}")


def _csrattrs(c: _Client) -> None:
    resp = c.peer(c.idevid()).csrattrs()
    target = c.state / P.CSRATTRS_FILE
    if resp.error is None and resp.status in (204, 404):
        # RFC 7030 §4.5.2: no attributes wanted; forget any old ones.
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        c.say(f"csrattrs: none ({resp.status})")
        return
    c.expect_ok(resp, "csrattrs")
    if c.quirks.check_media_type and resp.media_type != codec.CSRATTRS:
        raise Refused(f"csrattrs: Content-Type {resp.content_type!r} is not {codec.CSRATTRS}")
    try:
        der = codec.b64_decode(resp.body)
        items = codec.parse_csrattrs(der)
    except codec.CodecError as exc:
        raise Refused(f"csrattrs: {exc}") from exc
    target.write_bytes(der)
    c.say(f"csrattrs: {len(items)} item(s) written to {P.CSRATTRS_FILE}")


def _enroll(c: _Client) -> None:
    key = generate_key()
    if not c.pop and _csrattrs_ask_challenge(c.state / P.CSRATTRS_FILE):
        # RFC 7030 §4.5.2: a challengePassword OID in csrattrs asks for §3.5 linking.
        c.say("enroll: csrattrs asks for challengePassword; linking tls-unique")
        c.pop = True

    def build(tls_unique: bytes | None) -> x509.CertificateSigningRequest:
        return make_csr(key, c.params.subject_cn, challenge_password=c.pop_password(tls_unique))

    resp = c.enroll_exchange(codec.SIMPLEENROLL, c.idevid(), build)
    c.expect_ok(resp, "simpleenroll")
    cert = _issued_for(c.certs_of(resp, "simpleenroll"), key, "simpleenroll")
    c.install(cert, key, P.CERT_FILE, P.KEY_FILE)
    c.say(f"enroll: issued {cert.subject.rfc4514_string()} serial {cert.serial_number:x}")


def _reenroll(c: _Client) -> None:
    cert_path, key_path = c.state / P.CERT_FILE, c.state / P.KEY_FILE
    if not cert_path.is_file() or not key_path.is_file():
        raise UsageError(f"reenroll needs {P.CERT_FILE} and {P.KEY_FILE} in the state folder")
    current = _load_credential(cert_path, key_path)
    key = generate_key()
    subject = current.cert.subject
    if not c.quirks.keep_reenroll_identity:
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"{c.params.subject_cn}-renamed")]
        )
    sans = _san_strings(current.cert)

    def build(tls_unique: bytes | None) -> x509.CertificateSigningRequest:
        # RFC 7030 §4.2.2: subject and SAN identical to the certificate being renewed.
        return make_csr(key, subject, challenge_password=c.pop_password(tls_unique), sans=sans)

    resp = c.enroll_exchange(codec.SIMPLEREENROLL, current, build)
    c.expect_ok(resp, "simplereenroll")
    cert = _issued_for(c.certs_of(resp, "simplereenroll"), key, "simplereenroll")
    c.install(cert, key, P.CERT_FILE, P.KEY_FILE)
    c.say(f"reenroll: issued {cert.subject.rfc4514_string()} serial {cert.serial_number:x}")


def _serverkeygen(c: _Client) -> None:
    # The CSR's key only proves the request's origin; the server makes the real key.
    placeholder = generate_key()

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
    cert = _issued_for(result.certs, key, "serverkeygen")  # type: ignore[arg-type]
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


def _load_credential(cert_path: Path, key_path: Path) -> CertifiedKey:
    try:
        certs = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load {cert_path} / {key_path}: {exc}") from exc
    return CertifiedKey(certs[0], key, certs[1:])  # type: ignore[arg-type]


def _is_certs_only(content_type: str | None) -> bool:
    try:
        return content_type is not None and codec.is_certs_only(content_type)
    except codec.CodecError:
        return False


def _issued_for(certs: list[x509.Certificate], key: object, what: str) -> x509.Certificate:
    """The certificate for our key (RFC 7030 §4.2.3 answers with only that one)."""
    wanted = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for cert in certs:
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki == wanted:
            return cert
    raise Refused(f"{what}: no certificate in the answer carries the requested public key")


def _basic_challenge(resp: EstResponse) -> bool:
    challenge = resp.header("www-authenticate") or ""
    return challenge.strip().lower().startswith("basic")


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or HTTP-date (RFC 9110 §10.2.3); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _san_strings(cert: x509.Certificate) -> list[str] | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    names: list[str] = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    names += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    if len(names) != len(list(san)):
        # make_csr carries DNS names and IP literals only; refuse rather than drop names.
        raise Refused("reenroll: certificate has SAN types this client cannot copy")
    return names or None


def _csrattrs_ask_challenge(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        items = codec.parse_csrattrs(path.read_bytes())
    except codec.CodecError:
        return False
    return any(item.oid == AttributeOID.CHALLENGE_PASSWORD.dotted_string for item in items)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.protocols.est.reference_client",
        description="Reference EST client; parameters come from ONBOARDCHECK_* variables.",
    )
    parser.add_argument("action", choices=P.ACTIONS)
    parser.add_argument("--mutant", help="run a named client mutant (see mutants.py)")
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
