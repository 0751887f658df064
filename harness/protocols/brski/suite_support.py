"""The arrangement of one BRSKI suite test: the DUT in one role, the tester in the others.

`PledgeDutBed`: DUT = pledge; the harness runs the registrar and the MASA (whose knobs
make the bad vouchers of the negative tests).
`RegistrarDutBed`: DUT = registrar; the harness runs the pledge and the MASA.
`MasaDutBed`: DUT = MASA; the harness is the registrar and posts its voucher-requests.

Every party has its place on the campaign's test network: the tester's servers listen
and its clients connect on node `peer`, the DUT is on node `dut`, and the URLs handed
between roles (registrar URL, the IDevID's MASA URI) name those nodes' addresses (all
127.0.0.1 on the loopback backend). Each bed captures the test's traffic (one capture
per test: on loopback through relays or on `lo`, elsewhere on the network's bridge) and
keeps the TLS key log beside it: the tester's servers and clients write their TLS
secrets there, and every connection of the flow has a tester end, so the key log
decrypts it all. `wire()` stops the capture and gives a cursor over the decoded frames.
"""

from __future__ import annotations

import datetime as dt
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from harness.backends import LoopbackBackend, TestNetwork
from harness.capture import CaptureSession, Frame, PacketCursor, decode
from harness.control import ActionResult, Controller
from harness.crypto.certs import read_certs, write_certs
from harness.crypto.pki import KEY_TYPES, CertifiedKey, generate_key, make_csr, read_certified
from harness.errors import DecodeError, OnboardcheckError, PeerError
from harness.evidence import EvidenceDir
from harness.protocols.brski.common import (
    EST_WELL_KNOWN,
    REQUESTVOUCHER,
    VOUCHER_CMS_JSON,
    WELL_KNOWN,
    StatusReport,
    idevid_issuer_of,
    parse_status,
    serial_of,
)
from harness.protocols.brski.csr_check import SIGNATURE_ALGORITHMS, X520_PREFIX
from harness.protocols.brski.masa import MasaBehaviour, MasaConfig, MasaPeer, MasaQuirks
from harness.protocols.brski.pledge import Pledge, PledgeBehaviour, PledgeConfig, PledgeQuirks
from harness.protocols.brski.registrar import (
    RegistrarBehaviour,
    RegistrarConfig,
    RegistrarPeer,
)
from harness.protocols.brski.server import BrskiRequest, Handler
from harness.protocols.brski.testbed import BrskiPkiSet, registrar_csrattrs
from harness.protocols.est.client import EstClientPeer, EstResponse
from harness.protocols.est.codec import CsrAttr
from harness.protocols.est.server import Exchange
from harness.protocols.est.server_ops import OpReply
from harness.protocols.voucher.cms import ID_CT_ANIMA_JSON_VOUCHER, sign_cms
from harness.protocols.voucher.model import VoucherRequest, voucher_request_to_json
from harness.verdicts import Inconclusive, fail, inconclusive

KEYLOG = "tls.keylog"
HOST = "127.0.0.1"  # every node's address on the loopback backend
PLEDGE_SERIAL = "ONBC-BRSKI-0001"


def is_voucher_request(frame: Frame) -> bool:
    uri = frame.get("http.request.uri")
    return isinstance(uri, str) and uri.endswith(REQUESTVOUCHER)


def numbers(frames: list[Frame]) -> list[str]:
    return [str(f.number) for f in frames]


