"""Links that carry DPP payloads between a tester peer and a DUT.

A link moves public action payloads (see `harness.protocols.dpp.frames`); the
exchange logic never sees sockets. `TcpLink` is DPP over TCP (R2): each payload a
PDU of 4-octet length and the frame without its Category octet.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Protocol

from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.tcp import ConnectionClosed, PduReader, pdu


class LinkClosed(Exception):
    """The other side closed the link (or it broke)."""


class Link(Protocol):
    def send(self, payload: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None:
        """The next payload, None when none came within `timeout`; raises LinkClosed,
        or DppCodecError for a PDU that breaks the framing."""
        ...

    def close(self) -> None: ...


class TcpLink:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = PduReader(sock)
        self.peer = _peer(sock)

    def send(self, payload: bytes) -> None:
        try:
            self.sock.sendall(pdu(payload))
        except OSError as exc:
            raise LinkClosed(f"send failed: {exc}") from None

    def send_raw(self, data: bytes) -> None:
        """Bytes outside any framing (garbage probes)."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise LinkClosed(f"send failed: {exc}") from None

    def recv(self, timeout: float) -> bytes | None:
        try:
            return self.reader.read(timeout)
        except ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None
        except DppCodecError:
            raise
        except OSError as exc:
            raise LinkClosed(f"receive failed: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


def _peer(sock: socket.socket) -> str:
    try:
        name = sock.getpeername()
    except OSError:
        return "?"
    return f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)
