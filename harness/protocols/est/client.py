"""EST client tester peer (RFC 7030): probes an EST server DUT over real TLS.

It never raises because of what the DUT does: a timeout, a reset, garbage or a failed
handshake comes back as an `EstResponse` with status 0 and `error` set, so a test can
turn it into a verdict. Only misuse by the caller (bad URL) raises `PeerError`.

    peer = EstClientPeer(dut_url, trust_anchors=[ta], keylog=evidence / "tls.keylog")
    resp = peer.cacerts()
    with peer.session() as s:          # one TLS connection: tls-unique for PoP (§3.5)
        csr = make_csr(key, "dev", challenge_password=base64.b64encode(s.tls_unique))
        s.simpleenroll(csr)
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import CertifiedKey
from harness.errors import PeerError
from harness.protocols.est import codec

MAX_RESPONSE = 4 << 20  # an EST answer is kilobytes; more is a misbehaving DUT

# socket.create_connection's shape: (host, port), timeout -> a connected socket
Connector = Callable[..., socket.socket]


@dataclass
class EstResponse:
    """One answer (or the failure to get one: status 0 and `error`)."""

    status: int
    reason: str = ""
    headers: dict[str, str] | None = None  # lower-case names; repeated headers joined ", "
    body: bytes = b""
    content_type: str | None = None  # the raw Content-Type value
    media_type: str | None = None  # lower-case type/subtype without parameters
    tls_version: str | None = None
    tls_unique: bytes | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None

    def header(self, name: str) -> str | None:
        return (self.headers or {}).get(name.lower())

    def certs(self) -> list[x509.Certificate]:
        """Certificates of a base64 certs-only body; raises codec.CodecError."""
        return codec.parse_certs_only(codec.b64_decode(self.body))


class _Operations:
    """The EST operations (RFC 7030 §4) over whatever `request` the class provides."""

    def request(
        self,
        method: str,
        op_or_path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        auth: bool = True,
    ) -> EstResponse:
        raise NotImplementedError

    def cacerts(self) -> EstResponse:
        return self.request("GET", codec.CACERTS)

    def csrattrs(self) -> EstResponse:
        return self.request("GET", codec.CSRATTRS_OPERATION)

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> EstResponse:
        return self._post_csr(codec.SIMPLEENROLL, csr)

    def simplereenroll(self, csr: x509.CertificateSigningRequest) -> EstResponse:
        return self._post_csr(codec.SIMPLEREENROLL, csr)

    def serverkeygen(self, csr: x509.CertificateSigningRequest) -> EstResponse:
        return self._post_csr(codec.SERVERKEYGEN, csr)

    def _post_csr(self, op: str, csr: x509.CertificateSigningRequest) -> EstResponse:
        return self.request("POST", op, {"Content-Type": codec.PKCS10}, codec.csr_to_body(csr))


class EstClientPeer(_Operations):
    """Client tester peer; every method returns an EstResponse."""

    def __init__(
        self,
        base_url: str,
        trust_anchors: list[x509.Certificate] | Path | None,
        client: CertifiedKey | None = None,
        basic_auth: tuple[str, str] | None = None,
        keylog: Path | None = None,
        timeout: float = 10,
        tls_max: ssl.TLSVersion | None = None,
        tls_min: ssl.TLSVersion | None = None,
        verify_hostname: bool = True,
        authorize: Callable[[bytes], str | None] | None = None,
        connect: Connector | None = None,
    ):
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise PeerError(f"EST base URL {base_url!r} is not https://host[:port]/...")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.base_path = parts.path.rstrip("/") or codec.WELL_KNOWN
        self.basic_auth = basic_auth
        self.timeout = timeout
        # Called with the server's certificate (DER) once the handshake is done; a
        # returned reason closes the connection before any request (RFC 7030 §3.6).
        self.authorize = authorize
        # How TCP connections are opened: from the tester peer's node on the test network
        # (harness.backends.Node.create_connection); the default is the harness's own host.
        self.connect = connect or socket.create_connection
        self.context = _client_context(
            trust_anchors, client, keylog, tls_max, tls_min, verify_hostname
        )

    def open_socket(self) -> socket.socket:
        """A plain TCP connection to the server, from where this peer's connections leave."""
        return self.connect((self.host, self.port), self.timeout)

    # -- operations beyond _Operations ---------------------------------------------------------

    def fullcmc(self, body: bytes) -> EstResponse:
        return self.request(
            "POST",
            codec.FULLCMC,
            {"Content-Type": "application/pkcs7-mime; smime-type=CMC-request"},
            codec.b64_encode(body),
        )

    def tls_unique(self) -> bytes | None:
        """tls-unique of a fresh connection (for display; PoP needs `session()`)."""
        with self.session() as s:
            return s.tls_unique

    def request(
        self,
        method: str,
        op_or_path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        auth: bool = True,
    ) -> EstResponse:
        """One request on its own connection; `op_or_path` is an operation or an absolute path."""
        with self.session() as s:
            if s.error is not None:
                return EstResponse(0, error=s.error)
            return s.request(method, op_or_path, headers, body, auth)

    @contextlib.contextmanager
    def session(self) -> Iterator[EstSession]:
        """One TLS connection kept open for several requests (needed for tls-unique PoP)."""
        s = EstSession(self)
        try:
            yield s
        finally:
            s.close()

    def path_of(self, op_or_path: str) -> str:
        return op_or_path if op_or_path.startswith("/") else f"{self.base_path}/{op_or_path}"


