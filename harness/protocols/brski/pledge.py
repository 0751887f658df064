"""Reference pledge (RFC 8995 §5.2, §5.6, §5.7, §5.9): voucher, pinning, then EST.

    result = Pledge(PledgeConfig(idevid=idevid, manufacturer_anchor=mfg.cert,
                                 registrar_url="https://127.0.0.1:8443")).run()
    result.ldevid, result.pinned

Without a registrar URL the pledge discovers the registrar by mDNS first
(discovery.py; GRASP is not done). Steps:
a provisional TLS connection (the registrar's certificate is not checked yet, §5.1)
with the IDevID as client certificate; a pledge voucher-request with a fresh nonce and
the registrar's certificate as proximity-registrar-cert, signed with the IDevID key;
voucher checks (§5.6.1: MASA signature under the manufacturer anchor, serial-number,
nonce, idevid-issuer; unknown leaves ignored) and pinning (§5.6.2: the registrar's
certificate chains to pinned-domain-cert); voucher status telemetry (§5.7); then EST
with the pinned certificate as explicit trust anchor: /csrattrs, /simpleenroll, and
enroll status telemetry (§5.9.4). Every failure is a typed `BrskiError`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from harness.crypto.certs import cert_for_key
from harness.crypto.pki import CertifiedKey, KeyType, generate_key, make_csr
from harness.errors import PeerError
from harness.protocols.brski.common import (
    ENROLLSTATUS,
    JSON,
    REQUESTVOUCHER,
    VOUCHER_CMS_JSON,
    VOUCHER_STATUS,
    WELL_KNOWN,
    StatusReport,
    idevid_issuer_of,
    serial_of,
)
from harness.protocols.brski.discovery import DEFAULT_TIMEOUT, first_registrar_url
from harness.protocols.brski.errors import (
    BrskiError,
    EnrollmentError,
    RequestRefused,
    VoucherRejected,
)
from harness.protocols.est import codec
from harness.protocols.est.client import Connector, EstClientPeer, EstResponse, EstSession
from harness.protocols.voucher.cms import ID_CT_ANIMA_JSON_VOUCHER, chains_to, sign_cms, verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import (
    Voucher,
    VoucherRequest,
    parse_voucher_json,
    voucher_request_to_json,
)

SIGNED_TYPES = (ID_CT_ANIMA_JSON_VOUCHER, "1.2.840.113549.1.7.1")  # id-data: docs/voucher.md
NONCE_BYTES = 16


@dataclass
class PledgeBehaviour:
    """How the pledge deviates from RFC 8995 (all off by default)."""

    no_nonce: bool = False  # a nonceless pledge voucher-request
    omit_proximity: bool = False  # no proximity-registrar-cert in the request
    send_status: bool = True  # voucher and enroll status telemetry (§5.7, §5.9.4)


@dataclass
class PledgeQuirks:
    """Checks of the reference pledge a mutant skips."""

    accept_other_serial: bool = False  # a voucher for another serial-number
    skip_signature_check: bool = False  # a voucher whose MASA signature fails
    skip_nonce_check: bool = False  # a voucher with another nonce, or none
    skip_pinning: bool = False  # the registrar need not chain to pinned-domain-cert


@dataclass
class PledgeConfig:
    idevid: CertifiedKey
    manufacturer_anchor: x509.Certificate  # the MASA's trust anchor (§5.6.1)
    registrar_url: str | None = None  # https://host:port; None: discovered (discovery.py)
    keylog: Path | None = None
    connect: Connector | None = None  # how TCP connections are made (test network node)
    timeout: float = 20.0
    key_type: KeyType = "p256"  # of the LDevID key
    discovery_timeout: float = DEFAULT_TIMEOUT  # the bounded wait for an mDNS answer


@dataclass
class PledgeResult:
    """What the pledge holds after the flow (the knowledge imparted)."""

    request: VoucherRequest
    voucher: Voucher
    voucher_cms: bytes
    registrar_cert: x509.Certificate  # seen on the provisional connection
    pinned: x509.Certificate  # its trust anchor for the domain from now on
    ldevid: CertifiedKey
    csrattrs: list[codec.CsrAttr] = field(default_factory=list)


class Pledge:
    """The reference pledge; `run()` does the whole flow."""

    def __init__(
        self,
        config: PledgeConfig,
        behaviour: PledgeBehaviour | None = None,
        quirks: PledgeQuirks | None = None,
    ):
        self.config = config
        self.behaviour = behaviour or PledgeBehaviour()
        self.quirks = quirks or PledgeQuirks()
        serial = serial_of(config.idevid.cert)
        if serial is None:
            raise BrskiError("setup", "the IDevID subject has no single serialNumber")
        self.serial = serial

    def run(self) -> PledgeResult:
        request, voucher_cms, voucher, registrar_cert = self.request_voucher()
        pinned = _pinned_cert(voucher)
        ldevid, attrs = self.enroll(pinned)
        return PledgeResult(request, voucher, voucher_cms, registrar_cert, pinned, ldevid, attrs)

    # -- voucher (§5.2, §5.6, §5.7) -------------------------------------------------------

    def request_voucher(self) -> tuple[VoucherRequest, bytes, Voucher, x509.Certificate]:
        seen: list[bytes] = []

        def remember(der: bytes) -> None:
            seen.append(der)  # provisional: recorded, judged after the voucher (§5.6.2)

        peer = self._client(None, remember)
        with peer.session() as session:
            if session.error is not None or not seen:
                raise RequestRefused("provisional-tls", 0, session.error or "no certificate",
                                     "registrar")  # fmt: skip
            registrar_cert = x509.load_der_x509_certificate(seen[0])
            request = self._voucher_request(registrar_cert)
            body = sign_cms(voucher_request_to_json(request), ID_CT_ANIMA_JSON_VOUCHER,
                            self.config.idevid.key, self.config.idevid.cert,
                            self.config.idevid.chain[:-1])  # fmt: skip
            resp = session.request("POST", REQUESTVOUCHER,
                                   {"Content-Type": VOUCHER_CMS_JSON, "Accept": VOUCHER_CMS_JSON},
                                   body)  # fmt: skip
            _expect(resp, "requestvoucher", "registrar")
            try:
                voucher = self.verify_voucher(resp.body, request)
                self.check_pinning(voucher, registrar_cert)
            except VoucherRejected as exc:
                self._status(session, VOUCHER_STATUS, False, exc.reason)
                raise
            self._status(session, VOUCHER_STATUS, True, "voucher accepted")
        return request, resp.body, voucher, registrar_cert

    def _voucher_request(self, registrar_cert: x509.Certificate) -> VoucherRequest:
        behaviour = self.behaviour
        return VoucherRequest(
            created_on=dt.datetime.now(dt.UTC).replace(microsecond=0),
            assertion="proximity",
            serial_number=self.serial,
            nonce=None if behaviour.no_nonce else secrets.token_bytes(NONCE_BYTES),
            proximity_registrar_cert=None
            if behaviour.omit_proximity
            else registrar_cert.public_bytes(serialization.Encoding.DER),
        )

    def verify_voucher(self, der: bytes, request: VoucherRequest) -> Voucher:
        """§5.6.1; VoucherRejected names the failed check."""
        quirks = self.quirks
        try:
            signed = verify_cms(der)
        except VoucherError as exc:
            if not (quirks.skip_signature_check and exc.field == "SignerInfo.signature"):
                raise VoucherRejected("signature", str(exc)) from exc
            signed = None
        if signed is not None:
            if signed.content_type not in SIGNED_TYPES:
                raise VoucherRejected("format", f"content type {signed.content_type}")
            anchor = self.config.manufacturer_anchor
            if not quirks.skip_signature_check and not (
                signed.signer == anchor or chains_to(signed.signer, anchor, signed.certificates)
            ):
                raise VoucherRejected("trust-anchor", "the voucher signer does not chain to "
                                      "the manufacturer trust anchor")  # fmt: skip
            content = signed.content
        else:
            content = _content_unverified(der)
        try:
            voucher = parse_voucher_json(content)
        except VoucherError as exc:
            raise VoucherRejected("format", str(exc)) from exc
        if voucher.serial_number != self.serial and not quirks.accept_other_serial:
            raise VoucherRejected("serial-number", f"voucher for {voucher.serial_number!r}, "
                                  f"this pledge is {self.serial!r}")  # fmt: skip
        if not quirks.skip_nonce_check:
            if voucher.nonce is None and request.nonce is not None:
                raise VoucherRejected("nonce", "nonceless voucher for a request with a nonce")
            if voucher.nonce is not None and voucher.nonce != request.nonce:
                raise VoucherRejected("nonce", "the voucher's nonce is not this request's")
        issuer = idevid_issuer_of(self.config.idevid.cert)
        if voucher.idevid_issuer is not None and voucher.idevid_issuer != issuer:
            raise VoucherRejected("idevid-issuer", "not this pledge's IDevID issuer")
        if voucher.pinned_domain_cert is None:
            raise VoucherRejected("pinned-domain-cert", "the voucher pins no certificate")
        _pinned_cert(voucher)
        return voucher

    def check_pinning(self, voucher: Voucher, registrar_cert: x509.Certificate) -> None:
        """§5.6.2: the provisional connection's certificate chains to the pinned one."""
        pinned = _pinned_cert(voucher)
        if self.quirks.skip_pinning:
            return
        if registrar_cert != pinned and not chains_to(registrar_cert, pinned):
            raise VoucherRejected("pinned-domain-cert", "the registrar's TLS certificate does "
                                  "not chain to pinned-domain-cert")  # fmt: skip

    # -- enrollment (§5.9) ----------------------------------------------------------------

    def enroll(self, pinned: x509.Certificate) -> tuple[CertifiedKey, list[codec.CsrAttr]]:
        """EST with `pinned` as explicit trust anchor; the new LDevID and the CSR
        attributes the registrar asked for."""
        peer = self._client([pinned], None, est=True)
        with peer.session() as session:
            if session.error is not None:
                raise EnrollmentError("est-tls", session.error)
            attrs_resp = session.csrattrs()
            attrs: list[codec.CsrAttr] = []
            if attrs_resp.status == 200:
                try:
                    attrs = codec.parse_csrattrs(codec.b64_decode(attrs_resp.body))
                except codec.CodecError as exc:
                    raise EnrollmentError("csrattrs", str(exc)) from exc
            elif attrs_resp.status not in (204, 404):
                _expect(attrs_resp, "csrattrs", "registrar", EnrollmentError)
            key = generate_key(self.config.key_type)
            subject = x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, self.serial),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, self.serial),
            ])  # fmt: skip
            resp = session.simpleenroll(make_csr(key, subject))
            _expect(resp, "simpleenroll", "registrar", EnrollmentError)
            try:
                certs = resp.certs()
            except codec.CodecError as exc:
                raise EnrollmentError("simpleenroll", str(exc)) from exc
            cert = cert_for_key(certs, key)
            if cert is None:
                self._status(session, ENROLLSTATUS, False, "no certificate for our key")
                raise EnrollmentError("simpleenroll", "no certificate for the CSR's key")
            if not chains_to(cert, pinned, certs):
                self._status(session, ENROLLSTATUS, False, "LDevID outside the pinned domain")
                raise EnrollmentError("simpleenroll", "the LDevID does not chain to the "
                                      "pinned domain certificate")  # fmt: skip
            self._status(session, ENROLLSTATUS, True, "LDevID installed")
        chain = [c for c in certs if c != cert]
        return CertifiedKey(cert, key, chain), attrs

    # -- plumbing -------------------------------------------------------------------------

    def _client(
        self,
        trust: list[x509.Certificate] | None,
        seen: Callable[[bytes], None] | None,
        est: bool = False,
    ) -> EstClientPeer:
        config = self.config
        base = self.registrar_url().rstrip("/") + ("/.well-known/est" if est else WELL_KNOWN)

        def hook(der: bytes) -> str | None:
            if seen is not None:
                seen(der)
            return None  # the pledge judges the certificate itself, after the voucher

        try:
            return EstClientPeer(base, trust, client=config.idevid, keylog=config.keylog,
                                 timeout=config.timeout, verify_hostname=False,
                                 authorize=hook, connect=config.connect)  # fmt: skip
        except PeerError as exc:
            raise BrskiError("setup", str(exc)) from exc

    def registrar_url(self) -> str:
        """The configured registrar, else the first one discovered by mDNS (RFC 8995 §4.1)."""
        if self.config.registrar_url is None:
            self.config.registrar_url = first_registrar_url(self.config.discovery_timeout)
        return self.config.registrar_url

    def _status(self, session: EstSession, path: str, ok: bool, reason: str) -> None:
        if not self.behaviour.send_status:
            return
        report = StatusReport(1, ok, reason)
        # Telemetry is best effort (§5.7): its answer changes nothing for the pledge.
        session.request("POST", path, {"Content-Type": JSON}, report.to_json())


