"""The BRSKI suite judged against the reference roles and each of their mutants: the
reference passes everything it claims in every role; each mutant fails exactly the
requirements it was built to break (subprocess runs of the suite, as `onboardcheck run`
would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocols.brski.mutants import MUTANTS
from harness.requirements import load_catalogue
from tests.suite_runner import REPO, run_mutant, run_suite

CATALOGUE = load_catalogue(REPO / "suites" / "brski" / "requirements.yaml")
# Tests behind the pledge's ICS options, which the reference claims: they must run and pass.
OPTIONAL = {"RFC8995-5.6-MUST-02", "RFC8995-5.6-MUST-03", "RFC8995-5.6-MUST-NOT-01"}


@pytest.mark.parametrize("role", ["pledge", "registrar", "masa"])
def test_reference_passes(role: str, tmp_path: Path) -> None:
    """Every test of the role passes; the reference claims every ICS option, so none is
    not applicable (the pledge's 202 and redirection tests run and pass too)."""
    run = run_suite("brski", f"builtin:brski/{role}", tmp_path / role)
    assert run.results, run.output
    bad = {r["nodeid"]: r["verdict"] for r in run.results if r["verdict"] != "pass"}
    assert not bad, run.table()
    if role == "pledge":
        assert not OPTIONAL - run.requirements_with("pass"), run.table()
        assert all((req := CATALOGUE.get(r)) is not None and req.ics for r in OPTIONAL)
    assert any(r["verdict"] == "pass" for r in run.results), run.table()
    assert run.returncode == 0, run.output
    # One capture per test, with the TLS key log beside it.
    for result in run.results:
        if result["verdict"] != "pass":
            continue
        folder = next((tmp_path / role).glob(f"brski/evidence/{result['name']}*"))
        assert (folder / "capture.pcapng").is_file(), folder
        assert (folder / "tls.keylog").stat().st_size > 0, folder


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_what_it_breaks(name: str, tmp_path: Path) -> None:
    """Each requirement test fails on the mutant built to break it. The run is limited to
    the tests of those requirements (`--requirement`); ONBOARDCHECK_FULL_MUTANT_RUNS=1
    runs the role's whole suite and also checks that nothing else fails."""
    mutant = MUTANTS[name]
    run_mutant("brski", f"builtin:brski/{mutant.role}:{name}", tmp_path / name,
               set(mutant.breaks))  # fmt: skip
