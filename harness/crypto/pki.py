"""PKI factory: CA hierarchies, server/client certificates, IDevIDs, LDevIDs and CSRs.

Everything is built in memory with `cryptography`; `CertifiedKey.write` puts PEM files
on disk for tester peers and third-party tools (openssl, curl) that want paths.

A second, unrelated hierarchy (another `root_ca`) is how tests get an untrusted
certificate; `validity=` (see `expired_window`, `future_window`) makes expired and
not-yet-valid ones.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AttributeOID, ExtendedKeyUsageOID, NameOID

from harness.crypto.certs import read_certs
from harness.errors import InputError, OnboardcheckError

KeyType = Literal["p256", "p384", "rsa2048"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
Validity = tuple[dt.datetime, dt.datetime]

KEY_TYPES: tuple[KeyType, ...] = ("p256", "p384", "rsa2048")

# IEEE 802.1AR §8.5: an IDevID that has no well-defined expiration uses the
# GeneralizedTime 99991231235959Z as notAfter.
IDEVID_NOT_AFTER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)

# RFC 8995 §2.3.2: id-pe-masa-url, the MASA URI extension of an IDevID (MASAURLSyntax
# ::= IA5String).
MASA_URL_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.32")

# Certificates start a little in the past so a peer whose clock lags still accepts them.
_BACKDATE = dt.timedelta(minutes=5)

# Characters of the ASN.1 PrintableString (X.680 §41.4); anything else needs UTF8String.
_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class PkiError(OnboardcheckError):
    """The PKI factory was asked for something it cannot build (bad key type, SAN, CSR)."""


@dataclass(frozen=True)
class CertPaths:
    """Where `CertifiedKey.write` put the PEM files."""

    cert: Path
    key: Path
    chain: Path
    bundle: Path


@dataclass
class CertifiedKey:
    """A certificate, its private key and its issuers up to and including the root.

    `chain` excludes `cert` itself; for a root it is empty.
    """

    cert: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def root(self) -> x509.Certificate:
        """The trust anchor of this certificate's hierarchy."""
        return self.chain[-1] if self.chain else self.cert

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM: test keys only, and tools read it without a passphrase."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def fingerprint_sha256(self) -> str:
        """Lowercase hex SHA-256 of the DER certificate."""
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def write(self, directory: Path, stem: str) -> CertPaths:
        """Write `<stem>.crt`, `<stem>.key`, `<stem>.chain.pem`, `<stem>.bundle.pem`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = CertPaths(
            cert=directory / f"{stem}.crt",
            key=directory / f"{stem}.key",
            chain=directory / f"{stem}.chain.pem",
            bundle=directory / f"{stem}.bundle.pem",
        )
        paths.cert.write_bytes(self.cert_pem())
        paths.key.write_bytes(self.key_pem())
        paths.key.chmod(0o600)
        paths.chain.write_bytes(self.chain_pem())
        paths.bundle.write_bytes(self.cert_pem() + self.chain_pem())
        return paths


@dataclass
class RootRollover:
    """A root CA key update (RFC 4210 §4.4): the old and new self-signed roots and the
    two link certificates that let holders of either key validate the other.

    OldWithNew carries the old root's subject and public key, signed with the new key;
    NewWithOld carries the new public key, signed with the old key.
    """

    old_with_old: x509.Certificate
    new_with_new: CertifiedKey
    old_with_new: x509.Certificate
    new_with_old: x509.Certificate

    def certificates(self) -> list[x509.Certificate]:
        """The four certificates a /cacerts answer carries during the update (§4.1.3)."""
        return [self.old_with_old, self.new_with_new.cert, self.old_with_new, self.new_with_old]

    def links(self) -> list[x509.Certificate]:
        return [self.old_with_new, self.new_with_old]


def generate_key(key_type: KeyType = "p256") -> PrivateKey:
    """A fresh private key of one of `KEY_TYPES`."""
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise PkiError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


def expired_window(days_ago: int = 30, length_days: int = 10) -> Validity:
    """A validity period that ended `days_ago - length_days` days ago."""
    start = _now() - dt.timedelta(days=days_ago)
    return start, start + dt.timedelta(days=length_days)


def future_window(days_ahead: int = 30, length_days: int = 365) -> Validity:
    """A validity period that starts `days_ahead` days from now."""
    start = _now() + dt.timedelta(days=days_ahead)
    return start, start + dt.timedelta(days=length_days)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    # Match the hash strength to the curve (RFC 5480 §4), SHA-256 for RSA-2048.
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _name(subject: x509.Name | str) -> x509.Name:
    if isinstance(subject, x509.Name):
        return subject
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])


def general_names(sans: Iterable[str]) -> list[x509.GeneralName]:
    """DNS names and IP literals (v4 or v6) as GeneralNames, in the given order."""
    names: list[x509.GeneralName] = []
    for san in sans:
        if not san:
            raise PkiError("empty subjectAltName entry")
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def _directory_string(value: bytes | str) -> tuple[bytes, _ASN1Type]:
    # RFC 2985 §5.4.1: challengePassword is a DirectoryString; PrintableString when the
    # text allows it (widest interoperability), UTF8String otherwise.
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    raw = text.encode("utf-8")
    if text and all(ch in _PRINTABLE for ch in text):
        return raw, _ASN1Type.PrintableString
    return raw, _ASN1Type.UTF8String


def make_csr(
    key: PrivateKey,
    subject: x509.Name | str,
    challenge_password: bytes | str | None = None,
    sans: Sequence[str] | None = None,
    attributes: Sequence[tuple[x509.ObjectIdentifier, bytes]] | None = None,
) -> x509.CertificateSigningRequest:
    """A PKCS#10 CSR signed by `key`.

    `subject` is a Name or a bare CN; `sans` DNS names / IP literals go into an
    extensionRequest; `attributes` are extra (OID, UTF8String value) attributes.
    """
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(subject))
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(general_names(sans)), critical=False
        )
    if challenge_password is not None:
        raw, tag = _directory_string(challenge_password)
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, raw, _tag=tag)
    for oid, value in attributes or ():
        builder = builder.add_attribute(oid, value)
    return builder.sign(key, _hash_for(key))


def challenge_password(csr: x509.CertificateSigningRequest) -> bytes | None:
    """The challengePassword attribute's value bytes (RFC 2985 §5.4.1), or None."""
    try:
        return csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        return None


