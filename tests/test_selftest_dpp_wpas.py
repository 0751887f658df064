"""`onboardcheck run` with the wpa_supplicant DPP profiles (Debian's wpasupplicant 2.10):
the campaign passes its gate, writes the DPP reports, and every test's capture decodes
in tshark's own dpp dissector with no malformed frame.

wpa_supplicant is a real third-party implementation of both roles; where it is absent
the runs are skipped with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.suite_runner import REPO

PROFILES = ["wpa-supplicant-enrollee", "wpa-supplicant-configurator"]
# Deviations of wpa_supplicant 2.10 the suite reports as findings (duts/README.md).
FINDINGS: dict[str, set[str]] = {name: set() for name in PROFILES}


def _need_tools() -> None:
    missing = [t for t in ("wpa_supplicant", "tshark") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the wpa_supplicant DPP campaigns; missing: {missing}")
        pytest.skip(f"not installed: {', '.join(missing)}")


def server_ports(pcap: Path) -> set[int]:
    """The ports the capture's TCP connections were opened to."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
         "-T", "fields", "-e", "tcp.dstport"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return {int(p) for p in out.split()}


def dpp_lines(pcap: Path, display_filter: str) -> list[str]:
    """tshark's one-line summaries of the frames matching `display_filter`, with every
    connection's server port decoded as DPP over TCP."""
    decode = [arg for p in server_ports(pcap) for arg in ("-d", f"tcp.port=={p},dpp")]
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), *decode, "-Y", display_filter],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


# Tests whose tester sends malformed frames on purpose: only those frames, to the DUT's
# listening port, may be malformed there.
GARBAGE_PROBES = ("test_garbage_then_valid",)


def check_captures(out: Path) -> int:
    """Every capture: no malformed frame; returns how many captures held DPP frames."""
    with_dpp = 0
    for pcap in sorted(out.glob("dpp/evidence/*/capture.pcapng")):
        flt = "_ws.malformed || _ws.expert.severity == error"
        if pcap.parent.name.startswith(GARBAGE_PROBES):
            ports = " ".join(str(p) for p in server_ports(pcap))
            flt = f"({flt}) && !(tcp.dstport in {{{ports}}})"
        bad = dpp_lines(pcap, flt)
        assert not bad, f"{pcap}: malformed frames:\n" + "\n".join(bad)
        if dpp_lines(pcap, "dpp.public_action.subtype || dpp.tcp.action_type"):
            with_dpp += 1
    return with_dpp


@pytest.mark.parametrize("name", PROFILES)
def test_wpa_supplicant_campaign(name: str, tmp_path: Path) -> None:
    _need_tools()
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())",
         "run", "--dut", str(REPO / "duts" / f"{name}.yaml"), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    results = [json.loads(line) for line in
               (out / "dpp" / "results.jsonl").read_text().splitlines()]  # fmt: skip
    table = "\n".join(f"{r['verdict']:>14} {r['nodeid']}: {r['reason'][:200]}" for r in results)
    failed = {req for r in results if r["verdict"] == "fail" for req in r["requirements"]}
    assert failed == FINDINGS[name], table
    assert not [r for r in results if r["verdict"] in ("error", "inconclusive")], table
    assert len([r for r in results if r["verdict"] == "pass"]) >= 25, table
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for report in ("report.html", "report.json", "junit.xml"):
        assert (out / "dpp" / report).is_file(), report
    assert check_captures(out) >= 20
    keys = list(out.glob("dpp/evidence/*/dpp-keys-*.json"))
    assert keys and all(json.loads(k.read_text())["steps"] for k in keys)
