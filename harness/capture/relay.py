"""A TCP relay that records what passes through it (transcript mode).

Without capture privilege the harness puts this relay between the two parties:
clients connect to its port on 127.0.0.1, it connects to the upstream and copies
bytes both ways, recording each chunk with its direction and time. Half-close
(FIN one way) and resets are passed on and recorded too. One thread, one
``selectors`` loop, non-blocking sockets, for any number of connections.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from harness.errors import CaptureError

C2S = "c2s"  # client to server
S2C = "s2c"
RECV_SIZE = 65536
HIGH_WATER = 1 << 20  # stop reading a side while this much waits for the other


@dataclass
class Event:
    time: float
    direction: str  # C2S or S2C
    kind: str  # "data", "fin" or "rst"
    data: bytes = b""


@dataclass
class Connection:
    """One relayed connection as the client saw it."""

    client: tuple[str, int]
    server: tuple[str, int]  # the relay's listening address the client connected to
    upstream: tuple[str, int]
    opened: float
    events: list[Event] = field(default_factory=list)


class _Side:
    def __init__(self, sock: socket.socket, direction: str, conn: Connection):
        self.sock = sock
        self.direction = direction  # direction of what this side sends
        self.conn = conn
        self.peer: _Side | None = None
        self.outbuf = bytearray()  # waiting to be written to this side
        self.eof = False  # this side sent FIN
        self.shut = False  # we sent FIN to this side
        self.connecting = False
        self.closed = False


class TcpRelay:
    """Relays and records TCP connections; ``add(upstream)`` returns a local port."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.connections: list[Connection] = []
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[socket.socket, tuple[str, int]]] = []
        self._listeners: list[socket.socket] = []
        self._sides: set[_Side] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def add(self, upstream: tuple[str, int]) -> int:
        """Listen on an ephemeral port of ``host`` that relays to ``upstream``."""
        if self._stopping:
            raise CaptureError("the relay is stopped")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, 0))
            listener.listen(128)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise CaptureError(f"relay cannot listen on {self.host}: {exc}") from exc
        with self._lock:
            self._pending.append((listener, (upstream[0], int(upstream[1]))))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="capture-relay", daemon=True)
            self._thread.start()
        self._wake()
        return int(listener.getsockname()[1])

    def stop(self, grace: float = 0.5, timeout: float = 5.0) -> list[Connection]:
        """Stop relaying and return the recording.

        Connections still open get ``grace`` seconds to finish (a peer often closes
        just after the test's last step), then they are closed.
        """
        deadline = time.monotonic() + grace
        while self._thread is not None and self._sides and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._close_all()
        return self.connections

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already closed: the loop is gone
            self._wake_w.send(b"x")

    # -- loop -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._register_pending()
                for key, mask in self._sel.select(timeout=1.0):
                    if key.data is None:
                        self._drain_wake()
                    elif isinstance(key.data, tuple):
                        self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
                    else:
                        self._service(key.data, mask)
        except BaseException as exc:  # recorded, then the relay closes everything
            self.error = exc
        finally:
            self._close_all()

    def _register_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for listener, upstream in pending:
            self._listeners.append(listener)
            self._sel.register(listener, selectors.EVENT_READ, upstream)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self, listener: socket.socket, upstream: tuple[str, int]) -> None:
        try:
            client, addr = listener.accept()
        except BlockingIOError:
            return
        now = time.time()
        here = listener.getsockname()
        conn = Connection(client=(addr[0], addr[1]), server=(here[0], here[1]),
                          upstream=upstream, opened=now)
        self.connections.append(conn)
        client.setblocking(False)
        out = socket.socket(socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET)
        out.setblocking(False)
        a, b = _Side(client, C2S, conn), _Side(out, S2C, conn)
        a.peer, b.peer = b, a
        self._sides.update((a, b))
        b.connecting = True
        err = out.connect_ex(upstream)
        if err not in (0, errno.EINPROGRESS):
            self._refused(a, b)
            return
        # The client is read only once the upstream answers (its bytes wait in the kernel).
        self._sel.register(out, selectors.EVENT_WRITE, b)

    def _refused(self, client: _Side, upstream: _Side) -> None:
        # The client saw its connection accepted; the closest truth is a reset from the server.
        client.conn.events.append(Event(time.time(), S2C, "rst"))
        self._abort(client)
        self._close(upstream)

    def _service(self, side: _Side, mask: int) -> None:
        if side.closed:
            return
        if side.connecting:
            err = side.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            side.connecting = False
            if err:
                assert side.peer is not None
                self._refused(side.peer, side)
                return
        if mask & selectors.EVENT_READ:
            self._read(side)
        if not side.closed and mask & selectors.EVENT_WRITE:
            self._flush(side)
        for s in (side, side.peer):
            if s is not None and not s.closed:
                self._update(s)

    def _read(self, side: _Side) -> None:
        peer = side.peer
        assert peer is not None
        try:
            data = side.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self._reset_from(side)
            return
        if data:
            side.conn.events.append(Event(time.time(), side.direction, "data", data))
            peer.outbuf += data
            self._flush(peer)
        else:
            side.eof = True
            side.conn.events.append(Event(time.time(), side.direction, "fin"))
            self._flush(peer)

    def _flush(self, side: _Side) -> None:
        peer = side.peer
        assert peer is not None
        if side.closed or side.connecting:
            return
        try:
            while side.outbuf:
                sent = side.sock.send(side.outbuf)
                del side.outbuf[:sent]
        except BlockingIOError:
            return
        except OSError:
            self._reset_from(side)
            return
        if peer.eof and not side.shut:
            side.shut = True
            with contextlib.suppress(OSError):
                side.sock.shutdown(socket.SHUT_WR)
        if side.shut and peer.shut:
            self._close(side)
            self._close(peer)

    def _reset_from(self, side: _Side) -> None:
        """``side`` reset its connection: record it and reset the other side."""
        side.conn.events.append(Event(time.time(), side.direction, "rst"))
        self._close(side)
        if side.peer is not None:
            self._abort(side.peer)

    def _update(self, side: _Side) -> None:
        if side.closed:
            return
        peer = side.peer
        events = 0
        if side.connecting or side.outbuf:
            events |= selectors.EVENT_WRITE
        if not side.connecting and not side.eof and peer is not None and not peer.connecting \
                and len(peer.outbuf) < HIGH_WATER:
            events |= selectors.EVENT_READ
        try:
            if events:
                self._sel.modify(side.sock, events, side)
            else:
                self._sel.unregister(side.sock)
        except KeyError:
            if events:
                self._sel.register(side.sock, events, side)

    def _abort(self, side: _Side) -> None:
        """Close with RST (SO_LINGER 0), as the party that reset would have."""
        if side.closed:
            return
        with contextlib.suppress(OSError):
            side.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close(side)

    def _close(self, side: _Side) -> None:
        if side.closed:
            return
        side.closed = True
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(side.sock)
        side.sock.close()
        self._sides.discard(side)

    def _close_all(self) -> None:
        for side in list(self._sides):
            self._close(side)
        for listener in self._listeners + [item[0] for item in self._pending]:
            listener.close()
        self._listeners, self._pending = [], []
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
