"""The arrangement of one BRSKI flow on loopback: MASA, registrar, pledge and capture.

    bed = BrskiBed(evidence_dir)
    bed.start()                       # MASA and registrar listen, the capture runs
    result = bed.pledge().run()       # the reference pledge against them
    pcap = bed.wire()                 # capture.pcapng; tls.keylog beside it

Both servers write their TLS secrets to one key log (`tls.keylog`): each TLS
connection of the flow has one of them as its server, so the log decrypts it all.
The IDevID is minted once the MASA listens, with the address that reaches it
(through the capture relay in transcript mode) in its MASA URI extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from harness.capture import CaptureSession
from harness.crypto.pki import CertifiedKey, Pki
from harness.errors import PeerError
from harness.protocols.brski.discovery import RegistrarAnnouncer
from harness.protocols.brski.masa import MasaBehaviour, MasaConfig, MasaPeer, MasaQuirks
from harness.protocols.brski.pledge import Pledge, PledgeBehaviour, PledgeConfig, PledgeQuirks
from harness.protocols.brski.registrar import (
    RegistrarBehaviour,
    RegistrarConfig,
    RegistrarPeer,
    RegistrarQuirks,
)
from harness.protocols.est import codec

KEYLOG = "tls.keylog"
PLEDGE_SERIAL = "ONBC-BRSKI-0001"
HOST = "127.0.0.1"
LOCAL_NAMES = ["localhost", HOST, "::1"]
CMC_RA = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.28")  # id-kp-cmcRA: RFC 8995 §2.5.5 registrar
CLIENT_AUTH = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.2")
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
SERIAL_NUMBER = "2.5.4.5"  # id-at-serialNumber


@dataclass
class BrskiPkiSet:
    """Every credential of the flow except the IDevID (minted per bed, see above)."""

    manufacturer: CertifiedKey  # IDevID CA and the pledge's MASA trust anchor
    masa_signer: CertifiedKey  # voucher signing certificate, under `manufacturer`
    masa_web_root: CertifiedKey  # the registrar's anchor for the MASA's TLS certificate
    masa_tls: CertifiedKey
    domain_ca: CertifiedKey  # the owner's CA: pinned by vouchers, issues LDevIDs
    registrar: CertifiedKey  # registrar TLS server/client certificate and RVR signer
    other_domain: CertifiedKey  # a CA that has nothing to do with this registrar

    @classmethod
    def create(cls, folder: Path | None = None, hosts: Sequence[str] = ()) -> BrskiPkiSet:
        """`hosts`: the tester servers' addresses on the test network, named in their
        TLS certificates besides the loopback names."""
        names = list(dict.fromkeys([*LOCAL_NAMES, *hosts]))
        pki = Pki.create(folder)
        manufacturer = pki.root_ca("onboardcheck Manufacturer CA")
        web = pki.root_ca("onboardcheck MASA Web Root")
        domain = pki.root_ca("onboardcheck Domain CA")
        return cls(
            manufacturer=manufacturer,
            masa_signer=pki.client_cert(manufacturer, "onboardcheck MASA voucher signer"),
            masa_web_root=web,
            masa_tls=pki.server_cert(web, "localhost", sans=names),
            domain_ca=domain,
            registrar=pki.server_cert(
                domain, "localhost", sans=names, extra_ekus=[CLIENT_AUTH, CMC_RA]
            ),
            other_domain=pki.root_ca("onboardcheck Other Domain CA"),
        )

    def idevid(self, masa_authority: str, serial: str = PLEDGE_SERIAL) -> CertifiedKey:
        return Pki.create().idevid(self.manufacturer, serial_number=serial, model="Pledge",
                                   masa_url=masa_authority)  # fmt: skip


def registrar_csrattrs() -> bytes:
    """What the reference registrar asks for on /csrattrs (§5.9.2), and enforces: an
    ECDSA-with-SHA256 signature and a subject serialNumber (the IDevID's)."""
    return codec.encode_csrattrs([codec.CsrAttr(ECDSA_WITH_SHA256), codec.CsrAttr(SERIAL_NUMBER)])


class BrskiBed:
    """MASA + registrar + capture for one test; `pledge()` makes the reference pledge."""

    def __init__(self, evidence: Path, pki: BrskiPkiSet | None = None,
                 capture_mode: str = "auto"):  # fmt: skip
        self.evidence = Path(evidence)
        self.evidence.mkdir(parents=True, exist_ok=True)
        self.pki = pki or BrskiPkiSet.create()
        self.capture_mode = capture_mode
        self.keylog = self.evidence / KEYLOG
        self.masa: MasaPeer | None = None
        self.registrar: RegistrarPeer | None = None
        self.capture: CaptureSession | None = None
        self.idevid: CertifiedKey | None = None
        self.registrar_port = 0  # where clients connect (the relay in transcript mode)
        self.masa_port = 0
        self.announcer: RegistrarAnnouncer | None = None

    def start(
        self,
        masa: MasaBehaviour | None = None,
        masa_quirks: MasaQuirks | None = None,
        registrar: RegistrarBehaviour | None = None,
        registrar_quirks: RegistrarQuirks | None = None,
    ) -> BrskiBed:
        pki = self.pki
        self.masa = MasaPeer(
            MasaConfig(credential=pki.masa_tls, signer=pki.masa_signer,
                       manufacturer=pki.manufacturer.cert, host=HOST, keylog=self.keylog,
                       log=self.evidence / "masa.log"),
            masa, masa_quirks,
        ).start()  # fmt: skip
        self.registrar = RegistrarPeer(
            RegistrarConfig(credential=pki.registrar, domain_ca=pki.domain_ca,
                            manufacturer_trust=[pki.manufacturer.cert],
                            masa_trust=[pki.masa_web_root.cert], host=HOST, keylog=self.keylog,
                            log=self.evidence / "registrar.log",
                            csrattrs=registrar_csrattrs()),
            registrar, registrar_quirks,
        ).start()  # fmt: skip
        self.capture = CaptureSession(self.evidence, "brski",
                                      [self.registrar.port, self.masa.port],
                                      self.capture_mode)  # fmt: skip
        self.capture.start()
        self.registrar_port = self.capture.relay((HOST, self.registrar.port))
        self.masa_port = self.capture.relay((HOST, self.masa.port))
        self.idevid = pki.idevid(f"{HOST}:{self.masa_port}")
        return self

    def announce(self, instance: str = "onboardcheck-registrar") -> RegistrarAnnouncer:
        """Announce the registrar (where clients connect) as _brski-registrar._tcp.local."""
        if not self.registrar_port:
            raise PeerError("BrskiBed.start() first")
        self.announcer = RegistrarAnnouncer(HOST, self.registrar_port, instance=instance).start()
        return self.announcer

    def pledge(
        self,
        behaviour: PledgeBehaviour | None = None,
        quirks: PledgeQuirks | None = None,
        discover: bool = False,  # find the registrar by mDNS instead of being told
    ) -> Pledge:
        if self.idevid is None:
            raise PeerError("BrskiBed.start() first")
        config = PledgeConfig(
            idevid=self.idevid,
            manufacturer_anchor=self.pki.manufacturer.cert,
            registrar_url=None if discover else f"https://{HOST}:{self.registrar_port}",
        )
        return Pledge(config, behaviour, quirks)

    @property
    def ports(self) -> list[int]:
        """The TLS ports the capture shows (servers' own and, in transcript mode, relays)."""
        found = {self.registrar_port, self.masa_port}
        if self.registrar is not None and self.masa is not None:
            found |= {self.registrar.port, self.masa.port}
        return sorted(p for p in found if p)

    def wire(self) -> Path:
        """Stop the servers and the capture; the pcapng of the flow."""
        self._stop_peers()
        if self.capture is None:
            raise PeerError("nothing was captured: BrskiBed.start() was not called")
        return self.capture.stop().pcap

    def _stop_peers(self) -> None:
        if self.announcer is not None:
            self.announcer.stop()
        for peer in (self.registrar, self.masa):
            if peer is not None:
                peer.stop()

    def close(self) -> None:
        self._stop_peers()
        if self.capture is not None:
            self.capture.stop()

    def __enter__(self) -> BrskiBed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
