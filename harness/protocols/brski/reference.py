"""What the reference BRSKI roles claim (their ICS), as a DUT profile would, and the PEM
files a reference DUT and the suite hand each other.

The reference pledge retries after a 202 (Retry-After limited to 60 s, the same
request) and follows redirections to one other origin at most (RFC 8995 §5.6), so it
claims both options; it is given the registrar's URL (no discovery).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import CertifiedKey
from harness.errors import InputError

REFERENCE_ICS: dict[str, dict[str, Any]] = {
    "pledge": {
        "BRSKI-PLEDGE-RETRY-AFTER": True,
        "BRSKI-PLEDGE-REDIRECT": True,
        "BRSKI-PLEDGE-TELEMETRY": True,
    },
    "registrar": {},
    "masa": {},
}


def reference_ics(roles: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for role in roles:
        answers.update(REFERENCE_ICS.get(role, {}))
    return answers


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


def read_certified(bundle: str | Path, key: str | Path) -> CertifiedKey:
    """A credential from a PEM bundle (certificate first, then its chain) and a PEM key."""
    certs = read_certs(bundle)
    try:
        private = serialization.load_pem_private_key(Path(key).read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(key, "private key", f"no unencrypted PEM private key: {exc}") from exc
    return CertifiedKey(certs[0], private, certs[1:])  # type: ignore[arg-type]

