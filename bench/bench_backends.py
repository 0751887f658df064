"""Test-network overhead per backend, as ratios against loopback in the same process.

One cycle, per backend: open a test network with roles peer and dut; one TCP
connection peer -> dut through Node.socket() (listen on the dut's IPv4, connect from
the peer, accept); start a capture with TestNetwork.capture() and stop it; close the
network. Backends take turns cycle by cycle, so machine noise falls on all of them.

    python bench/bench_backends.py [--cycles 20] [--backend loopback --backend netns ...]

Backends: loopback always; netns when root; docker when the harness has it and it
works here (otherwise reported as "unavailable: <reason>"). Cycles are bounded (1-200).
Results go to bench/results/backends.json and stdout: per-phase medians (ms) and the
ratio of each median to loopback's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.backends import Backend, TestNetwork, get_backend
from harness.errors import OnboardcheckError

RESULTS = Path(__file__).parent / "results" / "backends.json"
PHASES = ("open", "connect", "capture_start", "capture_stop", "close")
ROLES = ["peer", "dut"]
MAX_CYCLES = 200
CONNECT_TIMEOUT = 10.0


def available(name: str) -> tuple[Backend | None, str]:
    """The backend and "ok", or None and why it cannot be measured here."""
    if name == "netns" and os.geteuid() != 0:
        return None, "unavailable: needs root"
    try:
        backend = get_backend(name)
    except OnboardcheckError as exc:
        return None, f"unavailable: {exc}"
    return backend, "ok"


def connect_once(net: TestNetwork) -> None:
    """One TCP connection from the peer node to the dut node, accepted."""
    dut, peer = net.node("dut"), net.node("peer")
    with dut.socket(socket.AF_INET) as listener, peer.socket(socket.AF_INET) as client:
        listener.bind((dut.ipv4, 0))
        listener.listen(1)
        listener.settimeout(CONNECT_TIMEOUT)
        client.settimeout(CONNECT_TIMEOUT)
        client.connect((dut.ipv4, listener.getsockname()[1]))
        accepted, _ = listener.accept()
        accepted.close()


def cycle(backend: Backend, work: Path) -> dict[str, float]:
    """One measured cycle: seconds per phase. Raises what the backend raises."""
    times: dict[str, float] = {}
    campaign = "b" + secrets.token_hex(3)
    clock = time.perf_counter
    start = clock()
    net = backend.open(campaign, ROLES)
    try:
        times["open"] = clock() - start
        start = clock()
        connect_once(net)
        times["connect"] = clock() - start
        start = clock()
        live = net.capture(work / f"{backend.name}-{campaign}.pcapng")
        times["capture_start"] = clock() - start
        start = clock()
        live.stop()
        times["capture_stop"] = clock() - start
    finally:
        start = clock()
        net.close()
        times["close"] = clock() - start
    return times


def median_ms(samples: list[dict[str, float]]) -> dict[str, float]:
    return {p: round(statistics.median(s[p] for s in samples) * 1000, 3) for p in PHASES}


def run(names: list[str], cycles: int, say: Callable[[str], None]) -> dict[str, object]:
    status: dict[str, str] = {}
    backends: dict[str, Backend] = {}
    for name in dict.fromkeys(["loopback", *names]):  # loopback is the baseline, always
        backend, status[name] = available(name)
        if backend is not None:
            backends[name] = backend
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory(prefix="onboardcheck-bench-") as tmp:
        for i in range(cycles):
            for name, backend in list(backends.items()):
                try:
                    samples[name].append(cycle(backend, Path(tmp)))
                except Exception as exc:  # a backend under way may raise its own errors
                    # first cycle: the backend cannot work here; later: it broke
                    reason = str(exc) if isinstance(exc, OnboardcheckError) else repr(exc)
                    status[name] = f"{'unavailable' if i == 0 else 'failed'}: {reason}"
                    del backends[name]
            say(f"cycle {i + 1}/{cycles}")
    found: dict[str, object] = {}
    base = median_ms(samples["loopback"]) if samples.get("loopback") else None
    for name, state in status.items():
        if state != "ok" or not samples.get(name):
            found[name] = {"status": state}
            continue
        medians = median_ms(samples[name])
        entry: dict[str, object] = {"status": "ok", "cycles": len(samples[name])}
        entry["median_ms"] = medians
        entry["median_cycle_ms"] = round(
            statistics.median(sum(s.values()) for s in samples[name]) * 1000, 3
        )
        if base is not None:
            entry["ratio_to_loopback"] = {
                p: round(medians[p] / base[p], 2) if base[p] else None for p in PHASES
            }
        found[name] = entry
    return found


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "root": os.geteuid() == 0,
    }


def table(results: dict[str, object]) -> str:
    head = f"{'backend':<10}" + "".join(f"{p:>19}" for p in PHASES) + f"{'cycle':>12}"
    lines = [head]
    for name, entry in results.items():
        assert isinstance(entry, dict)
        if entry["status"] != "ok":
            lines.append(f"{name:<10}{entry['status']}")
            continue
        med, ratio = entry["median_ms"], entry.get("ratio_to_loopback", {})
        cells = "".join(f"{med[p]:>9.2f} ms{_x(ratio.get(p)):>7}" for p in PHASES)
        lines.append(f"{name:<10}{cells}{entry['median_cycle_ms']:>9.1f} ms")
    return "\n".join(lines)


def _x(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f" x{ratio:.0f}" if ratio >= 100 else f" x{ratio:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", "-n", type=int, default=20, help="cycles per backend")
    parser.add_argument(
        "--backend",
        action="append",
        help="backends to measure besides loopback (default: netns, docker)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cycles = max(1, min(args.cycles, MAX_CYCLES))
    names = args.backend or ["netns", "docker"]
    results = run(names, cycles, lambda text: print(text, file=sys.stderr, end="\r"))
    print(file=sys.stderr)
    report = {"cycles": cycles, "phases": list(PHASES), "machine": machine(), **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
