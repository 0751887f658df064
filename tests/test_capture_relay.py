"""The recording relay: forwarding, half-close, resets, many connections, clean stop."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.capture import CaptureSession, decode
from harness.capture.relay import C2S, S2C, TcpRelay
from harness.capture.transcript import MAX_SEGMENT, write_transcript
from harness.errors import CaptureError


def _serve(handler: object) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()  # type: ignore[arg-type]

    threading.Thread(target=loop, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _echo_until_eof(conn: socket.socket) -> None:
    """Reads everything, then replies with the byte count and closes (a half-close test)."""
    total = 0
    with conn:
        while chunk := conn.recv(65536):
            total += len(chunk)
        conn.sendall(f"got {total}".encode())


def _reset_at_once(conn: socket.socket) -> None:
    conn.recv(16)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@pytest.fixture()
def counting_server() -> Iterator[int]:
    yield from _serve(_echo_until_eof)


@pytest.fixture()
def resetting_server() -> Iterator[int]:
    yield from _serve(_reset_at_once)


def _recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_half_close_and_large_chunks(counting_server: int, tmp_path: Path) -> None:
    relay = TcpRelay()
    port = relay.add(("127.0.0.1", counting_server))
    payload = bytes(range(256)) * 1200  # 300 KiB: several chunks and segments
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)  # half-close: the reply still comes back
        assert _recv_all(client) == f"got {len(payload)}".encode()
    conns = relay.stop()
    assert len(conns) == 1
    sent = b"".join(e.data for e in conns[0].events if e.direction == C2S and e.kind == "data")
    assert sent == payload
    kinds = [(e.direction, e.kind) for e in conns[0].events if e.kind != "data"]
    assert kinds == [(C2S, "fin"), (S2C, "fin")]
    # the transcript carries the same bytes in segments tshark reassembles
    pcap = tmp_path / "t.pcapng"
    write_transcript(conns, pcap)
    frames = decode(pcap)
    assert max(len(f.get("tcp.payload", "") or "") for f in frames) <= 3 * MAX_SEGMENT
    assert sum(int(f.get("tcp.len") or 0) for f in frames if f.dport == port) == len(payload)
    bad = decode(pcap, display_filter="tcp.analysis.lost_segment || tcp.analysis.retransmission"
                 " || tcp.analysis.ack_lost_segment || _ws.malformed")
    assert bad == []


def test_reset_is_passed_on_and_recorded(resetting_server: int, tmp_path: Path) -> None:
    relay = TcpRelay()
    port = relay.add(("127.0.0.1", resetting_server))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            client.recv(16)
            client.recv(16)
    conns = relay.stop()
    assert conns[0].events[-1].kind == "rst" and conns[0].events[-1].direction == S2C
    pcap = tmp_path / "t.pcapng"
    write_transcript(conns, pcap)
    assert decode(pcap, display_filter=f"tcp.flags.reset == 1 && tcp.srcport != {port}") == []
    assert len(decode(pcap, display_filter=f"tcp.flags.reset == 1 && tcp.srcport == {port}")) == 1


def test_refused_upstream_resets_the_client() -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    closed_port = spare.getsockname()[1]
    spare.close()
    relay = TcpRelay()
    port = relay.add(("127.0.0.1", closed_port))
    # Under load the reset can already reach connect() itself; either way the client is reset.
    with pytest.raises(ConnectionResetError), \
            socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.recv(16)
        client.recv(16)
    conns = relay.stop()
    assert [e.kind for e in conns[0].events] == ["rst"]


def test_many_connections(counting_server: int, tmp_path: Path) -> None:
    session = CaptureSession(tmp_path, name="many", ports=[counting_server], mode="transcript")
    session.start()
    port = session.relay(("127.0.0.1", counting_server))
    replies: list[bytes] = []

    def one(i: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"x" * (i + 1))
            client.shutdown(socket.SHUT_WR)
            replies.append(_recv_all(client))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = session.stop()
    assert sorted(replies) == sorted(f"got {i + 1}".encode() for i in range(20))
    assert result.mode == "transcript" and result.pcap == tmp_path / "capture.pcapng"
    frames = decode(result.pcap)
    assert len({f.get("tcp.stream") for f in frames}) == 20
    out = subprocess.run(["tshark", "-r", str(result.pcap)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0 and "alformed" not in out.stdout


def test_stop_closes_listener_and_open_connections(counting_server: int) -> None:
    relay = TcpRelay()
    port = relay.add(("127.0.0.1", counting_server))
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(b"still open")
    relay.stop(grace=0.1)
    with contextlib.suppress(ConnectionResetError):  # a reset also means "closed"
        assert _recv_all(client) == b""
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with pytest.raises(CaptureError):
        relay.add(("127.0.0.1", counting_server))
