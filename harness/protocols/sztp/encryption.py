"""Encrypted conveyed information (RFC 8572 §3.1, §3.4, §5.3): CMS EnvelopedData
(RFC 5652 §6) to the device's secure device identity certificate (its IDevID).

RFC 8572 names no key-management algorithm; these are the ones `openssl cms` speaks in
both directions:

* RSA recipients: KeyTransRecipientInfo, RSAES-OAEP with SHA-256 (RFC 3560) when
  encrypting; RSAES-OAEP or PKCS #1 v1.5 (openssl's default) when decrypting.
* EC recipients: KeyAgreeRecipientInfo, ephemeral-static ECDH (RFC 5753) with
  dhSinglePass-stdDH-sha256kdf-scheme and AES key wrap (RFC 3394) when encrypting; the
  standard and cofactor schemes with SHA-1/224/256/384/512 KDFs when decrypting
  (openssl's default KDF is SHA-1).
* Content: AES-128/192/256-CBC (AuthEnvelopedData is not what RFC 8572 names).

`encrypt_conveyed` envelopes the unencrypted conveyed-information artifact (unsigned
ContentInfo or SignedData); `decrypt_conveyed` gives that artifact back, for
`codec.unwrap_conveyed`. Every defect is an `EncryptionError` subclass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from asn1crypto import cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.protocols.sztp import codec
from harness.protocols.sztp.errors import SztpError
from harness.protocols.voucher.cms import ID_DATA

ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
# RFC 5753 §7.1.4 / SEC 1: KDF schemes by hash (std and cofactor DH agree on P-curves)
KDF_SCHEMES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1, "1.3.132.1.11.0": hashes.SHA224,
    "1.3.132.1.11.1": hashes.SHA256, "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
    "1.3.133.16.840.63.0.3": hashes.SHA1, "1.3.132.1.14.0": hashes.SHA224,
    "1.3.132.1.14.1": hashes.SHA256, "1.3.132.1.14.2": hashes.SHA384,
    "1.3.132.1.14.3": hashes.SHA512,
}  # fmt: skip
STD_DH_SHA256_KDF = "1.3.132.1.11.1"
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}  # fmt: skip
WRAP_KEY_BYTES = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32}
CBC_KEY_BYTES = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
CONVEYED_CONTENT_TYPES = (*codec.CONVEYED_TYPES, ID_DATA, ID_SIGNED_DATA)

RecipientKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class EncryptionError(SztpError):
    """Encrypted conveyed information that cannot be made or opened."""


class EnvelopeFormatError(EncryptionError):
    """Not a well-formed EnvelopedData of conveyed information (garbage, wrong types)."""


class UnsupportedAlgorithmError(EncryptionError):
    """An algorithm, key type or recipient kind this implementation does not handle."""


class WrongKeyError(EncryptionError):
    """No recipient of the envelope opens with the given private key."""


class DecryptionFailedError(EncryptionError):
    """The content does not decrypt: tampered ciphertext or a wrong content key."""


class _ECCCMSSharedInfo(core.Sequence):
    """RFC 5753 §7.2 ECC-CMS-SharedInfo, the X9.63 KDF's SharedInfo."""

    _fields = [
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


@dataclass
class Decrypted:
    content_type: str  # dotted OID of encryptedContentInfo.contentType
    content: bytes


# -- encryption ------------------------------------------------------------------------------


def _artifact_content(conveyed: bytes) -> tuple[str, bytes]:
    """The content type and octets to encrypt of an unencrypted conveyed-information CMS."""
    try:
        info = cms.ContentInfo.load(conveyed)
        dotted = info["content_type"].dotted
        if dotted == ID_SIGNED_DATA:
            return dotted, info["content"].untag().dump()
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvelopeFormatError(f"not a conveyed-information CMS ({exc})") from None
    try:
        unwrapped = codec.unwrap_conveyed(conveyed)
    except codec.SztpCodecError as exc:
        raise EnvelopeFormatError(str(exc)) from None
    return unwrapped.content_type, unwrapped.content


def _rid(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    parsed = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    return cms.IssuerAndSerialNumber({"issuer": parsed.issuer,
                                      "serial_number": parsed.serial_number})  # fmt: skip


def _shared_info(wrap: cms.KeyEncryptionAlgorithm, ukm: bytes | None, key_bytes: int) -> bytes:
    info = {"key_info": wrap, "supp_pub_info": (key_bytes * 8).to_bytes(4, "big")}
    if ukm is not None:
        info["entity_u_info"] = ukm
    return _ECCCMSSharedInfo(info).dump()


def _kek(private: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey,
         hash_type: type[hashes.HashAlgorithm], wrap: cms.KeyEncryptionAlgorithm,
         ukm: bytes | None) -> bytes:  # fmt: skip
    name = wrap["algorithm"].native
    if name not in WRAP_KEY_BYTES:
        raise UnsupportedAlgorithmError(f"key wrap algorithm {wrap['algorithm'].dotted}")
    size = WRAP_KEY_BYTES[name]
    shared = private.exchange(ec.ECDH(), public)
    kdf = X963KDF(hash_type(), size, _shared_info(wrap, ukm, size))
    return kdf.derive(shared)


def _kari(cek: bytes, cert: x509.Certificate, public: ec.EllipticCurvePublicKey,
          wrap_name: str) -> cms.RecipientInfo:  # fmt: skip
    ephemeral = ec.generate_private_key(public.curve)
    wrap = cms.KeyEncryptionAlgorithm({"algorithm": wrap_name})
    kek = _kek(ephemeral, public, hashes.SHA256, wrap, None)
    point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    # RFC 5753 §7.1.1: id-ecPublicKey with parameters absent
    originator = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": point})
    scheme = cms.KeyEncryptionAlgorithm({"algorithm": STD_DH_SHA256_KDF, "parameters": wrap})
    return cms.RecipientInfo(name="kari", value=cms.KeyAgreeRecipientInfo({
        "version": "v3",
        "originator": cms.OriginatorIdentifierOrKey(name="originator_key", value=originator),
        "key_encryption_algorithm": scheme,
        "recipient_encrypted_keys": [{
            "rid": cms.KeyAgreementRecipientIdentifier(
                name="issuer_and_serial_number", value=_rid(cert)),
            "encrypted_key": aes_key_wrap(kek, cek)}],
    }))  # fmt: skip


def _ktri(cek: bytes, cert: x509.Certificate, public: rsa.RSAPublicKey,
          rsa_pad: str) -> cms.RecipientInfo:  # fmt: skip
    if rsa_pad == "oaep":
        sha256 = {"algorithm": "sha256"}
        algorithm = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": {
            "hash_algorithm": sha256,
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256}}})  # fmt: skip
        sha = hashes.SHA256()
        pad: rsa_padding.AsymmetricPadding = rsa_padding.OAEP(rsa_padding.MGF1(sha), sha, None)
    elif rsa_pad == "pkcs1v15":
        algorithm = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"})
        pad = rsa_padding.PKCS1v15()
    else:
        raise UnsupportedAlgorithmError(f"RSA padding {rsa_pad!r}")
    return cms.RecipientInfo(name="ktri", value=cms.KeyTransRecipientInfo({
        "version": "v0", "rid": cms.RecipientIdentifier(name="issuer_and_serial_number",
                                                        value=_rid(cert)),
        "key_encryption_algorithm": algorithm,
        "encrypted_key": public.encrypt(cek, pad)}))  # fmt: skip