def origin(host: str, port: int) -> str:
    """https://host:port, an IPv6 host in brackets."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def received(peer: RegistrarPeer | MasaPeer, path_end: str) -> list[Exchange]:
    """The requests a tester server answered whose path ends with `path_end`."""
    return [e for e in peer.exchanges if e.path.split("?", 1)[0].endswith(path_end)]


class _Bed:
    """Test network nodes, capture, relays and key log shared by the three beds."""

    def __init__(self, evidence: EvidenceDir, quote: Callable[[str], str], capture_mode: str,
                 network: TestNetwork | None = None):  # fmt: skip
        self.network = network or LoopbackBackend().open("loopback", ["peer", "dut"])
        self.peer_node = self.network.node("peer")
        self.host = self.peer_node.ipv4  # where the tester's servers listen
        self.evidence = evidence
        self.quote = quote
        self.capture_mode = capture_mode
        self.keylog = evidence.file(KEYLOG)
        self.pki = BrskiPkiSet.create(evidence.file("pki"), self.peer_node.addresses)
        self._capture: CaptureSession | None = None
        self._ports: set[int] = set()
        self._cursor: PacketCursor | None = None

    def _capture_to(self, targets: list[tuple[str, int]]) -> list[int]:
        """Start capturing traffic to `targets`; the ports to connect to, in order."""
        self._capture = CaptureSession(self.evidence.path, "brski", [p for _, p in targets],
                                       self.capture_mode, network=self.network)  # fmt: skip
        self._capture.start()
        relays = [self._capture.relay(target) for target in targets]
        self._ports |= {p for _, p in targets} | set(relays)
        return relays

    def connect(self, address: tuple[str, int], timeout: float | None = None,
                source_address: tuple[str, int] | None = None) -> socket.socket:  # fmt: skip
        """A TCP connection from the tester's node (the client peers' `connect=`)."""
        return self.peer_node.create_connection(address, timeout, source_address)

    def dut_address(self) -> str:
        """Where the test network put the DUT."""
        return self.network.node("dut").ipv4

    def wire(self) -> PacketCursor:
        """Stop the peers and the capture; the cursor over the decrypted exchange."""
        if self._cursor is None:
            self._stop_peers()
            if self._capture is None:
                raise PeerError("nothing was captured: the test started no exchange")
            result = self._capture.stop()
            ports = sorted(self._ports | set(self._capture.ports))
            try:
                frames = decode(result.pcap, keylog=self.keylog, tls_ports=ports)
            except DecodeError as exc:
                raise Inconclusive(f"the capture could not be decoded: {exc}") from None
            self._cursor = PacketCursor(frames, quote=self.quote, pcap=result.pcap,
                                        keylog=self.keylog, tls_ports=ports)  # fmt: skip
        return self._cursor

    def _stop_peers(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop_peers()
        if self._capture is not None and self._cursor is None:
            self._capture.stop()


# -- DUT = pledge ----------------------------------------------------------------------------


class ScriptedRegistrar(RegistrarPeer):
    """The tester registrar; its first voucher requests get the scripted answers (a 202
    with Retry-After, a redirect), the others the reference registrar's."""

    script: list[OpReply]

    def route(self, request: BrskiRequest) -> Handler | None:
        if request.path == REQUESTVOUCHER and getattr(self, "script", None):
            reply = self.script.pop(0)
            return lambda _: reply
        return super().route(request)


def accepted_later(seconds: int) -> OpReply:
    """A 202 asking the pledge to come back after `seconds` (§5.6)."""
    return OpReply(202, [("Retry-After", str(seconds))], b"", f"202, Retry-After {seconds}")


def redirect_to(url: str) -> OpReply:
    return OpReply(307, [("Location", url)], b"", f"redirected to {url}")


