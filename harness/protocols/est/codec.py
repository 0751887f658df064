"""EST message codec: paths, media types and bodies of RFC 7030 as updated by RFC 8951.

HTTP bodies are base64 of DER (RFC 8951 §3: always base64, whatever the
Content-Transfer-Encoding header says). EST-coaps (RFC 9148) carries the same DER
without base64, and multipart-core (RFC 8710) instead of multipart/mixed.

Every malformed input raises `CodecError`; the codec never judges conformance itself
(a tester peer or a suite turns a `CodecError` into a verdict).
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import io
import re
from dataclasses import dataclass
from email.message import Message

import cbor2
from asn1crypto import cms, core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from harness.crypto.pki import challenge_password as _challenge_password
from harness.errors import OnboardcheckError


class CodecError(OnboardcheckError):
    """Malformed EST input: bad base64, not a PKCS#7 certs-only, wrong MIME structure."""


# -- paths (RFC 7030 §3.2.2) ---------------------------------------------------------------

WELL_KNOWN = "/.well-known/est"
CACERTS = "cacerts"
SIMPLEENROLL = "simpleenroll"
SIMPLEREENROLL = "simplereenroll"
FULLCMC = "fullcmc"
SERVERKEYGEN = "serverkeygen"
CSRATTRS_OPERATION = "csrattrs"
OPERATIONS = (CACERTS, SIMPLEENROLL, SIMPLEREENROLL, FULLCMC, SERVERKEYGEN, CSRATTRS_OPERATION)

# RFC 7030 §3.2.2: the optional CA label is one path segment.
_LABEL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]+")


def operation_path(operation: str, label: str | None = None) -> str:
    """`/.well-known/est[/<label>]/<operation>`."""
    if operation not in OPERATIONS:
        raise CodecError(f"unknown EST operation {operation!r}")
    if label is None:
        return f"{WELL_KNOWN}/{operation}"
    if not _LABEL.fullmatch(label):
        raise CodecError(f"CA label {label!r} is not a single path segment")
    return f"{WELL_KNOWN}/{label}/{operation}"


def split_path(path: str) -> tuple[str | None, str]:
    """(label or None, operation) of a request path; the query string is ignored."""
    path = path.split("?", 1)[0]
    if not path.startswith(WELL_KNOWN + "/"):
        raise CodecError(f"path {path!r} is not under {WELL_KNOWN}/")
    segments = path[len(WELL_KNOWN) + 1 :].split("/")
    if len(segments) == 1 and segments[0] in OPERATIONS:
        return None, segments[0]
    if len(segments) == 2 and segments[1] in OPERATIONS and _LABEL.fullmatch(segments[0]):
        return segments[0], segments[1]
    raise CodecError(f"path {path!r} names no EST operation")


# -- media types (RFC 7030 §4) -------------------------------------------------------------

PKCS7_MIME = "application/pkcs7-mime"
PKCS7_CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"
PKCS7_SERVER_GENERATED_KEY = "application/pkcs7-mime; smime-type=server-generated-key"
PKCS10 = "application/pkcs10"
CSRATTRS = "application/csrattrs"
PKCS8 = "application/pkcs8"
MULTIPART_MIXED = "multipart/mixed"
CONTENT_TRANSFER_ENCODING = "base64"

# EST-coaps Content-Format numbers as used by the draft-18 examples in vectors/est/
# (a1..a4); multipart-core is RFC 8710's.
CF_PKCS7_CERTS_ONLY = 281
CF_PKCS8 = 284
CF_CSRATTRS = 285
CF_PKCS10 = 286
CF_MULTIPART_CORE = 62

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})\s*=\s*({_TOKEN}|\"(?:[^\"\\]|\\.)*\")\s*")
_MEDIA = re.compile(rf"\s*({_TOKEN}/{_TOKEN})\s*")


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """(lowercase type/subtype, {lowercase param name: value}) of a Content-Type value.

    Parameter values keep their case (a boundary is case-sensitive); quotes are removed.
    """
    match = _MEDIA.match(value)
    if not match:
        raise CodecError(f"Content-Type {value!r} has no type/subtype")
    params: dict[str, str] = {}
    pos = match.end()
    while pos < len(value):
        param = _PARAM.match(value, pos)
        if not param:
            raise CodecError(f"Content-Type {value!r}: bad parameter at offset {pos}")
        raw = param.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[param.group(1).lower()] = raw
        pos = param.end()
    return match.group(1).lower(), params


