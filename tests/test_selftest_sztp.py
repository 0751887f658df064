"""The SZTP bootstrap-server suite judged against known implementations: the reference
passes everything it claims; each mutant fails exactly the requirements it was built to
break; sztpd (a third-party bootstrap server) fails exactly its known findings, through
`onboardcheck run --dut duts/sztpd.yaml` as a user would run it, and gives the same
verdicts off loopback: in its container (onboardcheck/dut-sztpd) on the docker backend
and in the DUT's namespace on netns, for a few requirements (those backends need root and,
for docker, a daemon: skipped elsewhere, failed under CI=true).

Mutants run the tests of the requirements they break (`--requirement`);
ONBOARDCHECK_FULL_MUTANT_RUNS=1 runs the whole suite against each and also checks that
nothing else fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.capture.audit import TEST_RANGES, foreign_frames, within
from harness.dut import load_profile
from harness.protocols.sztp.mutants import MUTANTS
from tests.suite_runner import REPO, SuiteRun, decrypted_requests, run_mutant, run_suite
from tests.test_selftest_backends import backend_usable

DUT = "builtin:sztp/bootstrap-server"
SZTPD_VENV = REPO / ".venv-sztpd"
SZTPD_PROFILE = REPO / "duts" / "sztpd.yaml"
OPT_OUT = 'SZTPD_ACCEPT_CONTRACT: "No"'

# sztpd 0.0.46: (test, requirement) -> a phrase of the failing verdict's reason. The
# answers behind them are in docs/sztp.md and docs/sztpd.md.
FINDINGS = {
    # 500 text/plain ("Server got itself in trouble") for a nonce of 8 octets
    ("test_short_nonce_400", "RFC8040-7-MUST-01"): "got get-bootstrapping-data: 500",
    # 500 text/plain for a progress-type outside the enumeration
    ("test_unknown_progress_type_400", "RFC8040-7-MUST-01"): "got report-progress: 500",
    # signed-data-preferred is ignored: 200 with unsigned onboarding information
    ("test_signed_data_preferred_honoured", "RFC8572-7.3-MUST-01"):
        "signed-data-preferred answered with unsigned OnboardingInformation",
    ("test_no_unsigned_onboarding_when_signed_preferred", "RFC8572-7.3-MUST-NOT-01"):
        "answered with unsigned onboarding information",
}  # fmt: skip
# Requirements of the signed-data ICS option sztpd does not claim (it cannot serve
# signed conveyed information).
SZTPD_NOT_APPLICABLE = {"test_owner_certificate_with_voucher", "test_owner_certificate_signed_it",
                        "test_ownership_voucher"}  # fmt: skip


def test_reference_passes(tmp_path: Path) -> None:
    run = run_suite("sztp", DUT, tmp_path / "reference")
    assert len(run.results) >= 20, run.output
    bad = {n: v for n, v in run.verdicts().items() if v != "pass"}
    assert not bad, run.table()
    assert run.returncode == 0, run.output


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_exactly_its_requirements(name: str, tmp_path: Path) -> None:
    breaks = set(MUTANTS[name].breaks)
    run_mutant("sztp", f"{DUT}:{name}", tmp_path / name, breaks)


def _sztpd_installed() -> None:
    if (SZTPD_VENV / "bin" / "sztpd").exists():
        return
    if os.environ.get("CI") == "true":  # CI installs it (scripts/setup)
        pytest.fail("CI must test sztpd: .venv-sztpd is missing (scripts/install-sztpd)",
                    pytrace=False)
    pytest.skip("sztpd is not installed (scripts/install-sztpd makes .venv-sztpd)")


def _accepting_profile(folder: Path) -> Path:
    """duts/sztpd.yaml with the licence accepted: the test accepts sztpd's
    non-production contract for its own run only; the shipped profile never does."""
    text = SZTPD_PROFILE.read_text(encoding="utf-8")
    assert text.count(OPT_OUT) == 1, "duts/sztpd.yaml no longer has the opt-in line"
    text = text.replace(OPT_OUT, 'SZTPD_ACCEPT_CONTRACT: "Yes"')
    text = text.replace("cwd: sztpd\n", f"cwd: {SZTPD_PROFILE.parent / 'sztpd'}\n")
    text = text.replace("dockerfile: ../", f"dockerfile: {REPO}/")
    text = text.replace("context: ..\n", f"context: {REPO}\n")
    path = folder / "sztpd-accepted.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sztpd_profile_does_not_accept_the_licence() -> None:
    text = SZTPD_PROFILE.read_text(encoding="utf-8")
    assert OPT_OUT in text and "SZTPD_ACCEPT_CONTRACT: \"Yes\"" not in text
    # one opt-in for both adapters: the container section takes the process section's
    control = load_profile(SZTPD_PROFILE).control
    assert control.process is not None and control.container is not None
    assert control.container.env == control.process.env == {"SZTPD_ACCEPT_CONTRACT": "No"}
    dockerfile = (REPO / "containers" / "duts" / "sztpd" / "Dockerfile").read_text()
    assert not [
        line for line in dockerfile.splitlines()
        if not line.startswith("#") and "SZTPD_ACCEPT_CONTRACT" in line
    ], "the image must not accept sztpd's licence"  # fmt: skip


def test_sztpd(tmp_path: Path) -> None:
    _sztpd_installed()
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--dut",
           str(_accepting_profile(tmp_path)), "--out", str(out)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    output = proc.stdout[-6000:] + proc.stderr[-4000:]
    folder = out / "sztp"
    results = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    table = "\n".join(f"{r['verdict']:>14} {r['name']}: {r['reason'][:200]}" for r in results)
    assert len(results) >= 20, output
    failed = {(r["name"], req): r["reason"] for r in results if r["verdict"] == "fail"
              for req in r["requirements"]}  # fmt: skip
    assert set(failed) == set(FINDINGS), table
    for key, phrase in FINDINGS.items():
        assert phrase in failed[key], f"{key}: {failed[key]}"
    rest = {r["name"]: r["verdict"] for r in results if r["verdict"] != "fail"}
    assert {n for n, v in rest.items() if v == "not_applicable"} == SZTPD_NOT_APPLICABLE, table
    assert all(v in ("pass", "not_applicable") for v in rest.values()), table
    assert proc.returncode != 0, "failed MUSTs must fail the gate"
    for name in ("report.html", "report.json", "results.jsonl", "junit.xml"):
        assert (folder / name).stat().st_size > 0, name
    captures = sorted(folder.glob("evidence/*/capture.pcapng"))
    assert len(captures) >= len(results) - len(SZTPD_NOT_APPLICABLE), captures
    for capture in captures:
        assert capture.stat().st_size > 0, capture
        assert (capture.parent / "tls.keylog").stat().st_size > 0, capture.parent


# One test of each kind of exchange (authentication refused, conveyed information, bad
# input): on loopback sztpd passes the first two and fails RFC8040-7-MUST-01 (FINDINGS).
OFF_LOOPBACK = ["RFC8040-2.5-MUST-01", "RFC8572-3.1-MUST-01", "RFC8040-7-MUST-01"]
SZTPD_IMAGE = "onboardcheck/dut-sztpd"


def _run_sztpd(folder: Path, profile: Path, *extra: str) -> SuiteRun:
    only = [arg for req in OFF_LOOPBACK for arg in ("--requirement", req)]
    return run_suite("sztp", str(profile), folder, *only, *extra)


def _check_capture(run: SuiteRun, backend: str) -> None:
    """Decrypted RESTCONF requests from the peer node to the DUT node, nothing else
    outside the test ranges."""
    network = json.loads(next((run.out / "backend").glob("network-*.json")).read_text())
    assert network["backend"] == backend
    peer, dut = network["nodes"]["peer"]["ipv4"], network["nodes"]["dut"]["ipv4"]
    assert all(within(a, TEST_RANGES) and not a.startswith("127.") for a in (peer, dut))
    if backend == "docker":
        assert network["nodes"]["dut"]["image"] == SZTPD_IMAGE, network
    pcaps = sorted((run.out / "sztp" / "evidence").rglob("capture.pcapng"))
    assert len(pcaps) == len(run.results), pcaps
    foreign = [line for pcap in pcaps for line in foreign_frames(pcap)]
    assert not foreign, "\n".join(foreign[:20])
    folder = run.out / "sztp" / "evidence" / "test_conveyed_information_content_type"
    rows = decrypted_requests(folder / "capture.pcapng", "frame.protocols", "ip.src", "ip.dst",
                              "http.request.uri")  # fmt: skip
    for protocols, src, dst, uri in rows:
        assert protocols.startswith("eth:"), protocols  # the bridge's frames, not lo
        assert (src, dst) == (peer, dut), (src, dst, peer, dut)
        assert uri.endswith(":get-bootstrapping-data"), uri


@pytest.mark.parametrize("backend", ["docker", "netns"])
def test_sztpd_same_verdicts_off_loopback(backend: str, tmp_path: Path) -> None:
    _sztpd_installed()
    backend_usable(backend)
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: the capture cannot be decrypted")
    profile = _accepting_profile(tmp_path)
    loopback = _run_sztpd(tmp_path / "loopback", profile)
    assert len(loopback.results) >= len(OFF_LOOPBACK), loopback.output
    failed = {(r["name"], req) for r in loopback.results if r["verdict"] == "fail"
              for req in r["requirements"]}  # fmt: skip
    assert failed and failed <= set(FINDINGS), loopback.table()
    assert "RFC8572-3.1-MUST-01" in loopback.requirements_with("pass"), loopback.table()

    run = _run_sztpd(tmp_path / backend, profile, "--backend", backend)
    by_name = {r["name"]: r["verdict"] for r in run.results}
    assert by_name == {r["name"]: r["verdict"] for r in loopback.results}, run.table()
    assert run.returncode == loopback.returncode != 0, run.output
    report = json.loads((run.out / "sztp" / "report.json").read_text())
    adapter = "container" if backend == "docker" else "process"
    assert report["campaign"]["backend"] == backend
    assert report["campaign"]["dut"]["adapter"] == adapter, report["campaign"]["dut"]
    _check_capture(run, backend)
