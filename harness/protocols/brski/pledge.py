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

A 202 answer to the voucher-request is retried after its Retry-After, limited to 60 s
(§5.6), with the same signed request; a 3xx is followed, to at most one other web
origin (§5.6). Both are bounded (`MAX_RETRIES`, `MAX_REDIRECTS`); the waits go through
`PledgeConfig.sleep` and are recorded in `Pledge.waits`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from harness.crypto.certs import cert_for_key
from harness.crypto.pki import CertifiedKey, KeyType, Pki, generate_key, make_csr
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
RETRY_AFTER_LIMIT = 60.0  # seconds: §5.6 "MUST limit the 'Retry-After' time to 60 seconds"
DEFAULT_RETRY_WAIT = 5.0  # a 202 without a usable Retry-After
MAX_RETRIES = 3  # 202 answers taken before giving up
MAX_REDIRECTS = 5  # redirections (of any origin) followed before giving up
CROSS_ORIGIN_REDIRECTS = 1  # §5.6: no more than one redirection to another web origin
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class PledgeBehaviour:
    """How the pledge deviates from RFC 8995 (all off by default)."""

    no_nonce: bool = False  # a nonceless pledge voucher-request
    omit_proximity: bool = False  # no proximity-registrar-cert in the request
    send_status: bool = True  # voucher and enroll status telemetry (§5.7, §5.9.4)
    new_nonce_on_retry: bool = False  # after a 202, a new request with a fresh nonce
    foreign_signer: bool = False  # signs the request with a self-signed certificate
    serial_nonce: bool = False  # the nonce is a hash of the serial-number: never fresh
    status_without_version: bool = False  # telemetry without its "version" field
    skip_csrattrs: bool = False  # enrolls without asking /csrattrs first


@dataclass
class PledgeQuirks:
    """Checks of the reference pledge a mutant skips."""

    accept_other_serial: bool = False  # a voucher for another serial-number
    skip_signature_check: bool = False  # a voucher whose MASA signature fails
    skip_nonce_check: bool = False  # a voucher with another nonce, or none
    skip_pinning: bool = False  # the registrar need not chain to pinned-domain-cert
    uncapped_retry_after: bool = False  # waits the whole Retry-After, over 60 s too
    follow_every_redirect: bool = False  # any number of redirections to other origins
    reject_unknown_leaves: bool = False  # refuses a voucher with leaves it does not know