class PledgeDutBed(_Bed):
    """`serve()` starts the tester MASA and registrar; `onboard()` makes the DUT run."""

    def __init__(self, controller: Controller, evidence: EvidenceDir,
                 quote: Callable[[str], str], capture_mode: str = "auto",
                 timeout: float | None = None, network: TestNetwork | None = None):  # fmt: skip
        super().__init__(evidence, quote, capture_mode, network)
        self.controller = controller
        self.timeout = timeout  # None: the profile's bound on an action
        self.state_dir = evidence.file("state")
        self.state_dir.mkdir(exist_ok=True)
        self.masa: MasaPeer | None = None
        self.registrar: RegistrarPeer | None = None
        self.hops: list[ScriptedRegistrar] = []  # registrars on further origins
        self.registrar_url = ""
        self.idevid: CertifiedKey | None = None
        self.files: dict[str, str] = {}
        self.results: list[ActionResult] = []

    def serve(self, masa: MasaBehaviour | None = None, masa_cls: type[MasaPeer] = MasaPeer,
              registrar: RegistrarBehaviour | None = None, script: list[OpReply] | None = None,
              hops: int = 0) -> None:  # fmt: skip
        """Start MASA and registrar; `script`: the registrar's first voucher answers;
        `hops`: that many more registrars on other origins, each redirecting the voucher
        request to the next (the registrar to the first, the last answers it)."""
        pki, host = self.pki, self.host
        masa_peer = masa_cls(
            MasaConfig(credential=pki.masa_tls, signer=pki.masa_signer,
                       manufacturer=pki.manufacturer.cert, host=host, keylog=self.keylog,
                       log=self.evidence.file("masa.log")),
            masa,
        )  # fmt: skip
        peers = [
            ScriptedRegistrar(
                RegistrarConfig(credential=pki.registrar, domain_ca=pki.domain_ca,
                                manufacturer_trust=[pki.manufacturer.cert],
                                masa_trust=[pki.masa_web_root.cert], host=host,
                                keylog=self.keylog,
                                log=self.evidence.file(f"registrar-{n}.log"),
                                csrattrs=registrar_csrattrs(), masa_connect=self.connect),
                registrar,
            )
            for n in range(1 + hops)
        ]  # fmt: skip
        self.masa, self.registrar, self.hops = masa_peer, peers[0], peers[1:]
        with self.peer_node.inside():  # their listening threads stay on the tester's node
            for server in (masa_peer, *peers):
                server.start()
        ports = self._capture_to([(host, self.registrar.port), (host, self.masa.port),
                                  *[(host, p.port) for p in self.hops]])  # fmt: skip
        reg_port, masa_port, hop_ports = ports[0], ports[1], ports[2:]
        self.registrar_url = origin(host, reg_port)
        origins = [reg_port, *hop_ports]
        for peer, nxt in zip(peers, origins[1:], strict=False):
            peer.script = [redirect_to(origin(host, nxt) + REQUESTVOUCHER)]
        if script:
            self.registrar.script = list(script)
        authority = origin(host, masa_port).removeprefix("https://")
        self.idevid = pki.idevid(authority, serial=PLEDGE_SERIAL)
        folder = self.evidence.file("pledge-credentials")
        ident = self.idevid.write(folder, "idevid")
        anchor = write_certs(folder / "manufacturer.pem", [pki.manufacturer.cert])
        self.files = {"idevid_cert": str(ident.bundle), "idevid_key": str(ident.key),
                      "manufacturer_anchor": str(anchor)}  # fmt: skip

    def onboard(self, timeout: float | None = None, **overrides: str) -> ActionResult:
        """Make the DUT onboard against the tester registrar; its output is evidence.
        `timeout`: what the test needs at least (a pledge waiting out a 202), else the
        bed's, else the profile's."""
        if not self.controller.supports("onboard"):
            raise Inconclusive("the DUT profile defines no 'onboard' action")
        params = {"registrar_url": self.registrar_url, **self.files,
                  "dut_address": self.dut_address(),
                  "state_dir": str(self.state_dir), "work_dir": str(self.evidence.path),
                  "keylog": str(self.evidence.file("dut-tls.keylog")), **overrides}  # fmt: skip
        result = self.controller.action("onboard", params, timeout or self.timeout)
        self.results.append(result)
        self.evidence.write_text(
            f"dut-{len(self.results):02d}-onboard.out",
            f"# {result.describe()}\n## stdout\n{result.stdout}\n## stderr\n{result.stderr}\n",
        )
        if result.manual_unavailable:
            raise Inconclusive("onboard: the DUT needs an operator and none is available")
        return result

    def scheduled_waits(self) -> list[float] | None:
        """The waits (seconds) the DUT says it scheduled after each 202, from its state
        `retry_waits` (a text file, one number a line); None when its profile keeps no
        such record. Inconclusive when the record does not parse."""
        state = self.controller.state({"state_dir": str(self.state_dir)})
        if "retry_waits" not in state:
            return None
        raw = state["retry_waits"] or b""
        try:
            return [float(line) for line in raw.decode("ascii").split()]
        except (UnicodeDecodeError, ValueError):
            raise Inconclusive(
                f"the DUT's retry_waits record does not parse: {raw[:80]!r}") from None

    def reset(self) -> None:
        if self.controller.supports("reset"):
            self.controller.action("reset", {"state_dir": str(self.state_dir)}, self.timeout)

    def requests(self) -> list[VoucherRequest]:
        """The pledge voucher-requests the tester registrar forwarded (in the RVRs)."""
        assert self.registrar is not None
        return [v.request for v in self.registrar.vouchers]

    def pvr_bodies(self) -> list[Exchange]:
        assert self.registrar is not None
        return received(self.registrar, REQUESTVOUCHER)

    def voucher_status(self) -> list[StatusReport]:
        assert self.registrar is not None
        return [report for _, report in self.registrar.voucher_status]

    def enrolled(self) -> list[Exchange]:
        """The /simpleenroll requests the tester registrar answered."""
        assert self.registrar is not None
        return received(self.registrar, "/simpleenroll")

    def _stop_peers(self) -> None:
        for peer in (self.registrar, *self.hops, self.masa):
            if peer is not None:
                peer.stop()


