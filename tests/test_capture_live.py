"""Live capture keeps the first and the last packets, and only the test's own."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.capture import capture_available, decode
from harness.capture.live import LiveCapture
from harness.capture.sentinel import PcapngSentinelFilter, Sentinel
from harness.errors import CaptureError

IN_CI = os.environ.get("CI") == "true"
needs_capture = pytest.mark.skipif(
    not IN_CI and (shutil.which("dumpcap") is None or not capture_available()),
    reason="dumpcap cannot capture on lo here",
)
EXCHANGES = 50


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP server on loopback answering each connection's one message."""
    server = socket.create_server(("127.0.0.1", 0), backlog=EXCHANGES)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"reply:" + conn.recv(64))

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _exchange(port: int, index: int) -> int:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"request-%02d" % index)
        assert conn.recv(64) == b"reply:request-%02d" % index
        return conn.getsockname()[1]


@needs_capture
@pytest.mark.parametrize("sync", ["sentinel", "settle"])
def test_no_exchange_is_lost_at_either_end(tmp_path: Path, echo_port: int, sync: str) -> None:
    """Exchanges start right after start() and end right before stop(): every
    connection's SYN, both FINs and both payloads must be in the capture."""
    pcap = tmp_path / "capture.pcapng"
    live = LiveCapture(pcap, [echo_port], sync=sync)
    live.start()
    try:
        clients = [_exchange(echo_port, i) for i in range(EXCHANGES)]
    finally:
        live.stop()

    frames = decode(pcap)
    by_client: dict[int, list[dict[str, list[str]]]] = {}
    for frame in frames:
        client = frame.sport if frame.dport == echo_port else frame.dport
        by_client.setdefault(client or 0, []).append(frame.fields)
    payloads = pcap.read_bytes()
    lost = []
    for index, client in enumerate(clients):
        seen = by_client.get(client, [])
        syns = sum(f.get("tcp.flags.syn") == ["1"] for f in seen)
        fins = sum(f.get("tcp.flags.fin") == ["1"] for f in seen)
        request = b"request-%02d" % index
        if syns < 2 or fins < 2 or request not in payloads or b"reply:" + request not in payloads:
            lost.append(index)
    assert lost == [], f"exchanges missing from the capture: {lost}"
    assert set(by_client) == set(clients), "the capture holds only the captured port's traffic"
    assert all("udp" not in frame.protocols for frame in frames), "a sentinel was left in"


def test_unknown_sync_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="unknown capture sync"):
        LiveCapture(tmp_path / "c.pcapng", [9], sync="guess")


@pytest.mark.parametrize("where", [{"interface": "eth0"}, {"prefix": ["ip", "netns", "exec", "x"]}])
def test_sentinel_needs_loopback_here(tmp_path: Path, where: dict[str, object]) -> None:
    with pytest.raises(CaptureError, match="loopback"):
        LiveCapture(tmp_path / "c.pcapng", [9], sync="sentinel", **where)  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("dumpcap") is None, reason="dumpcap is not installed")
def test_unwritable_capture_file_is_a_capture_error(tmp_path: Path) -> None:
    pcap = tmp_path / "a-directory"
    pcap.mkdir()
    live = LiveCapture(pcap, [9], sync="sentinel")
    with pytest.raises(CaptureError, match="cannot run dumpcap to write"):
        live.start()
    assert not live.running


# -- the pcapng stream filter -------------------------------------------------------


def _block(kind: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _epb(data: bytes) -> bytes:
    return _block(6, struct.pack("<IIIII", 0, 0, 0, len(data), len(data)) + data)


def _udp_frame(sport: int, dport: int, payload: bytes) -> bytes:
    ether = bytes(12) + b"\x08\x00"
    ip = b"\x45" + bytes(8) + b"\x11" + bytes(10)
    return ether + ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    made = Sentinel()
    yield made
    made.close()


def test_stream_filter_removes_only_sentinels(sentinel: Sentinel) -> None:
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _block(1, struct.pack("<HHI", 1, 0, 0))
    mine = _epb(_udp_frame(sentinel.port, sentinel.port, sentinel.token + struct.pack("!Q", 7)))
    # The same token from another port, or another token from our port, is traffic.
    other_port = _epb(_udp_frame(sentinel.port + 1, sentinel.port + 1,
                                 sentinel.token + struct.pack("!Q", 8)))
    other_token = _epb(_udp_frame(sentinel.port, sentinel.port, bytes(16) + struct.pack("!Q", 9)))
    stream = shb + idb + other_port + mine + other_token + _block(5, b"stats")
    seen: list[int] = []
    blocks = PcapngSentinelFilter(sentinel, seen.append)
    out = b"".join(blocks.feed(stream[i:i + 5]) for i in range(0, len(stream), 5))
    out += blocks.flush()
    assert out == stream.replace(mine, b"")
    assert seen == [7] and blocks.removed == 1


def test_stream_filter_passes_an_unparsable_stream_through(sentinel: Sentinel) -> None:
    stream = b"\x0a\x0d\x0d\x0a" + bytes(4) + b"garbage!" * 4
    blocks = PcapngSentinelFilter(sentinel, lambda seq: None)
    assert blocks.feed(stream[:10]) + blocks.feed(stream[10:]) + blocks.flush() == stream
