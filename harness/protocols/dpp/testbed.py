"""The arrangement of one DPP test case: DUT, tester peer, link and capture.

DPP over TCP (R2): the responder listens, the initiator connects. With the DUT as
responder the DUT's `listen` action opens its port and the tester initiator connects
from the peer node; with the DUT as initiator the tester responder listens on the peer
node and the DUT's `initiate` action connects to it. Each test gets its own ports
(wpa_supplicant binds its controller to every address, so ports must not be shared),
captured live (or through a recording relay in transcript mode) and decoded by
tshark's `dpp` dissector; the tester's own log with the session keys (`dpp-keys.json`)
sits beside the capture.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from harness.backends import TestNetwork
from harness.capture import CaptureSession, Frame, PacketCursor, decode
from harness.control import ActionResult, Controller
from harness.errors import ControlError, DecodeError
from harness.evidence import EvidenceDir
from harness.medium import AirRecorder, UdpRadio
from harness.protocols.dpp.auth import AuthRole, Bootstrap, Initiator, Responder
from harness.protocols.dpp.config import Configurator
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.exchange import ConfigSide, Exchange, run_initiator, run_responder
from harness.protocols.dpp.radiotap import write_pcapng
from harness.protocols.dpp.transport import AirLink, TcpLink
from harness.protocols.dpp.uri import BootstrapInfo, make_uri, parse_uri
from harness.verdicts import Inconclusive

EXCHANGE_TIMEOUT = 6.0  # seconds the tester waits for each DUT message over TCP
# On the virtual medium a frame arrives within milliseconds or not at all (nothing is
# retransmitted): a shorter wait tells silence apart just as well.
AIR_TIMEOUT = 3.0
ACCEPT_TIMEOUT = 8.0  # for the DUT's connection after its initiate action
RECEIVED_WAIT = 1.5  # for the DUT to report a configuration it installs
_URI = re.compile(r"DPP:\S*;;")
PCAP = "capture.pcapng"
# Locally administered addresses of the two radios on the virtual 802.11 medium.
PEER_MAC, DUT_MAC = "02:0b:c0:00:00:01", "02:0b:c0:00:00:02"


def free_ports(*node_ctxs: Callable[[], contextlib.AbstractContextManager[None]]) -> list[int]:
    """A free port in each node, all different: every probe stays bound until the last is
    chosen, as on loopback the nodes are one host and one probe at a time could be handed
    the same port twice."""
    with contextlib.ExitStack() as stack:
        ports = []
        for node_ctx in node_ctxs:
            with node_ctx():
                probe = stack.enter_context(socket.socket())
                probe.bind(("", 0))
            ports.append(int(probe.getsockname()[1]))
        return ports


class DppBed:
    def __init__(self, controller: Controller, evidence: EvidenceDir,
                 quote: Callable[[str], str], capture_mode: str, network: TestNetwork,
                 oob: dict[str, str], work: Path,
                 ics: dict[str, object] | None = None):  # fmt: skip
        self.controller = controller
        self.evidence = evidence
        self.quote = quote
        self.network = network
        self.oob = oob
        self.peer_node = network.node("peer")
        self.dut_node = network.node("dut")
        self.dut_port, self.peer_port = free_ports(self.dut_node.inside, self.peer_node.inside)
        self.state_dir = work / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.capture = CaptureSession(evidence.path, evidence.path.name,
                                      [self.dut_port, self.peer_port], capture_mode,
                                      network=network)  # fmt: skip
        self.exchanges: list[Exchange] = []
        self.actions: list[ActionResult] = []
        self._cursor: PacketCursor | None = None
        self._started = False
        self._relayed: list[int] = []  # relay ports (transcript mode): decoded as DPP too
        # The server side of the test's connections: the DUT when it is the responder.
        self.dut_is_server = True
        self.dut_side_ports: set[int] = set()
        # DPP over TCP when the DUT claims it, else the virtual 802.11 medium.
        answers = ics or {}
        self.link = "80211" if answers.get("DPP-80211") and not answers.get("DPP-TCP") \
            else "tcp"
        self.air = AirRecorder()
        self.timeout = AIR_TIMEOUT if self.link == "80211" else EXCHANGE_TIMEOUT
        # The tester configurator of a configuration test: what the DUT must install.
        self.tester_configurator: Configurator | None = None

    # -- the DUT -------------------------------------------------------------------------------

    def params(self, **extra: str) -> dict[str, str]:
        return {"work_dir": str(self.state_dir.parent), "state_dir": str(self.state_dir),
                "dut_port": str(self.dut_port), "dut_address": self.dut_node.ipv4,
                "link": self.link, "dut_mac": DUT_MAC, "peer_mac": PEER_MAC, **extra}

    def start(self) -> None:
        if not self._started:
            try:
                self.controller.start(self.params())
            except ControlError as exc:  # the DUT's failure, not the harness's
                self.evidence.write_text("dut-start-failed.txt", f"{exc}\n{exc.output}")
                raise Inconclusive(f"the DUT did not start: {exc}") from None
            self._started = True

    def run(self, action: str, **params: str) -> ActionResult:
        self.start()
        if not self.controller.supports(action):
            raise Inconclusive(f"the DUT profile defines no {action!r} action")
        result = self.controller.action(action, self.params(**params))
        self.actions.append(result)
        self.evidence.write_text(f"dut-{len(self.actions):02d}-{action}.txt",
                                 f"{result.describe()}\n--- stdout\n{result.stdout}\n"
                                 f"--- stderr\n{result.stderr}")  # fmt: skip
        return result

    def dut_uri_text(self, curve: str = "P-256") -> str | None:
        """The DUT's bootstrapping URI: its profile's OOB `uri`, else its bootstrap action."""
        if self.oob.get("uri"):
            return self.oob["uri"].strip()
        result = self.run("bootstrap", curve=curve)
        found = _URI.search(result.stdout) if result.ok else None
        return found.group(0) if found else None

    def dut_uri(self, curve: str = "P-256") -> BootstrapInfo:
        text = self.dut_uri_text(curve)
        if text is None:
            raise Inconclusive("the DUT gave no bootstrapping URI (OOB `uri` or bootstrap action)")
        try:
            return parse_uri(text)
        except DppCodecError as exc:
            raise Inconclusive(f"the DUT's bootstrapping URI does not parse: {exc}") from None

    def received(self, wait: float = RECEIVED_WAIT) -> dict[str, object] | None:
        """What the DUT reports it installed, polled for `wait` seconds: a device
        installs a configuration after the exchange the tester saw has ended."""
        deadline = time.monotonic() + wait
        while True:
            result = self.run("received")
            found = _json_object(result.stdout) if result.ok else None
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(0.25)

    # -- DUT as responder ----------------------------------------------------------------------

    def dut_listens(self, role: AuthRole | str, peer: Bootstrap | None = None,
                    **conf: str) -> ActionResult:  # fmt: skip
        extra = {"role": str(AuthRole(role)), **conf}
        if peer is not None:
            extra["peer_uri"] = uri_of(peer)
        result = self.run("listen", **extra)
        if not result.ok:
            raise Inconclusive(f"the DUT could not listen: {result.describe()}: "
                               f"{result.stderr.strip()[:300]}")  # fmt: skip
        return result

    def connect_to_dut(self) -> TcpLink | AirLink:
        if self.link == "80211":
            self.dut_is_server = True
            radio = UdpRadio.bind(self.peer_node.ipv4, 0, (self.dut_node.ipv4, self.dut_port),
                                  self.air, self.peer_node.inside)  # fmt: skip
            return AirLink(radio, PEER_MAC, DUT_MAC)
        self.capture.start()
        port = self._relay(self.dut_node.ipv4, self.dut_port)
        self.dut_is_server = True
        self.dut_side_ports |= {self.dut_port, port}
        host = self.dut_node.ipv4 if self.capture.mode == "live" else "127.0.0.1"
        try:
            sock = self.peer_node.create_connection((host, port), timeout=EXCHANGE_TIMEOUT)
        except OSError as exc:
            raise Inconclusive(f"cannot connect to the DUT at {host}:{port}: {exc}") from None
        return TcpLink(sock)

    def to_dut(self, initiator: Initiator, side: ConfigSide | None = None) -> Exchange:
        """One exchange with the tester as initiator, on a new connection to the DUT."""
        link = self.connect_to_dut()
        try:
            ex = run_initiator(link, initiator, side or ConfigSide(), self.timeout)
        finally:
            link.close()
        return self._keep(ex)

    # -- DUT as initiator ----------------------------------------------------------------------

    def from_dut(self, responder: Responder, side: ConfigSide | None = None,
                 mutual: bool = False, **conf: str) -> tuple[ActionResult, Exchange | None]:
        """The DUT initiates to the tester responder (its URI given to the DUT)."""
        if self.link == "80211":
            return self._from_dut_air(responder, side, mutual, **conf)
        self.capture.start()
        with self.peer_node.inside():
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.peer_node.ipv4, self.peer_port))
            listener.listen(1)
            listener.settimeout(ACCEPT_TIMEOUT)
            port = self._relay(self.peer_node.ipv4, self.peer_port)
            self.dut_is_server = False
            self.dut_side_ports |= {self.peer_port, port}
            host = self.peer_node.ipv4 if self.capture.mode == "live" else "127.0.0.1"
            result = self.run("initiate", role=str(_other(responder.role)),
                              peer_uri=uri_of(responder.own), peer_host=host, peer_port=str(port),
                              mutual="1" if mutual else "0", **conf)  # fmt: skip
            if not result.ok:
                return result, None
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                return result, None
            link = TcpLink(sock)
            try:
                ex = run_responder(link, responder, side or ConfigSide(), EXCHANGE_TIMEOUT)
            finally:
                link.close()
            return result, self._keep(ex)
        finally:
            listener.close()

    def _from_dut_air(self, responder: Responder, side: ConfigSide | None, mutual: bool,
                      **conf: str) -> tuple[ActionResult, Exchange | None]:  # fmt: skip
        self.dut_is_server = False
        # A new port per attempt: a late frame of an earlier exchange (sent to the old
        # port) must not be taken for the first frame of this one.
        radio = UdpRadio.bind(self.peer_node.ipv4, 0, None, self.air, self.peer_node.inside)
        link = AirLink(radio, PEER_MAC)
        try:
            result = self.run("initiate", role=str(_other(responder.role)),
                              peer_uri=uri_of(responder.own), peer_host=self.peer_node.ipv4,
                              peer_port=str(radio.address[1]), mutual="1" if mutual else "0",
                              **conf)  # fmt: skip
            if not result.ok:
                return result, None
            ex = run_responder(link, responder, side or ConfigSide(), self.timeout)
            return result, self._keep(ex)
        finally:
            link.close()

    def sent_by_dut(self, frame: Frame) -> bool:
        """Whether the DUT sent `frame` (read from the decoded fields: no tshark pass)."""
        if self.link == "80211":
            return frame.get("wlan.sa") == DUT_MAC
        port = frame.sport if self.dut_is_server else frame.dport
        return port in self.dut_side_ports

    def gas(self, action: int) -> Callable[[Frame], bool]:
        """A frame filter for GAS frames of `action` (10: initial request, 11: response)."""
        name = "wlan.fixed.publicact" if self.link == "80211" else "dpp.tcp.action_type"
        return lambda frame: frame.get_int(name) == action

    def _relay(self, host: str, port: int) -> int:
        found = self.capture.relay((host, port))
        if found != port:
            self._relayed.append(found)
        return found

    # -- evidence ------------------------------------------------------------------------------

    def _keep(self, ex: Exchange) -> Exchange:
        self.exchanges.append(ex)
        ex.write(self.evidence.file(f"dpp-keys-{len(self.exchanges):02d}.json"))
        return ex

    def wire(self) -> PacketCursor:
        """Stop capturing; the cursor over the frames tshark decodes as DPP."""
        if self._cursor is None and self.link == "80211":
            pcap = self.air.write(self.evidence.file(PCAP), write_pcapng)
            try:
                frames = decode(pcap)
            except DecodeError as exc:
                raise Inconclusive(f"the capture could not be decoded: {exc}") from None
            self._cursor = PacketCursor(frames, quote=self.quote, pcap=pcap)
        if self._cursor is None:
            result = self.capture.stop()
            rules = [f"tcp.port=={p},dpp" for p in (self.dut_port, self.peer_port)]
            rules += [f"tcp.port=={p},dpp" for p in self._relayed]
            try:
                frames = decode(result.pcap, decode_as=rules)
            except DecodeError as exc:
                raise Inconclusive(f"the capture could not be decoded: {exc}") from None
            self._cursor = PacketCursor(frames, quote=self.quote, pcap=result.pcap,
                                        decode_as=rules)  # fmt: skip
        return self._cursor

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.capture.stop()
        if self._started:
            with contextlib.suppress(Exception):
                self.controller.reset(self.params())
            self.controller.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _other(role: AuthRole) -> AuthRole:
    return AuthRole.ENROLLEE if role == AuthRole.CONFIGURATOR else AuthRole.CONFIGURATOR


def uri_of(boot: Bootstrap) -> str:
    return make_uri(BootstrapInfo(key_der=boot.spki(), channels=[(81, 1)], mac=None,
                                  info=None, version=2, host=None))  # fmt: skip


def _json_object(text: str) -> dict[str, object] | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
