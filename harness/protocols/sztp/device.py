"""The reference SZTP device (RFC 8572 §5): bootstraps from a list of bootstrap servers.

For each server of its list (`DeviceConfig.servers`) it calls get-bootstrapping-data with
its IDevID as TLS client certificate (and signed-data-preferred when it has no trust
anchor for the server), sets trust-state (§5.3: TRUE when the server's certificate
validates against the trust anchor, or when signed conveyed information validates with
the owner certificate and ownership voucher of §5.4; else FALSE), follows redirect
information up to a limit, and accepts onboarding information only with trust-state
TRUE. When every source failed it loops through the list again (§5.2), `passes` times.

What it accepted, what it refused and why is kept in `DeviceOutcome`, written as JSON
to the state folder by the builtin DUT, for the suite to judge. `DeviceBehaviour` bends
it for the mutants (device_mutants.py).
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.crypto.pki import CertifiedKey
from harness.protocols.sztp import codec
from harness.protocols.sztp.encryption import EncryptionError, decrypt_conveyed, is_enveloped
from harness.protocols.sztp.errors import SztpCodecError, SztpError
from harness.protocols.sztp.peer import Answer, Connect, DevicePeer
from harness.protocols.sztp.server import serial_of
from harness.protocols.voucher.cms import ID_CT_ANIMA_JSON_VOUCHER, chains_to, verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import parse_voucher_json

REDIRECT_LIMIT = 10  # RFC 8572 §5.3: SHOULD be no more than ten
PASSES = 3


class DeviceConfigError(SztpError):
    """A device configuration (server list, credentials) that cannot be used."""


class _Refused(SztpError):
    """Signed data that does not validate (§5.4): the reason."""


class _Exit(SztpError):
    """Onboarding information with trust-state FALSE: leave the recursion (§5.3)."""


@dataclass
class DeviceBehaviour:
    """Departures from RFC 8572 a mutant makes; all off in the reference."""

    redirect_limit: int | None = REDIRECT_LIMIT  # None: follows redirects without end
    accept_untrusted_unsigned: bool = False  # unsigned onboarding from an untrusted server
    check_serial: bool = True  # the voucher's serial-number is the device's
    check_pinned: bool = True  # the owner certificate chains to pinned-domain-cert
    check_expiry: bool = True  # the voucher's expires-on has not passed
    check_signature: bool = True  # the conveyed information's signature verifies
    send_intermediates: bool = True  # the IDevID's intermediate certificates go along
    prefer_signed: bool = True  # signed-data-preferred to untrusted servers
    loop_back: bool = True  # after a failed pass, through the list again (§5.2)
    report_progress: bool = True
    decrypt: bool = True  # encrypted conveyed information opened with the IDevID key (§5.3)
    accept_trusted_unsigned: bool = True  # unsigned onboarding from an authenticated server
    anonymous_first: bool = False  # calls without the IDevID, sends it only after a refusal
    require_owner_artifacts: bool = True  # signed data only with owner certificate and voucher
    follow_redirects: bool = True


@dataclass
class ServerEntry:
    """A bootstrap server of the list: its URL and trust anchors (none: untrusted)."""

    url: str
    trust_anchors: list[x509.Certificate] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        if parts.scheme != "https" or not parts.hostname:
            raise DeviceConfigError(f"not an https URL: {self.url!r}")
        try:
            return parts.hostname, parts.port or 443
        except ValueError as exc:
            raise DeviceConfigError(f"{self.url!r}: {exc}") from None


@dataclass
class DeviceConfig:
    idevid: CertifiedKey
    servers: list[ServerEntry]
    voucher_anchors: list[x509.Certificate] = field(default_factory=list)  # manufacturer's
    passes: int = PASSES
    keylog: Path | None = None
    connect: Connect | None = None


@dataclass
class Step:
    """One get-bootstrapping-data call and what the device made of it."""

    server: str
    redirects: int  # redirects followed to reach this server
    trusted_server: bool  # TLS certificate validated against a trust anchor
    signed_data_preferred: bool
    status: int | None = None
    kind: str = ""  # "redirect", "onboarding" or "" (nothing usable)
    signed: bool = False
    encrypted: bool = False  # the conveyed information came as EnvelopedData
    trust_state: bool = False
    accepted: bool = False
    reason: str = ""


@dataclass
class DeviceOutcome:
    serial: str
    result: str = "gave-up"  # "onboarded" or "gave-up"
    onboarding: dict[str, Any] | None = None  # the accepted onboarding information
    onboarded_by: str = ""  # the server it came from
    steps: list[Step] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)  # progress types reported
    passes: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> DeviceOutcome:
        """The outcome a device wrote; SztpCodecError when it is not one."""
        doc = codec.load_json(text, "device-outcome")
        try:
            steps = [Step(**s) for s in doc.pop("steps")]
            return cls(steps=steps, **doc)
        except (TypeError, KeyError, AttributeError) as exc:
            raise SztpCodecError(f"not a device outcome ({exc})", "device-outcome") from None

    def refusals(self) -> list[Step]:
        return [s for s in self.steps if not s.accepted]


class _Client(DevicePeer):
    """The device's RESTCONF client: no trust anchors means an unauthenticated server."""

    def __init__(self, *args: Any, intermediates: bool = True, **kw: Any):
        super().__init__(*args, **kw)
        self.intermediates = intermediates

    def _context(self, folder: Path) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # servers are named by address; the chain is checked
        if self.trust:
            ctx.load_verify_locations(cadata="".join(
                c.public_bytes(Encoding.PEM).decode() for c in self.trust))  # fmt: skip
            ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        else:
            ctx.verify_mode = ssl.CERT_NONE  # provisional: trust-state FALSE (§5.3)
        if self.client is not None:
            chain = self.client.chain if self.intermediates else []
            # the root is the server's trust anchor, not the device's to send
            chain = [c for c in chain if c.subject != c.issuer]
            cred = CertifiedKey(self.client.cert, self.client.key, chain)
            paths = cred.write(folder, "device")
            ctx.load_cert_chain(paths.bundle, paths.key)
        if self.keylog is not None:
            ctx.keylog_filename = str(self.keylog)
        return ctx


