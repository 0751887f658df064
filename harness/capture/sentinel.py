"""Sentinel datagrams that prove what a live loopback capture holds.

libpcap on Linux hands captured packets to dumpcap in ring blocks of 256 KiB,
which it releases when full or after a timeout of ~200 ms; dumpcap drops the
unreleased block when it is stopped, and reports "Capturing on" before the ring
is open. A sentinel is a large UDP datagram from a port of our own on 127.0.0.1
to itself, carrying a random token and a sequence number: once one sentinel has
reached dumpcap's output, the ring is open and everything captured before that
sentinel has been written. Sentinels are as large as loopback allows, so that a
few of them fill a block and release it at once instead of after the timeout.

``PcapngSentinelFilter`` removes the sentinels from dumpcap's pcapng stream
before it is written to the evidence, so that the capture holds what the
capture filter for the test's own ports would have captured, and nothing the
harness added. The interface statistics dumpcap writes at the end still count
the sentinels among the packets received.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from harness.errors import CaptureError

HOST = "127.0.0.1"
TOKEN_BYTES = 16
MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP) - 8 (UDP)
_SEQ = struct.Struct("!Q")

_SHB = 0x0A0D0D0A
_EPB = 6
_SPB = 3
_BYTE_ORDER_MAGIC = 0x1A2B3C4D


def _payload_size(interface: str = "lo") -> int:
    """The largest datagram that leaves ``interface`` unfragmented (the filter sees
    only the first fragment of a fragmented one)."""
    try:
        mtu = int(Path(f"/sys/class/net/{interface}/mtu").read_text().strip())
    except (OSError, ValueError):
        return 1400
    return max(TOKEN_BYTES + _SEQ.size, min(MAX_UDP_PAYLOAD, mtu - 28))


class Sentinel:
    """A UDP socket bound on 127.0.0.1 that sends numbered sentinels to itself.

    Bound, so that no one else receives them and no ICMP error is generated; its
    receive buffer is left to overflow, since only the capture needs the datagrams.
    """

    def __init__(self) -> None:
        self.token = secrets.token_bytes(TOKEN_BYTES)
        self.size = _payload_size()
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self._sock.bind((HOST, 0))
        except OSError as exc:
            raise CaptureError(f"cannot open the capture sentinel socket: {exc}") from exc
        self.port: int = self._sock.getsockname()[1]
        self._ports = struct.pack("!HH", self.port, self.port)
        self._padding = bytes(self.size - TOKEN_BYTES - _SEQ.size)
        self.sent = 0

    @property
    def bpf(self) -> str:
        return f"(udp and src host {HOST} and src port {self.port} and dst port {self.port})"

    def send(self) -> int:
        """Send the next sentinel and return its sequence number."""
        seq = self.sent
        self.sent += 1
        with contextlib.suppress(OSError):  # a lost sentinel only costs time
            self._sock.sendto(self.token + _SEQ.pack(seq) + self._padding, (HOST, self.port))
        return seq

    def match(self, data: bytes) -> int | None:
        """The sequence number if the captured frame ``data`` is one of our sentinels.

        Whatever the link layer, the payload follows a UDP header with our port as
        both source and destination.
        """
        at = data.find(self.token, 0, 128)
        if at < 8 or data[at - 8:at - 4] != self._ports:
            return None
        seq = data[at + TOKEN_BYTES:at + TOKEN_BYTES + _SEQ.size]
        return _SEQ.unpack(seq)[0] if len(seq) == _SEQ.size else None

    def close(self) -> None:
        self._sock.close()


class PcapngSentinelFilter:
    """Copy a pcapng stream, block by block, leaving out the sentinels' packets.

    ``feed`` takes the stream in arbitrary pieces and returns the bytes to write;
    ``on_sentinel(seq)`` is called for each sentinel removed. A stream it cannot
    parse is passed through unchanged from that point on.
    """

    def __init__(self, sentinel: Sentinel, on_sentinel: Callable[[int], None]):
        self.sentinel = sentinel
        self.on_sentinel = on_sentinel
        self.removed = 0
        self._buf = bytearray()
        self._order = "<"
        self._passthrough = False

    def feed(self, chunk: bytes) -> bytes:
        if self._passthrough:
            return chunk
        self._buf += chunk
        out = bytearray()
        while len(self._buf) >= 12:
            if self._buf[:4] == _SHB.to_bytes(4, "little"):
                magic = self._buf[8:12]
                if magic == _BYTE_ORDER_MAGIC.to_bytes(4, "little"):
                    self._order = "<"
                elif magic == _BYTE_ORDER_MAGIC.to_bytes(4, "big"):
                    self._order = ">"
                else:
                    return self._give_up(out)
            kind, length = struct.unpack_from(self._order + "II", self._buf)
            if length < 12 or length % 4:
                return self._give_up(out)
            if len(self._buf) < length:
                break
            block = bytes(self._buf[:length])
            del self._buf[:length]
            seq = self._sentinel_seq(kind, block)
            if seq is None:
                out += block
            else:
                self.removed += 1
                self.on_sentinel(seq)
        return bytes(out)

    def flush(self) -> bytes:
        """What is left at the end of the stream (a truncated last block, kept as is)."""
        rest, self._buf = bytes(self._buf), bytearray()
        return rest

    def _give_up(self, out: bytearray) -> bytes:
        self._passthrough = True
        return bytes(out) + self.flush()

    def _sentinel_seq(self, kind: int, block: bytes) -> int | None:
        if kind == _EPB and len(block) >= 32:
            caplen = struct.unpack_from(self._order + "I", block, 20)[0]
            return self.sentinel.match(block[28:28 + caplen])
        if kind == _SPB and len(block) >= 16:
            return self.sentinel.match(block[12:-4])
        return None