def _pinned_cert(voucher: Voucher) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(voucher.pinned_domain_cert or b"")
    except ValueError as exc:
        raise VoucherRejected("pinned-domain-cert", f"does not parse: {exc}") from exc


def _expect(resp: EstResponse, stage: str, by: str,
            error: type[BrskiError] = RequestRefused) -> None:  # fmt: skip
    if resp.ok:
        return
    text = resp.error or resp.body[:200].decode("utf-8", "replace").strip()
    if error is RequestRefused:
        raise RequestRefused(stage, resp.status, text, by)
    raise error(stage, f"{by} answered {resp.status or 'nothing'}: {text}")


def _content_unverified(der: bytes) -> bytes:
    """The eContent of a voucher whose signature failed (skip_signature_check only)."""
    try:
        encap = asn1_cms.ContentInfo.load(der)["content"]["encap_content_info"]
        content = encap["content"]
        # id-data comes as an OCTET STRING, other content types as Any around one.
        value = content.native if isinstance(content, asn1_core.OctetString) else None
        if value is None:
            value = content.parsed.native
    except Exception as exc:  # asn1crypto parses lazily: errors of every kind
        raise VoucherRejected("format", f"malformed CMS: {exc}") from exc
    if not isinstance(value, bytes):
        raise VoucherRejected("format", "the voucher CMS carries no content")
    return value
