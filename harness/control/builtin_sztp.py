"""The `builtin` adapter for SZTP: the reference bootstrap server (or a mutant) behind
the actions of a bootstrap-server DUT (`configure`, `reset`; docs/sztp.md)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from harness.control.base import ActionResult, Controller
from harness.errors import ControlError, OnboardcheckError, ProfileError


class BuiltinSztpController(Controller):
    ACTIONS = ("configure", "reset")

    def __init__(self, roles: list[str], mutant: str | None):
        from harness.protocols.sztp.mutants import MUTANTS

        super().__init__()
        if mutant and mutant not in MUTANTS:
            raise ProfileError("<builtin>", "control.builtin.mutant",
                               f"no SZTP mutant {mutant!r}; known: {', '.join(sorted(MUTANTS))}")
        self.roles = roles
        self.mutant = mutant
        self._server = None

    def start(self, params: dict[str, str]) -> dict[str, str]:
        return {}  # the server listens once configured: what to serve decides where

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def supports(self, action: str) -> bool:
        return action in self.ACTIONS

    def reset(self, params: dict[str, str]) -> None:
        self.stop()

    def _configure(self, params: dict[str, str]) -> None:
        from harness.protocols.sztp.config import load
        from harness.protocols.sztp.mutants import behaviour_of
        from harness.protocols.sztp.server import BootstrapServer

        source = params.get("sztp_config")
        if not source:
            raise ControlError("configure", "needs the 'sztp_config' parameter")
        self.stop()
        work = Path(params.get("work_dir") or ".")
        server = BootstrapServer(load(Path(source)), behaviour_of(self.mutant),
                                 log=work / "bootstrap-server.log")  # fmt: skip
        with self.node.inside() if self.node is not None else contextlib.nullcontext():
            server.start()  # its listening thread stays on the DUT's node
        self._server = server

    def action(self, name: str, params: dict[str, str], timeout: float | None = None
               ) -> ActionResult:  # fmt: skip
        if not self.supports(name):
            raise ControlError(name, "the reference bootstrap server has no such action")
        started = time.monotonic()
        code, err = 0, ""
        try:
            if name == "configure":
                self._configure(params)
            else:
                self.reset(params)
        except (OnboardcheckError, OSError) as exc:
            code, err = 1, f"{type(exc).__name__}: {exc}\n"
        return ActionResult(name, code, "", err, time.monotonic() - started)
