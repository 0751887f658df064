"""EST server tester peer (RFC 7030): real TLS (Python ssl), HTTP/1.1 (h11), asyncio.

The peer runs its own event loop in a background thread so synchronous test code can
start it, drive a client DUT at it and read `.exchanges` afterwards. TLS and HTTP
framing live here; what each operation answers lives in `server_ops.py`.

    with EstServerPeer(EstServerConfig(credential=srv, ca=est_ca)) as peer:
        run_client(f"https://127.0.0.1:{peer.port}/.well-known/est")
        peer.exchanges[-1].status
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import h11
from cryptography import x509

from harness.crypto.certs import subject_of
from harness.crypto.pki import CertifiedKey
from harness.errors import PeerError
from harness.protocols.est import codec
from harness.protocols.est.server_ops import (
    MAX_BODY,
    REDIRECT_PREFIX,
    EstOperations,
    OpReply,
    OpRequest,
    OpsSettings,
    ServerBehaviour,
    ServerQuirks,
)
from harness.protocols.est.server_tls import server_context

__all__ = [
    "EstServerConfig",
    "EstServerPeer",
    "Exchange",
    "ServerBehaviour",
    "ServerQuirks",
]

# Bounds so a silent or slow client can never keep the peer busy forever.
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0
MAX_REQUESTS_PER_CONNECTION = 100
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# Bytes that no HTTP parser takes for a status line: a TLS alert record header and junk.
GARBAGE = b"\x15\x03\x03\x00\x02\x02\x28 this is not HTTP \x00\xff\xfe\r\n\r\n"


@dataclass
class EstServerConfig:
    """Static configuration of the server peer; see docs/architecture.md, EST."""

    credential: CertifiedKey  # server TLS certificate, key and chain
    ca: CertifiedKey  # the EST CA that issues client certificates
    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks one; read EstServerPeer.port after start()
    cacerts: list[x509.Certificate] | None = None  # default: ca.cert + ca.chain
    client_trust: list[x509.Certificate] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # HTTP Basic user -> password
    keylog: Path | None = None  # NSS key log (SSLContext.keylog_filename)
    log: Path | None = None  # readable peer log, one block per exchange
    label: str | None = None  # RFC 7030 §3.2.2 CA label segment
    # More CA labels served besides the base path (same CA), as a multi-CA server would.
    labels: tuple[str, ...] = ()
    csrattrs: bytes | None = None  # DER CsrAttrs; None answers 204
    days: int = 365  # validity of issued certificates

    def effective_cacerts(self) -> list[x509.Certificate]:
        if self.cacerts is not None:
            return list(self.cacerts)
        return [self.ca.cert, *self.ca.chain]


@dataclass
class Exchange:
    """One request and the peer's answer, as the peer saw them."""

    op: str
    method: str
    path: str
    request_headers: list[tuple[str, str]]  # names lower case, in order
    request_body: bytes
    status: int | None  # None: no HTTP answer (garbage, close_early, hang)
    response_headers: list[tuple[str, str]]
    time: float  # time.time() when the request was complete
    client_subject: str | None  # RFC 4514 subject of the TLS client certificate
    basic_user: str | None
    tls_version: str | None
    note: str = ""
    # RFC 5929 tls-unique of the connection (TLS 1.2 and older; None for TLS 1.3), so a
    # test can judge a §3.5 challengePassword where its tshark shows no Finished bytes.
    tls_unique: bytes | None = None

    def request_header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.request_headers if k == name), None)

    def response_header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == name), None)


