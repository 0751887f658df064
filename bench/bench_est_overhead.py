"""Harness overhead per EST test case against the bare exchange, as a ratio.

Both sides run in this one process, back to back, on loopback:
  bare     the reference EST client enrolls against the EST server peer;
  harness  the same enrollment through the client-role testbed: capture (live or
           transcript), the DUT control adapter, tshark decoding and the cursor check.
The ratio harness/bare is what a test case costs over the protocol exchange itself.

    python bench/bench_est_overhead.py [--runs 10] [--capture auto|live|transcript]

Results go to bench/results/est_overhead.json. Runs are bounded (at most 50).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from harness.control.builtin import BuiltinEstController
from harness.evidence import EvidenceDir
from harness.protocols.est.mutants import make_server
from harness.protocols.est.params import EstClientParams
from harness.protocols.est.reference_client import run_action
from harness.protocols.est.server import EstServerConfig
from harness.protocols.est.testbed import ClientDutBed, EstPkiSet

RESULTS = Path(__file__).parent / "results" / "est_overhead.json"


def bare(pki: EstPkiSet, work: Path) -> float:
    started = time.perf_counter()
    config = EstServerConfig(credential=pki.server, ca=pki.ca,
                             client_trust=[pki.manufacturer.cert, pki.ca.cert])  # fmt: skip
    server = make_server(config)
    server.start()
    try:
        state = work / "state"
        state.mkdir(parents=True, exist_ok=True)
        params = EstClientParams(
            est_url=server.base_url,
            state_dir=state,
            trust_anchors=pki.files["root"].cert,
            client_cert=pki.files["idevid"].bundle,
            client_key=pki.files["idevid"].key,
        )
        outcome = run_action("enroll", params)
        if outcome.returncode != 0:
            raise SystemExit(f"bare enroll failed: {outcome.stderr}")
    finally:
        server.stop()
    return time.perf_counter() - started


def harnessed(pki: EstPkiSet, work: Path, capture: str) -> float:
    started = time.perf_counter()
    evidence = EvidenceDir(work / "evidence")
    bed = ClientDutBed(BuiltinEstController(["client"], None), pki, evidence, str, capture)
    try:
        bed.serve()
        result = bed.run("enroll")
        if not result.ok:
            raise SystemExit(f"harnessed enroll failed: {result.stderr}")
        bed.wire().expect_next({"http.request.method": "POST"}, "bench", "the CSR POST")
    finally:
        bed.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--capture", default="auto", choices=("auto", "live", "transcript"))
    args = parser.parse_args()
    runs = max(1, min(args.runs, 50))
    with tempfile.TemporaryDirectory(prefix="onboardcheck-bench-") as tmp:
        root = Path(tmp)
        pki = EstPkiSet.create(root / "pki")
        bare(pki, root / "warm")  # first-run costs (imports, TLS setup) out of the figures
        b = [bare(pki, root / f"b{i}") for i in range(runs)]
        h = [harnessed(pki, root / f"h{i}", args.capture) for i in range(runs)]
    result = {
        "runs": runs,
        "capture": args.capture,
        "bare_median_s": round(statistics.median(b), 4),
        "harness_median_s": round(statistics.median(h), 4),
        "ratio_harness_over_bare": round(statistics.median(h) / statistics.median(b), 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
