"""The arrangement of one SZTP test case with the DUT as device.

The harness is the bootstrap server (server.py with tester knobs): `serve()` starts it
(and, for redirect chains, a second one the first redirects to) on the test network's
peer node, captured there (live, or behind recording relays) with the servers' TLS key
log beside the capture. `bootstrap()` makes the
DUT run its `bootstrap` action against that server, with the IDevID, server trust anchor
and voucher trust anchor the bed made, and reads back the outcome the DUT left in its
state folder (`control.state` key `outcome`). Tests judge the outcome and what the
servers saw (`calls`, `progress`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cryptography import x509

from harness.backends import LoopbackBackend, TestNetwork
from harness.capture import CaptureSession
from harness.control import ActionResult, Controller
from harness.crypto.certs import write_certs
from harness.crypto.pki import CertifiedKey
from harness.evidence import EvidenceDir
from harness.protocols.sztp import codec
from harness.protocols.sztp.config import DeviceEntry, ServerSetup
from harness.protocols.sztp.device import DeviceOutcome, ServerEntry, dump_servers
from harness.protocols.sztp.errors import SztpCodecError
from harness.protocols.sztp.server import BootstrapServer, Call, ServerBehaviour
from harness.protocols.sztp.testbed import KEYLOG, SztpPkiSet, onboarding_info
from harness.verdicts import Inconclusive

DEVICE_SN = "ONBC-SZTP-DEVICE-5"
GUARD = 64  # calls a redirect loop gets before the tester stops answering it


class DeviceDutBed:
    """DUT = device. `serve()` the tester bootstrap server, then `bootstrap()`."""

    def __init__(self, controller: Controller, pki: SztpPkiSet, evidence: EvidenceDir,
                 quote: Callable[[str], str], capture_mode: str = "auto",
                 timeout: float | None = None, network: TestNetwork | None = None):  # fmt: skip
        self.network = network or LoopbackBackend().open("loopback", ["peer", "dut"])
        self.peer_node = self.network.node("peer")
        self.host = self.peer_node.ipv4  # where the tester servers listen
        self.controller = controller
        self.pki = pki
        self.evidence = evidence
        self.quote = quote
        self.capture_mode = capture_mode
        self.timeout = timeout  # None: the profile's bound on an action
        self.keylog = evidence.file(KEYLOG)
        self.state_dir = evidence.file("state")
        self.state_dir.mkdir(exist_ok=True)
        self.serial = DEVICE_SN
        self.entry: BootstrapServer | None = None  # the server of the device's list
        self.hop: BootstrapServer | None = None  # the redirect target of a chain
        self.trusted = True
        self.idevid: CertifiedKey | None = None
        self._capture: CaptureSession | None = None
        self._urls: list[str] = []
        self.results: list[ActionResult] = []

    def _server(self, setup: ServerSetup, behaviour: ServerBehaviour, name: str
                ) -> BootstrapServer:  # fmt: skip
        server = BootstrapServer(setup, behaviour, keylog=self.keylog,
                                 log=self.evidence.file(f"{name}.log"))  # fmt: skip
        with self.peer_node.inside():  # its threads stay on the peer node
            server.start()
        return server

    def serve(self, conveyed: codec.ConveyedInformation | None = None, *, signed: bool = False,
              voucher: bytes | None = None, trusted: bool = True,
              behaviour: ServerBehaviour | None = None, hops: int | None = 0,
              intermediate: bool = False, encrypted: bool = False) -> None:  # fmt: skip
        """Start the tester bootstrap server for the device `DEVICE_SN`.

        `conveyed`: what it serves (default: onboarding information), signed with the
        owner certificate and `voucher` (default: a valid one) when `signed`; `trusted`:
        whether the device is given the server's trust anchor; `hops`: a chain of that
        many redirects before it (None: a redirect loop); `intermediate`: the device's
        IDevID is issued by a sub-CA of the manufacturer CA the server trusts;
        `encrypted`: the conveyed information is encrypted to the device's IDevID (§3.4).
        """
        pki = self.pki
        host = self.host
        cred = pki.pki.server_cert(pki.server_root, host, sans=[host, "localhost"])
        if signed and voucher is None:
            voucher = pki.voucher(self.serial)
        self.trusted = trusted
        issuer = None
        if intermediate:
            issuer = pki.pki.sub_ca(pki.device_ca, "onboardcheck SZTP manufacturer sub-CA")
        self.idevid = pki.device(self.serial, issuer)
        device = DeviceEntry(self.serial, conveyed or onboarding_info(), signed, voucher,
                             encrypt_to=self.idevid.cert if encrypted else None)  # fmt: skip
        setup = ServerSetup(host, 0, cred, [pki.device_ca.cert], [device],
                            pki.owner if signed else None)  # fmt: skip
        knobs = behaviour or ServerBehaviour()
        if hops == 0:
            self.entry = self._server(setup, knobs, "bootstrap-server")
            self._capture_to([self.entry])
            return
        # the entry server redirects to the hop server, which redirects to itself
        # hops-1 times (per chain) and then serves `conveyed`
        self.hop = self._server(setup, dataclasses.replace(
            knobs, redirects=None if hops is None else hops - 1, call_limit=GUARD), "hop-server")
        front = dataclasses.replace(ServerBehaviour(), redirects=None)
        self.entry = self._server(dataclasses.replace(setup, devices=[device]), front,
                                  "bootstrap-server")  # fmt: skip
        _, hop_port = self._capture_to([self.entry, self.hop])
        anchor = codec.certs_only([pki.server_root.cert])
        target = codec.BootstrapServer(host, hop_port, anchor)
        self.entry.behaviour.redirect_to = target
        self.hop.behaviour.redirect_to = target
        self.entry.on_call = self.hop.restart_chain

    def _capture_to(self, servers: list[BootstrapServer]) -> list[int]:
        ports = [s.port for s in servers]
        self._capture = CaptureSession(self.evidence.path, "sztp", ports, self.capture_mode,
                                       network=self.network)  # fmt: skip
        self._capture.start()
        relays = [self._capture.relay((self.host, p)) for p in ports]
        self._urls = [f"https://{self.host}:{relays[0]}"]
        return relays

    def server_anchor(self) -> x509.Certificate:
        return self.pki.server_root.cert

    def bootstrap(self, **overrides: str) -> DeviceOutcome:
        """Make the DUT bootstrap from the tester server; the outcome it left."""
        if self.entry is None or self.idevid is None:
            raise Inconclusive("serve() the tester bootstrap server first")
        if not self.controller.supports("bootstrap"):
            raise Inconclusive("the DUT profile defines no 'bootstrap' action")
        folder = self.evidence.file("device-credentials")
        anchors = [self.server_anchor()] if self.trusted else []
        servers = self.evidence.write_text(
            "bootstrap-servers.json", dump_servers([ServerEntry(u, anchors) for u in self._urls]))
        ident = self.idevid.write(folder, "idevid")
        masa_root = self.pki.masa.chain[-1] if self.pki.masa.chain else self.pki.masa.cert
        params = {
            "bootstrap_servers": str(servers), "idevid_cert": str(ident.bundle),
            "idevid_key": str(ident.key),
            "voucher_anchor": str(write_certs(folder / "voucher-anchor.pem", [masa_root])),
            "server_anchor": str(write_certs(folder / "server-anchor.pem",
                                             [self.server_anchor()])),
            "state_dir": str(self.state_dir), "work_dir": str(self.evidence.path),
            "keylog": str(self.evidence.file("dut-tls.keylog")), **overrides,
        }  # fmt: skip
        if self.controller.supports("reset"):
            self.controller.action("reset", {"state_dir": str(self.state_dir)}, self.timeout)
        result = self.controller.action("bootstrap", params, self.timeout)
        self.results.append(result)
        self.evidence.write_text(
            f"dut-{len(self.results):02d}-bootstrap.out",
            f"# {result.describe()}\n## stdout\n{result.stdout}\n## stderr\n{result.stderr}\n",
        )
        if result.manual_unavailable:
            raise Inconclusive("bootstrap: the DUT needs an operator and none is available")
        found = self.controller.state(params).get("outcome")
        if not found:
            raise Inconclusive(f"the DUT left no outcome in its state folder: {result.describe()}")
        try:
            return DeviceOutcome.from_json(found)
        except SztpCodecError as exc:
            raise Inconclusive(f"the DUT's outcome does not decode: {exc}") from None

    @property
    def calls(self) -> list[Call]:
        """Every get-bootstrapping-data call the tester servers saw, entry first."""
        return [*(self.entry.calls if self.entry else []), *(self.hop.calls if self.hop else [])]

    def close(self) -> None:
        for server in (self.entry, self.hop):
            if server is not None:
                server.stop()
        if self._capture is not None:
            self._capture.stop()