# -- DUT = registrar -------------------------------------------------------------------------


class RegistrarDutBed(_Bed):
    """`start()` brings the DUT up beside the tester MASA; `pledge()` or `post_pvr()`
    play the pledge."""

    def __init__(self, controller: Controller, evidence: EvidenceDir,
                 quote: Callable[[str], str], capture_mode: str = "auto",
                 network: TestNetwork | None = None):  # fmt: skip
        super().__init__(evidence, quote, capture_mode, network)
        self.controller = controller
        self.masa: MasaPeer | None = None
        self.url = ""
        self.idevid: CertifiedKey | None = None
        self.sent_pvrs: list[bytes] = []  # the signed requests post_pvr() sent
        self._started = False

    def start(self, masa: MasaBehaviour | None = None) -> dict[str, str]:
        pki = self.pki
        # The tester MASA takes what the registrar sends, so the test judges the request.
        tester_masa = MasaPeer(
            MasaConfig(credential=pki.masa_tls, signer=pki.masa_signer,
                       manufacturer=pki.manufacturer.cert, host=self.host, keylog=self.keylog,
                       log=self.evidence.file("masa.log")),
            masa, MasaQuirks(accept_proximity_in_rvr=True),
        )  # fmt: skip
        self.masa = tester_masa
        with self.peer_node.inside():  # its listening thread stays on the tester's node
            tester_masa.start()
        folder = self.evidence.file("dut")
        params = {
            "dut_role": "registrar",
            "dut_address": self.dut_address(),
            "work_dir": str(folder),
            "manufacturer_trust": str(write_certs(folder / "manufacturer-trust.pem",
                                                  [pki.manufacturer.cert])),
            "masa_trust": str(write_certs(folder / "masa-trust.pem", [pki.masa_web_root.cert])),
        }  # fmt: skip
        facts = self.controller.start(params)
        self._started = True
        url = facts.get("url")
        if not url:
            raise Inconclusive("the DUT gives no registrar url")
        parts = urlsplit(url)
        dut_host = parts.hostname or self.dut_address()
        reg_port, masa_port = self._capture_to([(dut_host, parts.port or 443),
                                                (self.host, self.masa.port)])  # fmt: skip
        self.url = origin(dut_host, reg_port)
        authority = origin(self.host, masa_port).removeprefix("https://")
        self.idevid = pki.idevid(authority, serial=PLEDGE_SERIAL)
        return facts

    def pledge(self, behaviour: PledgeBehaviour | None = None,
               quirks: PledgeQuirks | None = None) -> Pledge:  # fmt: skip
        assert self.idevid is not None, "start() first"
        config = PledgeConfig(idevid=self.idevid, manufacturer_anchor=self.pki.manufacturer.cert,
                              registrar_url=self.url, keylog=self.keylog,
                              connect=self.connect)  # fmt: skip
        return Pledge(config, behaviour, quirks)

    def post_pvr(self, pvr: VoucherRequest, signer: CertifiedKey | None = None) -> EstResponse:
        """POST a hand-made pledge voucher-request over TLS with the IDevID as client
        certificate, signed by `signer` (default: the IDevID)."""
        assert self.idevid is not None, "start() first"
        signer = signer or self.idevid
        body = sign_cms(voucher_request_to_json(pvr), ID_CT_ANIMA_JSON_VOUCHER, signer.key,
                        signer.cert, signer.chain[:-1])  # fmt: skip
        self.sent_pvrs.append(body)
        peer = EstClientPeer(self.url + WELL_KNOWN, None, client=self.idevid,
                             keylog=self.keylog, verify_hostname=False,
                             authorize=lambda _: None, connect=self.connect)  # fmt: skip
        return peer.request("POST", REQUESTVOUCHER,
                            {"Content-Type": VOUCHER_CMS_JSON, "Accept": VOUCHER_CMS_JSON},
                            body)  # fmt: skip

    def registrar_cert(self) -> x509.Certificate:
        """The DUT's TLS certificate, as a pledge sees it on the provisional connection."""
        seen: list[bytes] = []

        def remember(der: bytes) -> None:
            seen.append(der)

        assert self.idevid is not None, "start() first"
        peer = EstClientPeer(self.url + WELL_KNOWN, None, client=self.idevid,
                             keylog=self.keylog, verify_hostname=False,
                             authorize=lambda der: remember(der),
                             connect=self.connect)  # fmt: skip
        with peer.session() as session:
            if session.error is not None or not seen:
                raise Inconclusive(f"no TLS connection to the registrar: {session.error}")
        return x509.load_der_x509_certificate(seen[0])

    def pvr(self, registrar_cert: x509.Certificate, serial: str = PLEDGE_SERIAL,
            proximity: x509.Certificate | None = None) -> VoucherRequest:  # fmt: skip
        """A pledge voucher-request as the reference pledge makes it."""
        prox = proximity or registrar_cert
        return VoucherRequest(
            created_on=dt.datetime.now(dt.UTC).replace(microsecond=0),
            assertion="proximity", serial_number=serial, nonce=secrets.token_bytes(16),
            proximity_registrar_cert=prox.public_bytes(serialization.Encoding.DER),
        )  # fmt: skip

    def est_client(self, pinned: x509.Certificate) -> EstClientPeer:
        """EST to the DUT as the pledge after its voucher: the IDevID as client
        certificate, `pinned` (the voucher's pinned-domain-cert) as trust anchor."""
        assert self.idevid is not None, "start() first"
        return EstClientPeer(self.url + EST_WELL_KNOWN, [pinned], client=self.idevid,
                             keylog=self.keylog, verify_hostname=False,
                             connect=self.connect)  # fmt: skip

    def rvrs(self) -> list[Exchange]:
        """The registrar voucher-requests the tester MASA received."""
        assert self.masa is not None
        return received(self.masa, REQUESTVOUCHER)

    def _stop_peers(self) -> None:
        if self.masa is not None:
            self.masa.stop()
        if self._started:
            self._started = False
            self.controller.stop()


