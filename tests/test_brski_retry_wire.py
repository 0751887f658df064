"""RFC8995-5.6-MUST-02 judged from the wire: a pledge DUT whose profile keeps no
`retry_waits` record is judged by when its repeat of the voucher request arrives after a
202 with Retry-After: 120. The reference pledge, sleeping in real time, repeats at 60 s
and passes; the mutant that honours the whole 120 s does not repeat within the limit and
fails. Both runs wait out real time (about 75 s, side by side)."""

from __future__ import annotations

import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.suite_runner import SuiteRun, run_suite

PLEDGE = Path(__file__).parent / "fixtures" / "brski" / "pledge_on_the_wire.py"
REQ = "RFC8995-5.6-MUST-02"
MUTANT = "pledge-honours-long-retry-after"


def profile(folder: Path, mutant: str = "") -> Path:
    folder.mkdir(parents=True)
    path = folder / "pledge.yaml"
    path.write_text(textwrap.dedent(f"""\
        profile: 1
        identity: {{vendor: Reference, model: "{mutant or 'pledge'}", firmware: "0", serial: "0"}}
        protocols:
          brski:
            roles: [pledge]
            ics: {{BRSKI-PLEDGE-RETRY-AFTER: true}}
        control:
          adapter: process
          state:
            pinned_domain_cert: "{{state_dir}}/pinned.pem"
            ldevid: "{{state_dir}}/ldevid.pem"
          process:
            timeout: 30
            actions:
              onboard: {sys.executable} {PLEDGE} {mutant}
              reset: "true"
        """))  # fmt: skip
    return path


def _run(folder: Path, mutant: str = "") -> SuiteRun:
    return run_suite("brski", str(profile(folder, mutant)), folder / "out",
                     "-k", "test_retry_after_limited_to_60s")  # fmt: skip


def test_retry_after_judged_on_the_wire(tmp_path: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        reference = pool.submit(_run, tmp_path / "reference")
        mutant = pool.submit(_run, tmp_path / "mutant", MUTANT)
        ref_run, mut_run = reference.result(), mutant.result()
    assert ref_run.verdicts() and set(ref_run.verdicts().values()) == {"pass"}, ref_run.table()
    assert mut_run.requirements_with("fail") == {REQ}, mut_run.table()
    assert "no repeat of the voucher request within 60 s" in mut_run.table(), mut_run.table()
