"""DPP bootstrapping URI (the QR code payload): `DPP:` tokens `;;`.

Grammar (DPP "DPP URI Representation"): `DPP:` then tokens `X:value;` and a final `;`,
with K: (base64 SubjectPublicKeyInfo DER) mandatory, and optional C: (channel list
`class/channel[,channel...][,class/channel...]`), M: (12 hex digits), I: (printable
ASCII), V: (version), H: (host, R3 DPP over TCP), B: (supported curves, R3). Accept and
reject decisions follow the corpora of hostap's test_dpp_qr_code_parsing and iwd's
unit/test-dpp.c (vectors/dpp/bootstrap_uri_parsing.json): the stricter of the two where
they differ (iwd rejects unknown tokens and text after `;;`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field

from asn1crypto import keys
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from harness.protocols.dpp.errors import DppCodecError

PREFIX = "DPP:"
SUFFIX = ";;"
# Curves DPP allows for bootstrapping keys (hostap dpp_curves: P-256/384/521, BP-256/384/512).
ALLOWED_CURVES = ("secp256r1", "secp384r1", "secp521r1",
                  "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1")
MODELLED = ("C", "M", "I", "V", "H", "K")
KEPT = ("B",)  # known tokens this parser keeps as text
_CANONICAL_ORDER = ("C", "M", "I", "V", "H", "B", "K")
_NUMBER = re.compile(r"^[0-9]{1,3}$")
_MAC = re.compile(r"^[0-9A-Fa-f]{12}$")
_HOST_PORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+))(?::(?P<port>[0-9]{1,5}))?$")


@dataclass
class BootstrapInfo:
    key_der: bytes  # SubjectPublicKeyInfo DER, as carried in K:
    channels: list[tuple[int, int]] = field(default_factory=list)  # (op class, channel)
    mac: str | None = None  # 12 lowercase hex digits
    info: str | None = None
    version: int | None = None
    host: str | None = None  # H: as written (address, optional port)
    # Every token as read, in order, (tag, text); make_uri keeps their order and spelling
    # (e.g. "81/1,2,3", an upper-case MAC) as long as the fields above still match them.
    tokens: list[tuple[str, str]] = field(default_factory=list)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return _load_key(self.key_der)


def channel_freq(op_class: int, channel: int) -> int | None:
    """Centre frequency (MHz) of a global operating class/channel, None if not known."""
    if op_class in (81, 83, 84) and 1 <= channel <= 13:
        return 2407 + 5 * channel
    if op_class == 82 and channel == 14:
        return 2484
    if 115 <= op_class <= 130 and 1 <= channel <= 200:
        return 5000 + 5 * channel
    if 131 <= op_class <= 135 and 1 <= channel <= 233:
        return 5950 + 5 * channel
    if op_class == 136 and channel == 2:
        return 5935
    return None


def _octet(text: str, what: str) -> int:
    if not _NUMBER.match(text) or not 1 <= int(text) <= 255:
        raise DppCodecError(f"C: {what} {text!r} is not a number 1..255")
    return int(text)


def _parse_channels(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    op_class: int | None = None
    for item in text.split(","):
        if "/" in item:
            class_text, _, chan_text = item.partition("/")
            op_class = _octet(class_text, "operating class")
        elif op_class is None:
            raise DppCodecError(f"C: {item!r} has no operating class (class/channel)")
        else:
            chan_text = item
        out.append((op_class, _octet(chan_text, "channel")))
    return out


def _parse_mac(text: str) -> str:
    if not _MAC.match(text):
        raise DppCodecError(f"M: {text!r} is not 12 hexadecimal digits")
    return text.lower()


def _parse_info(text: str) -> str:
    bad = [ch for ch in text if not 0x20 <= ord(ch) <= 0x7E]
    if bad:
        raise DppCodecError(f"I: has a character outside printable ASCII: {bad[0]!r}")
    return text


def _parse_version(text: str) -> int:
    if not _NUMBER.match(text) or not 1 <= int(text) <= 255:
        raise DppCodecError(f"V: {text!r} is not a version number 1..255")
    return int(text)


def _parse_host(text: str) -> str:
    match = _HOST_PORT.match(text)
    try:
        if match:
            ipaddress.ip_address(match.group("v6") or match.group("v4"))
            port = match.group("port")
            if port is not None and not 1 <= int(port) <= 65535:
                raise DppCodecError(f"H: port {port} outside 1..65535")
        else:
            ipaddress.IPv6Address(text)  # a bare IPv6 address, no port
    except ValueError as exc:
        raise DppCodecError(f"H: {text!r} is not an IP address[:port]: {exc}") from exc
    return text


def _load_key(der: bytes) -> ec.EllipticCurvePublicKey:
    try:
        spki = keys.PublicKeyInfo.load(der, strict=True)
        algorithm = spki["algorithm"]
        if algorithm["algorithm"].native == "ec" and algorithm["parameters"].name != "named":
            # cryptography maps some explicit curves onto named ones; DPP keys name theirs.
            raise DppCodecError("K: the key's curve is given by explicit parameters, not named")
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm, TypeError, KeyError) as exc:
        raise DppCodecError(f"K: not a usable SubjectPublicKeyInfo: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise DppCodecError(f"K: {type(key).__name__} is not an elliptic curve key")
    if key.curve.name not in ALLOWED_CURVES:
        raise DppCodecError(f"K: curve {key.curve.name} is not one DPP allows")
    return key


def _parse_key(text: str) -> bytes:
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DppCodecError(f"K: not valid base64: {exc}") from exc
    _load_key(der)
    return der


def parse_uri(text: str) -> BootstrapInfo:
    """The bootstrapping information of `text`; DppCodecError saying why it is rejected."""
    if not isinstance(text, str):
        raise DppCodecError(f"a DPP URI is text, not {type(text).__name__}")
    if not text.startswith(PREFIX):
        raise DppCodecError("not a DPP URI: it must start with 'DPP:'")
    if not text.endswith(SUFFIX) or len(text) < len(PREFIX) + len(SUFFIX):
        raise DppCodecError("DPP URI must end with ';;'")
    body = text[len(PREFIX):-len(SUFFIX)]
    tokens: list[tuple[str, str]] = []
    for raw in body.split(";") if body else []:
        if len(raw) < 2 or raw[1] != ":" or not "A" <= raw[0] <= "Z":
            raise DppCodecError(f"DPP URI token {raw!r} is not 'X:value'"
                                + (" (';;' ends the URI)" if not raw else ""))
        tag, value = raw[0], raw[2:]
        if tag not in MODELLED and tag not in KEPT:
            raise DppCodecError(f"DPP URI token {tag}: is not a known token")
        if any(tag == seen for seen, _ in tokens):
            raise DppCodecError(f"DPP URI token {tag}: appears twice")
        tokens.append((tag, value))
    found = dict(tokens)
    if "K" not in found:
        raise DppCodecError("DPP URI has no public key (K:)")
    info = BootstrapInfo(key_der=_parse_key(found["K"]), tokens=tokens)
    if "C" in found:
        info.channels = _parse_channels(found["C"])
    if "M" in found:
        info.mac = _parse_mac(found["M"])
    if "I" in found:
        info.info = _parse_info(found["I"])
    if "V" in found:
        info.version = _parse_version(found["V"])
    if "H" in found:
        info.host = _parse_host(found["H"])
    return info


def _canonical(info: BootstrapInfo) -> dict[str, str]:
    out: dict[str, str] = {}
    if info.channels:
        out["C"] = ",".join(f"{c}/{ch}" for c, ch in info.channels)
    if info.mac is not None:
        out["M"] = _parse_mac(info.mac)
    if info.info is not None:
        out["I"] = _parse_info(info.info)
    if info.version is not None:
        out["V"] = str(info.version)
    if info.host is not None:
        out["H"] = info.host
    for tag, value in info.tokens:
        if tag in KEPT:
            out[tag] = value
    out["K"] = base64.b64encode(info.key_der).decode("ascii")
    return out


def _same(tag: str, raw: str, value: str) -> bool:
    """Whether the token text `raw` as read still says what `value` says."""
    if raw == value:
        return True
    try:
        if tag == "C":
            return _parse_channels(raw) == _parse_channels(value)
        if tag == "M":
            return raw.lower() == value
        if tag == "K":
            return base64.b64decode(raw, validate=True) == base64.b64decode(value)
    except (DppCodecError, binascii.Error, ValueError):
        return False
    return False


def make_uri(info: BootstrapInfo) -> str:
    """`info` as a URI; a parsed URI comes back exactly as it was read."""
    values = _canonical(info)
    parts: list[str] = []
    for tag, raw in info.tokens:
        if tag in values:
            parts.append(f"{tag}:{raw if _same(tag, raw, values[tag]) else values[tag]}")
    read = {tag for tag, _ in info.tokens}
    added = [f"{tag}:{values[tag]}" for tag in _CANONICAL_ORDER
             if tag in values and tag not in read]
    # Tokens new to a parsed URI go before its key, where the grammar puts the key.
    at = next((i for i, part in enumerate(parts) if part.startswith("K:")), len(parts))
    parts[at:at] = added
    return PREFIX + "".join(f"{p};" for p in parts) + ";"
