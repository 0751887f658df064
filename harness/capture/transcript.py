"""Write relay recordings as a pcapng that Wireshark reads like a real capture.

Each recorded connection becomes a full TCP conversation on Ethernet/IPv4: the
three-way handshake, data segments (at most ``MAX_SEGMENT`` bytes) each acknowledged
by the receiver, FIN exchanges and resets, with sequence and acknowledgement numbers
that add up, so tshark reassembles streams and its TCP analysis finds no lost or
retransmitted segments. The client is the connecting side's real address and port;
the server is the relay port it connected to.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgWriter

from harness.capture.relay import C2S, Connection
from harness.errors import CaptureError

MAX_SEGMENT = 65000
WINDOW = 65535
WSCALE = 7  # advertised window 8 MiB: recorded bursts never "fill" it
TICK = 1e-6  # pcapng here has microsecond resolution; keeps per-connection order
LINKTYPE_ETHERNET = 1


class _Flow:
    """Sequence state of one direction of one connection."""

    def __init__(self, addr: tuple[str, int], isn: int):
        self.ip, self.port = addr
        self.seq = isn  # next sequence number this side sends


def _isn(port: int, salt: int) -> int:
    return (port * 2654435761 + salt * 40503) & 0xFFFFFFFF  # reproducible, spread out


def _packet(src: _Flow, dst: _Flow, flags: str, t: float, payload: bytes = b"",
            options: list[tuple[str, object]] | None = None, ack: bool = True) -> Packet:
    tcp = TCP(sport=src.port, dport=dst.port, flags=flags, seq=src.seq,
              ack=dst.seq if ack else 0, window=WINDOW, options=options or [])
    pkt = Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / IP(src=src.ip, dst=dst.ip) / tcp
    if payload:
        pkt = pkt / Raw(payload)
    pkt.time = t
    return pkt


def connection_packets(conn: Connection) -> list[Packet]:
    """The TCP packets of one recorded connection, in order."""
    client = _Flow(conn.client, _isn(conn.client[1], 1))
    server = _Flow(conn.server, _isn(conn.client[1], 2))
    out: list[Packet] = []
    clock = conn.opened

    def at(t: float) -> float:
        nonlocal clock
        clock = max(t, clock + TICK)
        return clock

    syn_opts: list[tuple[str, object]] = [("MSS", 65495), ("WScale", WSCALE)]
    out.append(_packet(client, server, "S", at(conn.opened), options=syn_opts, ack=False))
    client.seq += 1
    out.append(_packet(server, client, "SA", at(conn.opened), options=syn_opts))
    server.seq += 1
    out.append(_packet(client, server, "A", at(conn.opened)))
    for event in conn.events:
        src, dst = (client, server) if event.direction == C2S else (server, client)
        if event.kind == "data":
            view = memoryview(event.data)
            for start in range(0, len(view), MAX_SEGMENT):
                segment = bytes(view[start:start + MAX_SEGMENT])
                out.append(_packet(src, dst, "PA", at(event.time), segment))
                src.seq = (src.seq + len(segment)) & 0xFFFFFFFF
            out.append(_packet(dst, src, "A", at(event.time)))
        elif event.kind == "fin":
            out.append(_packet(src, dst, "FA", at(event.time)))
            src.seq = (src.seq + 1) & 0xFFFFFFFF
            out.append(_packet(dst, src, "A", at(event.time)))
        elif event.kind == "rst":
            out.append(_packet(src, dst, "RA", at(event.time)))
            break  # nothing follows a reset
    return out


def empty_pcapng() -> bytes:
    """A valid pcapng with one Ethernet interface and no packets."""

    def block(kind: int, body: bytes) -> bytes:
        size = struct.pack("<I", 12 + len(body))
        return struct.pack("<I", kind) + size + body + size

    section = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    return section + block(1, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 0))


def write_transcript(connections: Iterable[Connection], path: Path) -> int:
    """Write ``connections`` to ``path`` as pcapng; returns the number of packets."""
    timed: list[tuple[float, int, Packet]] = []
    for conn in connections:
        for pkt in connection_packets(conn):
            timed.append((float(pkt.time), len(timed), pkt))
    timed.sort(key=lambda item: (item[0], item[1]))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not timed:
            path.write_bytes(empty_pcapng())
            return 0
        writer = PcapNgWriter(str(path))
        try:
            for _, _, pkt in timed:
                writer.write(pkt)
        finally:
            writer.close()
    except OSError as exc:
        raise CaptureError(f"cannot write transcript {path}: {exc}") from exc
    return len(timed)