def encrypt_conveyed(conveyed: bytes, recipient: x509.Certificate, *,
                     content_type: str | None = None, cipher: str = "aes256_cbc",
                     key_wrap: str = "aes256_wrap", rsa_pad: str = "oaep") -> bytes:  # fmt: skip
    """EnvelopedData of conveyed information to `recipient` (the device's IDevID).

    With `content_type` None, `conveyed` is the unencrypted artifact (a ContentInfo of
    id-ct-sztpConveyedInfo*, id-data or id-signedData), whose content is encrypted under
    its own content type (§3.1); otherwise `conveyed` is the content itself.
    """
    if content_type is None:
        content_type, content = _artifact_content(conveyed)
    else:
        content = conveyed
    if cipher not in CBC_KEY_BYTES:
        raise UnsupportedAlgorithmError(f"content encryption {cipher!r}")
    if key_wrap not in WRAP_KEY_BYTES:
        raise UnsupportedAlgorithmError(f"key wrap {key_wrap!r}")
    cek, iv = os.urandom(CBC_KEY_BYTES[cipher]), os.urandom(16)
    public = recipient.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        info, version = _ktri(cek, recipient, public, rsa_pad), "v0"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        info, version = _kari(cek, recipient, public, key_wrap), "v2"  # RFC 5652 §6.1
    else:
        raise UnsupportedAlgorithmError(f"recipient key {type(public).__name__}")
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    body = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    enveloped = cms.EnvelopedData({
        "version": version, "recipient_infos": [info],
        "encrypted_content_info": {
            "content_type": content_type,
            "content_encryption_algorithm": {"algorithm": cipher, "parameters": iv},
            "encrypted_content": body}})  # fmt: skip
    return cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()


