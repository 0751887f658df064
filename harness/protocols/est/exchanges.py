"""Rebuild EST's HTTP exchanges and TLS sessions from decoded frames (offline verify).

`onboardcheck verify` judges a capture between two implementations the harness did
not drive, so everything it knows comes from tshark's view of the traffic. This
module turns that view into `Exchange`s (one request and its answer) and
`TlsSession`s (one TCP connection's handshake), which `wire_checks` judges.

What the capture cannot show is kept apart from what it shows to be absent: a field
that is `None` means "not visible" (encrypted, not captured), so a check can answer
inconclusive instead of fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.capture.frame import Frame, as_int
from harness.protocols.est import codec

# tshark shows http.file_data as text when it is printable, else as hex with colons.
_HEX_COLON = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2})*")

# TLS handshake message types (RFC 8446 §4) that tell whether the handshake was visible.
HS_CLIENT_HELLO = "1"
HS_SERVER_HELLO = "2"
HS_CERTIFICATE = "11"
HS_CERTIFICATE_REQUEST = "13"
HS_CLIENT_KEY_EXCHANGE = "16"
HS_FINISHED = "20"
ALERT_FATAL = "2"

TLS_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                0x0304: "TLSv1.3"}  # fmt: skip


def _hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


@dataclass
class TlsSession:
    """What the capture shows of one TCP connection's TLS handshake."""

    stream: int
    client: str  # "addr:port"
    server: str
    frames: list[Frame] = field(default_factory=list)
    offered_versions: list[int] = field(default_factory=list)  # ClientHello, highest first
    offered_suites: list[int] = field(default_factory=list)  # ClientHello cipher suites
    version: int | None = None  # negotiated (supported_versions wins over legacy_version)
    cipher_suite: int | None = None
    server_certs: list[bytes] | None = None  # DER, leaf first; None: not visible
    client_certs: list[bytes] | None = None  # [] the client sent none; None: not visible
    cert_request: bool | None = None  # None: not visible (encrypted TLS 1.3 handshake)
    alerts: list[tuple[str, str, str]] = field(default_factory=list)  # (sender, level, desc)
    handshake_visible: bool = False  # the Certificate/Finished messages were decoded
    application_data: bool = False  # records of type 23 flowed after the handshake

    @property
    def version_name(self) -> str:
        if self.version is None:
            return "unknown"
        return TLS_VERSIONS.get(self.version, f"0x{self.version:04x}")

    @property
    def server_hello(self) -> bool:
        return self.version is not None

    @property
    def fatal_alert(self) -> bool:
        return any(level == ALERT_FATAL for _, level, _ in self.alerts)

    @property
    def established(self) -> bool:
        """ServerHello seen, no fatal alert, and data records followed the handshake."""
        return self.server_hello and not self.fatal_alert and self.application_data

    def summary(self) -> str:
        first = self.frames[0].number if self.frames else "?"
        return f"TLS session in TCP stream {self.stream} (from frame {first}): {self.version_name}"


@dataclass
class Exchange:
    """One HTTP request of an EST client and the server's answer (if captured)."""

    request: Frame
    response: Frame | None
    stream: int
    method: str
    uri: str
    path: str  # uri without query string
    label: str | None  # RFC 7030 §3.2.2 CA label; None without one
    op: str | None  # cacerts, simpleenroll, ...; None when the path names no EST operation
    under_well_known: bool  # path starts with /.well-known/est/
    request_headers: dict[str, list[str]]  # lower-case names
    request_content_type: str | None
    request_body: bytes
    authorization: str | None  # the Authorization header value, if sent
    status: int | None  # None: no answer in the capture
    response_headers: dict[str, list[str]]
    response_content_type: str | None
    response_body: bytes
    retry_after: str | None
    tls: TlsSession | None  # None: plain HTTP

    def frame_lines(self) -> list[str]:
        lines = [self.request.line()]
        if self.response is not None:
            lines.append(self.response.line())
        return lines

    def response_header(self, name: str) -> str | None:
        found = self.response_headers.get(name.lower())
        return found[0] if found else None

    @property
    def answer_time(self) -> float | None:
        return self.response.time if self.response is not None else None

    def describe(self) -> str:
        answer = f" -> {self.status}" if self.status is not None else " -> (no answer captured)"
        return f"{self.method} {self.uri} (frame {self.request.number}){answer}"


@dataclass
class EstCapture:
    """Everything `wire_checks` judges: the exchanges, the TLS sessions, and what was hidden."""

    exchanges: list[Exchange]
    sessions: dict[int, TlsSession]
    server_ports: list[int]
    decrypted: bool  # at least one TLS session's application data decoded as HTTP
    keylog: bool  # a key log was given
    frames: list[Frame] = field(default_factory=list)

    @property
    def encrypted_sessions(self) -> list[TlsSession]:
        """Sessions that carried application data the capture could not decode as HTTP."""
        seen = {e.stream for e in self.exchanges}
        return [s for s in self.sessions.values() if s.application_data and s.stream not in seen]

    def of_op(self, *ops: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.op in ops]

    def hidden_note(self) -> str:
        """Why HTTP-level requirements may lack evidence (for inconclusive reasons)."""
        hidden = self.encrypted_sessions
        if not hidden:
            return ""
        how = "no key log was given" if not self.keylog else "the key log did not decrypt them"
        return f"; {len(hidden)} TLS session(s) carried encrypted data ({how})"


# -- building -----------------------------------------------------------------------------


def _stream(frame: Frame) -> int | None:
    return frame.get_int("tcp.stream")


def _headers(lines: Iterable[str]) -> dict[str, list[str]]:
    """{lower-case name: values} of tshark's http.request.line / http.response.line."""
    found: dict[str, list[str]] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            found.setdefault(name.strip().lower(), []).append(value.strip())
    return found


