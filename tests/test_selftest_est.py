"""The EST suite judged against known implementations: each mutant fails exactly the
requirement(s) it was built to break. (The reference DUTs and the third-party
curl+openssl client, on every backend: tests/test_selftest_backends.py.)

By default each mutant runs the tests of the requirements it breaks (`--requirement`);
ONBOARDCHECK_FULL_MUTANT_RUNS=1 runs the whole suite against each and also checks that
nothing else fails (README.md)."""

from __future__ import annotations

import pytest

from harness.protocols.est.mutants import CLIENT_MUTANTS, SERVER_MUTANTS
from tests.suite_runner import run_mutant


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
    # (inconclusive is allowed: a mutant that breaks enrollment removes later preconditions)
    run_mutant("est", f"builtin:est/{role}:{mutant}", tmp_path_factory.mktemp(f"{role}-{mutant}"),
               breaks, "--capture-mode", "transcript")  # fmt: skip
