"""CaptureSession lifecycle and decode errors: never a traceback, never a leak."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness.capture import CaptureSession, capture_available, decode
from harness.capture.transcript import empty_pcapng
from harness.errors import CaptureError, DecodeError

IN_CI = os.environ.get("CI") == "true"
needs_dumpcap = pytest.mark.skipif(
    shutil.which("dumpcap") is None and not IN_CI, reason="dumpcap is not installed"
)


def _valid_empty(pcap: Path) -> None:
    assert pcap.is_file()
    assert decode(pcap) == []


@pytest.mark.parametrize("mode", ["auto", "live", "transcript"])
def test_stop_without_start_is_safe(tmp_path: Path, mode: str) -> None:
    session = CaptureSession(tmp_path, name="t", ports=[9], mode=mode)
    first = session.stop()
    assert session.stop() == first  # idempotent
    _valid_empty(first.pcap)


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="unknown capture mode"):
        CaptureSession(tmp_path, name="t", ports=[9], mode="sniff")


@needs_dumpcap
def test_failed_live_start_then_stop(tmp_path: Path) -> None:
    session = CaptureSession(tmp_path, name="t", ports=[9], mode="live", interface="nosuchif0")
    with pytest.raises(CaptureError, match="dumpcap"):
        session.start()
    result = session.stop()
    _valid_empty(result.pcap)
    assert session._live is None  # no dumpcap left behind


@needs_dumpcap
def test_live_capture_with_nothing_captured(tmp_path: Path) -> None:
    assert capture_available()
    session = CaptureSession(tmp_path, name="t", ports=[9], mode="auto")
    session.start()
    pid = session._live._proc.pid  # type: ignore[union-attr]
    result = session.stop()
    assert result.mode == "live" and session.stop() is result
    _valid_empty(result.pcap)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


@needs_dumpcap
def test_live_relay_must_name_a_captured_port(tmp_path: Path) -> None:
    session = CaptureSession(tmp_path, name="t", ports=[9], mode="live")
    with pytest.raises(CaptureError, match="not among the captured ports"):
        session.relay(("127.0.0.1", 10))
    assert session.relay(("127.0.0.1", 9)) == 9
    session.stop()


def test_transcript_session_with_no_connections(tmp_path: Path) -> None:
    with CaptureSession(tmp_path, name="t", ports=[9], mode="transcript") as session:
        port = session.relay(("127.0.0.1", 9))
        assert port != 9
    _valid_empty(tmp_path / "capture.pcapng")
    with pytest.raises(CaptureError, match="after stop"):
        session.relay(("127.0.0.1", 9))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_decode_of_garbage_raises(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pcapng"
    garbage.write_bytes(b"this is not a capture at all\n" * 20)
    with pytest.raises(DecodeError, match="isn't a capture file"):
        decode(garbage)
    with pytest.raises(DecodeError, match="no such capture file"):
        decode(tmp_path / "missing.pcapng")


def test_decode_of_truncated_capture_raises(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    session = CaptureSession(tmp_path, name="t", ports=[1], mode="transcript")
    port = session.relay(listener.getsockname())
    with socket.create_connection(("127.0.0.1", port)) as client:
        server, _ = listener.accept()
        client.sendall(b"x" * 5000)
        server.recv(5000)
        server.close()
    listener.close()
    pcap = session.stop().pcap
    assert decode(pcap)
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(pcap.read_bytes()[: pcap.stat().st_size - 2000])
    with pytest.raises(DecodeError, match="cut short"):
        decode(cut)


def test_bad_display_filter_raises(tmp_path: Path) -> None:
    pcap = tmp_path / "empty.pcapng"
    pcap.write_bytes(empty_pcapng())
    with pytest.raises(DecodeError, match="display filter"):
        decode(pcap, display_filter="http.request.method ==")
    assert decode(pcap, display_filter="http") == []


def test_no_dumpcap_left_running() -> None:
    out = subprocess.run(["pgrep", "-f", "dumpcap -i"], capture_output=True, text=True,
                         check=False)
    mine = [pid for pid in out.stdout.split() if int(pid) != os.getpid()]
    parents = [Path(f"/proc/{p}/stat").read_text().split()[3] for p in mine
               if Path(f"/proc/{p}/stat").exists()]
    assert str(os.getpid()) not in parents
