"""`onboardcheck run` with the wpa_supplicant and hostapd DPP profiles (Debian's
wpasupplicant and hostapd 2.10): the campaign passes its gate, writes the DPP reports,
and every test's capture decodes in tshark's own dpp dissector with no malformed frame.
Under the docker backend the same profiles run the daemon in its own image (container
adapter) for a selection of requirements covering both directions of authentication
and the configuration.

wpa_supplicant and hostapd are real third-party implementations of both roles; where
they are absent the runs are skipped with the reason, except under CI=true, where that
is a failure.
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

PROFILES = ["wpa-supplicant-enrollee", "wpa-supplicant-configurator", "hostapd-enrollee",
            "hostapd-configurator"]
# Deviations of wpa_supplicant and hostapd 2.10 the suite reports as findings
# (duts/README.md).
FINDINGS: dict[str, set[str]] = {name: set() for name in PROFILES}


def run_campaign(name: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())",
         "run", "--dut", str(REPO / "duts" / f"{name}.yaml"), "--out", str(out), *args],
        cwd=REPO, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def results_of(out: Path) -> tuple[list[dict[str, object]], str]:
    """The campaign's results, and a table of them for assertion messages."""
    results = [json.loads(line) for line in
               (out / "dpp" / "results.jsonl").read_text().splitlines()]  # fmt: skip
    table = "\n".join(f"{r['verdict']:>14} {r['nodeid']}: {r['reason'][:200]}" for r in results)
    return results, table


def _need_tools() -> None:
    missing = [t for t in ("wpa_supplicant", "hostapd", "tshark") if shutil.which(t) is None]
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
    proc = run_campaign(name, out)
    results, table = results_of(out)
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


# Under docker: the DUT as initiator and as responder, and what it was configured with
# (enrollee) or what it configured (configurator). The whole suite runs on loopback above.
IN_CONTAINER = {
    "wpa-supplicant-enrollee": ["DPP-6.3.2-MUST-01", "DPP-6.3.3-MUST-02", "DPP-6.4.3-MUST-04"],
    "wpa-supplicant-configurator": ["DPP-6.3.2-MUST-01", "DPP-6.3.3-MUST-02",
                                    "DPP-6.4.3-MUST-06"],
    "hostapd-enrollee": ["DPP-6.3.3-MUST-02", "DPP-6.4.3-MUST-04"],
    "hostapd-configurator": ["DPP-6.3.2-MUST-01", "DPP-6.4.3-MUST-06"],
}


@pytest.mark.parametrize("name", PROFILES)
def test_wpa_supplicant_in_container(name: str, tmp_path: Path) -> None:
    from tests.test_selftest_backends import backend_usable

    _need_tools()
    backend_usable("docker")
    out = tmp_path / name
    selection = [arg for req in IN_CONTAINER[name] for arg in ("-r", req)]
    proc = run_campaign(name, out, "--backend", "docker", *selection)
    results, table = results_of(out)
    assert {req for r in results for req in r["requirements"]} >= set(IN_CONTAINER[name]), table
    assert all(r["verdict"] == "pass" for r in results), table
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    campaign = json.loads((out / "dpp" / "campaign.json").read_text())
    assert campaign["backend"] == "docker"
    assert campaign["dut"]["adapter"] == "container"
    network = json.loads(next((out / "backend").glob("network-*.json")).read_text())
    assert network["nodes"]["dut"]["image"] == "onboardcheck/dut-hostap"
    # the DPP frames went between the DUT's container and the peer's, nowhere else
    addresses = {n["ipv4"] for n in network["nodes"].values()}
    assert check_captures(out) == len(results)
    for pcap in out.glob("dpp/evidence/*/capture.pcapng"):
        for line in dpp_lines(pcap, "dpp.tcp.action_type"):
            assert any(a in line for a in addresses), line
