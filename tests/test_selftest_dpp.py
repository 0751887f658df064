"""The DPP suite judged against the reference device and each of its mutants: the
reference passes everything it claims; each mutant fails exactly the requirements it
was built to break (subprocess runs of the suite, as `onboardcheck run` would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocols.dpp.mutants import MUTANTS
from tests.suite_runner import run_suite


@pytest.mark.parametrize("role", ["enrollee", "configurator"])
def test_reference_passes(role: str, tmp_path: Path) -> None:
    run = run_suite("dpp", f"builtin:dpp/{role}", tmp_path / role)
    assert run.results, run.output
    bad = {n: v for n, v in run.verdicts().items() if v != "pass"}
    assert not bad, run.table()
    assert run.returncode == 0, run.output


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_what_it_breaks(name: str, tmp_path: Path) -> None:
    mutant = MUTANTS[name]
    run = run_suite("dpp", f"builtin:dpp/{mutant.role}:{name}", tmp_path / name)
    assert run.results, run.output
    failed = run.requirements_with("fail")
    assert set(mutant.breaks) <= failed, f"not failed: {set(mutant.breaks) - failed}\n{run.table()}"
    assert failed <= set(mutant.breaks), f"failed beyond its claim: {failed - set(mutant.breaks)}"
    assert not run.requirements_with("error"), run.table()
    assert run.returncode != 0, "a failed MUST must fail the gate"
