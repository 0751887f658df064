"""The `builtin` adapter for BRSKI: the reference pledge, registrar or MASA (or a named
mutant) in-process, as `builtin:brski/<pledge|registrar|masa>[:MUTANT]`.

Registrar and MASA are servers: `start()` brings them up and answers the facts the suite
needs (URL, trust anchors, for the MASA an IDevID it vouches for). The pledge is a
client: its `onboard` action runs the whole flow against the registrar URL it is given,
with the IDevID and manufacturer anchor it is given, and leaves its state (pinned
domain certificate, LDevID) in `state_dir`, with the waits it scheduled after each 202
(`retry-waits.txt`, seconds, one a line). Its clock runs `TIME_SCALE` times faster than
the wall clock, so a scheduled 60 s wait takes 0.6 s: a suite judges the schedule it
records, not how long it slept.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from harness.control.base import ActionResult, Controller
from harness.errors import ControlError, OnboardcheckError, ProfileError

ROLES = ("pledge", "registrar", "masa")
DUT_SERIAL = "ONBC-BRSKI-DUT-0001"
TIME_SCALE = 100.0  # the builtin pledge's Retry-After waits, sped up
RETRY_WAITS = "retry-waits.txt"


class BuiltinBrskiController(Controller):
    ACTIONS = ("onboard", "reset")

    def __init__(self, roles: list[str], mutant: str | None):
        from harness.protocols.brski.mutants import MUTANTS

        super().__init__({"pinned_domain_cert": "{state_dir}/pinned.pem",
                          "ldevid": "{state_dir}/ldevid.pem",
                          "retry_waits": "{state_dir}/" + RETRY_WAITS})  # fmt: skip
        if mutant and mutant not in MUTANTS:
            raise ProfileError("<builtin>", "control.builtin.mutant",
                               f"no BRSKI mutant {mutant!r}; known: {', '.join(sorted(MUTANTS))}")
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ProfileError("<builtin>", "protocols.brski.roles",
                               f"no reference BRSKI role {unknown[0]!r}; known: {', '.join(ROLES)}")
        self.roles = roles
        self.mutant = mutant
        self._server: Any = None

    # -- registrar and MASA --------------------------------------------------------------

    def start(self, params: dict[str, str]) -> dict[str, str]:
        """`dut_role` says which server to start when the DUT plays both (the default
        DUT of a campaign plays every role); without it the profile's server role."""
        work = Path(params.get("work_dir") or ".")
        servers = [r for r in ("registrar", "masa") if r in self.roles]
        role = params.get("dut_role") or (servers[0] if servers else "")
        if role and role not in servers:
            raise ControlError("start", f"this DUT plays no BRSKI {role}")
        if role == "registrar":
            return self._start_registrar(work, params)
        if role == "masa":
            return self._start_masa(work)
        return {}

    def _start_registrar(self, work: Path, params: dict[str, str]) -> dict[str, str]:
        from harness.crypto.certs import read_certs, write_certs
        from harness.crypto.pki import Pki
        from harness.protocols.brski.mutants import knobs_of
        from harness.protocols.brski.registrar import RegistrarConfig, RegistrarPeer
        from harness.protocols.brski.testbed import CLIENT_AUTH, CMC_RA, registrar_csrattrs

        for needed in ("manufacturer_trust", "masa_trust"):
            if not params.get(needed):
                raise ControlError("start", f"the registrar needs {needed} (a PEM file)")
        pki = Pki.create(work)
        domain = pki.root_ca("Reference BRSKI Domain CA")
        names = ["localhost", "127.0.0.1", "::1", *self._node_addresses()]
        credential = pki.server_cert(domain, "localhost", sans=list(dict.fromkeys(names)),
                                     extra_ekus=[CLIENT_AUTH, CMC_RA])  # fmt: skip
        knobs = knobs_of(self.mutant)
        config = RegistrarConfig(
            credential=credential, domain_ca=domain,
            manufacturer_trust=read_certs(params["manufacturer_trust"]),
            masa_trust=read_certs(params["masa_trust"]),
            log=work / "registrar.log", csrattrs=registrar_csrattrs(),
        )  # fmt: skip
        if self.node is not None:
            config.host = self.node.ipv4
        self._server = RegistrarPeer(config, knobs.registrar, knobs.registrar_quirks)
        with self._placed():
            self._server.start()
        return {"url": self._server.url,
                "domain_ca": str(write_certs(work / "domain-ca.pem", [domain.cert]))}

    def _start_masa(self, work: Path) -> dict[str, str]:
        from harness.crypto.certs import write_certs
        from harness.crypto.pki import Pki
        from harness.protocols.brski.masa import MasaConfig, MasaPeer
        from harness.protocols.brski.mutants import knobs_of

        pki = Pki.create(work)
        manufacturer = pki.root_ca("Reference BRSKI Manufacturer CA")
        web = pki.root_ca("Reference BRSKI MASA Web Root")
        names = ["localhost", "127.0.0.1", "::1", *self._node_addresses()]
        config = MasaConfig(
            credential=pki.server_cert(web, "localhost", sans=list(dict.fromkeys(names))),
            signer=pki.client_cert(manufacturer, "Reference BRSKI MASA voucher signer"),
            manufacturer=manufacturer.cert, log=work / "masa.log",
        )  # fmt: skip
        if self.node is not None:
            config.host = self.node.ipv4
        # The MASA's own web root is of no registrar's domain: what a mutant pins.
        knobs = knobs_of(self.mutant, foreign_cert=web.cert)
        self._server = MasaPeer(config, knobs.masa, knobs.masa_quirks)
        with self._placed():
            self._server.start()
        idevid = pki.idevid(manufacturer, serial_number=DUT_SERIAL, model="BRSKI tester")
        files = idevid.write(work, "tester-idevid")
        return {
            "url": self._server.url,
            "masa_trust": str(write_certs(work / "masa-web-root.pem", [web.cert])),
            "voucher_anchor": str(write_certs(work / "manufacturer.pem", [manufacturer.cert])),
            "idevid_cert": str(files.bundle),
            "idevid_key": str(files.key),
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- pledge --------------------------------------------------------------------------

    def supports(self, action: str) -> bool:
        return "pledge" in self.roles and action in self.ACTIONS

    def reset(self, params: dict[str, str]) -> None:
        state = Path(params.get("state_dir") or "")
        if state.is_dir():
            for item in state.iterdir():
                if item.is_file():
                    item.unlink()

    def action(self, name: str, params: dict[str, str], timeout: float | None = None
               ) -> ActionResult:  # fmt: skip
        if not self.supports(name):
            raise ControlError(name, "the reference BRSKI pledge has no such action")
        started = time.monotonic()
        if name == "reset":
            self.reset(params)
            return ActionResult(name, 0, "", "", time.monotonic() - started)
        try:
            with self._placed():  # its connections leave from the DUT's node
                out = self._onboard(params)
            code, err = 0, ""
        except OnboardcheckError as exc:
            out, code, err = "", 1, f"{type(exc).__name__}: {exc}\n"
        return ActionResult(name, code, out, err, time.monotonic() - started)

    def _onboard(self, params: dict[str, str]) -> str:
        from harness.crypto.certs import read_certs, write_certs
        from harness.crypto.pki import read_certified
        from harness.protocols.brski.mutants import knobs_of
        from harness.protocols.brski.pledge import Pledge, PledgeConfig

        for needed in ("registrar_url", "idevid_cert", "idevid_key", "manufacturer_anchor"):
            if not params.get(needed):
                raise ControlError("onboard", f"the pledge needs the parameter {needed}")
        knobs = knobs_of(self.mutant)
        keylog = params.get("keylog")
        config = PledgeConfig(
            idevid=read_certified(params["idevid_cert"], params["idevid_key"]),
            manufacturer_anchor=read_certs(params["manufacturer_anchor"])[0],
            registrar_url=params["registrar_url"],
            keylog=Path(keylog) if keylog else None,
            sleep=lambda seconds: time.sleep(seconds / TIME_SCALE),
        )
        pledge = Pledge(config, knobs.pledge, knobs.pledge_quirks)
        state = Path(params.get("state_dir") or ".")
        try:
            result = pledge.run()
        finally:
            if pledge.waits:
                state.mkdir(parents=True, exist_ok=True)
                (state / RETRY_WAITS).write_text("".join(f"{w:g}\n" for w in pledge.waits))
        write_certs(state / "pinned.pem", [result.pinned])
        write_certs(state / "ldevid.pem", [result.ldevid.cert])
        return f"enrolled: {result.ldevid.cert.subject.rfc4514_string()}\n"

    def _node_addresses(self) -> list[str]:
        return list(self.node.addresses) if self.node is not None else []

    def _placed(self) -> contextlib.AbstractContextManager[None]:
        return self.node.inside() if self.node is not None else contextlib.nullcontext()