# -- DUT = MASA ------------------------------------------------------------------------------


@dataclass
class MasaFacts:
    url: str  # where the tester connects (the relay)
    masa_trust: list[x509.Certificate]  # anchors of the MASA's TLS certificate
    voucher_anchor: x509.Certificate  # the pledges' trust anchor for vouchers
    idevid: CertifiedKey  # a pledge identity the MASA vouches for


class MasaDutBed(_Bed):
    """`start()` brings the DUT up; `request()` builds and posts registrar
    voucher-requests as the tester registrar (the domain of `pki.registrar`)."""

    def __init__(self, controller: Controller, evidence: EvidenceDir,
                 quote: Callable[[str], str], capture_mode: str = "auto",
                 network: TestNetwork | None = None):  # fmt: skip
        super().__init__(evidence, quote, capture_mode, network)
        self.controller = controller
        self.facts: MasaFacts | None = None
        self._started = False

    def start(self) -> MasaFacts:
        folder = self.evidence.file("dut")
        facts = self.controller.start({"dut_role": "masa", "work_dir": str(folder),
                                       "dut_address": self.dut_address()})  # fmt: skip
        self._started = True
        try:
            url = facts["url"]
            found = MasaFacts(url, read_certs(facts["masa_trust"]),
                              read_certs(facts["voucher_anchor"])[0],
                              read_certified(facts["idevid_cert"], facts["idevid_key"]))
        except (KeyError, OnboardcheckError) as exc:
            raise Inconclusive(f"the DUT gives no usable MASA facts: {exc}") from None
        parts = urlsplit(url)
        dut_host = parts.hostname or self.dut_address()
        (port,) = self._capture_to([(dut_host, parts.port or 443)])
        found.url = origin(dut_host, port) + (parts.path or WELL_KNOWN)
        self.facts = found
        return found

    @property
    def serial(self) -> str:
        assert self.facts is not None, "start() first"
        return serial_of(self.facts.idevid.cert) or ""

    def pvr_cms(self, nonce: bytes | None, serial: str | None = None) -> bytes:
        """A pledge voucher-request signed with the MASA's IDevID."""
        assert self.facts is not None, "start() first"
        idevid = self.facts.idevid
        pvr = VoucherRequest(
            created_on=dt.datetime.now(dt.UTC).replace(microsecond=0), assertion="proximity",
            serial_number=serial or self.serial, nonce=nonce,
            proximity_registrar_cert=self.pki.registrar.cert.public_bytes(
                serialization.Encoding.DER),
        )  # fmt: skip
        return sign_cms(voucher_request_to_json(pvr), ID_CT_ANIMA_JSON_VOUCHER, idevid.key,
                        idevid.cert, idevid.chain[:-1])  # fmt: skip

    def rvr_cms(self, nonce: bytes | None, serial: str | None = None,
                prior: bytes | None = None) -> bytes:  # fmt: skip
        """A registrar voucher-request signed by the tester registrar with its chain."""
        assert self.facts is not None, "start() first"
        rvr = VoucherRequest(
            created_on=dt.datetime.now(dt.UTC).replace(microsecond=0),
            serial_number=serial or self.serial, nonce=nonce,
            idevid_issuer=idevid_issuer_of(self.facts.idevid.cert),
            prior_signed_voucher_request=prior if prior is not None else self.pvr_cms(nonce),
        )  # fmt: skip
        reg = self.pki.registrar
        return sign_cms(voucher_request_to_json(rvr), ID_CT_ANIMA_JSON_VOUCHER, reg.key,
                        reg.cert, reg.chain)  # fmt: skip

    def post(self, body: bytes) -> EstResponse:
        assert self.facts is not None, "start() first"
        peer = EstClientPeer(self.facts.url, self.facts.masa_trust, client=self.pki.registrar,
                             keylog=self.keylog, verify_hostname=False,
                             connect=self.connect)  # fmt: skip
        return peer.request("POST", REQUESTVOUCHER,
                            {"Content-Type": VOUCHER_CMS_JSON, "Accept": VOUCHER_CMS_JSON},
                            body)  # fmt: skip

    def _stop_peers(self) -> None:
        if self._started:
            self._started = False
            self.controller.stop()


