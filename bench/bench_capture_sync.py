"""What a live loopback capture's start and stop cost: settle times against sentinels.

Both ways run in this one process, alternating: ``LiveCapture.start()``, a few
short TCP exchanges on loopback, ``LiveCapture.stop()``. The time of start() plus
stop() is what every live test case pays; each capture is also checked to hold
every exchange (a faster sync that lost packets would be worthless).

    python bench/bench_capture_sync.py [--runs 10] [--exchanges 5]

Needs the right to capture on lo (root or CAP_NET_RAW). Results go to
bench/results/capture_sync.json. Runs are bounded (at most 50).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from harness.capture.live import LiveCapture, capture_available

RESULTS = Path(__file__).parent / "results" / "capture_sync.json"
SYNCS = ("settle", "sentinel")


def _echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0), backlog=64)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"reply:" + conn.recv(64))

    threading.Thread(target=serve, daemon=True).start()
    return server


def one_capture(pcap: Path, port: int, sync: str, exchanges: int) -> float:
    """Seconds spent in start() and stop(); raises if an exchange is missing."""
    live = LiveCapture(pcap, [port], sync=sync)
    started = time.perf_counter()
    live.start()
    overhead = time.perf_counter() - started
    for index in range(exchanges):
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"bench-%03d" % index)
            conn.recv(64)
    stopping = time.perf_counter()
    live.stop()
    overhead += time.perf_counter() - stopping
    data = pcap.read_bytes()
    lost = [i for i in range(exchanges) if b"reply:bench-%03d" % i not in data]
    if lost:
        raise SystemExit(f"{sync}: exchanges {lost} missing from {pcap}")
    return overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--exchanges", type=int, default=5)
    args = parser.parse_args()
    runs = max(1, min(args.runs, 50))
    exchanges = max(1, min(args.exchanges, 200))
    if not capture_available():
        raise SystemExit("dumpcap cannot capture on lo here (needs root or CAP_NET_RAW)")
    server = _echo_server()
    port = server.getsockname()[1]
    times: dict[str, list[float]] = {sync: [] for sync in SYNCS}
    try:
        with tempfile.TemporaryDirectory(prefix="onboardcheck-bench-") as tmp:
            for run in range(runs):
                for sync in SYNCS:
                    pcap = Path(tmp) / f"{sync}-{run}.pcapng"
                    times[sync].append(one_capture(pcap, port, sync, exchanges))
    finally:
        server.close()
    medians = {sync: statistics.median(values) for sync, values in times.items()}
    result = {
        "runs": runs,
        "exchanges": exchanges,
        "median_start_stop_s": medians,
        "ratio_sentinel_over_settle": medians["sentinel"] / medians["settle"],
        "samples_s": times,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for sync in SYNCS:
        print(f"{sync:9} start+stop median {medians[sync]:.3f} s over {runs} captures")
    print(f"sentinel/settle: {result['ratio_sentinel_over_settle']:.3f}  (no exchange lost)")


if __name__ == "__main__":
    main()
