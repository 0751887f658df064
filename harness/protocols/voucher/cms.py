"""CMS SignedData (RFC 5652) around vouchers, voucher-requests and SZTP conveyed information.

asn1crypto builds and parses the structures, cryptography signs and verifies; no DER
is written by hand. One SignerInfo, identified by issuer and serial number, with the
signed attributes content-type, signing-time and message-digest (the form the
RFC 8995 Appendix C examples have and `openssl cms -sign` produces).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from harness.crypto.certs import issued_by
from harness.protocols.voucher.errors import VoucherError

# RFC 8366 §8.3 (SMI Security for S/MIME CMS Content Type registry).
ID_CT_ANIMA_JSON_VOUCHER = "1.2.840.113549.1.9.16.1.40"
# RFC 8572 §10.3: the two formats of signed conveyed information.
ID_CT_SZTP_CONVEYED_INFO_XML = "1.2.840.113549.1.9.16.1.42"
ID_CT_SZTP_CONVEYED_INFO_JSON = "1.2.840.113549.1.9.16.1.43"
# RFC 5652 §4: plain data. RFC 8995 §3 reuses the RFC 8366 CMS format for
# voucher-requests; its Appendix C examples nevertheless carry id-data.
ID_DATA = "1.2.840.113549.1.7.1"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# Curve -> the digest of the same strength (RFC 5753 §7.1 recommendation).
_CURVE_HASH = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}


class _OpaqueEncapContentInfo(core.Sequence):
    """EncapsulatedContentInfo (RFC 5652 §5.2) with the eContent kept as octets."""

    _fields = [
        ("content_type", cms.ContentType),
        ("content", core.OctetString, {"explicit": 0, "optional": True}),
    ]


@dataclass
class SignedContent:
    """What `verify_cms` found: the verified content and where it came from."""

    content: bytes
    content_type: str
    signer: x509.Certificate
    certificates: list[x509.Certificate] = field(default_factory=list)
    signing_time: dt.datetime | None = None


def _digest_name(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return _CURVE_HASH[key.curve.name]
        except KeyError as exc:
            raise VoucherError(f"unsupported curve {key.curve.name}", field="key") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        return "sha256"
    raise VoucherError(f"unsupported key type {type(key).__name__}", field="key")


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def sign_cms(
    content: bytes,
    content_type: str,
    key: PrivateKey,
    cert: x509.Certificate,
    extra_certs: Iterable[x509.Certificate] = (),
    *,
    signing_time: dt.datetime | None = None,
) -> bytes:
    """DER ContentInfo of a SignedData over `content` (encapsulated), signed by `key`.

    `cert` (the signer's) and `extra_certs` go into the certificates bag; ECDSA keys
    on P-256/384/521 sign with SHA-256/384/512, RSA keys with PKCS #1 v1.5 SHA-256.
    """
    digest_name = _digest_name(key)
    hash_alg = _HASHES[digest_name]()
    hasher = hashes.Hash(hash_alg)
    hasher.update(content)
    when = signing_time or dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": when})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hasher.finalize()]}),
        ]
    )
    # The signature covers the DER of the attributes as a SET OF (RFC 5652 §5.4).
    to_sign = signed_attrs.dump()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(hash_alg))
        sig_alg = f"{digest_name}_ecdsa"
    else:
        signature = key.sign(to_sign, padding.PKCS1v15(), hash_alg)
        sig_alg = f"{digest_name}_rsa"
    signer_cert = _asn1_cert(cert)
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": signer_cert.issuer, "serial_number": signer_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": {"algorithm": digest_name},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": sig_alg},
            "signature": signature,
        }
    )
    certificates = [signer_cert, *(_asn1_cert(c) for c in extra_certs)]
    # asn1crypto types eContent by its content type: id-data is an OCTET STRING that
    # the field tags itself; the others are open (Any), so the value brings its
    # [0] EXPLICIT tag.
    econtent = content if content_type == ID_DATA else core.ParsableOctetString(content, explicit=0)
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": digest_name}],
            "encap_content_info": {
                "content_type": content_type,
                "content": econtent,
            },
            "certificates": [cms.CertificateChoices({"certificate": c}) for c in certificates],
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def _load_certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for choice in signed_data["certificates"] or []:
        if choice.name != "certificate":
            continue  # attribute and other certificate formats play no part here
        try:
            out.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        except ValueError as exc:
            raise VoucherError(f"bad certificate in the bag: {exc}", field="certificates") from exc
    return out


def _find_signer(sid: cms.SignerIdentifier, bag: Sequence[x509.Certificate]) -> x509.Certificate:
    for cert in bag:
        asn1 = _asn1_cert(cert)
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                asn1.issuer == wanted["issuer"]
                and asn1.serial_number == wanted["serial_number"].native
            ):
                return cert
        elif sid.name == "subject_key_identifier" and asn1.key_identifier == sid.chosen.native:
            return cert
    raise VoucherError("no certificate in the bag matches the signer", field="SignerInfo.sid")


def _verify_signature(
    cert: x509.Certificate, signature: bytes, data: bytes, digest_name: str, sig_alg: str
) -> None:
    public_key = cert.public_key()
    hash_alg = _HASHES[digest_name]()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if "ecdsa" not in sig_alg:
                raise VoucherError(f"{sig_alg} with an EC key", field="SignerInfo.signature")
            public_key.verify(signature, data, ec.ECDSA(hash_alg))
        elif isinstance(public_key, rsa.RSAPublicKey):
            if sig_alg not in ("rsassa_pkcs1v15", f"{digest_name}_rsa"):
                raise VoucherError(f"{sig_alg} with an RSA key", field="SignerInfo.signature")
            public_key.verify(signature, data, padding.PKCS1v15(), hash_alg)
        else:
            raise VoucherError(
                f"unsupported signer key {type(public_key).__name__}", field="signer"
            )
    except InvalidSignature as exc:
        raise VoucherError("signature does not verify", field="SignerInfo.signature") from exc


def _attribute(attrs: cms.CMSAttributes, name: str) -> object | None:
    found = [a for a in attrs if a["type"].native == name]
    if len(found) > 1 or (found and len(found[0]["values"]) != 1):
        raise VoucherError(f"{name} must appear once with one value", field="signed_attrs")
    return found[0]["values"][0].native if found else None


def _verify(der: bytes, signer: x509.Certificate | None) -> SignedContent:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].dotted != "1.2.840.113549.1.7.2":
        raise VoucherError(f"not SignedData: {info['content_type'].dotted}", field="contentType")
    signed_data: cms.SignedData = info["content"]
    encap = signed_data["encap_content_info"]
    content_type = encap["content_type"].dotted
    # Re-read with the eContent always an OCTET STRING: asn1crypto types it by content
    # type and leaves unknown types (all of ours but id-data) as Any.
    opaque = _OpaqueEncapContentInfo.load(encap.dump(), strict=True)
    content = opaque["content"].native
    if not isinstance(content, bytes):
        raise VoucherError("detached content is not supported", field="eContent")
    certificates = _load_certificates(signed_data)
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise VoucherError(
            f"expected one SignerInfo, found {len(signer_infos)}", field="signerInfos"
        )
    info_ = signer_infos[0]
    digest_name = info_["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise VoucherError(f"unsupported digest {digest_name}", field="digestAlgorithm")
    sig_alg = info_["signature_algorithm"]["algorithm"].native
    signer_cert = signer or _find_signer(info_["sid"], certificates)
    attrs = info_["signed_attrs"]
    signing_time = None
    if attrs.native is not None and len(attrs):
        hasher = hashes.Hash(_HASHES[digest_name]())
        hasher.update(content)
        if _attribute(attrs, "message_digest") != hasher.finalize():
            raise VoucherError("message-digest does not match the content", field="signed_attrs")
        if _attribute(attrs, "content_type") not in (content_type, _name_of(content_type)):
            raise VoucherError(
                "content-type attribute differs from eContentType", field="signed_attrs"
            )
        signing_time = _attribute(attrs, "signing_time")
        # Signed as the DER SET OF, not with the [0] IMPLICIT tag it travels with.
        signed_bytes = attrs.untag().dump()
    else:
        signed_bytes = content
    _verify_signature(signer_cert, info_["signature"].native, signed_bytes, digest_name, sig_alg)
    return SignedContent(
        content=content,
        content_type=content_type,
        signer=signer_cert,
        certificates=certificates,
        signing_time=signing_time if isinstance(signing_time, dt.datetime) else None,
    )


def _name_of(dotted: str) -> str:
    # asn1crypto reports known content types by name (e.g. "data"), others dotted.
    return cms.ContentType.map(dotted)


def verify_cms(der: bytes, *, signer: x509.Certificate | None = None) -> SignedContent:
    """Parse a SignedData and verify its one signature.

    The signer certificate is `signer` when given, else the certificate of the bag
    that the SignerInfo names. Only the signature is verified, not the signer's chain
    (see `chains_to`).
    """
    if not isinstance(der, bytes | bytearray):
        raise VoucherError(f"expected bytes, found {type(der).__name__}")
    try:
        return _verify(bytes(der), signer)
    except VoucherError:
        raise
    except Exception as exc:
        # asn1crypto parses lazily: broken DER surfaces as ValueError, TypeError,
        # KeyError... at first access, anywhere above.
        raise VoucherError(f"malformed CMS: {type(exc).__name__}: {exc}", field="CMS") from exc


def chains_to(
    cert: x509.Certificate,
    anchor: x509.Certificate,
    intermediates: Sequence[x509.Certificate] = (),
    *,
    max_depth: int = 8,
) -> bool:
    """Whether `cert` is signed by `anchor`, directly or through `intermediates`.

    A walk of issuer names and signatures only, without validity periods, key usage or
    constraints: cryptography's x509.verification builds server and client verifiers
    with web-PKI profile checks (subjectAltName, extended key usage) that MASA and
    IDevID certificates are not made to pass, and the voucher trust question (is the
    signer under the manufacturer's anchor?) needs only this.
    """
    current = cert
    for _ in range(max_depth):
        if issued_by(current, anchor):
            return True
        parent = next((c for c in intermediates if c != current and issued_by(current, c)), None)
        if parent is None:
            return False
        current = parent
    return False