def refused_voucher(bed: PledgeDutBed, req: str, what: str) -> None:
    """Fails `req` when the pledge went on after a voucher it must refuse: it reported
    voucher success or asked to enroll. Inconclusive when it never got the voucher (a
    pledge that does nothing refuses everything)."""
    assert bed.registrar is not None
    vouchers = len(bed.registrar.vouchers)
    reports = bed.voucher_status()
    enrolls = bed.enrolled()
    wire = bed.wire()
    frames = numbers(wire.all(is_voucher_request))
    if not vouchers:
        inconclusive(f"the pledge never received the voucher ({what}): nothing to judge")
    enroll_frames = numbers(wire.all(
        lambda f: (f.get("http.request.uri") or "").endswith("/simpleenroll")))
    if enrolls:
        fail(f"the pledge accepted a voucher with {what}: it sent /simpleenroll",
             req, frames=frames + enroll_frames)
    if any(r.status for r in reports):
        fail(f"the pledge accepted a voucher with {what}: its voucher status says success",
             req, frames=frames)


def conforming_csr(serial: str = PLEDGE_SERIAL) -> x509.CertificateSigningRequest:
    """The CSR the reference pledge sends: P-256, ECDSA-with-SHA256, CN and serialNumber."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)])  # fmt: skip
    return make_csr(generate_key("p256"), subject)


def violating_csr(asked: list[CsrAttr], serial: str = PLEDGE_SERIAL
                  ) -> tuple[x509.CertificateSigningRequest, str] | None:  # fmt: skip
    """A CSR that honours none of the CSR attributes `asked` this suite knows how to
    break (signature algorithms, subject attribute types), and what it breaks; None
    when `asked` has none of those."""
    algorithms = {a.oid for a in asked if not a.is_attribute and a.oid in SIGNATURE_ALGORITHMS}
    names = {a.oid for a in asked if not a.is_attribute and a.oid.startswith(X520_PREFIX)}
    if not algorithms and not names:
        return None
    kept = [] if NameOID.COMMON_NAME.dotted_string in names else [
        x509.NameAttribute(NameOID.COMMON_NAME, serial)]  # fmt: skip
    broken = [f"has no subject {oid}" for oid in sorted(names)]
    csr = None
    if algorithms:
        for key_type in KEY_TYPES:
            csr = make_csr(generate_key(key_type), x509.Name(kept))
            signed_with = csr.signature_algorithm_oid.dotted_string
            if signed_with not in algorithms:
                broken.append(f"is signed with {signed_with}, not {', '.join(sorted(algorithms))}")
                break
    if not broken:
        return None
    return csr or make_csr(generate_key("p256"), x509.Name(kept)), " and ".join(broken)


def not_signed_data(body: bytes) -> str | None:
    """Why `body` is no CMS SignedData (the form of every voucher); None when it is one.
    Only the structure is read: what signed it is for the signature tests to judge."""
    try:
        info = cms.ContentInfo.load(body, strict=True)
        kind = info["content_type"].native
        if kind != "signed_data":
            return f"a CMS {kind}, not SignedData"
        info["content"]["encap_content_info"]["content_type"].native  # noqa: B018 (parses it)
    except Exception as exc:  # asn1crypto parses lazily: broken DER raises anything
        return f"not DER CMS: {type(exc).__name__}: {exc}"
    return None


def status_of(body: bytes) -> StatusReport | None:
    """A telemetry message, or None when it does not parse."""
    try:
        return parse_status(body)
    except OnboardcheckError:
        return None

