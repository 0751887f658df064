"""Vouchers (RFC 8366) and voucher-requests (RFC 8995) as dataclasses, with the JSON codec.

The JSON form is the YANG JSON encoding (RFC 7951) of the `voucher` yang-data of the
modules ietf-voucher and ietf-voucher-request: one top-level member
("ietf-voucher:voucher" or "ietf-voucher-request:voucher") holding the leaves;
binary leaves are base64, dates RFC 3339 strings, the assertion an enumeration name.

Decoding is strict on the type of every known leaf (a wrong type is a VoucherError
naming the leaf) and keeps unknown leaves in `extra`, because RFC 8995 §5.6.1 says
the pledge "MUST be prepared to ignore additional fields that it does not recognize".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from harness.protocols.voucher.errors import VoucherError

VOUCHER_JSON_NAME = "ietf-voucher:voucher"
REQUEST_JSON_NAME = "ietf-voucher-request:voucher"

Kind = Literal["datetime", "string", "binary", "boolean", "assertion"]

# The assertion enumeration of RFC 8366 §5.3 (verified, logged, proximity) with the
# "agent-proximity" that draft-ietf-anima-rfc8366bis adds; the CBOR encoding
# (RFC 9254 §6.6) carries the enum value, the JSON encoding the name.
ASSERTIONS: tuple[str, ...] = ("verified", "logged", "proximity", "agent-proximity")

# RFC 3339 §5.6 date-time (the YANG date-and-time type): a full date, "T", a time and
# a mandatory offset. datetime.fromisoformat alone accepts forms RFC 3339 does not.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


@dataclass
class _Artifact:
    """The leaves shared by vouchers and voucher-requests (RFC 8366 §5.3)."""

    created_on: dt.datetime | None = None
    expires_on: dt.datetime | None = None
    assertion: str | None = None
    serial_number: str | None = None
    idevid_issuer: bytes | None = None
    pinned_domain_cert: bytes | None = None
    pinned_domain_subject_public_key_info: bytes | None = None
    # The raw-public-key pins of draft-ietf-anima-rfc8366bis (constrained vouchers).
    pinned_domain_pubk: bytes | None = None
    pinned_domain_pubk_sha256: bytes | None = None
    domain_cert_revocation_checks: bool | None = None
    nonce: bytes | None = None
    last_renewal_date: dt.datetime | None = None
    # Leaves this codec does not know, by their name (JSON) or SID (CBOR), as decoded.
    extra: dict[str | int, Any] = field(default_factory=dict)


@dataclass
class Voucher(_Artifact):
    """An RFC 8366 voucher (ietf-voucher:voucher)."""


@dataclass
class VoucherRequest(_Artifact):
    """An RFC 8995 §3 voucher-request (ietf-voucher-request:voucher)."""

    proximity_registrar_cert: bytes | None = None
    prior_signed_voucher_request: bytes | None = None
    # Constrained voucher-requests pin the registrar by key (rfc8366bis).
    proximity_registrar_pubk: bytes | None = None
    proximity_registrar_pubk_sha256: bytes | None = None


Artifact = TypeVar("Artifact", Voucher, VoucherRequest)


@dataclass(frozen=True)
class Leaf:
    attr: str
    name: str
    kind: Kind


_COMMON: tuple[Leaf, ...] = (
    Leaf("created_on", "created-on", "datetime"),
    Leaf("expires_on", "expires-on", "datetime"),
    Leaf("assertion", "assertion", "assertion"),
    Leaf("serial_number", "serial-number", "string"),
    Leaf("idevid_issuer", "idevid-issuer", "binary"),
    Leaf("pinned_domain_cert", "pinned-domain-cert", "binary"),
    Leaf(
        "pinned_domain_subject_public_key_info",
        "pinned-domain-subject-public-key-info",
        "binary",
    ),
    Leaf("pinned_domain_pubk", "pinned-domain-pubk", "binary"),
    Leaf("pinned_domain_pubk_sha256", "pinned-domain-pubk-sha256", "binary"),
    Leaf("domain_cert_revocation_checks", "domain-cert-revocation-checks", "boolean"),
    Leaf("nonce", "nonce", "binary"),
    Leaf("last_renewal_date", "last-renewal-date", "datetime"),
)

LEAVES: dict[type, tuple[Leaf, ...]] = {
    Voucher: _COMMON,
    VoucherRequest: (
        *_COMMON,
        Leaf("proximity_registrar_cert", "proximity-registrar-cert", "binary"),
        Leaf("prior_signed_voucher_request", "prior-signed-voucher-request", "binary"),
        Leaf("proximity_registrar_pubk", "proximity-registrar-pubk", "binary"),
        Leaf("proximity_registrar_pubk_sha256", "proximity-registrar-pubk-sha256", "binary"),
    ),
}

# RFC 8366 §5.3: created-on, assertion and serial-number are mandatory in a voucher;
# the voucher-request (RFC 8995 §3.4) makes every leaf optional.
MANDATORY: dict[type, tuple[str, ...]] = {
    Voucher: ("created-on", "assertion", "serial-number"),
    VoucherRequest: (),
}

Converter = Callable[[Leaf, Any], Any]


def from_leaves(cls: type[Artifact], items: Mapping[Any, Any], convert: Converter) -> Artifact:
    """Build `cls` from leaf name -> encoded value; unknown names go to `extra`."""
    known = {leaf.name: leaf for leaf in LEAVES[cls]}
    values: dict[str, Any] = {}
    extra: dict[str | int, Any] = {}
    for name, value in items.items():
        leaf = known.get(name) if isinstance(name, str) else None
        if leaf is None:
            extra[name] = value
        else:
            values[leaf.attr] = convert(leaf, value)
    artifact = cls(**values, extra=extra)
    for name in MANDATORY[cls]:
        if getattr(artifact, known[name].attr) is None:
            raise VoucherError("mandatory leaf missing", field=name)
    return artifact


def to_leaves(artifact: _Artifact, convert: Converter) -> dict[str, Any]:
    """Leaf name -> encoded value of the set leaves, in YANG order, then `extra`."""
    out: dict[Any, Any] = {}
    for leaf in LEAVES[type(artifact)]:
        value = getattr(artifact, leaf.attr)
        if value is not None:
            out[leaf.name] = convert(leaf, value)
    out.update(artifact.extra)
    return out


def parse_datetime(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise VoucherError(f"expected an RFC 3339 date-time, found {value!r:.60}", field=name)
    try:
        return dt.datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise VoucherError(f"bad date-time {value!r}: {exc}", field=name) from exc


def format_datetime(value: dt.datetime, name: str) -> str:
    if value.tzinfo is None:
        raise VoucherError("a date-time needs a time zone offset", field=name)
    # Fractional seconds only as far as they go (".754", not ".754000").
    text = value.replace(microsecond=0).isoformat()
    if value.microsecond:
        text = text[:19] + "." + f"{value.microsecond:06d}".rstrip("0") + text[19:]
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def check_value(leaf: Leaf, value: Any) -> Any:
    """The type check of a decoded (dataclass-side) value; shared by every encoder."""
    expected: dict[Kind, type | tuple[type, ...]] = {
        "datetime": dt.datetime,
        "string": str,
        "binary": (bytes, bytearray),
        "boolean": bool,
        "assertion": str,
    }
    if not isinstance(value, expected[leaf.kind]):
        raise VoucherError(f"cannot encode a {type(value).__name__}", field=leaf.name)
    if leaf.kind == "assertion" and value not in ASSERTIONS:
        raise VoucherError(f"unknown assertion {value!r}", field=leaf.name)
    return value


def _b64decode(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise VoucherError(f"expected base64 text, found {type(value).__name__}", field=name)
    # YANG binary is base64 (RFC 4648 §4); the RFC 8995 Appendix C examples put the
    # nonce in the URL-safe alphabet without padding, so that alphabet is accepted
    # too (never a mix of both).
    alphabet = "-_" if re.search(r"[-_]", value) else "+/"
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded, altchars=alphabet.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VoucherError(f"not base64: {exc}", field=name) from exc


def _json_in(leaf: Leaf, value: Any) -> Any:
    name = leaf.name
    if leaf.kind == "datetime":
        return parse_datetime(value, name)
    if leaf.kind == "binary":
        return _b64decode(value, name)
    if leaf.kind == "boolean":
        if not isinstance(value, bool):
            raise VoucherError(f"expected true or false, found {value!r:.40}", field=name)
        return value
    if not isinstance(value, str):
        raise VoucherError(f"expected a string, found {type(value).__name__}", field=name)
    if leaf.kind == "assertion" and value not in ASSERTIONS:
        raise VoucherError(f"unknown assertion {value!r:.40}", field=name)
    return value


def _json_out(leaf: Leaf, value: Any) -> Any:
    check_value(leaf, value)
    if leaf.kind == "datetime":
        return format_datetime(value, leaf.name)
    if leaf.kind == "binary":
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise VoucherError("duplicate member in JSON object", field=key)
        out[key] = value
    return out


def _parse_json(cls: type[Artifact], data: bytes, top: str) -> Artifact:
    if not isinstance(data, bytes | bytearray):
        raise VoucherError(f"expected bytes, found {type(data).__name__}")
    try:
        tree = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise VoucherError(f"not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise VoucherError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise VoucherError("JSON nested too deeply") from exc
    if not isinstance(tree, dict) or list(tree) != [top]:
        found = list(tree)[:3] if isinstance(tree, dict) else type(tree).__name__
        raise VoucherError(f"expected one object member {top!r}, found {found}", field=top)
    container = tree[top]
    if not isinstance(container, dict):
        raise VoucherError(f"expected an object, found {type(container).__name__}", field=top)
    return from_leaves(cls, container, _json_in)


def _to_json(artifact: _Artifact, top: str) -> bytes:
    for key in artifact.extra:
        if not isinstance(key, str):
            raise VoucherError(f"extra leaf {key!r} has no JSON name", field="extra")
    tree = {top: to_leaves(artifact, _json_out)}
    return json.dumps(tree, separators=(",", ":")).encode("utf-8")


def parse_voucher_json(data: bytes) -> Voucher:
    """A voucher from its JSON (the eContent of an RFC 8366 CMS voucher)."""
    return _parse_json(Voucher, data, VOUCHER_JSON_NAME)


def voucher_to_json(voucher: Voucher) -> bytes:
    return _to_json(voucher, VOUCHER_JSON_NAME)


def parse_voucher_request_json(data: bytes) -> VoucherRequest:
    """A voucher-request from its JSON (RFC 8995 §3.3)."""
    return _parse_json(VoucherRequest, data, REQUEST_JSON_NAME)


def voucher_request_to_json(request: VoucherRequest) -> bytes:
    return _to_json(request, REQUEST_JSON_NAME)


def compare_request(request: VoucherRequest, voucher: Voucher) -> list[str]:
    """What in `voucher` does not answer `request` (RFC 8995 §5.6.1 checks), as text.

    Compared: the nonce (a nonceless voucher, one without nonce, is not a mismatch
    here: whether it is acceptable is the pledge's policy), the serial-number and the
    idevid-issuer when both carry one. An empty list means no mismatch.
    """
    problems: list[str] = []
    if voucher.nonce is not None and voucher.nonce != request.nonce:
        theirs = request.nonce.hex() if request.nonce is not None else "none"
        problems.append(f"nonce: voucher {voucher.nonce.hex()} != request {theirs}")
    if voucher.serial_number != request.serial_number:
        problems.append(
            f"serial-number: voucher {voucher.serial_number!r} != request {request.serial_number!r}"
        )
    if (
        voucher.idevid_issuer is not None
        and request.idevid_issuer is not None
        and voucher.idevid_issuer != request.idevid_issuer
    ):
        problems.append(
            f"idevid-issuer: voucher {voucher.idevid_issuer.hex()} != "
            f"request {request.idevid_issuer.hex()}"
        )
    return problems