def is_certs_only(content_type: str) -> bool:
    """True for application/pkcs7-mime with smime-type=certs-only (any case, spacing)."""
    media, params = parse_content_type(content_type)
    return media == PKCS7_MIME and params.get("smime-type", "").lower() == "certs-only"


# -- base64 bodies (RFC 8951 §3) -----------------------------------------------------------

_WHITESPACE = re.compile(rb"[ \t\r\n]+")


def b64_encode(der: bytes, line_length: int = 64) -> bytes:
    """Base64 with CRLF line breaks every `line_length` characters (0: one line)."""
    text = base64.b64encode(der)
    if line_length <= 0:
        return text
    return b"\r\n".join(text[i : i + line_length] for i in range(0, len(text), line_length))


def b64_decode(body: bytes | str) -> bytes:
    """Decode a base64 body: line breaks and blanks are ignored, anything else is strict."""
    data = body.encode("ascii", "replace") if isinstance(body, str) else bytes(body)
    compact = _WHITESPACE.sub(b"", data)
    if not compact:
        raise CodecError("empty base64 body")
    try:
        return binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise CodecError(f"bad base64 body: {exc}") from exc


# -- PKCS#7 certs-only (RFC 7030 §4.1.3, RFC 5751 §3.2.2) -----------------------------------


def certs_only(certs: list[x509.Certificate]) -> bytes:
    """DER of a degenerate SignedData carrying `certs` (no content, no signers).

    `certificates` is a SET OF, which DER sorts: the order of `certs` is not kept.
    """
    if not certs:
        raise CodecError("a certs-only message needs at least one certificate")
    return pkcs7.serialize_certificates(certs, serialization.Encoding.DER)


def parse_certs_only(der: bytes) -> list[x509.Certificate]:
    """The certificates of a DER certs-only SignedData, in message order.

    Anything else raises CodecError: not DER ContentInfo, not SignedData, signerInfos
    present, encapsulated content present, or a non-X.509 certificate choice.
    """
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise CodecError(f"ContentInfo is {info['content_type'].native}, not signed_data")
        signed = info["content"]
        if len(signed["signer_infos"]) != 0:
            raise CodecError("certs-only SignedData must have no signerInfos")
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "data":
            raise CodecError(f"encapContentInfo type is {encap['content_type'].native}")
        if encap["content"].native is not None:
            raise CodecError("certs-only SignedData must have no encapsulated content")
        choices = list(signed["certificates"]) if signed["certificates"].native else []
        ders = []
        for choice in choices:
            if choice.name != "certificate":
                raise CodecError(f"certificate choice {choice.name!r} is not X.509")
            ders.append(choice.chosen.dump())
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"not a PKCS#7 SignedData: {exc}") from exc
    try:
        return [x509.load_der_x509_certificate(d) for d in ders]
    except ValueError as exc:
        raise CodecError(f"certificate in certs-only does not parse: {exc}") from exc


# -- PKCS#10 bodies (RFC 7030 §4.2.1) ------------------------------------------------------


def csr_from_body(body: bytes) -> x509.CertificateSigningRequest:
    """The CSR of a base64 DER PKCS#10 body (its signature is not checked here)."""
    der = b64_decode(body)
    try:
        return x509.load_der_x509_csr(der)
    except ValueError as exc:
        raise CodecError(f"body is not a DER PKCS#10 CSR: {exc}") from exc


