"""Server authentication of the reference EST client: its two TA databases and the
authorization check of RFC 7030 §3.6.

The Explicit TA database is the designated trust anchor (ONBOARDCHECK_TRUST_ANCHORS) or,
when none is designated, what /cacerts installed. The Implicit TA database
(ONBOARDCHECK_IMPLICIT_TAS, e.g. public web roots) is used only when enabled (§3.1) and
only until an Explicit TA exists for the server (§4.1.3). The two are kept apart (§3.3.1):
a certificate is validated against one database at a time, so the client knows which one
authenticated the server, and id-kp-cmcRA authorizes a server only under an Explicit TA
(§3.6.1); under an Implicit TA the URI is always checked (§3.6.2).
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.protocols.est import params as P
from harness.protocols.est.client_support import UsageError
from harness.protocols.est.params import EstClientParams

if TYPE_CHECKING:
    from harness.protocols.est.reference_client import ClientQuirks

CMC_RA = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.28")  # id-kp-cmcRA (RFC 6402)
PINNED_FILE = "factory-ta.pem"  # mutant only: the TA it was first given, kept for good

Database = Literal["explicit", "implicit"]


@dataclass
class TrustDatabases:
    """The PEM files the client authenticates the server with in this action."""

    explicit: Path | None
    implicit: Path | None  # None: not in use for this server
    bootstrap_fingerprint: str = ""  # set when no TA exists yet (§4.1.1)

    def first(self) -> Database:
        return "explicit" if self.explicit is not None else "implicit"

    def path(self, database: Database) -> Path | None:
        return self.explicit if database == "explicit" else self.implicit


def resolve(params: EstClientParams, quirks: ClientQuirks) -> TrustDatabases:
    """The databases for this action; raises UsageError when the server cannot be
    authenticated at all (RFC 7030 §3.6.1)."""
    state = params.state_dir
    stored = state / P.CACERTS_FILE
    explicit = _file(params.trust_anchors)
    if quirks.pin_first_ta:
        # Mutant: the first TA it was ever given stays its TA, whatever is designated.
        pinned = state / PINNED_FILE
        if not pinned.is_file() and explicit is not None:
            shutil.copyfile(explicit, pinned)
        explicit = pinned if pinned.is_file() else explicit
    if explicit is None and stored.is_file():
        explicit = stored  # installed by /cacerts (§4.1.3), e.g. after a bootstrap
    implicit = _file(params.implicit_tas)
    if not (params.use_implicit_ta or quirks.implicit_always):
        implicit = None  # §3.1: the Implicit TA database can be disabled
    if stored.is_file() and not quirks.implicit_after_cacerts:
        implicit = None  # §4.1.3: an Explicit TA now exists for this server
    fingerprint = params.bootstrap_fingerprint if explicit is None else ""
    if explicit is None and implicit is None and not fingerprint:
        raise UsageError(
            f"{P.TRUST_ANCHORS} must name a PEM file (or give {P.IMPLICIT_TAS} with "
            f"{P.USE_IMPLICIT_TA}=1, or {P.BOOTSTRAP_FINGERPRINT})"
        )
    return TrustDatabases(explicit, implicit, fingerprint)


def authorizer(
    host: str, database: Database, quirks: ClientQuirks
) -> Callable[[bytes], str | None]:
    """The §3.6 authorization check of a certificate that validated against `database`."""

    def check(der: bytes) -> str | None:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return "the server certificate does not parse"
        if database == "explicit":
            if not quirks.check_hostname or names_host(cert, host) or has_cmc_ra(cert):
                return None  # §3.6.1: the URI matches, or id-kp-cmcRA under an Explicit TA
            return f"it names {_names(cert)}, not {host}, and has no id-kp-cmcRA"
        if not quirks.check_hostname or not quirks.implicit_check_hostname:
            return None  # mutants
        if names_host(cert, host):
            return None  # §3.6.2: under an Implicit TA only the URI check authorizes
        if quirks.cmcra_under_implicit and has_cmc_ra(cert):
            return None  # mutant
        return f"it names {_names(cert)}, not {host} (Implicit TA: id-kp-cmcRA does not count)"

    return check


def names_host(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 §6.4: the reference identity against the subjectAltName entries (an IP
    address against iPAddress entries; a DNS name against dNSName entries, a wildcard
    only as the whole left-most label).

    Not ssl's own check_hostname: whether the name must match depends on which TA
    database validated the chain and on id-kp-cmcRA (§3.6.1 vs §3.6.2), which ssl
    cannot express."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return address in sans.get_values_for_type(x509.IPAddress)
    wanted = host.rstrip(".").lower().split(".")
    for name in sans.get_values_for_type(x509.DNSName):
        labels = name.rstrip(".").lower().split(".")
        if len(labels) != len(wanted):
            continue
        if labels[0] == "*" and len(labels) > 2 and labels[1:] == wanted[1:]:
            return True
        if labels == wanted:
            return True
    return False


def has_cmc_ra(cert: x509.Certificate) -> bool:
    try:
        ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return CMC_RA in ekus


def fingerprint_match(certs: list[x509.Certificate], fingerprint: str) -> x509.Certificate | None:
    """The certificate whose SHA-256 fingerprint is `fingerprint` (hex; colons, blanks
    and case ignored), or None."""
    wanted = "".join(ch for ch in fingerprint.lower() if ch in "0123456789abcdef")
    for cert in certs:
        der = cert.public_bytes(Encoding.DER)
        if hashlib.sha256(der).hexdigest() == wanted:
            return cert
    return None


def _file(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


def _names(cert: x509.Certificate) -> str:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return cert.subject.rfc4514_string()
    names = [*sans.get_values_for_type(x509.DNSName), *sans.get_values_for_type(x509.IPAddress)]
    return ", ".join(str(v) for v in names) or "no DNS name or IP address"
