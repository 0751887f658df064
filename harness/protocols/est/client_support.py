"""Helpers of the reference EST client (`reference_client.py`) that need no connection.

Errors the client reports, loading credentials, picking the issued certificate,
path validation of /cacerts (RFC 7030 §4.1.3), reading CSR attributes (§4.5.2),
HTTP header parsing and the pieces some mutants bend the client with (re-signed CSRs,
copied CSR attributes, a kept part of /cacerts, a TLS 1.0 context). Kept apart so the
client module stays a readable size.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AttributeOID

from harness.crypto.certs import cert_for_key, has_issuer_in, issued_by
from harness.crypto.pki import CertifiedKey, KeyType, PrivateKey
from harness.errors import OnboardcheckError
from harness.protocols.est import codec

# CSR attribute OIDs the client understands (RFC 7030 §4.5.2, Appendix A.2).
CHALLENGE_PASSWORD = AttributeOID.CHALLENGE_PASSWORD.dotted_string
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
CURVES: dict[str, KeyType] = {"1.2.840.10045.3.1.7": "p256", "1.3.132.0.34": "p384"}
MAX_PATH = 8  # chain depth bound: a /cacerts bag is a handful of certificates


class Refused(OnboardcheckError):
    """The client refused an answer or could not complete the action (exit 1)."""


class UsageError(OnboardcheckError):
    """Missing or bad parameters or state (exit 2)."""


@dataclass
class CsrPlan:
    """What the client takes from /csrattrs; everything it does not know is ignored."""

    key_type: KeyType = "p256"
    challenge_password: bool = False  # the server asks for §3.5 linking
    unknown: list[codec.CsrAttr] = field(default_factory=list)  # not recognised (§4.5.2)

    @property
    def ignored(self) -> int:
        """How many items the client did not recognise (RFC 7030 §4.5.2 MUST-03)."""
        return len(self.unknown)


def csr_plan(items: Iterable[codec.CsrAttr]) -> CsrPlan:
    plan = CsrPlan()
    for item in items:
        if item.oid == CHALLENGE_PASSWORD:
            plan.challenge_password = True
        elif item.oid == EC_PUBLIC_KEY and item.is_attribute:
            curves = [CURVES[oid] for oid in _value_oids(item) if oid in CURVES]
            if curves:
                plan.key_type = curves[0]
            else:
                plan.unknown.append(item)
        elif item.oid == RSA_ENCRYPTION:
            plan.key_type = "rsa2048"
        else:
            plan.unknown.append(item)
    return plan


def copied_attributes(plan: CsrPlan) -> list[tuple[x509.ObjectIdentifier, bytes]]:
    """Mutant only: every unrecognised csrattrs item as a CSR attribute of the same OID
    (value: the item's OID text), where RFC 7030 §4.5.2 says to ignore them."""
    return [(x509.ObjectIdentifier(item.oid), item.oid.encode()) for item in plan.unknown]


def _value_oids(item: codec.CsrAttr) -> list[str]:
    try:
        return item.value_oids()
    except (ValueError, TypeError):
        return []


def validated_cacerts(
    bag: list[x509.Certificate], anchors: list[x509.Certificate]
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(certificates of the bag with a path to an anchor, the rest), RFC 5280 style.

    A certificate is kept when it is an anchor itself or is issued, directly or through
    other kept certificates, by an anchor: names chain, the issuer is a CA, signatures
    verify and every certificate on the way is within its validity period.
    """
    now = dt.datetime.now(dt.UTC)
    trusted = list(anchors)
    kept: list[x509.Certificate] = [c for c in bag if c in anchors and _current(c, now)]
    pending = [c for c in bag if c not in kept]
    for _round in range(MAX_PATH):
        pool = trusted + kept
        grown = [c for c in pending if _current(c, now) and has_issuer_in(c, pool, ca_only=True)]
        if not grown:
            break
        kept += grown
        pending = [c for c in pending if c not in grown]
    return kept, pending


def self_signed_only(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """Mutant only: the self-signed certificates of a /cacerts bag (its roots)."""
    return [c for c in certs if c.issuer == c.subject and issued_by(c, c)]


def _current(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def load_pem_certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load certificates from {path}: {exc}") from exc


def load_credential(cert_path: Path, key_path: Path) -> CertifiedKey:
    try:
        certs = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load {cert_path} / {key_path}: {exc}") from exc
    return CertifiedKey(certs[0], key, certs[1:])  # type: ignore[arg-type]


def write_credential(
    cert: x509.Certificate, key: PrivateKey, cert_path: Path, key_path: Path
) -> None:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


def stored_csrattrs(path: Path) -> list[codec.CsrAttr]:
    """The CSR attributes an earlier /csrattrs left in the state folder, if any."""
    if not path.is_file():
        return []
    try:
        return codec.parse_csrattrs(path.read_bytes())
    except codec.CodecError:
        return []


def is_certs_only(content_type: str | None) -> bool:
    try:
        return content_type is not None and codec.is_certs_only(content_type)
    except codec.CodecError:
        return False


def issued_for(certs: list[x509.Certificate], key: object, what: str) -> x509.Certificate:
    """The certificate for our key (RFC 7030 §4.2.3 answers with only that one)."""
    cert = cert_for_key(certs, key)
    if cert is None:
        raise Refused(f"{what}: no certificate in the answer carries the requested public key")
    return cert


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or HTTP-date (RFC 9110 §10.2.3); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def san_strings(cert: x509.Certificate) -> list[str] | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    names: list[str] = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    names += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    if len(names) != len(list(san)):
        # make_csr carries DNS names and IP literals only; refuse rather than drop names.
        raise Refused("reenroll: certificate has SAN types this client cannot copy")
    return names or None


def tls_1_0_only(ctx: ssl.SSLContext) -> None:
    """Mutant only: `ctx` offers TLS 1.0 and nothing else (RFC 7030 §3.3 wants 1.1+).

    OpenSSL 3 refuses TLS 1.0 at its default security level 1 (SHA-1 handshake
    signatures), so the level is dropped to 0 as a legacy client would.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")


def tls_1_0_allowed(ctx: ssl.SSLContext) -> None:
    """Mutant only: `ctx` offers every version down to TLS 1.0 (security level 0), so it
    takes TLS 1.0 from a server that offers nothing newer (RFC 7030 §3.2.3 forbids
    sending credentials there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")


def resigned(
    csr: x509.CertificateSigningRequest, signer: ec.EllipticCurvePrivateKey
) -> x509.CertificateSigningRequest:
    """`csr` with its CertificationRequestInfo signed by `signer` instead of its own key."""
    parsed = asn1_csr.CertificationRequest.load(csr.public_bytes(serialization.Encoding.DER))
    tbs = parsed["certification_request_info"].dump()
    parsed["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
    parsed["signature"] = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_csr(parsed.dump(force=True))