# -- decryption ------------------------------------------------------------------------------


def is_enveloped(der: bytes) -> bool:
    """Whether a conveyed-information CMS is encrypted (topmost type id-envelopedData)."""
    try:
        return bool(cms.ContentInfo.load(der)["content_type"].dotted == ID_ENVELOPED_DATA)
    except (ValueError, TypeError, KeyError):
        return False


def _open_ktri(ri: cms.KeyTransRecipientInfo, key: rsa.RSAPrivateKey) -> bytes:
    algorithm = ri["key_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name == "rsaes_pkcs1v15":
        pad: rsa_padding.AsymmetricPadding = rsa_padding.PKCS1v15()
    elif name == "rsaes_oaep":
        params = algorithm["parameters"]
        digest = HASHES.get(params["hash_algorithm"]["algorithm"].native)
        mgf_hash = HASHES.get(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
        if digest is None or mgf_hash is None:
            raise UnsupportedAlgorithmError("RSAES-OAEP hash")
        label = params["p_source_algorithm"]["parameters"].native or None
        pad = rsa_padding.OAEP(rsa_padding.MGF1(mgf_hash()), digest(), label)
    else:
        raise UnsupportedAlgorithmError(f"key transport {algorithm['algorithm'].dotted}")
    try:
        return key.decrypt(ri["encrypted_key"].native, pad)
    except ValueError:
        raise WrongKeyError("the content key does not decrypt with this RSA key") from None


def _open_kari(ri: cms.KeyAgreeRecipientInfo, key: ec.EllipticCurvePrivateKey) -> bytes:
    scheme = ri["key_encryption_algorithm"]
    hash_type = KDF_SCHEMES.get(scheme["algorithm"].dotted)
    if hash_type is None:
        raise UnsupportedAlgorithmError(f"key agreement scheme {scheme['algorithm'].dotted}")
    originator = ri["originator"]
    if originator.name != "originator_key":
        raise UnsupportedAlgorithmError(f"KeyAgreeRecipientInfo originator {originator.name}")
    point = originator.chosen["public_key"].native
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
    except ValueError:
        raise EnvelopeFormatError("the originator's public key is not on the curve") from None
    wrap = cms.KeyEncryptionAlgorithm.load(scheme["parameters"].dump())
    ukm = ri["ukm"].native if ri["ukm"].native is not None else None
    kek = _kek(key, public, hash_type, wrap, ukm)
    for recipient in ri["recipient_encrypted_keys"]:
        try:
            return aes_key_unwrap(kek, recipient["encrypted_key"].native)
        except (InvalidUnwrap, ValueError):
            continue
    raise WrongKeyError("the content key does not unwrap with this EC key")


def _content_key(infos: cms.RecipientInfos, key: RecipientKey) -> bytes:
    tried: list[str] = []
    for info in infos:
        if info.name == "ktri" and isinstance(key, rsa.RSAPrivateKey):
            opener = _open_ktri
        elif info.name == "kari" and isinstance(key, ec.EllipticCurvePrivateKey):
            opener = _open_kari  # type: ignore[assignment]
        else:
            tried.append(info.name)
            continue
        try:
            return opener(info.chosen, key)  # type: ignore[arg-type]
        except WrongKeyError as exc:
            tried.append(f"{info.name}: {exc}")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise UnsupportedAlgorithmError(f"private key {type(key).__name__}")
    raise WrongKeyError(f"no recipient opens with this key ({'; '.join(tried) or 'none'})")


def _decrypt_content(eci: cms.EncryptedContentInfo, cek: bytes) -> bytes:
    algorithm = eci["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name not in CBC_KEY_BYTES:
        raise UnsupportedAlgorithmError(f"content encryption {algorithm['algorithm'].dotted}")
    if len(cek) != CBC_KEY_BYTES[name]:
        raise DecryptionFailedError("content key of the wrong length: wrong key or tampered")
    iv = algorithm["parameters"].native
    body = eci["encrypted_content"].native
    if not isinstance(iv, bytes) or len(iv) != 16:
        raise EnvelopeFormatError("AES-CBC parameters are not a 16-octet IV")
    if not isinstance(body, bytes) or not body or len(body) % 16:
        raise EnvelopeFormatError("encrypted content missing or not whole AES blocks")
    decryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionFailedError("bad padding: tampered content or wrong key") from None


def decrypt_enveloped(der: bytes, private_key: object) -> Decrypted:
    """Open an EnvelopedData ContentInfo with the recipient's private key."""
    try:
        info = cms.ContentInfo.load(der)
        dotted = info["content_type"].dotted
        if dotted == ID_AUTH_ENVELOPED_DATA:
            raise UnsupportedAlgorithmError("AuthEnvelopedData (RFC 8572 names EnvelopedData)")
        if dotted != ID_ENVELOPED_DATA:
            raise EnvelopeFormatError(f"topmost content type {dotted}, not id-envelopedData")
        enveloped = info["content"]
        eci = enveloped["encrypted_content_info"]
        content_type = eci["content_type"].dotted
        cek = _content_key(enveloped["recipient_infos"], private_key)  # type: ignore[arg-type]
        return Decrypted(content_type, _decrypt_content(eci, cek))
    except EncryptionError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, InvalidKey) as exc:
        what = f"{type(exc).__name__}: {exc}"
        raise EnvelopeFormatError(f"malformed EnvelopedData ({what})") from None


def decrypt_conveyed(der: bytes, private_key: object) -> bytes:
    """The unencrypted conveyed-information artifact (§3.1) inside an EnvelopedData: an
    unsigned ContentInfo or a SignedData ContentInfo, for `codec.unwrap_conveyed`."""
    opened = decrypt_enveloped(der, private_key)
    if opened.content_type not in CONVEYED_CONTENT_TYPES:
        raise EnvelopeFormatError(f"encrypted content type {opened.content_type} is not "
                                  "conveyed information (RFC 8572 §3.1)")  # fmt: skip
    if opened.content_type != ID_SIGNED_DATA:
        return codec.wrap_unsigned(opened.content, opened.content_type)
    try:
        signed = cms.SignedData.load(opened.content)
        signed.native  # noqa: B018 - parse it all here, not later in the verifier
    except (ValueError, TypeError) as exc:
        raise EnvelopeFormatError(f"encrypted SignedData does not parse ({exc})") from None
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