@dataclass
class PledgeConfig:
    idevid: CertifiedKey
    manufacturer_anchor: x509.Certificate  # the MASA's trust anchor (§5.6.1)
    registrar_url: str | None = None  # https://host:port; None: discovered (discovery.py)
    keylog: Path | None = None
    connect: Connector | None = None  # how TCP connections are made (test network node)
    timeout: float = 20.0
    key_type: KeyType = "p256"  # of the LDevID key
    sleep: Callable[[float], None] = time.sleep  # how a Retry-After wait is spent
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
    registrar_url: str = ""  # the origin that gave the voucher (after redirections)


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
        self.waits: list[float] = []  # seconds scheduled after each 202, in order
        self._signer: CertifiedKey | None = None  # what signs voucher-requests
        self._registrar_url = config.registrar_url.rstrip("/") if config.registrar_url else None

    @property
    def registrar_url(self) -> str:
        """The registrar's origin: the configured one, else the first discovered by mDNS
        (RFC 8995 §4.1, discovery.py); redirections move it."""
        if self._registrar_url is None:
            found = first_registrar_url(self.config.discovery_timeout).rstrip("/")
            self._registrar_url = self.config.registrar_url = found
        return self._registrar_url

    @registrar_url.setter
    def registrar_url(self, url: str) -> None:
        self._registrar_url = url

    def run(self) -> PledgeResult:
        request, voucher_cms, voucher, registrar_cert = self.request_voucher()
        pinned = _pinned_cert(voucher)
        ldevid, attrs = self.enroll(pinned)
        return PledgeResult(request, voucher, voucher_cms, registrar_cert, pinned, ldevid, attrs,
                            self.registrar_url)  # fmt: skip

    # -- voucher (§5.2, §5.6, §5.7) -------------------------------------------------------

    def request_voucher(self) -> tuple[VoucherRequest, bytes, Voucher, x509.Certificate]:
        """The voucher exchange, with its 202 retries and redirections (§5.6)."""
        url = self.registrar_url + REQUESTVOUCHER
        signed: tuple[VoucherRequest, bytes] | None = None
        retries = redirects = cross_origin = 0
        cross_limit = MAX_REDIRECTS if self.quirks.follow_every_redirect else CROSS_ORIGIN_REDIRECTS
        while True:
            signed, resp, done = self._attempt(url, signed)
            if done is not None:
                if _origin(url) != _origin(self.registrar_url):
                    self.registrar_url = _origin(url)  # EST goes where the voucher came from
                return done
            if resp.status == 202 and retries < MAX_RETRIES:
                retries += 1
                wait = retry_wait(
                    resp.header("retry-after"),
                    None if self.quirks.uncapped_retry_after else RETRY_AFTER_LIMIT,
                )
                self.waits.append(wait)
                self.config.sleep(wait)
                if self.behaviour.new_nonce_on_retry:
                    signed = None
                continue
            location = resp.header("location")
            if resp.status in REDIRECTS and location:
                target = urljoin(url, location.strip())
                if urlsplit(target).scheme != "https":
                    raise RequestRefused(
                        "redirect", resp.status, f"redirected to {target!r}: not https", "registrar"
                    )
                if _origin(target) != _origin(url):
                    cross_origin += 1
                redirects += 1
                if redirects > MAX_REDIRECTS or cross_origin > cross_limit:
                    raise RequestRefused("redirect", resp.status, f"redirection to {target!r} "
                                         "not followed: one to another origin at most",
                                         "registrar")  # fmt: skip
                url = target
                continue
            _expect(resp, "requestvoucher", "registrar")
            raise RequestRefused("requestvoucher", resp.status, "no voucher", "registrar")

    def _attempt(
        self, url: str, signed: tuple[VoucherRequest, bytes] | None
    ) -> tuple[tuple[VoucherRequest, bytes], EstResponse,
               tuple[VoucherRequest, bytes, Voucher, x509.Certificate] | None]:  # fmt: skip
        """One POST of the voucher-request to `url`: the request sent, the answer, and on
        a 200 the checked voucher (its status telemetry sent on the same connection)."""
        seen: list[bytes] = []  # provisional: recorded, judged after the voucher (§5.6.2)
        peer = self._client(_origin(url), None, seen.append)
        with peer.session() as session:
            if session.error is not None or not seen:
                raise RequestRefused("provisional-tls", 0, session.error or "no certificate",
                                     "registrar")  # fmt: skip
            registrar_cert = x509.load_der_x509_certificate(seen[0])
            signed = self._signed_request(registrar_cert, signed)
            request, body = signed
            path = urlsplit(url).path or REQUESTVOUCHER
            query = urlsplit(url).query
            resp = session.request("POST", path + (f"?{query}" if query else ""),
                                   {"Content-Type": VOUCHER_CMS_JSON, "Accept": VOUCHER_CMS_JSON},
                                   body)  # fmt: skip
            if resp.status != 200 or resp.error is not None:
                return signed, resp, None
            try:
                voucher = self.verify_voucher(resp.body, request)
                self.check_pinning(voucher, registrar_cert)
            except VoucherRejected as exc:
                self._status(session, VOUCHER_STATUS, False, exc.reason)
                raise
            self._status(session, VOUCHER_STATUS, True, "voucher accepted")
        return signed, resp, (request, resp.body, voucher, registrar_cert)

    def _signed_request(
        self, registrar_cert: x509.Certificate, signed: tuple[VoucherRequest, bytes] | None
    ) -> tuple[VoucherRequest, bytes]:
        """The request to send: the previous one, byte for byte, unless this registrar
        presents another certificate (then the same nonce with its certificate)."""
        if signed is None:
            request = self._voucher_request(registrar_cert)
        else:
            previous = signed[0]
            own = registrar_cert.public_bytes(serialization.Encoding.DER)
            if previous.proximity_registrar_cert in (None, own):
                return signed
            request = replace(previous, proximity_registrar_cert=own)
        signer = self.request_signer
        body = sign_cms(voucher_request_to_json(request), ID_CT_ANIMA_JSON_VOUCHER,
                        signer.key, signer.cert, signer.chain[:-1])  # fmt: skip
        return request, body

    @property
    def request_signer(self) -> CertifiedKey:
        """The IDevID (§5.2); with `foreign_signer` a self-signed certificate of the same
        subject, as a device that signs with a key of its own making."""
        if self._signer is None:
            idevid = self.config.idevid
            self._signer = idevid
            if self.behaviour.foreign_signer:
                self._signer = Pki.create().root_ca(idevid.cert.subject, self.config.key_type)
        return self._signer

    def _nonce(self) -> bytes | None:
        if self.behaviour.no_nonce:
            return None
        if self.behaviour.serial_nonce:
            return hashlib.sha256(self.serial.encode()).digest()[:NONCE_BYTES]
        return secrets.token_bytes(NONCE_BYTES)

    def _voucher_request(self, registrar_cert: x509.Certificate) -> VoucherRequest:
        behaviour = self.behaviour
        return VoucherRequest(
            created_on=dt.datetime.now(dt.UTC).replace(microsecond=0),
            assertion="proximity",
            serial_number=self.serial,
            nonce=self._nonce(),
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
        if voucher.extra and quirks.reject_unknown_leaves:
            raise VoucherRejected("format", f"unknown leaves {sorted(map(str, voucher.extra))}")
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
        peer = self._client(self.registrar_url, [pinned], None, est=True)
        with peer.session() as session:
            if session.error is not None:
                raise EnrollmentError("est-tls", session.error)
            attrs = [] if self.behaviour.skip_csrattrs else _csrattrs(session)
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
        origin: str,
        trust: list[x509.Certificate] | None,
        seen: Callable[[bytes], None] | None,
        est: bool = False,
    ) -> EstClientPeer:
        config = self.config
        base = origin + ("/.well-known/est" if est else WELL_KNOWN)

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

    def _status(self, session: EstSession, path: str, ok: bool, reason: str) -> None:
        if not self.behaviour.send_status:
            return
        body = StatusReport(1, ok, reason).to_json()
        if self.behaviour.status_without_version:
            tree = json.loads(body)
            del tree["version"]
            body = json.dumps(tree).encode()
        # Telemetry is best effort (§5.7): its answer changes nothing for the pledge.
        session.request("POST", path, {"Content-Type": JSON}, body)


def _csrattrs(session: EstSession) -> list[codec.CsrAttr]:
    """The CSR attributes the registrar asks for (§5.9.2); none on a 204 or 404."""
    resp = session.csrattrs()
    if resp.status in (204, 404):
        return []
    _expect(resp, "csrattrs", "registrar", EnrollmentError)
    try:
        return codec.parse_csrattrs(codec.b64_decode(resp.body))
    except codec.CodecError as exc:
        raise EnrollmentError("csrattrs", str(exc)) from exc


def retry_wait(value: str | None, limit: float | None = RETRY_AFTER_LIMIT) -> float:
    """Seconds to wait for a Retry-After value (delta-seconds or an HTTP-date), at most
    `limit`; `DEFAULT_RETRY_WAIT` when it is absent or does not parse."""
    seconds = DEFAULT_RETRY_WAIT
    text = (value or "").strip()
    if text.isdigit():
        seconds = float(text)
    elif text:
        try:
            when = email.utils.parsedate_to_datetime(text)
            seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
        except (TypeError, ValueError):
            pass
    seconds = max(0.0, seconds)
    return seconds if limit is None else min(seconds, limit)


def _origin(url: str) -> str:
    """scheme://host:port of a URL (its web origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