class Device:
    def __init__(self, config: DeviceConfig, behaviour: DeviceBehaviour | None = None):
        self.config = config
        self.behaviour = behaviour or DeviceBehaviour()
        serial = serial_of(config.idevid.cert)
        if not serial:
            raise DeviceConfigError("the IDevID has no serialNumber in its subject")
        self.serial = serial
        self.outcome = DeviceOutcome(serial)

    def run(self) -> DeviceOutcome:
        """Bootstrap (§5.2): through the list until onboarded, `passes` times at most."""
        for _ in range(max(1, self.config.passes)):
            self.outcome.passes += 1
            for entry in self.config.servers:
                host, port = entry.address
                try:
                    if self._contact(host, port, entry.trust_anchors, 0):
                        self.outcome.result = "onboarded"
                        return self.outcome
                except _Exit:
                    continue  # back to the list of bootstrapping sources
            if not self.behaviour.loop_back:
                break
        return self.outcome

    def _client(self, host: str, port: int, anchors: list[x509.Certificate],
                identified: bool = True) -> _Client:  # fmt: skip
        return _Client(host, port, anchors, self.config.idevid if identified else None,
                       keylog=self.config.keylog, connect=self.config.connect,
                       intermediates=self.behaviour.send_intermediates)  # fmt: skip

    def _get(self, client: _Client, request: codec.GetBootstrappingDataInput) -> Answer:
        """get-bootstrapping-data with the IDevID (§5.3: every call identifies the device;
        `anonymous_first` tries without it first, as clients that wait to be asked do)."""
        if self.behaviour.anonymous_first:
            anonymous = self._client(client.host, client.port, client.trust, identified=False)
            answer = anonymous.get_bootstrapping_data(request)
            if answer.status not in (401, 403):
                return answer
        return client.get_bootstrapping_data(request)

    def _contact(self, host: str, port: int, anchors: list[x509.Certificate],
                 redirects: int) -> bool:  # fmt: skip
        """One bootstrap server (§5.3); True when onboarding information was accepted."""
        trusted = bool(anchors)
        preferred = not trusted and self.behaviour.prefer_signed
        step = Step(f"{host}:{port}", redirects, trusted, preferred)
        self.outcome.steps.append(step)
        client = self._client(host, port, anchors)
        answer = self._get(client, codec.GetBootstrappingDataInput(signed_data_preferred=preferred))
        step.status = answer.status
        if answer.status != 200:
            step.reason = answer.describe()[:300]
            return False
        try:
            output = answer.output()
            step.encrypted = is_enveloped(output.conveyed_information)
            content, step.signed = self._unwrap(output)
            info = codec.parse_conveyed_json(content)
        except (SztpCodecError, _Refused) as exc:
            step.reason = str(exc)  # signed data that fails validation: trust-state FALSE
            return False
        step.trust_state = trusted or step.signed
        if isinstance(info, codec.RedirectInformation):
            step.kind = "redirect"
            if not self.behaviour.follow_redirects:
                step.reason = "redirect information: not followed"
                return False
            return self._redirect(step, info)
        step.kind = "onboarding"
        lax = self.behaviour.accept_untrusted_unsigned and not step.signed
        if not step.trust_state and not lax:
            step.reason = "onboarding information with trust-state FALSE: exit"
            raise _Exit(step.reason)
        if not step.signed and not self.behaviour.accept_trusted_unsigned:
            step.reason = "unsigned onboarding information: refused"
            return False
        step.accepted = True
        self.outcome.onboarding = codec.conveyed_to_dict(info)
        self.outcome.onboarded_by = step.server
        if trusted and self.behaviour.report_progress:
            self._report(client)
        return True

    def _redirect(self, step: Step, info: codec.RedirectInformation) -> bool:
        limit = self.behaviour.redirect_limit
        if limit is not None and step.redirects + 1 > limit:
            step.reason = f"redirect limit: {limit} redirects followed already"
            return False
        step.accepted = True
        for server in info.bootstrap_servers:
            anchors: list[x509.Certificate] = []
            # trust anchors of redirect information count only if it was trusted (§5.5)
            if step.trust_state and server.trust_anchor:
                try:
                    anchors = codec.certs_from_cms(server.trust_anchor, "trust-anchor")
                except SztpCodecError as exc:
                    step.reason = str(exc)
                    continue
            if self._contact(server.address, server.port, anchors, step.redirects + 1):
                return True
        return False

    def _report(self, client: _Client) -> None:
        for kind in ("bootstrap-initiated", "bootstrap-complete"):
            reply = client.report_progress(codec.ReportProgressInput(kind))
            if reply.status in (200, 204):
                self.outcome.progress.append(kind)

    # -- signed data (§5.4) -------------------------------------------------------------

    def _unwrap(self, output: codec.GetBootstrappingDataOutput) -> tuple[bytes, bool]:
        """The conveyed information's content and whether it came signed and validated;
        _Refused when signed data does not validate."""
        der = output.conveyed_information
        if is_enveloped(der):
            if not self.behaviour.decrypt:
                raise SztpCodecError("encrypted conveyed information: not decrypted",
                                     "conveyed-information")  # fmt: skip
            try:
                # §5.3: decrypt first, with the key of the certificate it was encrypted to
                der = decrypt_conveyed(der, self.config.idevid.key)
            except EncryptionError as exc:
                raise _Refused(f"encrypted conveyed information does not decrypt: {exc}") \
                    from None
        if self.behaviour.check_signature:
            unwrapped = codec.unwrap_conveyed(der)
            content, signed = unwrapped.content, unwrapped.signed is not None
        else:
            content, signed = _content_unchecked(der)
        if not signed:
            if output.owner_certificate is not None:
                raise _Refused("owner certificate with unsigned conveyed information")
            return content, False
        bare = output.owner_certificate is None and output.ownership_voucher is None
        if bare and not self.behaviour.require_owner_artifacts:
            return content, True  # verified with the certificate the CMS itself carries
        if output.owner_certificate is None or output.ownership_voucher is None:
            raise _Refused("signed data without owner certificate and ownership voucher")
        pinned = self._voucher(output.ownership_voucher)
        owners = codec.certs_from_cms(output.owner_certificate, "owner-certificate")
        owner = codec.leaf_of(owners)
        if owner is None:
            raise _Refused("the owner-certificate CMS holds no single leaf")
        if self.behaviour.check_pinned:
            rest = [c for c in owners if c is not owner]
            if not (owner == pinned or chains_to(owner, pinned, rest)):
                raise _Refused("the owner certificate does not chain to pinned-domain-cert")
        if self.behaviour.check_signature:
            try:
                verify_cms(der, signer=owner)
            except VoucherError as exc:
                raise _Refused(f"conveyed information not signed by the owner: {exc}") from None
        return content, True

    def _voucher(self, der: bytes) -> x509.Certificate:
        """The ownership voucher authenticated (§5.4); its pinned-domain-cert."""
        try:
            signed = verify_cms(der)
            voucher = parse_voucher_json(signed.content)
        except VoucherError as exc:
            raise _Refused(f"the ownership voucher does not verify: {exc}") from None
        if signed.content_type != ID_CT_ANIMA_JSON_VOUCHER:
            raise _Refused(f"ownership voucher content type {signed.content_type}")
        bag = [c for c in signed.certificates if c != signed.signer]
        if not any(signed.signer == a or chains_to(signed.signer, a, bag)
                   for a in self.config.voucher_anchors):  # fmt: skip
            raise _Refused("the ownership voucher's signer is not the manufacturer's")
        now = dt.datetime.now(dt.UTC)
        if voucher.created_on is not None and voucher.created_on > now:
            raise _Refused("the ownership voucher is created in the future")
        if self.behaviour.check_expiry and voucher.expires_on is not None \
                and voucher.expires_on <= now:
            raise _Refused(f"the ownership voucher expired on {voucher.expires_on}")
        if voucher.assertion != "verified":
            raise _Refused(f"ownership voucher assertion {voucher.assertion!r}")
        if self.behaviour.check_serial and voucher.serial_number != self.serial:
            raise _Refused(f"the ownership voucher is for {voucher.serial_number!r}, "
                           f"not {self.serial!r}")
        if voucher.pinned_domain_cert is None:
            raise _Refused("the ownership voucher has no pinned-domain-cert")
        try:
            return x509.load_der_x509_certificate(voucher.pinned_domain_cert)
        except ValueError as exc:
            raise _Refused(f"pinned-domain-cert does not load: {exc}") from None