class Pki:
    """Issues certificates; holds no state beyond an optional output directory."""

    def __init__(self, directory: Path | None = None, key_type: KeyType = "p256"):
        self.directory = Path(directory) if directory is not None else None
        self.key_type: KeyType = key_type

    @classmethod
    def create(cls, directory: Path | None = None, key_type: KeyType = "p256") -> Pki:
        """A factory whose `write()` puts files in `directory` (or nowhere: in memory)."""
        return cls(directory, key_type)

    def write(self, item: CertifiedKey, stem: str) -> CertPaths:
        """Write `item` into this factory's directory."""
        if self.directory is None:
            raise PkiError("this Pki has no directory; pass one to Pki.create()")
        return item.write(self.directory, stem)

    # -- issuing -----------------------------------------------------------------------

    def _issue(
        self,
        issuer: CertifiedKey | None,
        subject: x509.Name,
        public_key: PublicKey,
        *,
        days: int,
        validity: Validity | None,
        extensions: list[tuple[x509.ExtensionType, bool]],
        signing_key: PrivateKey | None = None,
    ) -> x509.Certificate:
        if validity is None:
            start = _now() - _BACKDATE
            validity = (start, start + _BACKDATE + dt.timedelta(days=days))
        not_before, not_after = validity
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        )
        if issuer is not None:
            aki = _aki_from(issuer.cert)
        else:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)
        builder = builder.add_extension(aki, False)
        for ext, critical in extensions:
            builder = builder.add_extension(ext, critical)
        key = issuer.key if issuer else signing_key
        if key is None:
            raise PkiError("no signing key")
        return builder.sign(key, _hash_for(key))

    def root_ca(
        self,
        cn: str | x509.Name,
        key_type: KeyType | None = None,
        *,
        days: int = 3650,
        validity: Validity | None = None,
    ) -> CertifiedKey:
        """A self-signed root CA."""
        key = generate_key(key_type or self.key_type)
        cert = self._issue(
            None,
            _name(cn),
            key.public_key(),
            days=days,
            validity=validity,
            extensions=_ca_extensions(path_length=None),
            signing_key=key,
        )
        return CertifiedKey(cert, key, [])

    def root_rollover(self, old: CertifiedKey, *, days: int = 3650) -> RootRollover:
        """A new key for root `old` (same subject) with both link certificates."""
        if not old.cert.issuer == old.cert.subject or old.chain:
            raise PkiError("a root key update needs a self-signed root")
        key = generate_key(self.key_type)
        subject = old.cert.subject
        extensions = _ca_extensions(path_length=None)
        new_cert = self._issue(
            None, subject, key.public_key(), days=days, validity=None,
            extensions=extensions, signing_key=key,
        )  # fmt: skip
        new = CertifiedKey(new_cert, key, [])
        old_public = old.key.public_key()
        old_with_new = self._issue(
            new, subject, old_public, days=0,
            validity=(old.cert.not_valid_before_utc, old.cert.not_valid_after_utc),
            extensions=extensions,
        )  # fmt: skip
        new_with_old = self._issue(
            old, subject, key.public_key(), days=0,
            validity=(new_cert.not_valid_before_utc, old.cert.not_valid_after_utc),
            extensions=extensions,
        )  # fmt: skip
        return RootRollover(old.cert, new, old_with_new, new_with_old)

    def sub_ca(
        self,
        issuer: CertifiedKey,
        cn: str | x509.Name,
        key_type: KeyType | None = None,
        *,
        days: int = 1825,
        path_length: int | None = 0,
        validity: Validity | None = None,
    ) -> CertifiedKey:
        """An intermediate CA; `path_length=0` means it issues end entities only."""
        key = generate_key(key_type or self.key_type)
        cert = self._issue(
            issuer,
            _name(cn),
            key.public_key(),
            days=days,
            validity=validity,
            extensions=_ca_extensions(path_length=path_length),
        )
        return CertifiedKey(cert, key, _chain_of(issuer))

    def server_cert(
        self,
        issuer: CertifiedKey,
        hostname: str,
        sans: Sequence[str] | None = None,
        days: int = 365,
        *,
        key_type: KeyType | None = None,
        validity: Validity | None = None,
        extra_ekus: Sequence[x509.ObjectIdentifier] | None = None,
    ) -> CertifiedKey:
        """A TLS server certificate: CN=hostname, SAN = `sans` (default [hostname])."""
        key = generate_key(key_type or self.key_type)
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH, *(extra_ekus or ())]
        cert = self._issue(
            issuer,
            _name(hostname),
            key.public_key(),
            days=days,
            validity=validity,
            extensions=[
                *_end_entity_extensions(key.public_key(), ekus),
                (x509.SubjectAlternativeName(general_names(sans or [hostname])), False),
            ],
        )
        return CertifiedKey(cert, key, _chain_of(issuer))

    def client_cert(
        self,
        issuer: CertifiedKey,
        cn: str | x509.Name,
        days: int = 365,
        *,
        key_type: KeyType | None = None,
        sans: Sequence[str] | None = None,
        validity: Validity | None = None,
        extra_ekus: Sequence[x509.ObjectIdentifier] | None = None,
    ) -> CertifiedKey:
        """A TLS client certificate (EKU clientAuth)."""
        key = generate_key(key_type or self.key_type)
        ekus = [ExtendedKeyUsageOID.CLIENT_AUTH, *(extra_ekus or ())]
        extensions = _end_entity_extensions(key.public_key(), ekus)
        if sans:
            extensions.append((x509.SubjectAlternativeName(general_names(sans)), False))
        cert = self._issue(
            issuer,
            _name(cn),
            key.public_key(),
            days=days,
            validity=validity,
            extensions=extensions,
        )
        return CertifiedKey(cert, key, _chain_of(issuer))

    def idevid(
        self,
        issuer: CertifiedKey,
        serial_number: str | None = None,
        cn: str | None = None,
        model: str | None = None,
        *,
        serial: str | None = None,
        key_type: KeyType | None = None,
        validity: Validity | None = None,
        masa_url: str | None = None,
    ) -> CertifiedKey:
        """An IEEE 802.1AR-style IDevID.

        The subject carries serialNumber (2.5.4.5) = `serial_number` (`serial` is an
        alias) and CN = `cn`, or "<model> <serial>" / "<serial>" when `cn` is None.
        notAfter is 99991231235959Z (802.1AR §8.5); keyUsage digitalSignature; CA:FALSE.
        No EKU: 802.1AR does not require one and its absence allows any use.
        `masa_url` adds the non-critical MASA URI extension of RFC 8995 §2.3.2.
        """
        serial_value = serial_number if serial_number is not None else serial
        if not serial_value:
            raise PkiError("an IDevID needs a serial number")
        common_name = cn or (f"{model} {serial_value}" if model else serial_value)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_value),
            ]
        )
        key = generate_key(key_type or self.key_type)
        if validity is None:
            validity = (_now() - _BACKDATE, IDEVID_NOT_AFTER)
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True), True),
        ]
        if masa_url is not None:
            try:
                value = asn1_core.IA5String(masa_url).dump()
            except (ValueError, TypeError) as exc:
                raise PkiError(f"MASA URL {masa_url!r} is not an IA5String: {exc}") from exc
            extensions.append((x509.UnrecognizedExtension(MASA_URL_OID, value), False))
        cert = self._issue(
            issuer,
            subject,
            key.public_key(),
            days=0,
            validity=validity,
            extensions=extensions,
        )
        return CertifiedKey(cert, key, _chain_of(issuer))

    def issue_from_csr(
        self,
        issuer: CertifiedKey,
        csr: x509.CertificateSigningRequest,
        days: int = 365,
        extra_ekus: Sequence[x509.ObjectIdentifier] | None = None,
        *,
        validity: Validity | None = None,
        verify_signature: bool = True,
    ) -> x509.Certificate:
        """A certificate for the CSR's key: subject and SAN copied from the CSR.

        Only the certificate is returned (the CA never sees the private key); its
        chain is `issuer.cert` + `issuer.chain`. EKU clientAuth plus `extra_ekus`.
        """
        if verify_signature and not csr.is_signature_valid:
            raise PkiError("CSR signature does not verify")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise PkiError(f"unsupported CSR key type {type(public_key).__name__}")
        ekus = [ExtendedKeyUsageOID.CLIENT_AUTH, *(extra_ekus or ())]
        extensions = _end_entity_extensions(public_key, ekus)
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            extensions.append((san.value, san.critical))
        except x509.ExtensionNotFound:
            pass
        return self._issue(
            issuer,
            csr.subject,
            public_key,
            days=days,
            validity=validity,
            extensions=extensions,
        )

    def ldevid_from_csr(
        self,
        issuer: CertifiedKey,
        csr: x509.CertificateSigningRequest,
        days: int = 365,
        *,
        validity: Validity | None = None,
    ) -> x509.Certificate:
        """An LDevID (802.1AR locally significant identity) for a pledge's CSR."""
        return self.issue_from_csr(issuer, csr, days, validity=validity)


