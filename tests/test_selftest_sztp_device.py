"""The SZTP device suite judged against known implementations: the reference device
passes everything it claims; each device mutant fails exactly the requirements it was
built to break (`--requirement` runs, as tests/test_selftest_sztp.py does for the
bootstrap server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.capture.audit import TEST_RANGES, foreign_frames, within
from harness.protocols.sztp.device_mutants import DEVICE_MUTANTS
from tests.suite_runner import decrypted_requests, run_mutant, run_suite
from tests.test_selftest_backends import backend_usable

DUT = "builtin:sztp/device"


def test_reference_passes(tmp_path: Path) -> None:
    run = run_suite("sztp", DUT, tmp_path / "reference")
    assert len(run.results) >= 10, run.output
    assert all("/device/" in r["nodeid"] for r in run.results), run.table()
    bad = {n: v for n, v in run.verdicts().items() if v != "pass"}
    assert not bad, run.table()
    assert run.returncode == 0, run.output
    captures = sorted((tmp_path / "reference" / "sztp").glob("evidence/*/capture.pcapng"))
    assert len(captures) == len(run.results), captures
    for capture in captures:
        assert (capture.parent / "tls.keylog").stat().st_size > 0, capture.parent


@pytest.mark.parametrize("name", sorted(DEVICE_MUTANTS))
def test_mutant_fails_exactly_its_requirements(name: str, tmp_path: Path) -> None:
    breaks = set(DEVICE_MUTANTS[name].breaks)
    run_mutant("sztp", f"{DUT}:{name}", tmp_path / name, breaks)


def test_unknown_device_mutant_refused() -> None:
    from harness.control.builtin_sztp import BuiltinSztpController
    from harness.errors import ProfileError

    with pytest.raises(ProfileError, match="no SZTP mutant"):
        BuiltinSztpController(["device"], "serves-unknown-serial")


# Off loopback: trust from a trusted server, a redirect chain, signed data.
OFF_LOOPBACK = ["RFC8572-5.3-MUST-03", "RFC8572-5.5-MUST-01", "RFC8572-5.4-MUST-01"]


@pytest.mark.parametrize("backend", ["netns", "docker"])
def test_reference_off_loopback(backend: str, tmp_path: Path) -> None:
    """On a test network the tester server listens on the peer node and the device
    connects from the DUT node: the same verdicts as on loopback (all pass), and the
    captures hold that traffic between test-network addresses only."""
    backend_usable(backend)
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: the capture cannot be decrypted")
    only = [arg for req in OFF_LOOPBACK for arg in ("--requirement", req)]
    run = run_suite("sztp", DUT, tmp_path / backend, "--backend", backend, *only)
    assert {req for r in run.results for req in r["requirements"]} >= set(OFF_LOOPBACK), \
        run.table()
    bad = {n: v for n, v in run.verdicts().items() if v != "pass"}
    assert not bad, run.table()
    network = json.loads(next((run.out / "backend").glob("network-*.json")).read_text())
    assert network["backend"] == backend
    peer, dut = network["nodes"]["peer"]["ipv4"], network["nodes"]["dut"]["ipv4"]
    assert all(within(a, TEST_RANGES) and not a.startswith("127.") for a in (peer, dut))
    pcaps = sorted((run.out / "sztp" / "evidence").rglob("capture.pcapng"))
    assert len(pcaps) == len(run.results), pcaps
    foreign = [line for pcap in pcaps for line in foreign_frames(pcap)]
    assert not foreign, "\n".join(foreign[:20])
    folder = pcaps[0].parent
    rows = decrypted_requests(folder / "capture.pcapng", "frame.protocols", "ip.src", "ip.dst")
    for protocols, src, dst in rows:
        assert protocols.startswith("eth:"), protocols  # the bridge's frames, not lo
        assert (src, dst) == (dut, peer), (src, dst, dut, peer)  # the device asks
