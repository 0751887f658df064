"""The SZTP device suite judged against known implementations: the reference device
passes everything it claims; each device mutant fails exactly the requirements it was
built to break (`--requirement` runs, as tests/test_selftest_sztp.py does for the
bootstrap server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocols.sztp.device_mutants import DEVICE_MUTANTS
from tests.suite_runner import run_suite

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
    only = [arg for req in sorted(breaks) for arg in ("--requirement", req)]
    run = run_suite("sztp", f"{DUT}:{name}", tmp_path / name, *only)
    assert run.results, run.output
    assert all(set(r["requirements"]) & breaks for r in run.results), run.table()
    failed = run.requirements_with("fail")
    assert failed == breaks, f"expected exactly {sorted(breaks)} to fail\n{run.table()}"
    assert not run.requirements_with("error"), run.table()
    if any("-MUST-" in req for req in breaks):
        assert run.returncode != 0, "a failed MUST must fail the gate"


def test_unknown_device_mutant_refused() -> None:
    from harness.control.builtin_sztp import BuiltinSztpController
    from harness.errors import ProfileError

    with pytest.raises(ProfileError, match="no SZTP mutant"):
        BuiltinSztpController(["device"], "serves-unknown-serial")
