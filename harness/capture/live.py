"""Live capture on loopback with dumpcap.

dumpcap reports "Capturing on ..." before it has opened the interface, and on
SIGINT it drops what still sits in the kernel's packet ring (libpcap hands
packets over in blocks, with a timeout). Measured on loopback: packets are lost
up to ~20 ms after the message and ~100-150 ms before the signal.
Two ways to keep the first and last packets of a test, chosen by ``sync``:

- ``"sentinel"`` (loopback only): dumpcap writes to a pipe and the harness sends
  sentinel datagrams (``harness.capture.sentinel``) until one comes out, after
  start and before stop; they are left out of the file written.
- ``"settle"`` (anywhere, e.g. inside a network namespace that loopback
  datagrams do not reach): ``START_SETTLE`` and ``STOP_SETTLE`` wait several
  times the losses measured above.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from harness.capture.sentinel import PcapngSentinelFilter, Sentinel
from harness.errors import CaptureError

START_TIMEOUT = 10.0
START_SETTLE = 0.15
STOP_SETTLE = 0.4
STOP_TIMEOUT = 5.0
SYNC_MODES = ("settle", "sentinel")
SENTINEL_TIMEOUT = 2.0  # then fall back to the settle time
SENTINEL_INTERVAL = 0.002
_PIPE_SIZE = 1 << 20  # room for a burst while the copying thread waits for the GIL
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

_probe_lock = threading.Lock()
_probe_result: bool | None = None
_running: weakref.WeakSet[LiveCapture] = weakref.WeakSet()


def dumpcap_binary() -> str | None:
    return shutil.which("dumpcap")


def capture_available(interface: str = "lo") -> bool:
    """Whether dumpcap can capture on ``interface`` here (probed once per process).

    ``dumpcap -L`` opens the interface to list its link types, which needs the same
    privilege as capturing (root or CAP_NET_RAW/CAP_NET_ADMIN), and exits at once.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            binary = dumpcap_binary()
            if binary is None:
                _probe_result = False
            else:
                try:
                    done = subprocess.run(
                        [binary, "-i", interface, "-L"],
                        capture_output=True, timeout=START_TIMEOUT, check=False,
                    )
                    _probe_result = done.returncode == 0
                except (OSError, subprocess.TimeoutExpired):
                    _probe_result = False
        return _probe_result


def bpf_filter(ports: Sequence[int]) -> str:
    return " or ".join(f"tcp port {int(p)}" for p in ports)


