"""The BRSKI suite against the reference DUTs (every role, one campaign) on every
backend: netns and docker give the same verdict as loopback for every test case, and
their captures hold Ethernet frames between test-network addresses only, each party on
its own node (the tester on `peer`, the DUT on `dut`), decryptable with the key log kept
beside them.

netns and docker need root and (docker) a daemon: elsewhere their runs are skipped with
the reason; under CI=true a backend that cannot run fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.capture.audit import TEST_RANGES, foreign_frames, within
from tests.suite_runner import SuiteRun, decrypted_requests, run_suite
from tests.test_selftest_backends import backend_usable, differing_rows

# One test per role whose capture is decrypted, and who must speak to whom there
# (client node, server node): the pledge DUT calls the tester registrar; the registrar
# DUT is called by the tester pledge and calls the tester MASA; the MASA DUT is called.
SPEAKERS = {
    "pledge/test_pledge_request.py::test_request_carries_nonce": {("dut", "peer")},
    "registrar/test_registrar_voucher.py::test_rvr_signed_by_registrar": {
        ("peer", "dut"), ("dut", "peer")},
    "masa/test_masa_voucher.py::test_voucher_signed_under_anchor": {("peer", "dut")},
}  # fmt: skip


def _all_roles(out: Path, *extra: str) -> SuiteRun:
    # an empty --dut is the campaign default: the reference DUT playing every role
    return run_suite("brski", "", out, *extra)


def _capture_of(run: SuiteRun, nodeid: str) -> Path:
    result = next(r for r in run.results if r["nodeid"] == nodeid)
    rel = next(e["path"] for e in result["evidence"] if e["kind"] == "capture")
    return run.out / "brski" / rel


def _http_speakers(pcap: Path) -> set[tuple[str, str, str]]:
    """(link layer, source, destination) of every decrypted HTTP request in `pcap`."""
    rows = decrypted_requests(pcap, "frame.protocols", "ip.src", "ip.dst")
    return {(protocols.split(":", 1)[0], src, dst) for protocols, src, dst in rows}


def check_captures(run: SuiteRun, backend: str) -> None:
    pcaps = sorted((run.out / "brski" / "evidence").rglob("capture.pcapng"))
    assert pcaps, f"no capture in {run.out}"
    foreign = [line for pcap in pcaps for line in foreign_frames(pcap)]
    assert not foreign, "\n".join(foreign[:20])
    network = json.loads(next((run.out / "backend").glob("network-*.json")).read_text())
    assert network["backend"] == backend
    address = {role: node["ipv4"] for role, node in network["nodes"].items()}
    assert all(within(a, TEST_RANGES) for a in address.values()), address
    for test, pairs in SPEAKERS.items():
        seen = _http_speakers(_capture_of(run, f"suites/brski/{test}"))
        expected = {("eth", address[src], address[dst]) for src, dst in pairs}
        assert seen == expected, (test, seen, expected)


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], SuiteRun]:
    """The loopback run, made once on first use (not at all when every backend skips)."""
    runs: list[SuiteRun] = []

    def get() -> SuiteRun:
        if not runs:
            runs.append(_all_roles(tmp_path_factory.mktemp("brski-loopback")))
        return runs[0]

    return get


@pytest.mark.parametrize("backend", ["netns", "docker"])
def test_same_verdicts_as_loopback(backend: str, loopback: Callable[[], SuiteRun],
                                   tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    backend_usable(backend)
    reference = loopback()
    assert reference.results, reference.output
    assert all(r["verdict"] == "pass" for r in reference.results), reference.table()
    assert {r["dut_role"] for r in reference.results} == {"pledge", "registrar", "masa"}
    run = _all_roles(tmp_path_factory.mktemp(f"brski-{backend}"), "--backend", backend)
    assert run.results, run.output
    rows = differing_rows(reference, run)
    assert not rows, f"{backend} differs from loopback:\n" + "\n".join(rows)
    campaign = json.loads((run.out / "brski" / "campaign.json").read_text())
    assert campaign["backend"] == backend
    check_captures(run, backend)
