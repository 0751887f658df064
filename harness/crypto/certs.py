"""Small certificate questions every role and suite asks: whose key, who issued it,
does it chain. All with `cryptography`; path building here is a bounded walk over
a handful of certificates, not a full RFC 5280 validator."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from harness.errors import InputError


def spki(obj: object) -> bytes:
    """DER SubjectPublicKeyInfo of a certificate, a CSR, a private or a public key."""
    if isinstance(obj, x509.Certificate | x509.CertificateSigningRequest):
        obj = obj.public_key()
    elif hasattr(obj, "public_key"):
        obj = obj.public_key()  # a private key
    return obj.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` directly issued `cert`: names chain and the signature verifies."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def signed_with_key_of(cert: x509.Certificate, signer: x509.Certificate) -> bool:
    """Whether `signer`'s public key verifies `cert`'s signature, whatever the names say
    (a root key update, RFC 4210 §4.4, is told apart by keys, not names)."""
    key = signer.public_key()
    algorithm = cert.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def has_issuer_in(
    cert: x509.Certificate, pool: list[x509.Certificate], ca_only: bool = False
) -> bool:
    """Whether another certificate of `pool` (a CA, with `ca_only`) directly issued `cert`."""
    return any(
        issuer != cert and (not ca_only or is_ca(issuer)) and issued_by(cert, issuer)
        for issuer in pool
    )


def path_to_root(
    leaf: x509.Certificate, pool: list[x509.Certificate]
) -> list[x509.Certificate] | None:
    """The path from `leaf` to a self-signed certificate using only `pool`, or None."""
    path, current = [leaf], leaf
    for _ in range(len(pool) + 1):
        if self_signed(current):
            return path
        issuer = next((c for c in pool if issued_by(current, c) and c not in path), None)
        if issuer is None:
            return None
        path.append(issuer)
        current = issuer
    return None


def cert_for_key(certs: list[x509.Certificate], key: object) -> x509.Certificate | None:
    """The certificate of `certs` that carries `key`'s public key, if any."""
    wanted = spki(key)
    return next((cert for cert in certs if spki(cert) == wanted), None)


def pem_certs(data: bytes | None) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; nothing for no data or data that is not PEM."""
    if not data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def subject_of(der: bytes | None) -> str | None:
    """RFC 4514 subject of a DER certificate, for logs; None when there is none."""
    if der is None:
        return None
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(unparsable certificate)"


def write_certs(path: Path, certs: list[x509.Certificate]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def read_certs(path: str | Path) -> list[x509.Certificate]:
    """The PEM certificates of a file; InputError when there are none or it is unreadable."""
    try:
        certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(path, "certificates", f"no PEM certificates: {exc}") from exc
    if not certs:
        raise InputError(path, "certificates", "no PEM certificates")
    return certs
