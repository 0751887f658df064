"""Reference registrar (RFC 8995 §5.3-§5.9): voucher broker and EST server in one.

    registrar = RegistrarPeer(RegistrarConfig(credential=reg, domain_ca=ca,
                                              manufacturer_trust=[mfg.cert])).start()

The pledge connects with its IDevID as TLS client certificate and posts its pledge
voucher-request (PVR). The registrar checks the PVR signature with that client
certificate, that proximity-registrar-cert is its own certificate and that the
serial-number is the client certificate's (§5.3), builds its registrar
voucher-request (RVR, §5.5): the PVR as prior-signed-voucher-request, the PVR's nonce,
no proximity-registrar-cert; signs it, finds the MASA in the IDevID's MASA URI
extension (§2.3.2) and forwards the MASA's voucher to the pledge unchanged. Telemetry
(§5.7, §5.9.4) is recorded; EST (§5.9) is the EST server peer's, with the domain CA,
and enrolls an IDevID only after a voucher was issued for its serial number, and only
a CSR that honours the CSR attributes it serves (§5.9.2, `csr_check.py`): a 400 else.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import CertifiedKey
from harness.errors import PeerError
from harness.protocols.brski.common import (
    ENROLLSTATUS,
    EST_WELL_KNOWN,
    JSON,
    REQUESTVOUCHER,
    VOUCHER_CMS_JSON,
    VOUCHER_STATUS,
    StatusReport,
    idevid_issuer_of,
    masa_url_of,
    media_type,
    parse_status,
    serial_of,
)
from harness.protocols.brski.csr_check import csr_violations
from harness.protocols.brski.errors import BrskiError, Refusal
from harness.protocols.brski.server import BrskiRequest, BrskiServerPeer, Handler
from harness.protocols.est import codec
from harness.protocols.est.client import Connector, EstClientPeer
from harness.protocols.est.server import EstServerConfig
from harness.protocols.est.server_ops import OpReply, ServerBehaviour
from harness.protocols.voucher.cms import ID_CT_ANIMA_JSON_VOUCHER, chains_to, sign_cms, verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import (
    VoucherRequest,
    parse_voucher_request_json,
    voucher_request_to_json,
)

MASA_TIMEOUT = 15.0


@dataclass
class RegistrarBehaviour:
    """How the registrar deviates from RFC 8995 (all off by default)."""

    forward_proximity: bool = False  # the RVR carries the PVR's proximity-registrar-cert
    drop_nonce: bool = False  # a nonceless RVR although the pledge sent a nonce
    masa_url: str | None = None  # ask this MASA, whatever the IDevID names
    status: int | None = None  # answer every voucher request with this status
    omit_prior_request: bool = False  # the RVR carries no prior-signed-voucher-request
    sign_with_domain_ca: bool = False  # the RVR is signed by the domain CA, not by us
    voucher_content_type: str = VOUCHER_CMS_JSON  # of the voucher passed to the pledge


@dataclass
class RegistrarQuirks:
    """Checks of the reference registrar a mutant skips."""

    skip_pvr_signer_check: bool = False  # PVR signer need not be the TLS client
    skip_proximity_check: bool = False  # proximity-registrar-cert need not be ours
    skip_serial_check: bool = False  # PVR serial-number need not be the client's
    enroll_without_voucher: bool = False  # EST for an IDevID that got no voucher
    skip_csr_check: bool = False  # a CSR need not honour the CSR attributes served


@dataclass
class RegistrarConfig:
    credential: CertifiedKey  # TLS server certificate, also the RVR signer (§5.5)
    domain_ca: CertifiedKey  # the domain CA: the EST CA of LDevIDs, pinned by vouchers
    manufacturer_trust: list[x509.Certificate]  # anchors of the IDevIDs it accepts
    masa_trust: list[x509.Certificate] | None = None  # anchors of MASA TLS certificates
    host: str = "127.0.0.1"
    port: int = 0
    keylog: Path | None = None
    log: Path | None = None
    csrattrs: bytes | None = None  # DER CsrAttrs served on /csrattrs (§5.9.2)
    masa_connect: Connector | None = None  # how TCP connections to the MASA are made
    # The MASA URL when an IDevID has no MASA URI extension.
    default_masa_url: str | None = None


@dataclass
class VoucherRecord:
    """A voucher the registrar obtained and passed on."""

    serial_number: str
    request: VoucherRequest  # the RVR sent to the MASA
    voucher_cms: bytes
    masa_url: str


class RegistrarPeer(BrskiServerPeer):
    """The reference registrar; `start()`/`stop()` or a context manager."""

    def __init__(
        self,
        config: RegistrarConfig,
        behaviour: RegistrarBehaviour | None = None,
        quirks: RegistrarQuirks | None = None,
    ):
        super().__init__(
            EstServerConfig(
                credential=config.credential,
                ca=config.domain_ca,
                client_trust=[*config.manufacturer_trust, config.domain_ca.cert],
                keylog=config.keylog,
                log=config.log,
                csrattrs=config.csrattrs,
                host=config.host,
                port=config.port,
            ),
            ServerBehaviour(require_cert=True),
        )
        self.registrar = config
        self.registrar_behaviour = behaviour or RegistrarBehaviour()
        self.registrar_quirks = quirks or RegistrarQuirks()
        self.vouchers: list[VoucherRecord] = []
        self.voucher_status: list[tuple[str | None, StatusReport]] = []
        self.enroll_status: list[tuple[str | None, StatusReport]] = []
        self._records_lock = threading.Lock()
        try:
            self.csr_attrs = codec.parse_csrattrs(config.csrattrs) if config.csrattrs else []
        except codec.CodecError as exc:
            raise BrskiError("setup", f"the registrar's CSR attributes: {exc}") from exc

    @property
    def url(self) -> str:
        """https://host:port (valid after start())."""
        return f"https://{self.config.host}:{self.port}"

    def route(self, request: BrskiRequest) -> Handler | None:
        if request.path == REQUESTVOUCHER:
            return self._requestvoucher
        if request.path == VOUCHER_STATUS:
            return self._status(self.voucher_status, "voucher status")
        if request.path == ENROLLSTATUS:
            return self._status(self.enroll_status, "enroll status")
        if request.path.startswith(EST_WELL_KNOWN + "/") and request.path.endswith("enroll"):
            return self._enroll_gate(request) or self._csr_gate(request)
        return None

    # -- voucher requests (§5.3, §5.5) ----------------------------------------------------

    def _requestvoucher(self, req: BrskiRequest) -> OpReply:
        behaviour, quirks = self.registrar_behaviour, self.registrar_quirks
        if req.method != "POST":
            raise Refusal(405, f"requestvoucher takes POST, not {req.method}")
        if media_type(req.header("content-type")) != VOUCHER_CMS_JSON:
            raise Refusal(415, f"Content-Type {req.header('content-type')!r} is not "
                               f"{VOUCHER_CMS_JSON}")  # fmt: skip
        if behaviour.status is not None:
            raise Refusal(behaviour.status, f"status {behaviour.status} forced by the test")
        client = _client_cert(req)
        try:
            signed = verify_cms(req.body, signer=None if quirks.skip_pvr_signer_check else client)
            pvr = parse_voucher_request_json(signed.content)
        except VoucherError as exc:
            raise Refusal(403, f"pledge voucher-request: {exc}") from exc
        own = self.registrar.credential.cert.public_bytes(serialization.Encoding.DER)
        if pvr.proximity_registrar_cert != own and not quirks.skip_proximity_check:
            raise Refusal(403, "proximity-registrar-cert is not this registrar's certificate")
        serial = serial_of(client)
        if pvr.serial_number != serial and not quirks.skip_serial_check:
            raise Refusal(403, f"serial-number {pvr.serial_number!r} is not the client "
                               f"certificate's ({serial!r})")  # fmt: skip
        rvr = VoucherRequest(
            created_on=dt.datetime.now(dt.UTC).replace(microsecond=0),
            nonce=None if behaviour.drop_nonce else pvr.nonce,
            serial_number=pvr.serial_number,
            idevid_issuer=idevid_issuer_of(client),
            prior_signed_voucher_request=None if behaviour.omit_prior_request else req.body,
            proximity_registrar_cert=pvr.proximity_registrar_cert
            if behaviour.forward_proximity
            else None,
        )
        credential = self.registrar.credential
        if behaviour.sign_with_domain_ca:
            credential = self.registrar.domain_ca
        rvr_cms = sign_cms(voucher_request_to_json(rvr), ID_CT_ANIMA_JSON_VOUCHER,
                           credential.key, credential.cert, credential.chain)  # fmt: skip
        masa_url = behaviour.masa_url or masa_url_of(client) or self.registrar.default_masa_url
        if masa_url is None:
            raise Refusal(404, "the IDevID names no MASA and none is configured")
        voucher = self._ask_masa(masa_url, rvr_cms)
        with self._records_lock:
            self.vouchers.append(VoucherRecord(pvr.serial_number or "", rvr, voucher, masa_url))
        return OpReply(200, [("Content-Type", behaviour.voucher_content_type)], voucher,
                       f"voucher from {masa_url}")  # fmt: skip

    def _ask_masa(self, masa_url: str, rvr_cms: bytes) -> bytes:
        config = self.registrar
        try:
            client = EstClientPeer(masa_url, config.masa_trust, client=config.credential,
                                   timeout=MASA_TIMEOUT, verify_hostname=False,
                                   connect=config.masa_connect)  # fmt: skip
        except PeerError as exc:
            raise Refusal(502, f"MASA {masa_url}: {exc}") from exc
        resp = client.request(
            "POST",
            "requestvoucher",
            {"Content-Type": VOUCHER_CMS_JSON, "Accept": VOUCHER_CMS_JSON},
            rvr_cms,
        )
        if resp.error is not None:
            raise Refusal(502, f"MASA {masa_url}: {resp.error}")
        if resp.status != 200:
            text = resp.body[:200].decode("utf-8", "replace").strip()
            # §5.6: a MASA refusal reaches the pledge with the MASA's status.
            raise Refusal(resp.status if 400 <= resp.status < 600 else 502,
                          f"MASA refused ({resp.status}): {text}")  # fmt: skip
        if resp.media_type != VOUCHER_CMS_JSON:
            raise Refusal(502, f"MASA answered {resp.content_type!r}, not {VOUCHER_CMS_JSON}")
        return resp.body

    # -- telemetry (§5.7, §5.9.4) ---------------------------------------------------------

    def _status(
        self, into: list[tuple[str | None, StatusReport]], what: str
    ) -> Callable[[BrskiRequest], OpReply]:
        def handler(req: BrskiRequest) -> OpReply:
            if req.method != "POST":
                raise Refusal(405, f"{what} takes POST, not {req.method}")
            if media_type(req.header("content-type")) != JSON:
                raise Refusal(415, f"{what}: Content-Type {req.header('content-type')!r} is "
                                   f"not {JSON}")  # fmt: skip
            report = parse_status(req.body)
            client = _client_cert(req)
            with self._records_lock:
                into.append((serial_of(client), report))
            return OpReply(200, [], b"", f"{what}: {'success' if report.status else 'failure'}")

        return handler

    # -- EST (§5.9) -----------------------------------------------------------------------

    def _enroll_gate(self, req: BrskiRequest) -> Handler | None:
        """A 403 handler for an IDevID that got no voucher; None lets EST answer."""
        if self.registrar_quirks.enroll_without_voucher or req.peer_cert_der is None:
            return None
        try:
            client = x509.load_der_x509_certificate(req.peer_cert_der)
        except ValueError:
            return None
        if not any(chains_to(client, ca) or client == ca
                   for ca in self.registrar.manufacturer_trust):  # fmt: skip
            return None  # an LDevID (or other domain certificate): EST decides
        serial = serial_of(client)
        with self._records_lock:
            vouched = any(v.serial_number == serial for v in self.vouchers)
        if vouched:
            return None

        def refuse(_: BrskiRequest) -> OpReply:
            raise Refusal(403, f"no voucher was issued for serial-number {serial!r}")

        return refuse

    def _csr_gate(self, req: BrskiRequest) -> Handler | None:
        """A 400 handler for a CSR that ignores the CSR attributes (§5.9.2); None lets
        EST answer (a body that is no CSR is EST's to refuse)."""
        if self.registrar_quirks.skip_csr_check or not self.csr_attrs or req.method != "POST":
            return None
        try:
            csr = codec.csr_from_body(req.body)
        except codec.CodecError:
            return None
        client = None
        if req.peer_cert_der is not None:
            try:
                client = x509.load_der_x509_certificate(req.peer_cert_der)
            except ValueError:
                client = None
        problems = csr_violations(csr, self.csr_attrs, serial_of(client) if client else None)
        if not problems:
            return None

        def refuse(_: BrskiRequest) -> OpReply:
            raise Refusal(400, "the CSR does not honour the CSR attributes: "
                               + "; ".join(problems))  # fmt: skip

        return refuse

    def voucher_for(self, serial: str) -> VoucherRecord | None:
        with self._records_lock:
            return next((v for v in reversed(self.vouchers) if v.serial_number == serial), None)


def _client_cert(req: BrskiRequest) -> x509.Certificate:
    if req.peer_cert_der is None:
        raise Refusal(401, "a TLS client certificate (the pledge's IDevID) is required")
    try:
        return x509.load_der_x509_certificate(req.peer_cert_der)
    except ValueError as exc:
        raise Refusal(400, f"client certificate does not parse: {exc}") from exc
