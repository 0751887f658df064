"""What the BRSKI roles share: paths, media types, the telemetry JSON (RFC 8995 §5.7,
§5.9.4), the MASA URI extension (§2.3.2) and identity fields of an IDevID."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.crypto.pki import MASA_URL_OID
from harness.protocols.brski.errors import Refusal

WELL_KNOWN = "/.well-known/brski"
REQUESTVOUCHER = f"{WELL_KNOWN}/requestvoucher"
VOUCHER_STATUS = f"{WELL_KNOWN}/voucher_status"
ENROLLSTATUS = f"{WELL_KNOWN}/enrollstatus"
REQUESTAUDITLOG = f"{WELL_KNOWN}/requestauditlog"
EST_WELL_KNOWN = "/.well-known/est"

# RFC 8366 §8.2 / RFC 8995 §8.3 media types.
VOUCHER_CMS_JSON = "application/voucher-cms+json"
JSON = "application/json"

MAX_STATUS = 16 * 1024  # a telemetry message is a few hundred bytes


@dataclass
class StatusReport:
    """A voucher-status (§5.7) or enroll-status (§5.9.4) telemetry message."""

    version: int | str
    status: bool
    reason: str | None = None
    reason_context: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        tree: dict[str, Any] = {"version": self.version, "status": self.status}
        if self.reason is not None:
            tree["reason"] = self.reason
        if self.reason_context is not None:
            tree["reason-context"] = self.reason_context
        tree.update(self.extra)
        return json.dumps(tree).encode()


def parse_status(body: bytes) -> StatusReport:
    """A telemetry message; Refusal(400) names what is wrong with it."""
    if len(body) > MAX_STATUS:
        raise Refusal(413, f"status message over {MAX_STATUS} bytes")
    try:
        tree = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Refusal(400, f"status message is not JSON: {exc}") from exc
    if not isinstance(tree, dict):
        raise Refusal(400, "status message is not a JSON object")
    version, status = tree.pop("version", None), tree.pop("status", None)
    # The RFC 8995 examples write the version as the number 1.
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise Refusal(400, f"status message: version {version!r:.30} is not a number")
    if not isinstance(status, bool):
        raise Refusal(400, f"status message: status {status!r:.30} is not true or false")
    reason = tree.pop("reason", None)
    if reason is not None and not isinstance(reason, str):
        raise Refusal(400, "status message: reason is not a string")
    context = tree.pop("reason-context", None)
    if context is not None and not isinstance(context, dict):
        raise Refusal(400, "status message: reason-context is not an object")
    return StatusReport(version, status, reason, context, tree)


def serial_of(cert: x509.Certificate) -> str | None:
    """The X520SerialNumber of an IDevID subject (RFC 8995 §2.3.1), or None."""
    found = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(found) != 1 or not isinstance(found[0].value, str):
        return None
    return found[0].value


def idevid_issuer_of(cert: x509.Certificate) -> bytes | None:
    """The keyIdentifier of the authority key identifier: what RFC 8366 §5.3 calls the
    idevid-issuer of a pledge."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return aki.key_identifier


def masa_url_of(cert: x509.Certificate) -> str | None:
    """The MASA URI of an IDevID (id-pe-masa-url, §2.3.2) as a request URL, or None.

    The extension holds an authority with an optional path; the registrar prepends
    "https://" and appends "/.well-known/brski" (§2.3.2). A value that already is an
    https URL is used as it is.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(MASA_URL_OID)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        return None
    try:
        text = asn1_core.IA5String.load(value.value, strict=True).native
    except (ValueError, TypeError) as exc:
        raise Refusal(400, f"MASA URI extension is not an IA5String: {exc}") from exc
    if not isinstance(text, str) or not text:
        raise Refusal(400, "MASA URI extension is empty")
    base = text.rstrip("/") if text.startswith("https://") else "https://" + text.rstrip("/")
    return base if base.endswith(WELL_KNOWN) else base + WELL_KNOWN


def media_type(value: str | None) -> str | None:
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None