class LiveCapture:
    """One dumpcap process writing ``pcap`` (pcapng) from ``interface``.

    The filter is ``capture_filter`` when given ("" captures everything), else the
    TCP ``ports``. ``prefix`` runs dumpcap through a wrapper command, e.g.
    ``ip netns exec NAME`` to capture inside a network namespace (it execs, so the
    signals of ``stop()`` reach dumpcap itself). ``sync`` is how the start and the
    end of the capture are made certain (see the module's text); ``"sentinel"``
    needs ``interface`` to be loopback and no ``prefix``.
    """

    def __init__(self, pcap: Path, ports: Sequence[int], interface: str = "lo", *,
                 capture_filter: str | None = None, prefix: Sequence[str] = (),
                 sync: str = "settle"):
        if sync not in SYNC_MODES:
            raise CaptureError(f"unknown capture sync {sync!r} (one of {', '.join(SYNC_MODES)})")
        if sync == "sentinel" and (interface != "lo" or prefix):
            raise CaptureError("sentinel sync needs a capture on loopback in this namespace")
        self.sync = sync
        self.pcap = pcap
        self.ports = list(ports)
        self.interface = interface
        self.capture_filter = capture_filter
        self.prefix = list(prefix)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: list[str] = []
        self._sentinel: Sentinel | None = None
        self._seen = threading.Condition()
        self._last_seen = -1  # highest sentinel sequence number written out
        self._copier: threading.Thread | None = None

    def start(self) -> None:
        binary = dumpcap_binary()
        if binary is None:
            raise CaptureError("dumpcap is not installed (Debian package 'wireshark-common')")
        if self.capture_filter is None and not self.ports:
            raise CaptureError("live capture needs at least one TCP port to filter on")
        self.pcap.parent.mkdir(parents=True, exist_ok=True)
        bpf = bpf_filter(self.ports) if self.capture_filter is None else self.capture_filter
        if self.sync == "sentinel":
            self._sentinel = Sentinel()
            bpf = f"({bpf}) or {self._sentinel.bpf}" if bpf else ""
        # With a sentinel dumpcap writes to a pipe, which it flushes after every
        # packet (into a file it writes only every 500 ms).
        out = "-" if self._sentinel else str(self.pcap)
        argv = [*self.prefix, binary, "-i", self.interface,
                *(["-f", bpf] if bpf else []), "-w", out, "-q"]
        sink: IO[bytes] | None = None
        try:
            if self._sentinel is not None:
                sink = self.pcap.open("wb")
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self._sentinel else subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True,  # no terminal ^C to it
            )
        except OSError as exc:
            self._close_sentinel()
            if sink is not None:
                sink.close()
            raise CaptureError(f"cannot run dumpcap to write {self.pcap}: {exc}") from exc
        _running.add(self)
        if sink is not None:
            self._start_copier(sink)
        ready = threading.Event()
        reader = threading.Thread(target=self._drain_stderr, args=(ready,), daemon=True)
        reader.start()
        ready.wait(START_TIMEOUT)
        # dumpcap prints "Capturing on" before it opens the interface: wait until it
        # has (or has failed, e.g. for a missing interface) before trusting it.
        if not (ready.is_set() and self._sync_with_sentinel(self._proc)):
            time.sleep(START_SETTLE)
        if not ready.is_set() or self._proc.poll() is not None:
            self.stop()
            reader.join(1.0)
            detail = " ".join(self._stderr).strip() or "no output"
            raise CaptureError(f"dumpcap did not start capturing on {self.interface}: {detail}")

    def _drain_stderr(self, ready: threading.Event) -> None:
        # Reading all of stderr also keeps dumpcap from blocking on a full pipe.
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if "Running as user" in line:
                continue
            self._stderr.append(line)
            if line.startswith("Capturing on"):
                ready.set()
        proc.stderr.close()
        ready.set()  # exited: start() then sees poll() is not None

    def _start_copier(self, sink: IO[bytes]) -> None:
        proc, sentinel = self._proc, self._sentinel
        assert proc is not None and proc.stdout is not None and sentinel is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
        self._copier = threading.Thread(
            target=self._copy, args=(proc.stdout, sink, PcapngSentinelFilter(sentinel, self._saw)),
            daemon=True)
        self._copier.start()

    def _copy(self, source: IO[bytes], sink: IO[bytes], blocks: PcapngSentinelFilter) -> None:
        """Write dumpcap's pcapng stream to the file, without the sentinels."""
        fd = source.fileno()
        try:
            with sink:
                while chunk := os.read(fd, _PIPE_SIZE):
                    sink.write(blocks.feed(chunk))
                    sink.flush()
                sink.write(blocks.flush())
        except OSError as exc:
            # The file stays cut short, which decoding reports; keep reading so that
            # dumpcap does not block on a full pipe and still stops when told.
            self._stderr.append(f"cannot write the capture {self.pcap}: {exc}")
            with contextlib.suppress(OSError):
                while os.read(fd, _PIPE_SIZE):
                    pass
        finally:
            source.close()

    def _saw(self, seq: int) -> None:
        with self._seen:
            self._last_seen = max(self._last_seen, seq)
            self._seen.notify_all()

    def _sync_with_sentinel(self, proc: subprocess.Popen[bytes] | None) -> bool:
        """Send sentinels until one has been written out; False if none came in time
        (or there is no sentinel), when the caller falls back to the settle time."""
        sentinel = self._sentinel
        if sentinel is None or proc is None:
            return False
        first = sentinel.sent
        deadline = time.monotonic() + SENTINEL_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            sentinel.send()
            with self._seen:
                if self._seen.wait_for(lambda: self._last_seen >= first, SENTINEL_INTERVAL):
                    return True
        self._stderr.append(f"no capture sentinel came out within {SENTINEL_TIMEOUT:.0f} s")
        return False

    def _close_sentinel(self) -> None:
        sentinel, self._sentinel = self._sentinel, None
        if sentinel is not None:
            sentinel.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop dumpcap so that it flushes and closes the file; idempotent."""
        proc, self._proc = self._proc, None
        _running.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            # Everything captured before the sentinel is in the file: stop at once.
            if not self._sync_with_sentinel(proc):
                time.sleep(STOP_SETTLE)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                try:
                    proc.send_signal(sig)
                    proc.wait(timeout=STOP_TIMEOUT)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
        copier, self._copier = self._copier, None
        if copier is not None:
            copier.join(STOP_TIMEOUT)  # dumpcap has exited: the pipe ends
        self._close_sentinel()
        if self.pcap.exists():
            os.chmod(self.pcap, 0o644)  # dumpcap writes 0600; evidence is for everyone

    @property
    def diagnostics(self) -> str:
        return "\n".join(self._stderr)


@atexit.register
def _stop_all() -> None:
    for capture in list(_running):
        capture.stop()