def body_bytes(frame: Frame) -> bytes:
    """The HTTP body tshark reassembled (http.file_data), as bytes."""
    text = frame.get("http.file_data")
    if not text:
        return b""
    if _HEX_COLON.fullmatch(text):
        return _hex_bytes(text)
    return text.encode("utf-8", "surrogateescape")


def _parse_path(path: str) -> tuple[bool, str | None, str | None]:
    under = path.startswith(codec.WELL_KNOWN + "/")
    try:
        label, op = codec.split_path(path)
    except codec.CodecError:
        return under, None, None
    return under, label, op


def _sessions(frames: Sequence[Frame], server_ports: set[int]) -> dict[int, TlsSession]:
    sessions: dict[int, TlsSession] = {}
    for frame in frames:
        stream = _stream(frame)
        if stream is None or not frame.has("tls"):
            continue
        from_server = frame.sport in server_ports
        session = sessions.get(stream)
        if session is None:
            client, server = (frame.dst, frame.dport) if from_server else (frame.src, frame.sport)
            srv, srv_port = (frame.src, frame.sport) if from_server else (frame.dst, frame.dport)
            session = TlsSession(stream, f"{client}:{server}", f"{srv}:{srv_port}")
            sessions[stream] = session
        session.frames.append(frame)
        _absorb(session, frame, from_server)
    return sessions


def _absorb(session: TlsSession, frame: Frame, from_server: bool) -> None:
    """Fold one TLS frame into its session."""
    types = frame.values("tls.handshake.type")
    certs = [_hex_bytes(c) for c in frame.values("tls.handshake.certificate") if c]
    if HS_CLIENT_HELLO in types and not from_server:
        versions = frame.values("tls.handshake.extensions.supported_version")
        offered = [v for v in map(as_int, versions)
                   if v is not None and v & 0x0F0F == v]  # GREASE values are 0x?A?A
        legacy = frame.get_int("tls.handshake.version")
        session.offered_versions = sorted(offered or ([legacy] if legacy else []), reverse=True)
        session.offered_suites = [v for v in map(as_int, frame.values("tls.handshake.ciphersuite"))
                                  if v is not None]
    if HS_SERVER_HELLO in types and from_server:
        selected = frame.get_int("tls.handshake.extensions.supported_version")
        session.version = selected or frame.get_int("tls.handshake.version")
        session.cipher_suite = frame.get_int("tls.handshake.ciphersuite")
        if session.version is not None and session.version < 0x0304:
            # Before TLS 1.3 the whole handshake travels in clear.
            session.handshake_visible = True
            session.cert_request = False
    if HS_CERTIFICATE in types or HS_FINISHED in types:
        session.handshake_visible = True
    if HS_CERTIFICATE_REQUEST in types and from_server:
        session.cert_request = True
    if HS_CERTIFICATE in types:
        if from_server:
            session.server_certs = certs
        else:
            session.client_certs = certs
    elif from_server and HS_FINISHED in types and session.cert_request is None:
        session.cert_request = False  # the decrypted server flight had no CertificateRequest
    if not from_server and session.client_certs is None and (
            HS_FINISHED in types or HS_CLIENT_KEY_EXCHANGE in types):
        session.client_certs = []  # the client's visible flight had no Certificate
    for level, desc in zip(frame.values("tls.alert_message.level"),
                           frame.values("tls.alert_message.desc"), strict=False):
        session.alerts.append(("server" if from_server else "client", level, desc))
    if "23" in frame.values("tls.record.content_type") or "23" in frame.values(
            "tls.record.opaque_type"):
        session.application_data = True


def build_capture(
    frames: Sequence[Frame], server_ports: Sequence[int], keylog: bool
) -> EstCapture:
    """Exchanges and TLS sessions of the traffic to ``server_ports``."""
    ports = {int(p) for p in server_ports}
    sessions = _sessions(frames, ports)
    answers: dict[int, Frame] = {}
    for frame in frames:
        if frame.get("http.response.code") is not None:
            asked = frame.get_int("http.request_in")
            if asked is not None and asked not in answers:
                answers[asked] = frame
    exchanges = []
    for frame in frames:
        method = frame.get("http.request.method")
        if method is None or frame.dport not in ports:
            continue
        exchanges.append(_exchange(frame, answers.get(frame.number), sessions))
    decrypted = any(e.tls is not None for e in exchanges)
    return EstCapture(exchanges, sessions, sorted(ports), decrypted, keylog, list(frames))


def _exchange(request: Frame, response: Frame | None, sessions: dict[int, TlsSession]) -> Exchange:
    uri = request.get("http.request.uri") or ""
    path = uri.split("?", 1)[0]
    under, label, op = _parse_path(path)
    req_headers = _headers(request.values("http.request.line"))
    resp_headers = _headers(response.values("http.response.line")) if response else {}
    stream = _stream(request)
    status = response.get_int("http.response.code") if response else None
    return Exchange(
        request=request,
        response=response,
        stream=stream if stream is not None else -1,
        method=request.get("http.request.method") or "",
        uri=uri,
        path=path,
        label=label,
        op=op,
        under_well_known=under,
        request_headers=req_headers,
        request_content_type=_first(req_headers, "content-type"),
        request_body=body_bytes(request),
        authorization=_first(req_headers, "authorization"),
        status=status,
        response_headers=resp_headers,
        response_content_type=_first(resp_headers, "content-type"),
        response_body=body_bytes(response) if response else b"",
        retry_after=_first(resp_headers, "retry-after"),
        tls=sessions.get(stream) if stream is not None and request.has("tls") else None,
    )


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    found = headers.get(name)
    return found[0] if found else None
