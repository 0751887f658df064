"""Root CA key update (RFC 7030 §4.1.3, RFC 4210 §4.4) as an EST client sees it.

During a key update the /cacerts bag holds two self-signed roots of one name
(OldWithOld, NewWithNew) and the two link certificates between them. The reference
client needs nothing special for it: path validation from the explicit TA reaches the
new root through NewWithOld. This module only names what a client mutant trips over.
"""

from __future__ import annotations

from cryptography import x509

from harness.crypto.certs import self_signed


def same_name_roots(certs: list[x509.Certificate]) -> list[str]:
    """RFC 4514 names carried by more than one self-signed certificate of `certs`."""
    seen: dict[x509.Name, int] = {}
    for cert in certs:
        if self_signed(cert):
            seen[cert.subject] = seen.get(cert.subject, 0) + 1
    return [name.rfc4514_string() for name, count in seen.items() if count > 1]
