"""The `builtin` adapter for DPP: the reference device (or a mutant) behind the DPP DUT
actions of docs/dut-profile.md."""

from __future__ import annotations

import time

from harness.control.base import ActionResult, Controller
from harness.errors import ControlError, ProfileError


class BuiltinDppController(Controller):
    ACTIONS = ("bootstrap", "listen", "initiate", "received", "events", "reset")

    def __init__(self, roles: list[str], mutant: str | None):
        from harness.protocols.dpp.mutants import MUTANTS

        super().__init__()
        if mutant and mutant not in MUTANTS:
            raise ProfileError("<builtin>", "control.builtin.mutant",
                               f"no DPP mutant {mutant!r}; known: {', '.join(sorted(MUTANTS))}")
        self.roles = roles
        self.mutant = mutant
        self._device = None

    def _dev(self):  # type: ignore[no-untyped-def]
        from harness.protocols.dpp.reference_dut import ReferenceDppDevice

        if self._device is None:
            self._device = ReferenceDppDevice(self.mutant, self.node)
        return self._device

    def start(self, params: dict[str, str]) -> dict[str, str]:
        self._dev()
        return {}

    def stop(self) -> None:
        if self._device is not None:
            self._device.stop()
            self._device = None

    def supports(self, action: str) -> bool:
        return action in self.ACTIONS

    def reset(self, params: dict[str, str]) -> None:
        self._dev().reset()

    def action(self, name: str, params: dict[str, str], timeout: float | None = None
               ) -> ActionResult:  # fmt: skip
        from harness.protocols.dpp.errors import DppCodecError

        if not self.supports(name):
            raise ControlError(name, "the reference DPP device has no such action")
        started = time.monotonic()
        device = self._dev()
        out, code, err = "", 0, ""
        try:
            if name == "bootstrap":
                out = device.bootstrap(params.get("curve") or "P-256") + "\n"
            elif name == "listen":
                device.listen(params)
            elif name == "initiate":
                device.initiate(params)
            elif name == "received":
                got = device.received()
                out, code = (got + "\n", 0) if got else ("", 3)
            elif name == "events":
                out = "".join(line + "\n" for line in device.events)
            else:
                device.reset()
        except (OSError, KeyError, ValueError, DppCodecError) as exc:
            code, err = 1, f"{type(exc).__name__}: {exc}\n"
        return ActionResult(name, code, out, err, time.monotonic() - started)
