"""The `builtin` adapter for SZTP: the reference bootstrap server (or a mutant) behind
the actions of a bootstrap-server DUT (`configure`, `reset`), and the reference device
(or a device mutant) behind the `bootstrap` action of a device DUT
(`builtin:sztp/device[:MUTANT]`; docs/sztp.md)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from harness.control.base import ActionResult, Controller
from harness.errors import ControlError, OnboardcheckError, ProfileError

OUTCOME = "sztp-device-outcome.json"


class BuiltinSztpController(Controller):
    ACTIONS = ("configure", "reset")
    DEVICE_ACTIONS = ("bootstrap", "reset")

    def __init__(self, roles: list[str], mutant: str | None):
        from harness.protocols.sztp.device_mutants import DEVICE_MUTANTS
        from harness.protocols.sztp.mutants import MUTANTS

        super().__init__({"outcome": "{state_dir}/" + OUTCOME})
        known = {**(MUTANTS if roles != ["device"] else {}),
                 **(DEVICE_MUTANTS if "device" in roles else {})}  # fmt: skip
        if mutant and mutant not in known:
            raise ProfileError("<builtin>", "control.builtin.mutant",
                               f"no SZTP mutant {mutant!r}; known: {', '.join(sorted(known))}")
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
        if "device" in self.roles and action in self.DEVICE_ACTIONS:
            return True
        return self.roles != ["device"] and action in self.ACTIONS

    def reset(self, params: dict[str, str]) -> None:
        self.stop()
        state = Path(params.get("state_dir") or "")
        if "device" in self.roles and (state / OUTCOME).is_file():
            (state / OUTCOME).unlink()

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
        out = ""
        try:
            if name == "configure":
                self._configure(params)
            elif name == "bootstrap":
                with self.node.inside() if self.node is not None else contextlib.nullcontext():
                    out = self._bootstrap(params)  # its connections leave from the DUT's node
            else:
                self.reset(params)
        except (OnboardcheckError, OSError) as exc:
            code, err = 1, f"{type(exc).__name__}: {exc}\n"
        return ActionResult(name, code, out, err, time.monotonic() - started)

    def _bootstrap(self, params: dict[str, str]) -> str:
        """Run the reference device against the servers of `bootstrap_servers` (a file,
        device.load_servers) with the IDevID `idevid_cert`/`idevid_key` and the voucher
        trust anchors `voucher_anchor`; its outcome goes to `state_dir`."""
        from harness.crypto.certs import read_certs
        from harness.crypto.pki import read_certified
        from harness.protocols.sztp.device import Device, DeviceConfig, load_servers
        from harness.protocols.sztp.device_mutants import device_behaviour_of

        for needed in ("bootstrap_servers", "idevid_cert", "idevid_key", "state_dir"):
            if not params.get(needed):
                raise ControlError("bootstrap", f"the device needs the parameter {needed}")
        keylog = params.get("keylog")
        anchors = params.get("voucher_anchor")
        config = DeviceConfig(
            idevid=read_certified(params["idevid_cert"], params["idevid_key"]),
            servers=load_servers(Path(params["bootstrap_servers"])),
            voucher_anchors=read_certs(anchors) if anchors else [],
            passes=_passes(params.get("passes")),
            keylog=Path(keylog) if keylog else None,
        )  # fmt: skip
        outcome = Device(config, device_behaviour_of(self.mutant)).run()
        state = Path(params["state_dir"])
        state.mkdir(parents=True, exist_ok=True)
        (state / OUTCOME).write_text(outcome.to_json(), encoding="utf-8")
        return f"{outcome.result} after {len(outcome.steps)} call(s)\n"


def _passes(value: str | None) -> int:
    try:
        return max(1, int(value or 3))
    except ValueError:
        raise ControlError("bootstrap", f"passes is not a number: {value!r}") from None
