"""Named mutants of the reference BRSKI roles, each breaking named requirements.

A mutant sets behaviour knobs or quirks of the reference pledge, registrar or MASA
(harness/protocols/brski/{pledge,registrar,masa}.py), so there is one implementation to
keep correct. `breaks` names requirements of suites/brski/requirements.yaml; the
self-test (tests/test_selftest_brski.py) shows each test failing on the mutant built to
break it and the reference passing everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from harness.protocols.brski.masa import MasaBehaviour, MasaQuirks
from harness.protocols.brski.pledge import PledgeBehaviour, PledgeQuirks
from harness.protocols.brski.registrar import RegistrarBehaviour, RegistrarQuirks

OTHER_SERIAL = "ONBC-NOT-THIS-PLEDGE"


@dataclass
class Knobs:
    """Every knob a mutant may turn, handed to `Mutant.apply`."""

    pledge: PledgeBehaviour = field(default_factory=PledgeBehaviour)
    pledge_quirks: PledgeQuirks = field(default_factory=PledgeQuirks)
    registrar: RegistrarBehaviour = field(default_factory=RegistrarBehaviour)
    registrar_quirks: RegistrarQuirks = field(default_factory=RegistrarQuirks)
    masa: MasaBehaviour = field(default_factory=MasaBehaviour)
    masa_quirks: MasaQuirks = field(default_factory=MasaQuirks)
    # A certificate of no registrar's domain, for a MASA that pins the wrong one.
    foreign_cert: x509.Certificate | None = None


Apply = Callable[[Knobs], None]


@dataclass(frozen=True)
class Mutant:
    name: str
    role: str  # the DUT role it plays: pledge, registrar or masa
    breaks: tuple[str, ...]  # requirement ids
    description: str
    apply: Apply


def _set(part: str, attr: str, value: object = True) -> Apply:
    def apply(knobs: Knobs) -> None:
        setattr(getattr(knobs, part), attr, value)

    return apply


def _pin_foreign(knobs: Knobs) -> None:
    knobs.masa.pin_cert = knobs.foreign_cert


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    # -- pledge --------------------------------------------------------------------------
    Mutant("pledge-accepts-other-serial", "pledge", ("RFC8995-5.6.1-MUST-02",),
           "the pledge accepts a voucher naming another serial-number",
           _set("pledge_quirks", "accept_other_serial")),
    Mutant("pledge-skips-pinning", "pledge", ("RFC8995-5.6.2-MUST-01",),
           "the pledge accepts a voucher whose pinned-domain-cert the registrar does not "
           "chain to", _set("pledge_quirks", "skip_pinning")),
    Mutant("pledge-skips-nonce-check", "pledge",
           ("RFC8995-5.6.1-MUST-03", "RFC8366-5.3-MUST-NOT-01"),
           "the pledge accepts a voucher carrying another request's nonce",
           _set("pledge_quirks", "skip_nonce_check")),
    Mutant("pledge-skips-signature-check", "pledge", ("RFC8995-5.6.1-MUST-01",),
           "the pledge accepts a voucher whose MASA signature does not verify",
           _set("pledge_quirks", "skip_signature_check")),
    Mutant("pledge-omits-nonce", "pledge", ("RFC8995-5.2-MUST-02",),
           "the pledge voucher-request carries no nonce",
           _set("pledge", "no_nonce")),
    Mutant("pledge-omits-proximity", "pledge", ("RFC8995-5.2-MUST-04",),
           "the pledge voucher-request asserts proximity without proximity-registrar-cert",
           _set("pledge", "omit_proximity")),
    Mutant("pledge-honours-long-retry-after", "pledge", ("RFC8995-5.6-MUST-02",),
           "the pledge waits the whole Retry-After of a 202, over 60 s too",
           _set("pledge_quirks", "uncapped_retry_after")),
    Mutant("pledge-changes-nonce-on-retry", "pledge", ("RFC8995-5.6-MUST-03",),
           "after a 202 the pledge sends a new voucher-request with a fresh nonce",
           _set("pledge", "new_nonce_on_retry")),
    Mutant("pledge-follows-many-redirects", "pledge", ("RFC8995-5.6-MUST-NOT-01",),
           "the pledge follows redirections from origin to origin without limit",
           _set("pledge_quirks", "follow_every_redirect")),
    Mutant("pledge-signs-with-other-key", "pledge", ("RFC8995-5.2-MUST-01",),
           "the pledge signs its voucher-request with a self-signed certificate, not its IDevID",
           _set("pledge", "foreign_signer")),
    Mutant("pledge-serial-nonce", "pledge", ("RFC8995-5.2-MUST-03",),
           "the pledge's nonce is a hash of its serial-number, the same every attempt",
           _set("pledge", "serial_nonce")),
    Mutant("pledge-rejects-unknown-leaves", "pledge", ("RFC8995-5.6.1-MUST-04",),
           "the pledge refuses a voucher carrying a leaf it does not know",
           _set("pledge_quirks", "reject_unknown_leaves")),
    Mutant("pledge-status-without-version", "pledge", ("RFC8995-5.7-MUST-01",),
           "the pledge's status telemetry has no version field",
           _set("pledge", "status_without_version")),
    Mutant("pledge-skips-csrattrs", "pledge", ("RFC8995-5.9.2-MUST-01",),
           "the pledge sends /simpleenroll without asking /csrattrs first",
           _set("pledge", "skip_csrattrs")),
    # -- registrar -----------------------------------------------------------------------
    Mutant("registrar-forwards-proximity", "registrar", ("RFC8995-5.5-MUST-NOT-01",),
           "the registrar voucher-request carries the pledge's proximity-registrar-cert",
           _set("registrar", "forward_proximity")),
    Mutant("registrar-skips-serial-check", "registrar", ("RFC8995-5.5-MUST-01",),
           "the registrar forwards a request whose serial-number is not the IDevID's",
           _set("registrar_quirks", "skip_serial_check")),
    Mutant("registrar-skips-proximity-check", "registrar", ("RFC8995-5.3-MUST-01",),
           "the registrar forwards a request whose proximity-registrar-cert is not its own",
           _set("registrar_quirks", "skip_proximity_check")),
    Mutant("registrar-skips-pvr-signer-check", "registrar", ("RFC8995-5.3-MUST-02",),
           "the registrar forwards a request signed by another key than the TLS client's",
           _set("registrar_quirks", "skip_pvr_signer_check")),
    Mutant("registrar-skips-csr-check", "registrar", ("RFC8995-5.9.2-MUST-02",),
           "the registrar enrolls a CSR that ignores the attributes it asked for",
           _set("registrar_quirks", "skip_csr_check")),
    Mutant("registrar-omits-prior-request", "registrar", ("RFC8995-5.5-MUST-02",),
           "the registrar voucher-request carries no prior-signed-voucher-request",
           _set("registrar", "omit_prior_request")),
    Mutant("registrar-signs-with-domain-ca", "registrar", ("RFC8995-5.5-MUST-03",),
           "the registrar signs its voucher-request with the domain CA's key, not its own",
           _set("registrar", "sign_with_domain_ca")),
    Mutant("registrar-wrong-voucher-type", "registrar", ("RFC8995-5.6-MUST-01",),
           "the registrar passes the voucher on as application/pkcs7-mime",
           _set("registrar", "voucher_content_type", "application/pkcs7-mime")),
    # -- MASA ----------------------------------------------------------------------------
    Mutant("masa-ignores-nonce", "masa", ("RFC8995-5.5.6-MUST-01",),
           "the MASA issues a nonceless voucher for a request with a nonce",
           _set("masa", "ignore_nonce")),
    Mutant("masa-stale-nonce", "masa", ("RFC8995-5.5.6-MUST-01",),
           "the MASA's voucher carries a nonce of no request of this pledge",
           _set("masa", "stale_nonce")),
    Mutant("masa-wrong-signing-key", "masa", ("RFC8366-5.4-MUST-01",),
           "the MASA signs vouchers with a key that is not its signer certificate's",
           _set("masa", "wrong_signing_key")),
    Mutant("masa-wrong-serial", "masa", ("RFC8366-5.3-MUST-01",),
           "the MASA's voucher names another serial-number than the request",
           _set("masa", "other_serial", OTHER_SERIAL)),
    Mutant("masa-skips-serial-check", "masa", ("RFC8995-5.5.5-MUST-01",),
           "the MASA vouches although the registrar's and the pledge's serial-numbers differ",
           _set("masa_quirks", "skip_serial_check")),
    Mutant("masa-pins-other-domain", "masa", ("RFC8995-5.5.4-MUST-01",),
           "the MASA pins a certificate of no registrar's domain",
           _pin_foreign),
    Mutant("masa-answers-201", "masa", ("RFC8995-5.6-MUST-04",),
           "the MASA answers a successful voucher request 201 Created, not 200",
           _set("masa", "success_status", 201)),
)}  # fmt: skip


def knobs_of(name: str | None, foreign_cert: x509.Certificate | None = None) -> Knobs:
    """The knobs of mutant `name` (the reference's when None); KeyError if unknown."""
    knobs = Knobs(foreign_cert=foreign_cert)
    if name:
        MUTANTS[name].apply(knobs)
    return knobs