def _chain_of(issuer: CertifiedKey) -> list[x509.Certificate]:
    return [issuer.cert, *issuer.chain]


def _aki_from(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    # Reuse the issuer's own SKI so AKI matches it even if the issuer was built elsewhere
    # with a different key-identifier method.
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_cert.public_key()  # type: ignore[arg-type]
        )


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_extensions(path_length: int | None) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), True),
    ]


def _end_entity_extensions(
    public_key: PublicKey, ekus: Sequence[x509.ObjectIdentifier]
) -> list[tuple[x509.ExtensionType, bool]]:
    # RSA key transport (TLS 1.2 RSA suites) needs keyEncipherment; EC keys never do.
    usage = _key_usage(
        digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)
    )
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (usage, True),
        (x509.ExtendedKeyUsage(list(dict.fromkeys(ekus))), False),
    ]


def read_certified(bundle: str | Path, key: str | Path) -> CertifiedKey:
    """A credential from a PEM bundle (certificate first, then its chain) and a PEM key."""
    certs = read_certs(bundle)
    try:
        private = serialization.load_pem_private_key(Path(key).read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(key, "private key", f"no unencrypted PEM private key: {exc}") from exc
    return CertifiedKey(certs[0], private, certs[1:])  # type: ignore[arg-type]
