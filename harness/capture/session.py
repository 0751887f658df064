"""One test case's capture: live (dumpcap) or transcript (recording relay)."""

from __future__ import annotations

import atexit
import contextlib
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.capture.live import LiveCapture, capture_available
from harness.capture.relay import TcpRelay
from harness.capture.transcript import empty_pcapng, write_transcript
from harness.errors import CaptureError

if TYPE_CHECKING:
    from harness.backends import TestNetwork

log = logging.getLogger(__name__)

MODES = ("auto", "live", "transcript")
PCAP_NAME = "capture.pcapng"

_open_sessions: weakref.WeakSet[CaptureSession] = weakref.WeakSet()


@dataclass(frozen=True)
class CaptureResult:
    pcap: Path
    mode: str  # "live" or "transcript"


class CaptureSession:
    """Capture the TCP traffic of one test case into ``<evidence_dir>/capture.pcapng``.

    ``mode="auto"`` captures live when dumpcap may capture on ``interface``, else
    records through the relay. Traffic must be routed with ``relay()``: in transcript
    mode it returns the port of a recording relay to ``upstream``; in live mode no
    relay is needed and it returns ``upstream``'s own port (which must be one of
    ``ports``, since the capture filter is fixed at ``start()``). Either way, clients
    connect to the returned port, and decoding uses it as the TLS/HTTP port.
    """

    def __init__(self, evidence_dir: Path, name: str, ports: list[int],
                 mode: str = "auto", interface: str = "lo", network: TestNetwork | None = None):
        if mode not in MODES:
            raise CaptureError(f"unknown capture mode {mode!r} (one of {', '.join(MODES)})")
        self.evidence_dir = Path(evidence_dir)
        self.name = name
        self.ports = [int(p) for p in ports]
        self.requested_mode = mode
        self.interface = interface
        # A test network of a real backend is captured where its traffic passes (the
        # bridge, all frames): live only, since no relay reaches into its nodes.
        self.network = network if network is not None and network.backend != "loopback" \
            else None
        if self.network is not None and mode == "transcript":
            raise CaptureError(f"the {self.network.backend} backend captures live only "
                               "(no --capture transcript)")  # fmt: skip
        self.pcap = self.evidence_dir / PCAP_NAME
        self._mode: str | None = None if mode == "auto" else mode
        self._live: LiveCapture | None = None
        self._relay: TcpRelay | None = None
        self._result: CaptureResult | None = None
        self._started = False
        _open_sessions.add(self)

    @property
    def mode(self) -> str:
        """The mode in effect ("live" or "transcript"), decided on first use."""
        if self._mode is None:
            live = self.network is not None or capture_available(self.interface)
            self._mode = "live" if live else "transcript"
        return self._mode

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._result = None
        if self.mode != "live":
            return
        if self.network is not None:
            self._live = self.network.capture(self.pcap)
            return
        # Sentinels can only prove what a loopback capture holds.
        sync = "sentinel" if self.interface == "lo" else "settle"
        live = LiveCapture(self.pcap, self.ports, self.interface, sync=sync)
        try:
            live.start()
        except CaptureError as exc:
            if self.requested_mode == "live":
                raise
            # The probe said yes but dumpcap failed: record through the relay instead.
            log.warning("%s: live capture failed, using transcript mode: %s", self.name, exc)
            self._mode = "transcript"
            return
        self._live = live

    def relay(self, upstream: tuple[str, int]) -> int:
        """The port clients must connect to so that their traffic to ``upstream`` is captured."""
        if self.mode == "live":
            if int(upstream[1]) not in self.ports:
                raise CaptureError(f"{self.name}: port {upstream[1]} is not among the captured "
                                   f"ports {self.ports}")
            return int(upstream[1])
        if self._result is not None:
            raise CaptureError(f"{self.name}: relay() after stop()")
        if self._relay is None:
            self._relay = TcpRelay()
        return self._relay.add(upstream)

    def stop(self) -> CaptureResult:
        """End the capture and return its file; idempotent, safe after a failed start."""
        if self._result is not None:
            return self._result
        mode = self.mode if self._started or self._relay else (self._mode or "transcript")
        try:
            if self._live is not None:
                live, self._live = self._live, None
                live.stop()
            if self._relay is not None:
                relay, self._relay = self._relay, None
                write_transcript(relay.stop(), self.pcap)
                if relay.error is not None:
                    log.warning("%s: relay failed: %r", self.name, relay.error)
        finally:
            self._started = False
            if not self.pcap.exists() or self.pcap.stat().st_size == 0:
                self.pcap.parent.mkdir(parents=True, exist_ok=True)
                self.pcap.write_bytes(empty_pcapng())
        self._result = CaptureResult(pcap=self.pcap, mode=mode)
        return self._result

    def __enter__(self) -> CaptureSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        # A forgotten session must not leave dumpcap running or the relay listening.
        if getattr(self, "_live", None) is not None or getattr(self, "_relay", None) is not None:
            with contextlib.suppress(Exception):
                self.stop()


@atexit.register
def _stop_open_sessions() -> None:
    for session in list(_open_sessions):
        if session._live is None and session._relay is None:
            continue
        with contextlib.suppress(Exception):
            session.stop()