class EstSession(_Operations):
    """One open connection of an EstClientPeer; connects at once, never raises on the DUT."""

    def __init__(self, peer: EstClientPeer):
        self.peer = peer
        self.error: str | None = None
        self.tls_unique: bytes | None = None
        self.tls_version: str | None = None
        self._conn: http.client.HTTPSConnection | None = None
        self._connect()

    def _connect(self) -> None:
        peer = self.peer
        conn = http.client.HTTPSConnection(
            peer.host, peer.port, timeout=peer.timeout, context=peer.context
        )
        conn._create_connection = peer.connect  # type: ignore[attr-defined]  # http.client's hook
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            self.error = _describe(exc, "connect")
            conn.close()
            return
        self._conn = conn
        sock = conn.sock
        if isinstance(sock, ssl.SSLSocket):
            self.tls_version = sock.version()
            if self.tls_version != "TLSv1.3":
                # RFC 5929 tls-unique; meaningless in TLS 1.3 (RFC 8446 §C.5).
                self.tls_unique = sock.get_channel_binding("tls-unique")
            reason = _authorization_failure(peer, sock)
            if reason is not None:
                self.error = f"connect: TLS server certificate rejected: {reason}"
                self.close()

    def request(
        self,
        method: str,
        op_or_path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        auth: bool = True,
    ) -> EstResponse:
        if self._conn is None:
            return EstResponse(0, error=self.error or "connection closed")
        sent = {"Accept": "*/*", **(headers or {})}
        if auth and self.peer.basic_auth is not None:
            user, password = self.peer.basic_auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        try:
            self._conn.request(
                method, self.peer.path_of(op_or_path), body=body or None, headers=sent
            )
            raw = self._conn.getresponse()
            data = raw.read(MAX_RESPONSE + 1)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.error = _describe(exc, "exchange")
            self.close()
            return EstResponse(
                0, error=self.error, tls_version=self.tls_version, tls_unique=self.tls_unique
            )
        if len(data) > MAX_RESPONSE:
            self.close()
            return EstResponse(
                0,
                error=f"response body over {MAX_RESPONSE} bytes",
                tls_version=self.tls_version,
                tls_unique=self.tls_unique,
            )
        found: dict[str, str] = {}
        for name, value in raw.getheaders():
            key = name.lower()
            found[key] = f"{found[key]}, {value}" if key in found else value
        content_type = found.get("content-type")
        if raw.will_close:
            self.close()
        return EstResponse(
            status=raw.status,
            reason=raw.reason,
            headers=found,
            body=data,
            content_type=content_type,
            media_type=_media_type(content_type),
            tls_version=self.tls_version,
            tls_unique=self.tls_unique,
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _client_context(
    trust_anchors: list[x509.Certificate] | Path | None,
    client: CertifiedKey | None,
    keylog: Path | None,
    tls_max: ssl.TLSVersion | None,
    tls_min: ssl.TLSVersion | None,
    verify_hostname: bool,
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if trust_anchors is None:
        # No trust anchors: probing a server whose TA is unknown; nothing is verified.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        try:
            if isinstance(trust_anchors, Path):
                ctx.load_verify_locations(cafile=str(trust_anchors))
            else:
                pem = "".join(
                    c.public_bytes(serialization.Encoding.PEM).decode() for c in trust_anchors
                )
                ctx.load_verify_locations(cadata=pem)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise PeerError(f"trust anchors do not load: {exc}") from exc
        # An EST explicit TA may be an intermediate CA (RFC 7030 §3.6.1).
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.check_hostname = verify_hostname
    if client is not None:
        _load_client(ctx, client)
    if tls_min is not None:
        ctx.minimum_version = tls_min
    if tls_max is not None:
        ctx.maximum_version = tls_max
    ctx.set_alpn_protocols(["http/1.1"])
    if keylog is not None:
        keylog.parent.mkdir(parents=True, exist_ok=True)
        ctx.keylog_filename = str(keylog)
    return ctx


def _load_client(ctx: ssl.SSLContext, client: CertifiedKey) -> None:
    # ssl only loads credentials from files: write them briefly to a private folder.
    with tempfile.TemporaryDirectory(prefix="onboardcheck-est-client-") as tmp:
        paths = client.write(Path(tmp), "client")
        try:
            ctx.load_cert_chain(paths.bundle, paths.key)
        except (ssl.SSLError, OSError) as exc:
            raise PeerError(f"client credential does not load: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(paths.key)


def _authorization_failure(peer: EstClientPeer, sock: ssl.SSLSocket) -> str | None:
    if peer.authorize is None:
        return None
    der = sock.getpeercert(binary_form=True)
    if not der:
        return "the server sent no certificate"
    return peer.authorize(der)


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    try:
        return codec.parse_content_type(content_type)[0]
    except codec.CodecError:
        return content_type.split(";", 1)[0].strip().lower() or None


def _describe(exc: BaseException, stage: str) -> str:
    # Most specific first: RemoteDisconnected is both a ConnectionResetError and a
    # BadStatusLine.
    kind: dict[type[BaseException], str] = {
        http.client.RemoteDisconnected: "closed without an answer",
        http.client.BadStatusLine: "not an HTTP answer",
        TimeoutError: "timeout",
        ConnectionResetError: "connection reset",
        ConnectionRefusedError: "connection refused",
        ssl.SSLCertVerificationError: "TLS server certificate rejected",
    }
    for cls, label in kind.items():
        if isinstance(exc, cls):
            return f"{stage}: {label}: {exc}"
    if isinstance(exc, ssl.SSLError):
        return f"{stage}: TLS failure: {exc}"
    return f"{stage}: {type(exc).__name__}: {exc}"
