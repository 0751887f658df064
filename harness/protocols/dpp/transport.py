"""Links that carry DPP payloads between a tester peer and a DUT.

A link moves public action payloads (see `harness.protocols.dpp.frames`); the
exchange logic never sees sockets. `TcpLink` is DPP over TCP (R2): each payload a
PDU of 4-octet length and the frame without its Category octet. `AirLink` is the
virtual 802.11 medium: each payload a public action frame (radiotap + 802.11 header,
Category 4) in one UDP datagram between the two nodes' radios.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Protocol

from harness.medium import UdpRadio
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.radiotap import BROADCAST, payload_of, wlan_action
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
    def __init__(self, sock: socket.socket, category_octet: bool = False):
        self.sock = sock
        self.reader = PduReader(sock)
        self.peer = _peer(sock)
        # True only in a mutant: it keeps the 802.11 Category octet DPP over TCP drops.
        self.category_octet = category_octet

    def send(self, payload: bytes) -> None:
        if self.category_octet:
            payload = b"\x04" + payload
        try:
            self.sock.sendall(pdu(payload))
        except OSError as exc:
            raise LinkClosed(f"send failed: {exc}") from None

    def send_malformed(self, payload: bytes) -> None:
        """A payload in the link's framing, whatever it holds (garbage probes)."""
        self.send_raw(pdu(payload))

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


class AirLink:
    """DPP public action frames on the virtual 802.11 medium.

    Like a station's receiver it ignores frames that are not public action frames or
    not addressed to it (or to broadcast); the first frame it accepts names the peer's
    MAC address when it does not know it yet.
    """

    def __init__(self, radio: UdpRadio, own_mac: str, peer_mac: str | None = None,
                 freq_mhz: int = 2412):  # fmt: skip
        self.radio = radio
        self.own_mac = own_mac.lower()
        self.peer_mac = peer_mac.lower() if peer_mac else None
        self.freq_mhz = freq_mhz
        self.peer = "?"

    def send(self, payload: bytes) -> None:
        frame = wlan_action(payload, self.own_mac, self.peer_mac or BROADCAST,
                            freq_mhz=self.freq_mhz)  # fmt: skip
        try:
            self.radio.send(frame)
        except OSError as exc:
            raise LinkClosed(f"send failed: {exc}") from None

    send_malformed = send  # the medium frames any payload; garbage is the payload's

    def recv(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.radio.recv(left)
            except OSError as exc:
                raise LinkClosed(f"receive failed: {exc}") from None
            if frame is None:
                return None
            try:
                src, dst, payload = payload_of(frame)
            except DppCodecError:
                continue  # not a public action frame: a station drops it
            if dst not in (self.own_mac, BROADCAST):
                continue
            if self.peer_mac is None:
                self.peer_mac = src
            elif src != self.peer_mac:
                continue
            self.peer = src
            return payload
        return None

    def close(self) -> None:
        self.radio.close()
