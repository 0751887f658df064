"""The DPP suite judged against the reference device and each of its mutants: the
reference passes everything it claims; each mutant fails exactly the requirements it
was built to break (subprocess runs of the suite, as `onboardcheck run` would)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.protocols.dpp.mutants import MUTANTS
from tests.suite_runner import REPO, run_mutant, run_suite


@pytest.mark.parametrize("role", ["enrollee", "configurator"])
def test_reference_passes(role: str, tmp_path: Path) -> None:
    run = run_suite("dpp", f"builtin:dpp/{role}", tmp_path / role)
    assert run.results, run.output
    bad = {n: v for n, v in run.verdicts().items() if v != "pass"}
    assert not bad, run.table()
    assert run.returncode == 0, run.output


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_what_it_breaks(name: str, tmp_path: Path) -> None:
    """Each requirement test fails on the mutant built to break it. The run is limited to
    the tests of those requirements (`--requirement`); ONBOARDCHECK_FULL_MUTANT_RUNS=1
    runs the whole suite and also checks that nothing else fails (each mutant was
    shown to fail exactly its claim that way)."""
    mutant = MUTANTS[name]
    run_mutant("dpp", f"builtin:dpp/{mutant.role}:{name}", tmp_path / name,
               set(mutant.breaks))  # fmt: skip


AIR_PROFILE = REPO / "tests" / "fixtures" / "profiles" / "dpp-reference-80211.yaml"


def _tshark(pcap: Path, display_filter: str) -> list[str]:
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", display_filter],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_reference_on_80211_medium(tmp_path: Path) -> None:
    """The suite over the virtual 802.11 medium (a DUT claiming DPP-80211 and not
    DPP-TCP): the reference passes, and every capture is radiotap + 802.11 that tshark
    decodes as DPP public action and GAS frames, none malformed."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    run = run_suite("dpp", str(AIR_PROFILE), tmp_path / "air")
    assert run.results, run.output
    bad = {n: v for n, v in run.verdicts().items() if v not in ("pass", "not_applicable")}
    assert not bad, run.table()
    not_applicable = {n for n, v in run.verdicts().items() if v == "not_applicable"}
    assert all("test_tcp_framing" in n for n in not_applicable), not_applicable
    assert run.returncode == 0, run.output
    pcaps = sorted((tmp_path / "air").glob("dpp/evidence/*/capture.pcapng"))
    assert len(pcaps) >= 25
    for pcap in pcaps:
        frames = _tshark(pcap, "frame")
        if not frames:
            continue
        assert len(_tshark(pcap, "radiotap && wlan.fc.type_subtype == 0x000d")) == len(frames)
        garbage = "test_garbage_then_valid" in pcap.parent.name
        malformed = _tshark(pcap, "_ws.malformed" + (" && wlan.sa != 02:0b:c0:00:00:01"
                                                    if garbage else ""))  # fmt: skip
        assert not malformed, f"{pcap}: {malformed}"
        assert _tshark(pcap, "dpp.public_action.subtype || wlan.fixed.publicact == 0x0a"), pcap