def _content_unchecked(der: bytes) -> tuple[bytes, bool]:
    """The content of a conveyed-information CMS, a signature left unchecked (mutants)."""
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            return codec.unwrap_conveyed(der).content, False
        value = info["content"]["encap_content_info"]["content"]
        content = (value if isinstance(value, core.OctetString)
                   else value.parse(core.OctetString)).native  # fmt: skip
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SztpCodecError(f"malformed SignedData ({exc})", "conveyed-information") from None
    if not isinstance(content, bytes):
        raise SztpCodecError("no encapsulated content", "conveyed-information")
    return content, True


def load_servers(path: Path) -> list[ServerEntry]:
    """The server list file of the `bootstrap` action:
    {"bootstrap-servers": [{"url": "https://...", "trust-anchor": "<PEM>" | null}]}."""
    try:
        doc = codec.load_json(Path(path).read_bytes(), "bootstrap-servers")
        entries = []
        for item in doc["bootstrap-servers"]:
            pem = item.get("trust-anchor")
            anchors = x509.load_pem_x509_certificates(pem.encode()) if pem else []
            entries.append(ServerEntry(str(item["url"]), anchors))
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DeviceConfigError(f"{path}: not a bootstrap server list ({exc})") from None
    if not entries:
        raise DeviceConfigError(f"{path}: no bootstrap servers")
    return entries


def dump_servers(entries: list[ServerEntry]) -> str:
    return json.dumps({"bootstrap-servers": [
        {"url": e.url, "trust-anchor": "".join(
            c.public_bytes(Encoding.PEM).decode() for c in e.trust_anchors) or None}
        for e in entries]}, indent=2)  # fmt: skip
