"""The arrangement of one SZTP test case with the DUT as bootstrap server.

The harness makes every credential (`SztpPkiSet`), writes what the DUT is to serve
(`bed_setup`: which serial numbers get redirect or onboarding information, signed or
not), starts the DUT and configures it through its `configure` action, then speaks to
it as devices do (`DevicePeer`) through a capture relay. The peer's TLS key log lies
beside the capture. Tests compare the answers with what was configured.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.backends import LoopbackBackend, TestNetwork
from harness.capture import CaptureSession, PacketCursor, decode
from harness.control import Controller
from harness.crypto.pki import CertifiedKey, Pki
from harness.errors import DecodeError, PeerError
from harness.evidence import EvidenceDir
from harness.peers import sztpd_config as sc
from harness.protocols.sztp import codec
from harness.protocols.sztp.config import DeviceEntry, ServerSetup, dumps
from harness.protocols.sztp.errors import SztpCodecError
from harness.protocols.sztp.peer import Answer, DevicePeer, Opened, open_output
from harness.protocols.voucher.cms import ID_CT_ANIMA_JSON_VOUCHER, sign_cms
from harness.protocols.voucher.model import Voucher, voucher_to_json
from harness.verdicts import Inconclusive, check, fail

KEYLOG = "tls.keylog"
REDIRECT_SN = "ONBC-SZTP-REDIRECT-1"
ONBOARD_SN = "ONBC-SZTP-ONBOARD-2"
SIGNED_SN = "ONBC-SZTP-SIGNED-3"
CODE_SN = "ONBC-SZTP-CODE-4"
UNKNOWN_SN = "ONBC-SZTP-UNKNOWN-9"
ACTIVATION_CODE = "onboardcheck-code-4711"
NEXT_SERVER = ("198.18.0.10", 8443)  # the redirect target: test-network addresses only
BOOT_DIGEST = bytes(range(32))
CONFIGURATION = b"<config xmlns='urn:example:onboardcheck'><hostname>dut</hostname></config>"
POST_SCRIPT = b"#!/bin/sh\necho onboardcheck\n"


@dataclass
class SztpPkiSet:
    """Every credential of the SZTP testbed, made once per campaign."""

    server_root: CertifiedKey  # the device's trust anchor for the DUT
    device_ca: CertifiedKey  # the manufacturer CA of the devices' IDevIDs
    next_root: CertifiedKey  # root of the next bootstrap server (redirect trust anchor)
    next_ca: CertifiedKey  # its intermediate: the trust anchor is a chain of two
    owner_root: CertifiedKey  # the owner's root, pinned by the ownership voucher
    owner: CertifiedKey  # the owner certificate that signs conveyed information
    masa: CertifiedKey  # the manufacturer's voucher signer
    pki: Pki

    @classmethod
    def create(cls, folder: Path) -> SztpPkiSet:
        pki = Pki.create(folder)
        next_root = pki.root_ca("onboardcheck next bootstrap server root")
        owner_root = pki.root_ca("onboardcheck owner root")
        masa_root = pki.root_ca("onboardcheck manufacturer voucher root")
        return cls(
            server_root=pki.root_ca("onboardcheck SZTP server root"),
            device_ca=pki.root_ca("onboardcheck SZTP manufacturer CA"),
            next_root=next_root,
            next_ca=pki.sub_ca(next_root, "onboardcheck next bootstrap server CA"),
            owner_root=owner_root,
            owner=pki.client_cert(owner_root, "onboardcheck owner certificate"),
            masa=pki.client_cert(masa_root, "onboardcheck voucher signer"),
            pki=pki,
        )

    def device(self, serial: str, issuer: CertifiedKey | None = None) -> CertifiedKey:
        return self.pki.idevid(issuer or self.device_ca, serial, model="onboardcheck device")

    def voucher(self, serial: str, *, expires_on: dt.datetime | None = None,
                pinned: x509.Certificate | None = None,
                created_on: dt.datetime | None = None) -> bytes:  # fmt: skip
        """An ownership voucher (RFC 8366) for `serial` pinning the owner's root (or
        `pinned`), created now (or `created_on`), expiring at `expires_on`."""
        now = created_on or dt.datetime.now(dt.UTC).replace(microsecond=0)
        pin = pinned or self.owner_root.cert
        voucher = Voucher(created_on=now, expires_on=expires_on, assertion="verified",
                          serial_number=serial, pinned_domain_cert=pin.public_bytes(Encoding.DER))
        return sign_cms(voucher_to_json(voucher), ID_CT_ANIMA_JSON_VOUCHER,
                        self.masa.key, self.masa.cert)  # fmt: skip


def redirect_info(pki: SztpPkiSet) -> codec.RedirectInformation:
    anchor = codec.certs_only([pki.next_ca.cert, pki.next_root.cert])
    return codec.RedirectInformation([codec.BootstrapServer(*NEXT_SERVER, anchor)])


def onboarding_info() -> codec.OnboardingInformation:
    return codec.OnboardingInformation(
        boot_image=codec.BootImage("ExampleOS", "17.3R2.1", ["https://198.18.0.10/image"],
                                   [(codec.SHA_256, BOOT_DIGEST)]),
        configuration_handling="merge",
        configuration=CONFIGURATION,
        post_configuration_script=POST_SCRIPT,
    )


def bed_setup(pki: SztpPkiSet, address: str, port: int, signed: bool,
              server_names: list[str], activation_code: bool = False) -> ServerSetup:  # fmt: skip
    """What the DUT is configured to serve: one device redirected, one onboarded with
    unsigned information and, when the DUT claims signed data, one onboarded with signed
    information, its owner certificate and ownership voucher; when it claims activation
    codes, one redirected device that must present its code."""
    server = pki.pki.server_cert(pki.server_root, server_names[0], sans=server_names)
    devices = [DeviceEntry(REDIRECT_SN, redirect_info(pki)),
               DeviceEntry(ONBOARD_SN, onboarding_info())]  # fmt: skip
    if signed:
        devices.append(DeviceEntry(SIGNED_SN, onboarding_info(), True, pki.voucher(SIGNED_SN)))
    if activation_code:
        devices.append(DeviceEntry(CODE_SN, redirect_info(pki), activation_code=ACTIVATION_CODE))
    return ServerSetup(address, port, server, [pki.device_ca.cert], devices,
                       pki.owner if signed else None)  # fmt: skip


def sztpd_document(setup: ServerSetup) -> str:
    """The same setup as sztpd's running datastore (harness.peers.sztpd_config); signed
    devices are left out: sztpd 0.0.46 cannot serve signed data."""
    devices = []
    for dev in setup.devices:
        if dev.signed:
            continue
        if isinstance(dev.conveyed, codec.RedirectInformation):
            devices.append(sc.Device(dev.serial_number, redirect=[
                sc.BootstrapServer(s.address, s.port, codec.certs_from_cms(s.trust_anchor)
                                   if s.trust_anchor else ())
                for s in dev.conveyed.bootstrap_servers], activation_code=dev.activation_code))
            continue
        info = dev.conveyed
        image = None
        if info.boot_image is not None:
            digests = [v for alg, v in info.boot_image.image_verification if alg == codec.SHA_256]
            image = sc.BootImage(info.boot_image.os_name or "", info.boot_image.os_version or "",
                                 info.boot_image.download_uris, digests[0] if digests else None)
        devices.append(sc.Device(dev.serial_number, onboarding=sc.Onboarding(
            boot_image=image,
            pre_configuration_script=info.pre_configuration_script,
            configuration=info.configuration,
            configuration_handling=info.configuration_handling or "merge",  # type: ignore[arg-type]
            post_configuration_script=info.post_configuration_script,
        ), activation_code=dev.activation_code))
    return sc.dumps(sc.SztpdConfig(setup.address, setup.port, setup.server,
                                   list(setup.device_ca), devices))  # fmt: skip


def free_ports(*hosts: str) -> list[int]:
    """A free port on each host, all different: every probe stays bound until the last is
    chosen, so the kernel cannot hand the same port out twice (one probe at a time could:
    sztpd's bootstrap and management ports once collided so)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = stack.enter_context(socket.socket(family))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class BootstrapServerBed:
    """DUT = bootstrap server. `start()` brings it up configured; `device()` gives a peer."""

    def __init__(self, controller: Controller, pki: SztpPkiSet, evidence: EvidenceDir,
                 quote: Callable[[str], str], capture_mode: str = "auto",
                 signed: bool = False, activation_code: bool = False,
                 network: TestNetwork | None = None):  # fmt: skip
        self.controller = controller
        self.pki = pki
        self.evidence = evidence
        self.quote = quote
        self.capture_mode = capture_mode
        self.signed = signed
        self.activation_code = activation_code
        self.network = network or LoopbackBackend().open("loopback", ["peer", "dut"])
        self.peer_node = self.network.node("peer")
        self.keylog = evidence.file(KEYLOG)
        self.setup: ServerSetup | None = None
        self.port = 0
        self._host = ""
        self._started = False
        self._capture: CaptureSession | None = None
        self._cursor: PacketCursor | None = None
        self.peers: list[DevicePeer] = []

    def start(self) -> ServerSetup:
        dut = self.network.node("dut")
        host = dut.ipv4
        # on loopback every DUT shares the harness's host: any free port; elsewhere the
        # DUT's node is its own
        if self.network.backend == "loopback":
            port, native = free_ports(host, "127.0.0.1")
        else:
            port, native = 8443, free_ports("127.0.0.1")[0]
        names = list(dict.fromkeys([host, "localhost", "127.0.0.1", *dut.addresses]))
        self.setup = bed_setup(self.pki, host, port, self.signed, names, self.activation_code)
        work = self.evidence.file("dut")
        work.mkdir(parents=True, exist_ok=True)
        state = self.evidence.file("state")
        state.mkdir(exist_ok=True)
        config = self.evidence.write_text("sztp-config.json", dumps(self.setup))
        document = self.evidence.write_text("sztpd-config.json", sztpd_document(self.setup))
        params = {
            "work_dir": str(work), "state_dir": str(state), "dut_address": host,
            "bootstrap_port": str(port), "native_port": str(native),
            "sztp_config": str(config), "sztpd_config": str(document),
        }  # fmt: skip
        self.controller.start(params)
        self._started = True
        if not self.controller.supports("configure"):
            raise Inconclusive("the DUT profile defines no 'configure' action")
        result = self.controller.action("configure", params)
        self.evidence.write_text(
            "dut-configure.out",
            f"# {result.describe()}\n## stdout\n{result.stdout}\n## stderr\n{result.stderr}\n",
        )
        if not result.ok:
            raise Inconclusive(f"the DUT's configure action failed: {result.describe()}")
        self._capture = CaptureSession(self.evidence.path, "sztp", [port], self.capture_mode,
                                       network=self.network)  # fmt: skip
        self._capture.start()
        self.port = self._capture.relay((host, port))
        self._host = host
        return self.setup

    def connect(self, address: tuple[str, int], timeout: float | None = None) -> socket.socket:
        return self.peer_node.create_connection(address, timeout)

    def device(self, serial: str | None = REDIRECT_SN, issuer: CertifiedKey | None = None,
               basic: tuple[str, str] | None = None) -> DevicePeer:  # fmt: skip
        """A device peer: its IDevID for `serial` (None: no client certificate)."""
        if not self._started:
            raise PeerError("start() the bed first")
        cred = self.pki.device(serial, issuer) if serial is not None else None
        peer = DevicePeer(self._host, self.port, [self.pki.server_root.cert], cred,
                          keylog=self.keylog, connect=self.connect, basic=basic)  # fmt: skip
        self.peers.append(peer)
        return peer

    def call(self, serial: str | None, request: codec.GetBootstrappingDataInput | None = None,
             **kw: object) -> Answer:
        """get-bootstrapping-data as the device `serial` (keyword arguments: device())."""
        return self.device(serial, **kw).get_bootstrapping_data(request)  # type: ignore[arg-type]

    def opened(self, answer: Answer, requirement: str, what: str) -> Opened:
        """The answer taken apart; fails `requirement` when it is not a 200 with
        decodable conveyed information."""
        check(answer.status == 200, f"{what}: expected 200, got {answer.describe()}",
              requirement)  # fmt: skip
        try:
            return open_output(answer)
        except SztpCodecError as exc:
            fail(f"{what}: the answer does not decode: {exc}", requirement)

    def refusal_counts(self, what: str) -> None:
        """A refusal is the DUT's judgement only if it serves a configured device: one
        that closes, garbles or ignores every connection refuses everything. Inconclusive
        unless `REDIRECT_SN` then gets decodable conveyed information."""
        answer = self.call(REDIRECT_SN)
        try:
            if answer.status == 200:
                open_output(answer)
                return
        except SztpCodecError as exc:
            raise Inconclusive(
                f"{what} was refused, but the configured device {REDIRECT_SN} got no "
                f"decodable answer either ({exc}): the refusal proves nothing"
            ) from None
        raise Inconclusive(
            f"{what} was refused, but so was the configured device {REDIRECT_SN} "
            f"({answer.describe()}): the refusal proves nothing"
        )

    def trust_anchor_root(self) -> x509.Certificate:
        return self.pki.next_root.cert

    def wire(self) -> PacketCursor:
        """Stop capturing and return the cursor over the decoded exchange."""
        if self._cursor is None:
            if self._capture is None:
                raise PeerError("nothing was captured: the test started no exchange")
            result = self._capture.stop()
            ports = [p for p in {self.port, *self._capture.ports} if p]
            try:
                frames = decode(result.pcap, keylog=self.keylog, tls_ports=ports)
            except DecodeError as exc:
                raise Inconclusive(f"the capture could not be decoded: {exc}") from None
            self._cursor = PacketCursor(frames, quote=self.quote, pcap=result.pcap,
                                        keylog=self.keylog, tls_ports=ports)  # fmt: skip
        return self._cursor

    def _record(self) -> None:
        lines = []
        for peer in self.peers:
            for answer in peer.answers:
                lines.append(f"> POST {answer.rpc} {answer.request.decode(errors='replace')}")
                lines.append(f"< {answer.describe()}")
        if lines:
            self.evidence.write_text("device-answers.txt", "\n".join(lines) + "\n")

    def close(self) -> None:
        self._record()
        if self._capture is not None:
            self._capture.stop()
        if self._started:
            self._started = False
            self.controller.stop()
