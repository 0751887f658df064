"""Frames over UDP: one node's radio, and the recorder of what the medium carried."""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

# An 802.11 frame is at most ~2.3 kB; radiotap adds tens of octets. Datagrams beyond this
# are not frames of this medium and are dropped unread.
MAX_FRAME = 4096
WAKE_SLICE = 0.2  # how often a blocked receiver looks whether its radio was closed


class AirRecorder:
    """Every frame the medium carried, in order, with its time (thread-safe)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def add(self, frame: bytes) -> None:
        with self._lock:
            self.frames.append((time.time(), bytes(frame)))

    def write(self, path: Path, writer: Callable[[Path, list[tuple[float, bytes]]], None]
              ) -> Path:  # fmt: skip
        """Write the frames with `writer` (e.g. radiotap.write_pcapng: link type 127)."""
        with self._lock:
            frames = list(self.frames)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path, frames)
        return path


class UdpRadio:
    """One node's radio on the medium: a UDP socket bound on the node's address.

    `peer` is the radio it talks to; a listening radio (peer None) learns it from the
    first datagram it receives and then keeps to it, as a station locks on to the
    transmitter of the exchange it answers.
    """

    def __init__(self, sock: socket.socket, peer: tuple[str, int] | None = None,
                 recorder: AirRecorder | None = None):  # fmt: skip
        self.sock = sock
        self.peer = peer
        self.recorder = recorder
        self.closed = False

    @classmethod
    def bind(cls, host: str, port: int, peer: tuple[str, int] | None = None,
             recorder: AirRecorder | None = None,
             inside: Callable[[], contextlib.AbstractContextManager[None]] | None = None
             ) -> UdpRadio:  # fmt: skip
        with inside() if inside else contextlib.nullcontext():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return cls(sock, peer, recorder)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def send(self, frame: bytes) -> None:
        if self.peer is None:
            raise OSError("no peer radio yet: nothing was received")
        if self.recorder is not None:
            self.recorder.add(frame)
        self.sock.sendto(frame, self.peer)

    def recv(self, timeout: float) -> bytes | None:
        """The next frame from the peer (or the first sender), None after `timeout`;
        OSError once close() was called (select() does not wake on another thread's
        close, so the wait goes in slices)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self.closed:
                raise OSError("the radio was closed")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], min(left, WAKE_SLICE))
            if not ready:
                continue
            data, sender = self.sock.recvfrom(MAX_FRAME + 1)
            if not data or len(data) > MAX_FRAME:
                continue
            if self.peer is None:
                self.peer = (str(sender[0]), int(sender[1]))
            elif (str(sender[0]), int(sender[1])) != self.peer:
                continue  # another transmitter: not part of this exchange
            if self.recorder is not None:
                self.recorder.add(data)
            return data

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


class MuxedRadio:
    """One transmitter's share of a listening radio (see RadioMux)."""

    def __init__(self, sock: socket.socket, peer: tuple[str, int]):
        self.sock = sock
        self.peer: tuple[str, int] | None = peer
        self.frames: queue.Queue[bytes] = queue.Queue()
        self.done = False

    def send(self, frame: bytes) -> None:
        if self.done or self.peer is None:
            raise OSError("this transmitter's session is over")
        self.sock.sendto(frame, self.peer)

    def recv(self, timeout: float) -> bytes | None:
        if self.done:
            raise OSError("this transmitter's session is over")
        try:
            frame = self.frames.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if frame is _CLOSED:
            raise OSError("the listening radio was closed")
        return frame

    def close(self) -> None:
        self.done = True
        self.frames.put(_CLOSED)  # wakes a reader blocked in recv()


_CLOSED = b""  # queued by close(); a datagram of the medium is never empty (see run())


class RadioMux:
    """Splits what a listening radio receives by transmitter, as a station tells its
    peers apart by address: each new transmitter gets a `MuxedRadio`, handed to
    `on_new` in a thread of its own, so one exchange never swallows another's frames."""

    def __init__(self, radio: UdpRadio, on_new: Callable[[MuxedRadio], None],
                 stop: threading.Event, poll: float = WAKE_SLICE):  # fmt: skip
        self.radio = radio
        self.on_new = on_new
        self.stop = stop
        self.poll = poll
        self.sessions: dict[tuple[str, int], MuxedRadio] = {}

    def run(self) -> None:
        sock = self.radio.sock
        while not self.stop.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], self.poll)
                if not ready:
                    continue
                data, sender = sock.recvfrom(MAX_FRAME + 1)
            except (OSError, ValueError):  # closed under us: the listener stopped
                break
            if not data or len(data) > MAX_FRAME:
                continue
            peer = (str(sender[0]), int(sender[1]))
            session = self.sessions.get(peer)
            if session is None or session.done:
                session = self.sessions[peer] = MuxedRadio(sock, peer)
                threading.Thread(target=self._serve, args=(session,), daemon=True).start()
            session.frames.put(data)
        for session in self.sessions.values():
            session.close()

    def _serve(self, session: MuxedRadio) -> None:
        try:
            self.on_new(session)
        finally:
            session.close()
