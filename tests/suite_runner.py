"""Runs a conformance suite in a child pytest, as `onboardcheck run` would, and reads
back its verdicts: the harness's self-tests judge the suites with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class SuiteRun:
    returncode: int
    output: str
    results: list[dict]
    out: Path

    def verdicts(self) -> dict[str, str]:
        return {r["nodeid"]: r["verdict"] for r in self.results}

    def requirements_with(self, verdict: str) -> set[str]:
        return {req for r in self.results if r["verdict"] == verdict for req in r["requirements"]}

    def table(self) -> str:
        return "\n".join(
            f"{r['verdict']:>14}  {r['nodeid']}: {r['reason'][:160]}" for r in self.results
        )


def run_suite(protocol: str, dut: str, out: Path, *extra: str, timeout: float = 900) -> SuiteRun:
    cmd = [
        sys.executable, "-m", "pytest", str(REPO / "suites" / protocol), "-q",
        "-p", "no:cacheprovider", "--rootdir", str(REPO), "--dut", dut, "--out", str(out),
        *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    path = out / protocol / "results.jsonl"
    results = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return SuiteRun(proc.returncode, proc.stdout[-6000:] + proc.stderr[-4000:], results, out)


def full_mutant_runs() -> bool:
    """ONBOARDCHECK_FULL_MUTANT_RUNS=1: each mutant runs its whole suite (which also shows
    it fails nothing else), not only the tests of the requirements it breaks."""
    return os.environ.get("ONBOARDCHECK_FULL_MUTANT_RUNS") == "1"


def run_mutant(protocol: str, dut: str, out: Path, breaks: set[str], *extra: str) -> SuiteRun:
    """Run the mutant `dut` and check that it fails exactly the requirements in `breaks`,
    with no harness error, and that a failed MUST fails the gate (a SHOULD fails none)."""
    only = [] if full_mutant_runs() else [a for r in sorted(breaks) for a in ("--requirement", r)]
    run = run_suite(protocol, dut, out, *extra, *only)
    assert run.results, run.output
    if only:  # --requirement kept only the tests bound to the requirements named
        assert all(set(r["requirements"]) & breaks for r in run.results), run.table()
    failed = run.requirements_with("fail")
    assert failed == breaks, f"expected exactly {sorted(breaks)} to fail\n{run.table()}"
    assert not run.requirements_with("error"), run.table()
    if any("-MUST-" in req for req in breaks):
        assert run.returncode != 0, "a failed MUST must fail the gate"
    return run


def decrypted_requests(pcap: Path, *fields: str) -> list[list[str]]:
    """`fields` of every HTTP request tshark decrypts in `pcap` with the `tls.keylog`
    beside it (frame.protocols, ip.src, ip.dst, ...); at least one request."""
    args = [a for f in fields for a in ("-e", f)]
    proc = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", f"tls.keylog_file:{pcap.parent / 'tls.keylog'}",
         "-Y", "http.request", "-T", "fields", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line]
    assert rows, f"no decrypted HTTP request in {pcap}: {proc.stderr}"
    return rows


def check_hostile_run(run: SuiteRun, protocol: str) -> None:
    """A run against a hostile DUT: verdicts only, each fail or inconclusive naming a
    requirement and a reason; no error, no traceback, no pass; the gate fails."""
    assert run.results, run.output
    junit = run.out / protocol / "junit.xml"
    for text in (run.output, junit.read_text() if junit.exists() else ""):
        assert "Traceback" not in text, text[-8000:]
    verdicts = run.verdicts()
    assert "error" not in verdicts.values(), run.table()
    unearned = [n for n, v in verdicts.items() if v == "pass"]
    assert not unearned, f"passes against a hostile DUT: {unearned}\n{run.table()}"
    judged = [r for r in run.results if r["verdict"] in ("fail", "inconclusive")]
    assert judged, run.table()
    for r in judged:
        assert r["requirements"], f"{r['nodeid']}: no requirement named"
        assert r["reason"].strip(), f"{r['nodeid']}: no reason"
    assert run.returncode == 1, f"exit {run.returncode} (1: the gate failed)\n{run.output}"
