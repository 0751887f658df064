"""The pytest plugin on a small throw-away suite: markers, verdicts, results, gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CATALOGUE = """\
protocol: demo
specs:
  RFC0000: {title: "Demo", url: "https://example.invalid"}
requirements:
  - {id: RFC0000-1-MUST-01, spec: RFC0000, section: "1", level: MUST, role: device,
     title: must one, quote: "The device MUST do one.", observable: wire, phase: operation}
  - {id: RFC0000-2-SHOULD-01, spec: RFC0000, section: "2", level: SHOULD, role: device,
     title: should two, quote: "The device SHOULD do two.", observable: wire, phase: operation}
  - {id: RFC0000-3-MAY-01, spec: RFC0000, section: "3", level: MAY, role: device,
     title: may three, quote: "The device MAY do three.", observable: wire, phase: operation,
     ics: [DEMO-THREE]}
"""
ICS = """\
protocol: demo
options:
  - {id: DEMO-THREE, question: "Does it do three?", type: bool, default: false}
"""
HEADER = """\
import pytest
from harness.verdicts import fail, inconclusive

pytestmark = pytest.mark.dut_role("demo", "device")
"""


def make_suite(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "suites"
    (root / "demo" / "device").mkdir(parents=True)
    (root / "demo" / "requirements.yaml").write_text(CATALOGUE)
    (root / "demo" / "ics.yaml").write_text(ICS)
    (root / "demo" / "device" / "test_demo.py").write_text(HEADER + textwrap.dedent(body))
    return root


def run(tmp_path: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONBOARDCHECK_SUITES": str(root)}
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", str(root / "demo"), "-p", "harness.plugin",
           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "--out", str(tmp_path / "out"),
           *extra]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def results(tmp_path: Path) -> dict[str, dict]:
    lines = (tmp_path / "out" / "demo" / "results.jsonl").read_text().splitlines()
    return {json.loads(line)["name"]: json.loads(line) for line in lines}


def test_unbound_test_is_a_collection_error(tmp_path: Path) -> None:
    root = make_suite(tmp_path, "def test_unbound():\n    pass\n")
    proc = run(tmp_path, root)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "no @pytest.mark.requirement" in proc.stderr + proc.stdout


def test_unknown_requirement_is_a_collection_error(tmp_path: Path) -> None:
    body = """
    @pytest.mark.requirement("RFC0000-9-MUST-01")
    def test_x():
        pass
    """
    proc = run(tmp_path, make_suite(tmp_path, body))
    assert proc.returncode == 4
    assert "RFC0000-9-MUST-01 is not in" in proc.stderr + proc.stdout


def test_withdrawn_requirement_is_a_collection_error(tmp_path: Path) -> None:
    body = """
    @pytest.mark.requirement("RFC0000-4-MUST-01")
    def test_x():
        pass
    """
    root = make_suite(tmp_path, body)
    catalogue = root / "demo" / "requirements.yaml"
    catalogue.write_text(catalogue.read_text() + (
        '  - {id: RFC0000-4-MUST-01, spec: RFC0000, section: "4", level: MUST, role: device,\n'
        '     title: four, quote: "The device MUST do four.", observable: wire,\n'
        '     phase: operation, withdrawn: "not in the spec"}\n'))
    proc = run(tmp_path, root)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "RFC0000-4-MUST-01 is withdrawn: not in the spec" in proc.stderr + proc.stdout


BODY = """
@pytest.mark.requirement("RFC0000-1-MUST-01")
def test_pass():
    "passes"

@pytest.mark.requirement("RFC0000-2-SHOULD-01")
def test_should_fails():
    fail("did not do two", "RFC0000-2-SHOULD-01", frames=["  >> 1 a -> b X"])

@pytest.mark.requirement("RFC0000-3-MAY-01")
def test_not_claimed():
    fail("never runs", "RFC0000-3-MAY-01")

