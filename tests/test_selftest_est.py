"""The EST suite judged against known implementations: each mutant fails exactly the
requirement(s) it was built to break. (The reference DUTs and the third-party
curl+openssl client, on every backend: tests/test_selftest_backends.py.)"""

from __future__ import annotations

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
    # mutants run with transcript captures: the other capture path, same verdicts expected
    run = _run(tmp_path_factory, f"{role}-{mutant}", f"builtin:est/{role}:{mutant}",
               "--capture-mode", "transcript")  # fmt: skip
    assert run.results, run.output
    failed = run.requirements_with("fail")
    assert failed == breaks, f"expected exactly {sorted(breaks)} to fail\n{run.table()}"
    # inconclusive is allowed: a mutant that breaks enrollment removes later preconditions
    assert not run.requirements_with("error"), run.table()