def csr_to_body(csr: x509.CertificateSigningRequest) -> bytes:
    return b64_encode(csr.public_bytes(serialization.Encoding.DER))


def challenge_password(csr: x509.CertificateSigningRequest) -> bytes | None:
    """The CSR's challengePassword value (RFC 7030 §3.5 uses it for tls-unique)."""
    return _challenge_password(csr)


# -- CSR attributes (RFC 7030 §4.5.2) ------------------------------------------------------


class _AttributeValues(core.SetOf):
    _child_spec = core.Any


class _Attribute(core.Sequence):
    _fields = [("type", core.ObjectIdentifier), ("values", _AttributeValues)]


class _AttrOrOid(core.Choice):
    _alternatives = [("oid", core.ObjectIdentifier), ("attribute", _Attribute)]


class _CsrAttrs(core.SequenceOf):
    _child_spec = _AttrOrOid


@dataclass(frozen=True)
class CsrAttr:
    """One AttrOrOID: a bare OID (`values` None) or an Attribute (DER of each value)."""

    oid: str
    values: tuple[bytes, ...] | None = None

    @property
    def is_attribute(self) -> bool:
        return self.values is not None

    def value_oids(self) -> list[str]:
        """The values that are OBJECT IDENTIFIERs, dotted (e.g. extensionRequest's)."""
        out = []
        for der in self.values or ():
            value = core.load(der)
            if isinstance(value, core.ObjectIdentifier):
                out.append(value.dotted)
        return out


def parse_csrattrs(der: bytes) -> list[CsrAttr]:
    """The items of a DER CsrAttrs, in order."""
    try:
        parsed = _CsrAttrs.load(der, strict=True)
        items = []
        for item in parsed:
            if item.name == "oid":
                items.append(CsrAttr(item.chosen.dotted))
            else:
                attribute = item.chosen
                values = tuple(v.dump() for v in attribute["values"])
                items.append(CsrAttr(attribute["type"].dotted, values))
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"not a DER CsrAttrs: {exc}") from exc
    return items


def encode_csrattrs(items: list[CsrAttr]) -> bytes:
    """DER CsrAttrs; attribute values are DER already and are carried as they are."""
    try:
        out = _CsrAttrs()
        for item in items:
            if item.values is None:
                out.append(_AttrOrOid(name="oid", value=core.ObjectIdentifier(item.oid)))
            else:
                values = _AttributeValues([core.Any.load(v) for v in item.values])
                attribute = _Attribute({"type": core.ObjectIdentifier(item.oid), "values": values})
                out.append(_AttrOrOid(name="attribute", value=attribute))
        return out.dump(force=True)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"cannot encode CsrAttrs: {exc}") from exc


# -- server-side key generation (RFC 7030 §4.4.2) -------------------------------------------


@dataclass(frozen=True)
class ServerKeygenResult:
    """The two parts of a /serverkeygen response, base64-decoded."""

    private_key_der: bytes
    certs: list[x509.Certificate]
    key_media_type: str = PKCS8


_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def encode_serverkeygen_response(
    key_pkcs8_der: bytes, cert_pkcs7_der: bytes, boundary: str
) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/mixed response: PKCS#8 key, then certs-only."""
    if not _BOUNDARY.fullmatch(boundary):
        raise CodecError(f"boundary {boundary!r} is not an RFC 2046 boundary")
    parts = [(PKCS8, key_pkcs8_der), (PKCS7_CERTS_ONLY, cert_pkcs7_der)]
    lines: list[bytes] = []
    for media_type, der in parts:
        if f"--{boundary}".encode() in b64_encode(der):
            raise CodecError("boundary occurs in a part")
        lines += [
            f"--{boundary}".encode(),
            f"Content-Type: {media_type}".encode(),
            f"Content-Transfer-Encoding: {CONTENT_TRANSFER_ENCODING}".encode(),
            b"",
            b64_encode(der),
        ]
    lines.append(f"--{boundary}--".encode())
    return f"{MULTIPART_MIXED}; boundary={boundary}", b"\r\n".join(lines) + b"\r\n"


