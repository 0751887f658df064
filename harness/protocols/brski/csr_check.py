"""The registrar's check of a CSR against the attributes it asked for (RFC 8995 §5.9.2:
"The registrar MUST validate the CSR against the expected attributes").

What is checked, for the items of the registrar's CsrAttrs (RFC 7030 §4.5.2):
a signature algorithm OID asks for that algorithm (the CSR must be signed with one of
those asked for); an X.520 attribute type OID (2.5.4.x) asks for that attribute in the
subject; for serialNumber (2.5.4.5) its value must be the client certificate's subject
serialNumber (the IDevID's, §2.3.1). Other items (extensionRequest, ...) are not checked.
"""

from __future__ import annotations

from cryptography import x509

from harness.protocols.est.codec import CsrAttr

SERIAL_NUMBER = "2.5.4.5"
X520_PREFIX = "2.5.4."
SIGNATURE_ALGORITHMS = frozenset({
    "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4",  # ecdsa-with-SHA*
    "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13",  # sha*WithRSA
    "1.2.840.113549.1.1.10",  # RSASSA-PSS
    "1.3.101.112", "1.3.101.113",  # Ed25519, Ed448
})  # fmt: skip


def csr_violations(
    csr: x509.CertificateSigningRequest, asked: list[CsrAttr], serial: str | None
) -> list[str]:
    """What of `asked` the CSR does not honour (empty: it conforms). `serial` is the
    client certificate's serialNumber, when it has one."""
    problems: list[str] = []
    algorithms = [a.oid for a in asked if not a.is_attribute and a.oid in SIGNATURE_ALGORITHMS]
    signed_with = csr.signature_algorithm_oid.dotted_string
    if algorithms and signed_with not in algorithms:
        problems.append(f"signed with {signed_with}, asked for {', '.join(algorithms)}")
    for item in asked:
        if item.is_attribute or not item.oid.startswith(X520_PREFIX):
            continue
        values = [
            a.value for a in csr.subject.get_attributes_for_oid(x509.ObjectIdentifier(item.oid))
        ]
        if not values:
            problems.append(f"the subject has no {item.oid}")
        elif item.oid == SERIAL_NUMBER and serial is not None and values != [serial]:
            problems.append(f"subject serialNumber {values!r} is not the client's {serial!r}")
    return problems
