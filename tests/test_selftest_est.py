"""The EST suite judged against known implementations: each mutant fails exactly the
requirement(s) it was built to break. (The reference DUTs and the third-party
curl+openssl client, on every backend: tests/test_selftest_backends.py.)

By default each mutant runs the tests of the requirements it breaks (`--requirement`);
ONBOARDCHECK_FULL_MUTANT_RUNS=1 runs the whole suite against each and also checks that
nothing else fails (docs/testing.md)."""

from __future__ import annotations

import os

import pytest

from harness.protocols.est.mutants import CLIENT_MUTANTS, SERVER_MUTANTS
from tests.suite_runner import SuiteRun, run_suite


def _run(tmp_path_factory: pytest.TempPathFactory, name: str, dut: str, *extra: str) -> SuiteRun:
    return run_suite("est", dut, tmp_path_factory.mktemp(name), *extra)


@pytest.mark.parametrize(
    ("role", "mutant"),
    [("server", m) for m in sorted(SERVER_MUTANTS)]
    + [("client", m) for m in sorted(CLIENT_MUTANTS)],
)
def test_mutant_fails_exactly_its_requirements(
    role: str, mutant: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    breaks = set((SERVER_MUTANTS if role == "server" else CLIENT_MUTANTS)[mutant].breaks)
    full = os.environ.get("ONBOARDCHECK_FULL_MUTANT_RUNS") == "1"
    only = [arg for req in sorted(breaks) for arg in ("--requirement", req)]
    # mutants run with transcript captures: the other capture path, same verdicts expected
    run = _run(tmp_path_factory, f"{role}-{mutant}", f"builtin:est/{role}:{mutant}",
               "--capture-mode", "transcript", *([] if full else only))  # fmt: skip
    assert run.results, run.output
    if not full:  # --requirement kept only the tests bound to the requirements named
        assert all(set(r["requirements"]) & breaks for r in run.results), run.table()
    failed = run.requirements_with("fail")
    assert failed == breaks, f"expected exactly {sorted(breaks)} to fail\n{run.table()}"
    # inconclusive is allowed: a mutant that breaks enrollment removes later preconditions
    assert not run.requirements_with("error"), run.table()