@pytest.mark.requirement("RFC0000-1-MUST-01")
def test_inconclusive():
    inconclusive("DUT unreachable")

@pytest.mark.requirement("RFC0000-1-MUST-01")
def test_bare_assert():
    assert 1 == 2
"""


def test_verdicts_results_and_gate(tmp_path: Path) -> None:
    proc = run(tmp_path, make_suite(tmp_path, BODY))
    got = results(tmp_path)
    assert {k: v["verdict"] for k, v in got.items()} == {
        "test_pass": "pass",
        "test_should_fails": "fail",
        "test_not_claimed": "not_applicable",
        "test_inconclusive": "inconclusive",
        "test_bare_assert": "error",
    }
    assert got["test_should_fails"]["requirements"] == ["RFC0000-2-SHOULD-01"]
    assert got["test_should_fails"]["frames"] == ["  >> 1 a -> b X"]
    assert "DEMO-THREE" in got["test_not_claimed"]["reason"]
    assert "bare assertion" in got["test_bare_assert"]["reason"]
    # an error fails the default gate
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "The device SHOULD do two." in proc.stdout  # the failure quotes the requirement
    out = tmp_path / "out" / "demo"
    for name in ("report.html", "report.json", "junit.xml", "campaign.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "campaign.json").read_text())["finished"]


def test_gate_ignores_should_failures(tmp_path: Path) -> None:
    body = """
    @pytest.mark.requirement("RFC0000-1-MUST-01")
    def test_pass():
        pass

    @pytest.mark.requirement("RFC0000-2-SHOULD-01")
    def test_should_fails():
        fail("did not do two", "RFC0000-2-SHOULD-01")
    """
    proc = run(tmp_path, make_suite(tmp_path, body))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(tmp_path, make_suite(tmp_path / "b", body), "--gate", "MUST,SHOULD")
    assert proc.returncode == 1


def test_must_failure_fails_the_gate(tmp_path: Path) -> None:
    body = """
    @pytest.mark.requirement("RFC0000-1-MUST-01")
    def test_must_fails():
        fail("did not do one", "RFC0000-1-MUST-01")
    """
    proc = run(tmp_path, make_suite(tmp_path, body))
    assert proc.returncode == 1


def test_killed_run_keeps_results(tmp_path: Path) -> None:
    body = """
    import os

    @pytest.mark.requirement("RFC0000-1-MUST-01")
    def test_a_first():
        pass

    @pytest.mark.requirement("RFC0000-1-MUST-01")
    def test_b_dies():
        os._exit(9)
    """
    proc = run(tmp_path, make_suite(tmp_path, body))
    assert proc.returncode == 9
    got = results(tmp_path)
    assert got["test_a_first"]["verdict"] == "pass"
    campaign = json.loads((tmp_path / "out" / "demo" / "campaign.json").read_text())
    assert campaign["finished"] is None


def test_control_error_reason_quotes_the_dut() -> None:
    from harness.errors import ControlError
    from harness.plugin import MAX_OUTPUT_LINE, _classify
    from harness.verdicts import Verdict

    def failing_start() -> None:
        raise ControlError("start", "exited with status 1", "starting\nlicence not accepted\n")

    outcome = _classify(pytest.CallInfo.from_call(failing_start, when="call"))
    assert outcome.verdict == Verdict.ERROR
    assert outcome.reason.endswith("the DUT said: licence not accepted"), outcome.reason

    def long_line() -> None:
        raise ControlError("start", "exited with status 1", "x" * 5000)

    reason = _classify(pytest.CallInfo.from_call(long_line, when="call")).reason
    assert reason.endswith("x" * MAX_OUTPUT_LINE) and "x" * (MAX_OUTPUT_LINE + 1) not in reason

    def silent() -> None:
        raise ControlError("start", "exited with status 1")

    assert "said" not in _classify(pytest.CallInfo.from_call(silent, when="call")).reason
