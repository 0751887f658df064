"""The EST suite judged against known implementations: the reference DUTs pass, each
mutant fails exactly the requirement(s) it was built to break, and the third-party
curl+openssl client passes or shows only its documented findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocols.est.mutants import CLIENT_MUTANTS, SERVER_MUTANTS
from tests.suite_runner import REPO, SuiteRun, run_suite

BAD = {"fail", "error", "inconclusive"}

# Real deviations of the curl+openssl client script, reported as findings (see
# "Findings" in duts/README.md). Keep this list and that section in step.
CURL_FINDINGS = {
    "RFC7030-4.1.3-MUST-07",  # installs every /cacerts certificate, chained or not
    "RFC8951-3.1-SHOULD-02",  # coreutils base64 -d refuses blanks and CR in the body
    "RFC7030-4.2-SHOULD-01",  # enroll does not fetch /cacerts first
    "RFC7030-4.5-SHOULD-01",  # enroll does not ask /csrattrs first
    "RFC7030-3.2.1-SHOULD-01",  # curl without --location does not follow a 302/307
    "RFC7030-3.2.3-SHOULD-01",  # --basic: a Digest-only 401 is not answered
}


def _run(tmp_path_factory: pytest.TempPathFactory, name: str, dut: str, *extra: str) -> SuiteRun:
    return run_suite("est", dut, tmp_path_factory.mktemp(name), *extra)


@pytest.mark.parametrize("role", ["client", "server"])
def test_reference_passes(role: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    run = _run(tmp_path_factory, f"ref-{role}", f"builtin:est/{role}")
    assert run.results, run.output
    bad = {n: v for n, v in run.verdicts().items() if v in BAD}
    assert not bad, run.table()
    assert any(v == "pass" for v in run.verdicts().values())
    assert run.returncode == 0, run.output


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


def test_curl_openssl_client(tmp_path_factory: pytest.TempPathFactory) -> None:
    profile = REPO / "duts" / "curl-openssl-est-client.yaml"
    run = _run(tmp_path_factory, "curl", str(profile))
    assert run.results, run.output
    assert not run.requirements_with("error"), run.table()
    assert run.requirements_with("fail") == CURL_FINDINGS, run.table()
    passed = run.requirements_with("pass")
    assert "RFC7030-4.2.1-MUST-01" in passed, run.table()
    evidence = Path(run.out) / "est" / "evidence"
    assert any(evidence.rglob("capture.pcapng")) and any(evidence.rglob("tls.keylog"))
