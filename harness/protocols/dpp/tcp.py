"""DPP over TCP: each PDU is a 4-octet big-endian length, then the public action payload
without the Category octet (Wireshark get_wifi_dpp_tcp_len: length + 4)."""

from __future__ import annotations

import select
import socket
import struct
import time

from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.frames import DPP_TCP_PORT

__all__ = ["DPP_TCP_PORT", "MAX_PDU", "ConnectionClosed", "PduReader", "pdu"]

MAX_PDU = 65536  # the most a peer may announce; DPP messages are far smaller
_LEN = 4


class ConnectionClosed(DppCodecError):
    """The peer closed the connection before or inside a PDU."""


def pdu(payload: bytes) -> bytes:
    if len(payload) > 0xFFFFFFFF:
        raise DppCodecError(f"payload of {len(payload)} octets does not fit a DPP TCP PDU")
    return struct.pack("!I", len(payload)) + bytes(payload)


class PduReader:
    """Reads whole PDUs from a connected socket; bytes of a partial PDU are kept."""

    def __init__(self, sock: socket.socket, max_pdu: int = MAX_PDU):
        self.sock = sock
        self.max_pdu = max_pdu
        self._buf = bytearray()

    def _announced(self) -> int | None:
        if len(self._buf) < _LEN:
            return None
        length = int(struct.unpack("!I", self._buf[:_LEN])[0])
        if length == 0:
            raise DppCodecError("DPP TCP PDU announces a zero length")
        if length > self.max_pdu:
            raise DppCodecError(
                f"DPP TCP PDU announces {length} octets, more than the limit {self.max_pdu}")
        return length

    def read(self, timeout: float) -> bytes | None:
        """The next PDU's payload; None if none is complete within `timeout` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            length = self._announced()
            if length is not None and len(self._buf) >= _LEN + length:
                payload = bytes(self._buf[_LEN:_LEN + length])
                del self._buf[:_LEN + length]
                return payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ready, _, _ = select.select([self.sock], [], [], left)
                if not ready:
                    return None
                chunk = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise ConnectionClosed(f"DPP TCP connection failed: {exc}") from exc
            if not chunk:
                where = "inside a PDU" if self._buf else "before a PDU"
                raise ConnectionClosed(
                    f"DPP TCP peer closed the connection {where} ({len(self._buf)} octet(s) "
                    "of it received)")
            self._buf += chunk
