"""The `manual` adapter: an operator performs each action on the device when prompted.

The operator answers Enter or `y` (done: exit 0) or `n` (it failed: exit 1). Where no
operator can answer (stdin is not a terminal, or CI=true), an action returns at once
with `manual_unavailable=True`, which a test turns into *inconclusive*: a CI job must
neither block on a prompt nor count an unperformed action as a failure of the device.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from harness.control.base import ActionResult, Controller, fill_template
from harness.errors import ControlError

UNAVAILABLE = "no operator: stdin is not a terminal or CI is set; the action was not performed"


def operator_available(
    stdin: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether an operator can answer a prompt (a terminal, and not running in CI)."""
    environ = os.environ if environ is None else environ
    if environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return False
    stdin = sys.stdin if stdin is None else stdin
    try:
        return stdin is not None and stdin.isatty()
    except (ValueError, OSError):  # closed or detached stream
        return False


class ManualController(Controller):
    def __init__(
        self,
        prompts: Mapping[str, str],
        state_templates: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        interactive: bool | None = None,  # None: decide from stdin and CI
        default_timeout: float | None = None,  # None: wait for the operator indefinitely
    ):
        super().__init__(state_templates, base_dir)
        self.prompts = dict(prompts)
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = interactive
        self.default_timeout = default_timeout
        self._params: dict[str, str] = {}

    def supports(self, action: str) -> bool:
        return action in self.prompts

    def _interactive(self) -> bool:
        return operator_available(self.stdin) if self.interactive is None else self.interactive

    def action(
        self, name: str, params: dict[str, str], timeout: float | None = None
    ) -> ActionResult:
        if name not in self.prompts:
            known = ", ".join(sorted(self.prompts)) or "(none)"
            raise ControlError(name, f"the DUT profile has no prompt for this action ({known})")
        prompt = fill_template(name, self.prompts[name], params)
        if not self._interactive():
            return ActionResult(name, None, "", UNAVAILABLE, 0.0, manual_unavailable=True)
        started = time.monotonic()
        self.stdout.write(f"\n[DUT action {name}] {prompt}\n  done? [Y/n] ")
        self.stdout.flush()
        answer = self._read_line(self.default_timeout if timeout is None else timeout)
        duration = time.monotonic() - started
        if answer is None:
            return ActionResult(name, None, "", "the operator did not answer in time",
                                duration, timed_out=True)
        failed = answer.strip().lower() in ("n", "no")
        return ActionResult(name, 1 if failed else 0, answer.strip(), "", duration)

    def _read_line(self, timeout: float | None) -> str | None:
        if timeout is not None:
            try:
                ready, _, _ = select.select([self.stdin], [], [], timeout)
            except (ValueError, OSError, TypeError):  # no file descriptor: block instead
                ready = [self.stdin]
            if not ready:
                return None
        line = self.stdin.readline()
        return line if line else "n"  # EOF: the operator went away; do not claim success

    def start(self, params: dict[str, str]) -> dict[str, str]:
        self._params = dict(params)
        if self.supports("start"):
            result = self.action("start", params)
            if result.returncode not in (0, None):
                raise ControlError("start", "the operator reports the DUT did not start")
        return {}

    def stop(self) -> None:
        # Only shown: stop() runs in clean-up paths, where waiting for an answer
        # would hold up the campaign for nothing.
        if self.supports("stop") and self._interactive():
            prompt = fill_template("stop", self.prompts["stop"], self._params)
            self.stdout.write(f"\n[DUT action stop] {prompt}\n")
            self.stdout.flush()

    def reset(self, params: dict[str, str]) -> None:
        if self.supports("reset"):
            result = self.action("reset", params)
            if result.returncode not in (0, None):
                raise ControlError("reset", "the operator reports the reset failed")
