"""Reference MASA (RFC 8995 §5.5, §5.8): issues vouchers for registrar voucher-requests.

    masa = MasaPeer(MasaConfig(credential=tls, signer=voucher_signer,
                               manufacturer=manufacturer_ca.cert)).start()
    masa.url  # https://127.0.0.1:<port>/.well-known/brski

Checks, in order: the registrar voucher-request's CMS signature (§5.5.4), that it
carries no proximity-registrar-cert (a pledge-only leaf, §5.5), the
prior-signed-voucher-request's signature by an IDevID under the manufacturer CA
(§5.5.5), the serial number (request, prior request and IDevID subject agree), the
proximity-registrar-cert of the prior request against the registrar's domain, and the
nonce (§5.5.6). The voucher pins the top certificate of the registrar's chain (its
domain CA, §5.5.4), is a nonce voucher when a nonce is given and a nonceless one with
expires-on otherwise, and is signed with the MASA key. Every voucher is logged (§5.8).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.certs import issued_by
from harness.crypto.pki import CertifiedKey, generate_key
from harness.protocols.brski.common import (
    JSON,
    REQUESTAUDITLOG,
    REQUESTVOUCHER,
    VOUCHER_CMS_JSON,
    WELL_KNOWN,
    media_type,
    serial_of,
)
from harness.protocols.brski.errors import Refusal
from harness.protocols.brski.server import BrskiRequest, BrskiServerPeer, Handler
from harness.protocols.est.server import EstServerConfig
from harness.protocols.est.server_ops import OpReply
from harness.protocols.voucher.cms import (
    ID_CT_ANIMA_JSON_VOUCHER,
    ID_DATA,
    SignedContent,
    chains_to,
    sign_cms,
    verify_cms,
)
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import (
    Voucher,
    VoucherRequest,
    parse_voucher_request_json,
    voucher_to_json,
)

SIGNED_TYPES = (ID_CT_ANIMA_JSON_VOUCHER, ID_DATA)  # see docs/voucher.md on id-data
NONCELESS_VALIDITY = dt.timedelta(days=14)


@dataclass
class MasaBehaviour:
    """How the MASA deviates from RFC 8995 (all off by default)."""

    ignore_nonce: bool = False  # a nonceless voucher although the request has a nonce
    stale_nonce: bool = False  # the voucher carries a nonce of no request of this pledge
    other_serial: str | None = None  # the voucher names this serial-number instead
    pin_cert: x509.Certificate | None = None  # pinned-domain-cert instead of the domain CA
    wrong_signing_key: bool = False  # sign with a key that is not the signer cert's
    status: int | None = None  # answer every voucher request with this status
    success_status: int = 200  # the status code of a voucher response


@dataclass
class MasaQuirks:
    """Checks of the reference MASA a mutant skips."""

    accept_proximity_in_rvr: bool = False  # take an RVR carrying proximity-registrar-cert
    skip_prior_request: bool = False  # no prior-signed-voucher-request checks at all
    skip_serial_check: bool = False  # serial numbers need not agree
    skip_proximity_check: bool = False  # proximity-registrar-cert need not be the domain's


@dataclass
class MasaConfig:
    credential: CertifiedKey  # TLS server certificate
    signer: CertifiedKey  # voucher signing key; its chain ends at the pledges' anchor
    manufacturer: x509.Certificate  # the CA of the IDevIDs this MASA vouches for
    host: str = "127.0.0.1"
    port: int = 0
    keylog: Any = None  # Path of the NSS key log, or None
    log: Any = None  # Path of the peer log, or None
    known_serials: set[str] | None = None  # None: every IDevID under `manufacturer`
    # Domain CAs whose registrars may ask; empty: any (the MASA may not know the owner
    # beforehand, §5.5.4), the RVR signature still binds the request to its domain.
    registrar_trust: list[x509.Certificate] = field(default_factory=list)
    nonceless_validity: dt.timedelta = NONCELESS_VALIDITY


@dataclass
class AuditEvent:
    """One entry of the MASA audit log (§5.8.1)."""

    date: dt.datetime
    serial_number: str
    domain_id: bytes  # SubjectKeyIdentifier of the pinned domain CA (§5.8.2)
    nonce: bytes | None
    assertion: str

    def to_json(self) -> dict[str, Any]:
        nonce = base64.urlsafe_b64encode(self.nonce).decode().rstrip("=") if self.nonce else None
        return {
            "date": self.date.isoformat(),
            "domainID": base64.b64encode(self.domain_id).decode(),
            "nonce": nonce,
            "assertion": self.assertion,
            "truncated": "0",
        }


class MasaPeer(BrskiServerPeer):
    """The reference MASA; `start()`/`stop()` or a context manager."""

    serves_est = False

    def __init__(
        self,
        config: MasaConfig,
        behaviour: MasaBehaviour | None = None,
        quirks: MasaQuirks | None = None,
    ):
        super().__init__(
            EstServerConfig(
                credential=config.credential,
                ca=config.signer,  # unused: the MASA serves no EST
                host=config.host,
                port=config.port,
                keylog=config.keylog,
                log=config.log,
            )
        )
        self.masa = config
        self.masa_behaviour = behaviour or MasaBehaviour()
        self.masa_quirks = quirks or MasaQuirks()
        self.audit_log: list[AuditEvent] = []
        self.vouchers: list[Voucher] = []
        self._audit_lock = threading.Lock()
        self._seen_nonces: dict[str, bytes] = {}

    @property
    def url(self) -> str:
        """https://host:port/.well-known/brski (valid after start())."""
        return f"https://{self.config.host}:{self.port}{WELL_KNOWN}"

    def route(self, request: BrskiRequest) -> Handler | None:
        if request.path == REQUESTVOUCHER:
            return self._requestvoucher
        if request.path == REQUESTAUDITLOG:
            return self._auditlog
        return None

    # -- voucher requests -----------------------------------------------------------------

    def _requestvoucher(self, req: BrskiRequest) -> OpReply:
        behaviour = self.masa_behaviour
        if req.method != "POST":
            raise Refusal(405, f"requestvoucher takes POST, not {req.method}")
        if media_type(req.header("content-type")) != VOUCHER_CMS_JSON:
            raise Refusal(415, f"Content-Type {req.header('content-type')!r} is not "
                               f"{VOUCHER_CMS_JSON}")  # fmt: skip
        accept = req.header("accept")
        if accept and not _accepts(accept, VOUCHER_CMS_JSON):
            raise Refusal(406, f"Accept {accept!r} excludes {VOUCHER_CMS_JSON}")
        if behaviour.status is not None:
            raise Refusal(behaviour.status, f"status {behaviour.status} forced by the test")
        rvr, signed = self._registrar_request(req.body)
        domain_ca = _top_of_chain(signed.signer, signed.certificates)
        nonce, assertion = self._check_prior(rvr, signed, domain_ca)
        voucher = self._voucher(rvr, domain_ca, nonce, assertion)
        body = self._sign(voucher)
        with self._audit_lock:
            self.vouchers.append(voucher)
            self.audit_log.append(
                AuditEvent(
                    voucher.created_on or _now(),
                    rvr.serial_number or "",
                    _ski(domain_ca),
                    voucher.nonce,
                    voucher.assertion or "",
                )
            )
        note = f"voucher for {voucher.serial_number}" + (
            " (nonceless)" if voucher.nonce is None else ""
        )
        return OpReply(behaviour.success_status, [("Content-Type", VOUCHER_CMS_JSON)], body,
                       note)  # fmt: skip

    def _registrar_request(self, body: bytes) -> tuple[VoucherRequest, SignedContent]:
        """The RVR and its verified signature (§5.5.4)."""
        try:
            signed = verify_cms(body)
        except VoucherError as exc:
            raise Refusal(403, f"registrar voucher-request: {exc}") from exc
        if signed.content_type not in SIGNED_TYPES:
            raise Refusal(400, f"registrar voucher-request: content type {signed.content_type}")
        try:
            rvr = parse_voucher_request_json(signed.content)
        except VoucherError as exc:
            raise Refusal(400, f"registrar voucher-request: {exc}") from exc
        forwarded = rvr.proximity_registrar_cert is not None
        if forwarded and not self.masa_quirks.accept_proximity_in_rvr:
            raise Refusal(
                400,
                "registrar voucher-request carries proximity-registrar-cert, "
                "a leaf of pledge voucher-requests only (RFC 8995 §5.5)",
            )
        trust = self.masa.registrar_trust
        if trust and not any(
            signed.signer == ca or chains_to(signed.signer, ca, signed.certificates) for ca in trust
        ):
            raise Refusal(403, "registrar voucher-request signer is not of a known domain")
        if not rvr.serial_number:
            raise Refusal(400, "registrar voucher-request has no serial-number")
        known = self.masa.known_serials
        if known is not None and rvr.serial_number not in known:
            raise Refusal(404, f"serial-number {rvr.serial_number!r} is not a device of ours")
        return rvr, signed

    def _check_prior(
        self, rvr: VoucherRequest, signed: SignedContent, domain_ca: x509.Certificate
    ) -> tuple[bytes | None, str]:
        """§5.5.5, §5.5.6: (the nonce the voucher carries, the assertion)."""
        quirks = self.masa_quirks
        if quirks.skip_prior_request:
            return rvr.nonce, "logged"
        if rvr.prior_signed_voucher_request is None:
            raise Refusal(400, "registrar voucher-request has no prior-signed-voucher-request")
        try:
            prior = verify_cms(rvr.prior_signed_voucher_request)
            pvr = parse_voucher_request_json(prior.content)
        except VoucherError as exc:
            raise Refusal(403, f"prior-signed-voucher-request: {exc}") from exc
        if not chains_to(prior.signer, self.masa.manufacturer, prior.certificates):
            raise Refusal(403, "prior-signed-voucher-request is not signed by one of our IDevIDs")
        if not quirks.skip_serial_check:
            idevid_serial = serial_of(prior.signer)
            if not (rvr.serial_number == pvr.serial_number == idevid_serial):
                raise Refusal(
                    403,
                    f"serial-number: registrar {rvr.serial_number!r}, pledge "
                    f"{pvr.serial_number!r}, IDevID {idevid_serial!r} differ",
                )
        prox = pvr.proximity_registrar_cert
        if prox is not None and not quirks.skip_proximity_check:
            try:
                prox_cert = x509.load_der_x509_certificate(prox)
            except ValueError as exc:
                raise Refusal(400, f"proximity-registrar-cert: {exc}") from exc
            if not (prox_cert == signed.signer or prox_cert == domain_ca
                    or chains_to(prox_cert, domain_ca, signed.certificates)):  # fmt: skip
                raise Refusal(403, "proximity-registrar-cert is not of the registrar's domain")
        if rvr.nonce is not None and rvr.nonce != pvr.nonce:
            raise Refusal(400, "nonce of the registrar and the pledge voucher-requests differ")
        return rvr.nonce, "proximity" if prox is not None else "logged"

    def _voucher(
        self,
        rvr: VoucherRequest,
        domain_ca: x509.Certificate,
        nonce: bytes | None,
        assertion: str,
    ) -> Voucher:
        behaviour = self.masa_behaviour
        serial = rvr.serial_number or ""
        if behaviour.ignore_nonce:
            nonce = None
        elif behaviour.stale_nonce:
            # A nonce of an earlier request of the same pledge, or one never asked for.
            nonce = self._seen_nonces.get(serial, b"\x00" * 16)
        if rvr.nonce is not None:
            self._seen_nonces[serial] = rvr.nonce
        now = _now()
        pin = behaviour.pin_cert or domain_ca
        return Voucher(
            created_on=now,
            expires_on=None if nonce is not None else now + self.masa.nonceless_validity,
            assertion=assertion,
            serial_number=behaviour.other_serial or serial,
            idevid_issuer=rvr.idevid_issuer,
            pinned_domain_cert=pin.public_bytes(serialization.Encoding.DER),
            nonce=nonce,
        )

    def _sign(self, voucher: Voucher) -> bytes:
        signer = self.masa.signer
        key = signer.key
        if self.masa_behaviour.wrong_signing_key:
            key = generate_key()
        # The chain below the pledge's trust anchor travels with the voucher.
        extra = [c for c in signer.chain if c != self.masa.manufacturer]
        return sign_cms(voucher_to_json(voucher), ID_CT_ANIMA_JSON_VOUCHER, key, signer.cert,
                        extra)  # fmt: skip

    # -- audit log (§5.8) -------------------------------------------------------------------

    def _auditlog(self, req: BrskiRequest) -> OpReply:
        """POST with a registrar voucher-request: the log of that device (§5.8); GET: the
        whole log, for the harness's own checks."""
        if req.method == "POST":
            rvr, _ = self._registrar_request(req.body)
            serial: str | None = rvr.serial_number
        elif req.method == "GET":
            serial = None
        else:
            raise Refusal(405, f"requestauditlog takes POST or GET, not {req.method}")
        with self._audit_lock:
            events = [e.to_json() for e in self.audit_log
                      if serial is None or e.serial_number == serial]  # fmt: skip
        tree = {
            "version": "1",
            "events": events,
            "truncation": {"nonced duplicates": "0", "nonceless duplicates": "0", "arbitrary": "0"},
        }
        return OpReply(200, [("Content-Type", JSON)], json.dumps(tree).encode(),
                       f"{len(events)} audit events")  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _accepts(accept: str, wanted: str) -> bool:
    kinds = {media_type(part) for part in accept.split(",")}
    return bool(kinds & {wanted, "*/*", "application/*"})


def _top_of_chain(leaf: x509.Certificate, bag: list[x509.Certificate]) -> x509.Certificate:
    """The highest certificate of `bag` above `leaf`: the domain CA of §5.5.4 (the leaf
    itself when the registrar sent no chain)."""
    current, seen = leaf, [leaf]
    for _ in range(len(bag)):
        parent = next((c for c in bag if c not in seen and issued_by(current, c)), None)
        if parent is None:
            break
        seen.append(parent)
        current = parent
    return current


def _ski(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest  # type: ignore[arg-type]
