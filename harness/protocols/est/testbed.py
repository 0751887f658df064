"""The arrangement of one EST test case: tester peer, capture and DUT.

`ClientDutBed`: the DUT is an EST client; the harness runs the EST server peer.
`ServerDutBed`: the DUT is an EST server; the harness runs the EST client peer.
Both capture the test's traffic, keep the peer's TLS key log beside the capture,
and hand the test a `PacketCursor` over the decrypted, decoded frames.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509

from harness.backends import LoopbackBackend, TestNetwork
from harness.capture import CaptureSession, PacketCursor, decode
from harness.control import ActionResult, Controller
from harness.crypto.pki import CertifiedKey, CertPaths, Pki
from harness.errors import DecodeError, PeerError
from harness.evidence import EvidenceDir
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.mutants import make_server
from harness.protocols.est.params import EstClientParams
from harness.protocols.est.server import EstServerConfig, EstServerPeer
from harness.protocols.est.server_ops import ServerBehaviour
from harness.verdicts import Inconclusive

KEYLOG = "tls.keylog"
USERNAME, PASSWORD = "estuser", "correct horse battery staple"
DUT_SERIAL = "ONBC-0001"
LOCAL_NAMES = ["localhost", "127.0.0.1", "::1"]
CMC_RA = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.28")  # id-kp-cmcRA (RFC 6402)


@dataclass
class EstPkiSet:
    """Every credential the EST testbeds use, made once per campaign."""

    root: CertifiedKey  # the EST domain root: the client DUT's explicit TA
    ca: CertifiedKey  # the EST CA that issues client certificates
    server: CertifiedKey  # the server peer's TLS certificate (127.0.0.1, localhost)
    wrong_host: CertifiedKey  # chains to root but names another host
    rogue: CertifiedKey  # a server certificate from a root the DUT does not trust
    manufacturer: CertifiedKey  # the manufacturer CA of IDevIDs
    idevid: CertifiedKey  # the DUT's IDevID when the harness mints it
    # A root standing for a public CA of the DUT's Implicit TA database (RFC 7030 §3.1),
    # given to the DUT as ONBOARDCHECK_IMPLICIT_TAS, and its server certificates: valid
    # host, another host, another host with id-kp-cmcRA.
    implicit_root: CertifiedKey
    implicit: CertifiedKey
    implicit_wrong_host: CertifiedKey
    implicit_cmcra: CertifiedKey
    designated_root: CertifiedKey  # a root only RFC7030-3.1-MUST-02 designates as TA
    designated: CertifiedKey  # a server certificate (valid host) from designated_root
    files: dict[str, CertPaths] = field(default_factory=dict)

    @classmethod
    def create(cls, folder: Path, hosts: Sequence[str] = ()) -> EstPkiSet:
        """`hosts`: the server peer's addresses on the test network, named in every
        certificate that is valid for it (besides the loopback names)."""
        names = list(dict.fromkeys([*LOCAL_NAMES, *hosts]))
        pki = Pki.create(folder)
        root = pki.root_ca("onboardcheck EST Root CA")
        ca = pki.sub_ca(root, "onboardcheck EST CA")
        server = pki.server_cert(ca, "localhost", sans=names)
        wrong_host = pki.server_cert(ca, "est.invalid", sans=["est.invalid"])
        rogue_root = pki.root_ca("Unauthorised Root CA")
        rogue = pki.server_cert(rogue_root, "localhost", sans=names)
        manufacturer = pki.root_ca("onboardcheck Manufacturer CA")
        idevid = pki.idevid(manufacturer, serial_number=DUT_SERIAL, model="DUT")
        implicit_root = pki.root_ca("onboardcheck Public Root CA")
        designated_root = pki.root_ca("onboardcheck Designated Root CA")
        found = cls(
            root, ca, server, wrong_host, rogue, manufacturer, idevid,
            implicit_root=implicit_root,
            implicit=pki.server_cert(implicit_root, "localhost", sans=names),
            implicit_wrong_host=pki.server_cert(implicit_root, "est.invalid"),
            implicit_cmcra=pki.server_cert(implicit_root, "est.invalid", extra_ekus=[CMC_RA]),
            designated_root=designated_root,
            designated=pki.server_cert(designated_root, "localhost", sans=names),
        )  # fmt: skip
        for name in (
            "root", "ca", "server", "rogue", "manufacturer", "idevid", "implicit_root",
            "designated_root",
        ):  # fmt: skip
            found.files[name] = getattr(found, name).write(folder, name)
        return found

    def server_credential(self, which: str) -> CertifiedKey:
        return {
            "valid": self.server,
            "wrong-host": self.wrong_host,
            "untrusted": self.rogue,
            "implicit": self.implicit,
            "implicit-wrong-host": self.implicit_wrong_host,
            "implicit-cmcra": self.implicit_cmcra,
            "designated": self.designated,
        }[which]


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, parts.fragment))


class _Bed:
    """Capture and decoding shared by both beds, and the test network's nodes.

    The tester peer runs on node `peer`, the DUT on node `dut` of `network` (both the
    harness's own host on the loopback backend).
    """

    def __init__(self, evidence: EvidenceDir, quote: Callable[[str], str], capture_mode: str,
                 network: TestNetwork | None = None):  # fmt: skip
        self.network = network or LoopbackBackend().open("loopback", ["peer", "dut"])
        self.peer_node = self.network.node("peer")
        self.evidence = evidence
        self.quote = quote
        self.capture_mode = capture_mode
        self.keylog = evidence.file(KEYLOG)
        self._capture: CaptureSession | None = None
        self._port: int | None = None
        self._cursor: PacketCursor | None = None

    def _capture_port(self, host: str, port: int) -> int:
        """Start capturing traffic to host:port; returns the port to connect to."""
        self._capture = CaptureSession(self.evidence.path, "est", [port], self.capture_mode,
                                       network=self.network)  # fmt: skip
        self._capture.start()
        self._port = self._capture.relay((host, port))
        return self._port

    def _stop_capture(self) -> None:
        if self._capture is not None:
            self._capture.stop()

    def wire(self) -> PacketCursor:
        """Stop capturing and return the cursor over the decoded exchange."""
        if self._cursor is None:
            self._stop_peer()
            if self._capture is None:
                raise PeerError("nothing was captured: the test started no exchange")
            result = self._capture.stop()
            ports = [p for p in {self._port, *self._capture.ports} if p]
            try:
                frames = decode(result.pcap, keylog=self.keylog, tls_ports=ports)
            except DecodeError as exc:
                raise Inconclusive(f"the capture could not be decoded: {exc}") from None
            self._cursor = PacketCursor(
                frames, quote=self.quote, pcap=result.pcap, keylog=self.keylog, tls_ports=ports
            )
        return self._cursor

    def connect(self, address: tuple[str, int], timeout: float | None = None,
                source_address: tuple[str, int] | None = None) -> socket.socket:  # fmt: skip
        """A TCP connection from the tester peer's node (for client peers: `connect=`)."""
        return self.peer_node.create_connection(address, timeout, source_address)

    def _stop_peer(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop_peer()
        self._stop_capture()


class ClientDutBed(_Bed):
    """DUT = EST client. `serve()` starts the server peer, `run()` makes the DUT act."""

    def __init__(
        self,
        controller: Controller,
        pki: EstPkiSet,
        evidence: EvidenceDir,
        quote: Callable[[str], str],
        capture_mode: str = "auto",
        oob: dict[str, str] | None = None,
        pop: bool = False,
        timeout: float = 20.0,
        network: TestNetwork | None = None,
    ):
        super().__init__(evidence, quote, capture_mode, network)
        self.controller = controller
        self.pki = pki
        self.oob = dict(oob or {})
        self.pop = pop
        self.timeout = timeout
        self.state_dir = evidence.file("state")
        self.state_dir.mkdir(exist_ok=True)
        self.server: EstServerPeer | None = None
        self.url = ""
        self.results: list[ActionResult] = []

    def serve(
        self,
        behaviour: ServerBehaviour | None = None,
        credential: str = "valid",
        csrattrs: bytes | None = None,
        label: str | None = None,
        wrap_base64: str | None = None,
        transfer_encoding_header: str | None = None,
        extra_cacerts: list[x509.Certificate] | None = None,
        users: dict[str, str] | None = None,
    ) -> EstServerPeer:
        """Start the server peer (spec-exact unless `behaviour` says otherwise).

        `wrap_base64`, `transfer_encoding_header` and `extra_cacerts` set the
        ServerBehaviour knobs of the same names (on `behaviour` when one is given).
        `users` replaces the HTTP credentials the server accepts (default: the DUT's).
        """
        behaviour = behaviour or ServerBehaviour()
        if wrap_base64 is not None:
            behaviour.wrap_base64 = wrap_base64
        if transfer_encoding_header is not None:
            behaviour.transfer_encoding_header = transfer_encoding_header
        if extra_cacerts:
            behaviour.extra_cacerts = [*behaviour.extra_cacerts, *extra_cacerts]
        trust = [self.pki.manufacturer.cert, self.pki.ca.cert]
        config = EstServerConfig(
            credential=self.pki.server_credential(credential),
            ca=self.pki.ca,
            client_trust=trust,
            users=users if users is not None else {self.username: self.password},
            keylog=self.keylog,
            log=self.evidence.file("peer.log"),
            csrattrs=csrattrs,
            label=label,
            host=self.peer_node.ipv4,
        )
        self.server = make_server(config, behaviour)
        with self.peer_node.inside():  # its listening thread stays on the peer's node
            self.server.start()
        port = self._capture_port(self.peer_node.ipv4, self.server.port)
        self.url = _with_port(self.server.base_url, port)
        return self.server

    @property
    def username(self) -> str:
        return self.oob.get("username", USERNAME)

    @property
    def password(self) -> str:
        return self.oob.get("password", PASSWORD)

    def params(self, **overrides: str) -> dict[str, str]:
        """The action parameters (ONBOARDCHECK_* for process DUTs)."""
        own_idevid = "idevid_ca" in self.oob  # the DUT brings its factory IDevID
        ident = self.pki.files["idevid"]
        params = EstClientParams(
            est_url=self.url,
            state_dir=self.state_dir,
            trust_anchors=self.pki.files["root"].cert,
            client_cert=None if own_idevid else ident.bundle,
            client_key=None if own_idevid else ident.key,
            username=self.username,
            password=self.password,
            subject_cn=self.oob.get("subject_cn", "onboardcheck-dut"),
            timeout=self.timeout,
            pop=self.pop and self._links_tls_unique(),
            keylog=self.evidence.file("dut-tls.keylog"),
        ).to_params()
        params["work_dir"] = str(self.evidence.path)
        params.update(overrides)
        return params

    def _links_tls_unique(self) -> bool:
        """PoP linking is asked for only where the server peer's TLS has tls-unique:
        TLS 1.3 has none (RFC 9266), so a DUT claiming linking enrolls unlinked there."""
        if self.server is None:
            return False
        cap = self.server.behaviour.max_tls
        return cap is not None and cap <= ssl.TLSVersion.TLSv1_2

    def run(self, action: str, **overrides: str) -> ActionResult:
        """Make the DUT carry out `action`; its output is kept as evidence."""
        if not self.controller.supports(action):
            raise Inconclusive(f"the DUT profile defines no {action!r} action")
        result = self.controller.action(action, self.params(**overrides), self.timeout + 10)
        self.results.append(result)
        n = len(self.results)
        self.evidence.write_text(
            f"dut-{n:02d}-{action}.out",
            f"# {result.describe()}\n## stdout\n{result.stdout}\n## stderr\n{result.stderr}\n",
        )
        if result.manual_unavailable:
            raise Inconclusive(f"{action}: the DUT needs an operator and none is available")
        return result

    def state(self) -> dict[str, bytes | None]:
        """What the DUT holds now (knowledge imparted), per the profile's `state` map."""
        return self.controller.state(self.params())

    def _stop_peer(self) -> None:
        if self.server is not None:
            self.server.stop()


class ServerDutBed(_Bed):
    """DUT = EST server. `start()` brings the DUT up, `client()` gives a client peer."""

    def __init__(
        self,
        controller: Controller,
        evidence: EvidenceDir,
        quote: Callable[[str], str],
        capture_mode: str = "auto",
        endpoints: dict[str, str] | None = None,
        credentials: dict[str, str] | None = None,
        work_dir: Path | None = None,
        network: TestNetwork | None = None,
    ):
        super().__init__(evidence, quote, capture_mode, network)
        self.controller = controller
        self.facts: dict[str, str] = {**(endpoints or {}), **(credentials or {})}
        self.work_dir = work_dir or evidence.file("dut")
        self.url = ""
        self._started = False
        self.pki = Pki.create(evidence.file("pki"))

    def start(self, **dut_params: str) -> dict[str, str]:
        # dut_address: where the test network put the DUT, for `endpoints` templates
        # such as url: "https://{dut_address}:8443/.well-known/est"
        dut = self.network.node("dut")
        params = {"work_dir": str(self.work_dir), "dut_address": dut.ipv4, **dut_params}
        self.work_dir.mkdir(parents=True, exist_ok=True)
        facts = self.controller.start(params)
        self._started = True
        self.facts.update({k: v for k, v in facts.items() if v})
        url = self.facts.get("url")
        if not url:
            raise Inconclusive("the DUT profile gives no EST server url (protocols.est.endpoints)")
        parts = urlsplit(url)
        if parts.port is None and parts.scheme != "https":
            raise Inconclusive(f"EST server url {url!r} is not https")
        port = self._capture_port(parts.hostname or "127.0.0.1", parts.port or 443)
        self.url = _with_port(url, port)
        return self.facts

    def trust_anchors(self) -> list[x509.Certificate]:
        path = self.facts.get("trust_anchors")
        if not path:
            raise Inconclusive("the DUT profile gives no trust anchor for the EST server")
        return x509.load_pem_x509_certificates(Path(path).read_bytes())

    def client_credential(self) -> CertifiedKey | None:
        cert, key = self.facts.get("client_cert"), self.facts.get("client_key")
        if not cert or not key:
            return None
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        certs = x509.load_pem_x509_certificates(Path(cert).read_bytes())
        private = load_pem_private_key(Path(key).read_bytes(), None)
        return CertifiedKey(certs[0], private, certs[1:])  # type: ignore[arg-type]

    def client(
        self, auth: str = "cert", trust: list[x509.Certificate] | None = None, **kw: object
    ) -> EstClientPeer:
        """A client peer; `auth` is "cert", "basic", "both" or "none"."""
        credential = self.client_credential() if auth in ("cert", "both") else None
        if auth in ("cert", "both") and credential is None:
            raise Inconclusive("the DUT profile gives no client certificate for the harness")
        basic = None
        if auth in ("basic", "both"):
            user, password = self.facts.get("username"), self.facts.get("password")
            if not user:
                raise Inconclusive("the DUT profile gives no HTTP Basic credentials")
            basic = (user, password or "")
        return EstClientPeer(
            self.url,
            trust if trust is not None else self.trust_anchors(),
            client=credential,
            basic_auth=basic,
            keylog=self.keylog,
            connect=self.connect,
            **kw,  # type: ignore[arg-type]
        )

    def _stop_peer(self) -> None:
        if self._started:
            self._started = False
            self.controller.stop()