def parse_serverkeygen_response(content_type: str, body: bytes) -> ServerKeygenResult:
    """Both parts of a multipart/mixed /serverkeygen response.

    The key part may be application/pkcs8 or an S/MIME server-generated-key; either
    way `private_key_der` is its decoded bytes.
    """
    media, params = parse_content_type(content_type)
    if media != MULTIPART_MIXED:
        raise CodecError(f"serverkeygen response is {media}, not {MULTIPART_MIXED}")
    if "boundary" not in params:
        raise CodecError("multipart/mixed without a boundary parameter")
    if "\r" in content_type or "\n" in content_type:
        raise CodecError("line break in Content-Type")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    _check_defects(message)
    if not message.is_multipart():
        raise CodecError("body is not multipart")
    keys: list[tuple[str, bytes]] = []
    certs: list[list[x509.Certificate]] = []
    for part in message.get_payload():
        _check_defects(part)
        part_type = part.get("Content-Type", "")
        part_media, part_params = parse_content_type(part_type or "text/plain")
        payload = part.get_payload(decode=False)
        if not isinstance(payload, str):
            raise CodecError(f"nested multipart part {part_media}")
        if part_media == PKCS8:
            keys.append((PKCS8, b64_decode(payload)))
        elif part_media == PKCS7_MIME:
            smime = part_params.get("smime-type", "").lower()
            if smime == "certs-only":
                certs.append(parse_certs_only(b64_decode(payload)))
            elif smime == "server-generated-key":
                keys.append((PKCS7_SERVER_GENERATED_KEY, b64_decode(payload)))
            else:
                raise CodecError(f"unexpected smime-type {smime!r}")
        else:
            raise CodecError(f"unexpected part {part_media}")
    if len(keys) != 1 or len(certs) != 1:
        raise CodecError(f"want one key part and one certs-only part, got {len(keys)}/{len(certs)}")
    return ServerKeygenResult(keys[0][1], certs[0], keys[0][0])


def _check_defects(message: Message) -> None:
    if message.defects:
        names = ", ".join(type(d).__name__ for d in message.defects)
        raise CodecError(f"malformed MIME: {names}")


# -- EST-coaps multipart-core (RFC 8710, RFC 9148 §4.8) ---------------------------------------


def parse_multipart_core(data: bytes) -> list[tuple[int, bytes | None]]:
    """(Content-Format, representation) pairs of a CBOR multipart-core array."""
    stream = io.BytesIO(data)
    try:
        items = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise CodecError(f"multipart-core is not CBOR: {exc}") from exc
    # cbor2.loads() ignores bytes after the first item; a payload is exactly one item.
    if stream.tell() != len(data):
        raise CodecError(f"{len(data) - stream.tell()} bytes after the multipart-core array")
    if not isinstance(items, list) or len(items) % 2:
        raise CodecError("multipart-core must be an array of an even number of items")
    pairs: list[tuple[int, bytes | None]] = []
    for fmt, rep in zip(items[::2], items[1::2], strict=True):
        if not isinstance(fmt, int) or isinstance(fmt, bool) or not 0 <= fmt <= 0xFFFF:
            raise CodecError(f"multipart-core content-format {fmt!r} is not a uint16")
        if rep is not None and not isinstance(rep, bytes):
            raise CodecError("multipart-core representation must be a byte string or null")
        pairs.append((fmt, rep))
    return pairs


def encode_multipart_core(pairs: list[tuple[int, bytes | None]]) -> bytes:
    items: list[int | bytes | None] = []
    for fmt, rep in pairs:
        items += [fmt, rep]
    return cbor2.dumps(items)
