"""The `builtin` adapter: the harness's own reference implementations (and their
mutants) driven in-process, for demos and self-tests."""

from __future__ import annotations

import contextlib
import ssl
import time
from pathlib import Path

from harness.control.base import ActionResult, Controller
from harness.dut import DutProfile
from harness.errors import ControlError, ProfileError


class BuiltinEstController(Controller):
    """The reference EST client and server, optionally as a named mutant."""

    CLIENT_ACTIONS = ("cacerts", "csrattrs", "enroll", "reenroll", "serverkeygen", "reset")

    def __init__(self, roles: list[str], mutant: str | None):
        from harness.protocols.est import mutants

        super().__init__(
            {
                "explicit_ta": "{state_dir}/cacerts.pem",
                "client_certificate": "{state_dir}/cert.pem",
                "client_key": "{state_dir}/key.pem",
                "csrattrs": "{state_dir}/csrattrs.der",
                "serverkeygen_key": "{state_dir}/serverkeygen-key.pem",
            }
        )
        known = set(mutants.SERVER_MUTANTS) | set(mutants.CLIENT_MUTANTS)
        if mutant and mutant not in known:
            raise ProfileError(
                "<builtin>", "control.builtin.mutant", f"no EST mutant {mutant!r}; known: "
                + ", ".join(sorted(known))
            )  # fmt: skip
        self.roles = roles
        self.mutant = mutant
        self._server = None

    # -- server role ---------------------------------------------------------------------------

    def start(self, params: dict[str, str]) -> dict[str, str]:
        if "server" not in self.roles:
            return {}
        from harness.crypto.pki import Pki
        from harness.protocols.est import mutants
        from harness.protocols.est.reference import REFERENCE_CA_LABEL
        from harness.protocols.est.server import EstServerConfig
        from harness.protocols.est.server_ops import ServerBehaviour

        work = Path(params.get("work_dir") or ".")
        pki = Pki.create(work)
        root = pki.root_ca("Reference EST Root CA")
        ca = pki.sub_ca(root, "Reference EST CA")
        node_addresses = self.node.addresses if self.node is not None else []
        names = ["localhost", "127.0.0.1", "::1", *node_addresses]
        server = pki.server_cert(ca, "localhost", sans=list(dict.fromkeys(names)))
        manufacturer = pki.root_ca("Reference Manufacturer CA")
        idevid = pki.idevid(manufacturer, serial_number="REF-CLIENT-0001", model="EST tester")
        root_files = root.write(work, "server-root")
        client_files = idevid.write(work, "client-idevid")
        user, password = "estuser", "reference password"
        config = EstServerConfig(
            credential=server,
            ca=ca,
            client_trust=[manufacturer.cert, ca.cert],
            users={user: password},
            log=work / "server.log",
            csrattrs=_reference_csrattrs(),
            labels=(REFERENCE_CA_LABEL,),  # the reference ICS claims this CA label
        )
        if self.node is not None:
            config.host = self.node.ipv4
        mutant = self.mutant if self.mutant in mutants.SERVER_MUTANTS else None
        # the knobs a test may set on a server DUT, as a vendor would configure one
        behaviour = ServerBehaviour()
        if params.get("pending") == "1":  # manual approval: the first request waits
            behaviour.pending, behaviour.retry_after = 1, 1
        if params.get("pop") == "1":  # PoP linking required; tls-unique exists up to TLS 1.2
            behaviour.require_pop, behaviour.max_tls = True, ssl.TLSVersion.TLSv1_2
        if params.get("rollover") == "1":  # root CA key update under way (RFC 7030 §4.1.3)
            rollover = pki.root_rollover(root)
            config.cacerts = [ca.cert, *rollover.certificates()]
        self._server = mutants.make_server(config, behaviour, mutant)
        with self._placed():  # its listening thread stays on the DUT's node
            self._server.start()
        return {
            "url": self._server.base_url,
            "trust_anchors": str(root_files.cert),
            "client_cert": str(client_files.bundle),
            "client_key": str(client_files.key),
            "username": user,
            "password": password,
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- client role ---------------------------------------------------------------------------

    def supports(self, action: str) -> bool:
        return action in self.CLIENT_ACTIONS

    def reset(self, params: dict[str, str]) -> None:
        state = Path(params.get("state_dir") or "")
        if state.is_dir():
            for item in state.iterdir():
                if item.is_file():
                    item.unlink()

    def action(
        self, name: str, params: dict[str, str], timeout: float | None = None
    ) -> ActionResult:
        from harness.protocols.est import mutants
        from harness.protocols.est.params import EstClientParams
        from harness.protocols.est.reference_client import run_action

        if not self.supports(name):
            raise ControlError(name, "the reference EST client has no such action")
        started = time.monotonic()
        if name == "reset":
            self.reset(params)
            return ActionResult(name, 0, "", "", time.monotonic() - started)
        env = {f"ONBOARDCHECK_{k.upper()}": v for k, v in params.items()}
        try:
            typed = EstClientParams.from_env(env)
        except ValueError as exc:
            raise ControlError(name, str(exc)) from None
        mutant = self.mutant if self.mutant in mutants.CLIENT_MUTANTS else None
        with self._placed():  # its connections leave from the DUT's node
            outcome = run_action(name, typed, mutant)
        return ActionResult(
            name, outcome.returncode, outcome.stdout, outcome.stderr, time.monotonic() - started
        )


    def _placed(self) -> contextlib.AbstractContextManager[None]:
        return self.node.inside() if self.node is not None else contextlib.nullcontext()


def _reference_csrattrs() -> bytes:
    """The server's csrattrs: RFC 7030's own example (vectors/est/a4_csrattrs.json)."""
    from harness.vectors import vector_bytes

    return vector_bytes("est", "a4_csrattrs", "expected", "payload")


def builtin_factory(profile: DutProfile, protocol: str) -> Controller:
    """Factory for `harness.control.make_controller`."""
    section = profile.protocols[protocol]
    mutant = profile.control.builtin.mutant if profile.control.builtin else None
    if protocol == "est":
        return BuiltinEstController(list(section.roles), mutant)
    if protocol == "dpp":
        from harness.control.builtin_dpp import BuiltinDppController

        return BuiltinDppController(list(section.roles), mutant)
    if protocol == "sztp":
        from harness.control.builtin_sztp import BuiltinSztpController

        return BuiltinSztpController(list(section.roles), mutant)
    if protocol == "brski":
        from harness.control.builtin_brski import BuiltinBrskiController

        return BuiltinBrskiController(list(section.roles), mutant)
    raise ProfileError(
        profile.path or "<builtin>", "control.adapter", f"no builtin implementation of {protocol}"
    )
