"""Live capture on loopback with dumpcap.

dumpcap reports "Capturing on ..." before it has opened the interface, and on
SIGINT it drops what still sits in the kernel's packet ring (libpcap hands
packets over in blocks, with a timeout). Measured on loopback: packets are lost
up to ~20 ms after the message and ~100-150 ms before the signal.
``START_SETTLE`` and ``STOP_SETTLE`` wait several times that, so the first and
last packets of a test are kept.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from harness.errors import CaptureError

START_TIMEOUT = 10.0
START_SETTLE = 0.15
STOP_SETTLE = 0.4
STOP_TIMEOUT = 5.0

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
    signals of ``stop()`` reach dumpcap itself).
    """

    def __init__(self, pcap: Path, ports: Sequence[int], interface: str = "lo", *,
                 capture_filter: str | None = None, prefix: Sequence[str] = ()):
        self.pcap = pcap
        self.ports = list(ports)
        self.interface = interface
        self.capture_filter = capture_filter
        self.prefix = list(prefix)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: list[str] = []

    def start(self) -> None:
        binary = dumpcap_binary()
        if binary is None:
            raise CaptureError("dumpcap is not installed (Debian package 'wireshark-common')")
        if self.capture_filter is None and not self.ports:
            raise CaptureError("live capture needs at least one TCP port to filter on")
        self.pcap.parent.mkdir(parents=True, exist_ok=True)
        bpf = bpf_filter(self.ports) if self.capture_filter is None else self.capture_filter
        argv = [*self.prefix, binary, "-i", self.interface,
                *(["-f", bpf] if bpf else []), "-w", str(self.pcap), "-q"]
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True,  # no terminal ^C to it
            )
        except OSError as exc:
            raise CaptureError(f"cannot run dumpcap: {exc}") from exc
        _running.add(self)
        ready = threading.Event()
        reader = threading.Thread(target=self._drain_stderr, args=(ready,), daemon=True)
        reader.start()
        ready.wait(START_TIMEOUT)
        # dumpcap prints "Capturing on" before it opens the interface: give it time to
        # open it (or to fail, e.g. for a missing interface) before trusting it.
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
        if self.pcap.exists():
            os.chmod(self.pcap, 0o644)  # dumpcap writes 0600; evidence is for everyone

    @property
    def diagnostics(self) -> str:
        return "\n".join(self._stderr)


@atexit.register
def _stop_all() -> None:
    for capture in list(_running):
        capture.stop()
