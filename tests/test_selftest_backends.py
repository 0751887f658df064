"""The EST suite against the reference DUTs and the third-party curl+openssl client, on
every backend: loopback (the reference verdicts), netns and docker must give the same
verdict for every test case, and their captures hold real Ethernet frames between
test-network addresses only, decryptable with the key log kept beside them.

netns and docker need root and (docker) a daemon with the images: `.ci/run` provides
them. Elsewhere those runs are skipped with the reason; under CI=true a backend that
cannot run fails the test, so CI can never pass without having compared them.
"""

from __future__ import annotations

import json
import os

import pytest

from harness.backends.preflight import preflight
from harness.capture.audit import TEST_RANGES, foreign_frames, within
from harness.errors import BackendError
from tests.suite_runner import REPO, SuiteRun, decrypted_requests, run_suite

BAD = {"fail", "error", "inconclusive"}

# Real deviations of the curl+openssl client script, reported as findings (see
# "Findings" in duts/README.md). Keep this list and that section in step.
CURL_FINDINGS = {
    "RFC8951-3.1-SHOULD-02",  # coreutils base64 -d refuses blanks and CR in the body
    "RFC7030-4.2-SHOULD-01",  # enroll does not fetch /cacerts first
    "RFC7030-4.5-SHOULD-01",  # enroll does not ask /csrattrs first
    "RFC7030-3.2.1-SHOULD-01",  # curl without --location does not follow a 302/307
    "RFC7030-3.2.3-SHOULD-01",  # --basic: a Digest-only 401 is not answered
}

CURL_PROFILE = REPO / "duts" / "curl-openssl-est-client.yaml"
DUTS = {
    "reference-client": "builtin:est/client",
    "reference-server": "builtin:est/server",
    "curl-openssl-client": str(CURL_PROFILE),
}


def check_reference_verdicts(name: str, run: SuiteRun) -> None:
    """What loopback must show: the reference passes, curl shows its findings only."""
    assert run.results, run.output
    if name == "curl-openssl-client":
        assert not run.requirements_with("error"), run.table()
        assert run.requirements_with("fail") == CURL_FINDINGS, run.table()
        assert "RFC7030-4.2.1-MUST-01" in run.requirements_with("pass"), run.table()
        assert run.returncode == 0, run.output  # SHOULD findings only: the gate passes
        return
    bad = {n: v for n, v in run.verdicts().items() if v in BAD}
    assert not bad, run.table()
    assert any(v == "pass" for v in run.verdicts().values())
    assert run.returncode == 0, run.output


def differing_rows(reference: SuiteRun, other: SuiteRun) -> list[str]:
    """The test cases whose verdicts differ (or that ran on one side only)."""
    left, right = reference.verdicts(), other.verdicts()
    rows = []
    for nodeid in sorted(set(left) | set(right)):
        a, b = left.get(nodeid, "(not run)"), right.get(nodeid, "(not run)")
        if a != b:
            reason = next((r["reason"][:200] for r in other.results if r["nodeid"] == nodeid), "")
            rows.append(f"{nodeid}: loopback {a}, here {b}  {reason}")
    return rows


def backend_usable(backend: str) -> None:
    try:
        preflight(backend)
    except BackendError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the {backend} backend must run in CI: {exc}")
        pytest.skip(f"{backend} backend unavailable here: {exc}")


def check_captures(run: SuiteRun, backend: str) -> None:
    """Real Ethernet frames between test addresses only, and TLS the key log decrypts."""
    evidence = run.out / "est" / "evidence"
    pcaps = sorted(evidence.rglob("capture.pcapng"))
    assert pcaps, f"no capture in {evidence}"
    foreign = [line for pcap in pcaps for line in foreign_frames(pcap)]
    assert not foreign, "\n".join(foreign[:20])
    network = json.loads(next((run.out / "backend").glob("network-*.json")).read_text())
    assert network["backend"] == backend
    addresses = {n["ipv4"] for n in network["nodes"].values()}
    # a test whose exchange is a plain enrollment: decrypt it, check who spoke
    folder = next(p.parent for p in pcaps if p.parent.name == "test_enroll_and_reenroll_supported"
                  or p.parent.name == "test_cacerts_get")  # fmt: skip
    rows = decrypted_requests(folder / "capture.pcapng", "frame.protocols", "ip.src", "ip.dst")
    for protocols, src, dst in rows:
        assert protocols.startswith("eth:"), protocols  # layer 2 frames, not loopback/cooked
        assert {src, dst} <= addresses, (src, dst, addresses)
    assert all(within(a, TEST_RANGES) for a in addresses), addresses


@pytest.mark.parametrize("name", sorted(DUTS))
def test_same_verdicts_on_every_backend(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dut = DUTS[name]
    runs = {"loopback": run_suite("est", dut, tmp_path_factory.mktemp(f"{name}-loopback"))}
    check_reference_verdicts(name, runs["loopback"])
    for backend in ("netns", "docker"):
        backend_usable(backend)
        out = tmp_path_factory.mktemp(f"{name}-{backend}")
        run = runs[backend] = run_suite("est", dut, out, "--backend", backend)
        assert run.results, run.output
        rows = differing_rows(runs["loopback"], run)
        assert not rows, f"{backend} differs from loopback:\n" + "\n".join(rows)
        campaign = json.loads((out / "est" / "campaign.json").read_text())
        assert campaign["backend"] == backend
        check_captures(run, backend)
    if name == "curl-openssl-client":  # under docker its actions ran in its own image
        folder = runs["docker"].out
        network = json.loads(next((folder / "backend").glob("network-*.json")).read_text())
        assert network["nodes"]["dut"]["image"] == "onboardcheck/dut-curl-openssl-est-client"
        campaign = json.loads((folder / "est" / "campaign.json").read_text())
        assert campaign["dut"]["adapter"] == "container"