class EstServerPeer:
    """The EST server tester peer; `start()`, `stop()` or use it as a context manager."""

    def __init__(
        self,
        config: EstServerConfig,
        behaviour: ServerBehaviour | None = None,
        quirks: ServerQuirks | None = None,
    ):
        self.config = config
        self.behaviour = behaviour or ServerBehaviour()
        self.quirks = quirks or ServerQuirks()
        self.port: int = config.port
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._ops: EstOperations | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._tmpdir: Path | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def issued(self) -> list[x509.Certificate]:
        return self._ops.issued_certs() if self._ops is not None else []

    @property
    def base_url(self) -> str:
        """`https://host:port/.well-known/est[/label]` (valid after start())."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        label = f"/{self.config.label}" if self.config.label else ""
        prefix = self.quirks.path_prefix or codec.WELL_KNOWN
        return f"https://{host}:{self.port}{prefix}{label}"

    def start(self) -> EstServerPeer:
        """Listen; returns once the socket accepts connections. Raises PeerError."""
        if self._thread is not None:
            raise PeerError("EST server peer already started")
        self._ops = EstOperations(
            OpsSettings(
                ca=self.config.ca,
                cacerts=self.config.effective_cacerts(),
                users=dict(self.config.users),
                csrattrs=self.config.csrattrs,
                days=self.config.days,
            ),
            self.behaviour,
            self.quirks,
        )
        context = self._ssl_context()
        self._thread = threading.Thread(
            target=self._run, args=(context,), name=f"est-server:{self.config.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            self.stop()
            raise PeerError("EST server peer did not start listening in time")
        if self._start_error is not None:
            error = self._start_error
            self.stop()
            raise PeerError(f"EST server peer cannot listen: {error}") from error
        self._log_line(f"listening on {self.config.host}:{self.port}")
        return self

    def stop(self) -> None:
        """Close the listener and every connection; safe to call twice."""
        thread, loop = self._thread, self._loop
        if thread is not None and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already closed by itself
                loop.call_soon_threadsafe(self._begin_shutdown)
            thread.join(STOP_TIMEOUT)
        self._thread = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> EstServerPeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- TLS ----------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        self._tmpdir = Path(tempfile.mkdtemp(prefix="onboardcheck-est-server-"))
        return server_context(self.config, self.behaviour, self.quirks, self._tmpdir)

    # -- event loop thread --------------------------------------------------------------------

    def _run(self, context: ssl.SSLContext) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(self._loop_exception)
        try:
            loop.run_until_complete(self._main(context))
        finally:
            loop.close()

    async def _main(self, context: ssl.SSLContext) -> None:
        self._stopping = asyncio.Event()
        try:
            self._server = await asyncio.start_server(
                self._on_connection,
                self.config.host,
                self.config.port,
                ssl=context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
            )
        except OSError as exc:
            self._start_error = exc
            self._ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_TIMEOUT)

    def _begin_shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # Errors asyncio would print to stderr go to the peer log instead. (A failed TLS
        # handshake is an OSError, which asyncio reports only in debug mode: not logged.)
        self._log_line(f"connection error: {context.get('exception') or context.get('message')}")

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.connection(reader, writer).serve()
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            self._log_line(f"connection ended: {type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            pass
        finally:
            if self._stopping is not None and self._stopping.is_set():
                # Shutting down: drop the connection without waiting for close_notify.
                writer.transport.abort()
            else:
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    def connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> EstConnection:
        """The handler of one accepted connection; a peer serving more than EST (the BRSKI
        registrar and MASA) returns its own subclass."""
        return EstConnection(self, reader, writer)

    # -- records ------------------------------------------------------------------------------

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)
        status = exchange.status if exchange.status is not None else "no answer"
        who = ", ".join(
            x
            for x in (
                exchange.tls_version,
                exchange.client_subject and f"cert {exchange.client_subject}",
                exchange.basic_user and f"basic {exchange.basic_user}",
            )
            if x
        )
        self._log_line(
            f"{exchange.method} {exchange.path} [{who or 'anonymous'}] -> {status}"
            + (f": {exchange.note}" if exchange.note else "")
        )

    def _log_line(self, text: str) -> None:
        if self.config.log is None:
            return
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self.config.log.parent.mkdir(parents=True, exist_ok=True)
            with self.config.log.open("a", encoding="utf-8") as out:
                out.write(f"{stamp} est-server {text}\n")


class EstConnection:
    """One TLS connection: h11 request/response cycles until close (bounded).
    `_answer` answers one request; a subclass may claim requests before EST does."""

    def __init__(
        self, peer: EstServerPeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        ssl_object = writer.get_extra_info("ssl_object")
        self.tls_version: str | None = ssl_object.version() if ssl_object else None
        self.peer_cert: bytes | None = (
            ssl_object.getpeercert(binary_form=True) if ssl_object else None
        )
        self.tls_unique: bytes | None = None
        if ssl_object is not None and self.tls_version != "TLSv1.3":
            self.tls_unique = ssl_object.get_channel_binding("tls-unique")

    async def serve(self) -> None:
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            request = await self._read_request()
            if request is None:
                return
            keep_open = await self._answer(*request)
            if not keep_open or self.conn.our_state is not h11.DONE:
                return
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(self.reader.read(65536), IDLE_TIMEOUT)
            self.conn.receive_data(data)

    async def _read_request(self) -> tuple[h11.Request, bytes] | None:
        try:
            event = await self._next_event()
            if not isinstance(event, h11.Request):
                return None
            body = bytearray()
            while True:
                part = await self._next_event()
                if isinstance(part, h11.Data):
                    body += part.data
                    if len(body) > MAX_BODY:
                        await self._send(_plain(413, "request body too large"))
                        return None
                elif isinstance(part, h11.EndOfMessage):
                    return event, bytes(body)
                else:
                    return None
        except h11.RemoteProtocolError as exc:
            # Not HTTP/1.1 (or broken): say so if h11 still lets us, then close.
            with contextlib.suppress(h11.LocalProtocolError, OSError):
                await self._send(_plain(exc.error_status_hint, f"bad HTTP request: {exc}"))
            return None
        except (TimeoutError, asyncio.IncompleteReadError):
            return None

    async def _answer(self, request: h11.Request, body: bytes) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        peer, behaviour = self.peer, self.peer.behaviour
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers]
        received = time.time()
        op = _operation(path, peer.config.label, peer.quirks.path_prefix)
        if op is None:
            op = _labelled_operation(path, peer.config.labels, peer.quirks)
        base = {
            "op": op or "",
            "method": method,
            "path": path,
            "request_headers": headers,
            "request_body": body,
            "time": received,
            "tls_version": self.tls_version,
            "tls_unique": self.tls_unique,
        }
        if behaviour.garbage or behaviour.close_early or behaviour.hang:
            subject = subject_of(self.peer_cert)
            what = (
                "garbage"
                if behaviour.garbage
                else "closed early"
                if behaviour.close_early
                else "hang"
            )
            peer.record(
                Exchange(
                    status=None,
                    response_headers=[],
                    client_subject=subject,
                    basic_user=None,
                    note=what,
                    **base,
                )
            )
            if behaviour.garbage:
                self.writer.write(GARBAGE)
                await self.writer.drain()
            elif behaviour.hang and peer._stopping is not None:
                await peer._stopping.wait()
            return False
        if op is None or peer._ops is None:
            reply = _plain(404, f"{path} is not an EST operation of this server")
        else:
            reply = peer._ops.handle(
                OpRequest(
                    op,
                    method,
                    path,
                    headers,
                    body,
                    self.peer_cert,
                    self.tls_unique,
                    self.tls_version,
                )
            )
        peer.record(
            Exchange(
                status=reply.status,
                response_headers=list(reply.headers),
                client_subject=reply.client_subject or subject_of(self.peer_cert),
                basic_user=reply.basic_user,
                note=reply.note,
                **base,
            )
        )
        await self._send(reply)
        return True

    async def _send(self, reply: OpReply) -> None:
        headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
        data = self.conn.send(h11.Response(status_code=reply.status, headers=headers))
        if reply.body:
            data += self.conn.send(h11.Data(data=reply.body))
        data += self.conn.send(h11.EndOfMessage())
        self.writer.write(data)
        await self.writer.drain()


def _operation(path: str, label: str | None, prefix: str | None = None) -> str | None:
    """The operation a path names on this server, or None (unknown path or wrong label).

    `prefix` (a ServerQuirks hook) serves the operations there instead of /.well-known/est.
    """
    found = _operation_and_label(path, prefix)
    if found is None:
        return None
    found_label, op = found
    return op if found_label == label else None


def _labelled_operation(path: str, labels: tuple[str, ...], quirks: ServerQuirks) -> str | None:
    """The operation of `/.well-known/est/<label>/<op>` for a label of `labels`, or None.

    The `any_label` quirk takes every segment as a label, operation names included, which
    RFC 7030 §3.2.2 forbids ("the CA label MUST NOT be the same as any defined
    operation path segment").
    """
    if quirks.labels_ignored:
        labels = ()
    if not labels and not quirks.any_label:
        return None
    found = _operation_and_label(path, quirks.path_prefix)
    if found is None or found[0] is None:
        return None
    label, op = found
    return op if label in labels or quirks.any_label else None


def _operation_and_label(path: str, prefix: str | None) -> tuple[str | None, str] | None:
    if path.startswith(REDIRECT_PREFIX + "/"):
        # where ServerBehaviour.redirect sends clients (§3.2.1): served like the original
        path = codec.WELL_KNOWN + path[len(REDIRECT_PREFIX) :]
    elif prefix is not None:
        if not path.startswith(prefix + "/"):
            return None
        path = codec.WELL_KNOWN + path[len(prefix) :]
    try:
        return codec.split_path(path)
    except codec.CodecError:
        return None


def _plain(status: int, message: str) -> OpReply:
    return OpReply(
        status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode(), message
    )
