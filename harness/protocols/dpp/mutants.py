"""Named mutants of the reference DPP implementation, each breaking named requirements.

A mutant flips `AuthQuirks` / `ConfigQuirks` hooks that the reference consults at a few
named points (harness/protocols/dpp/auth.py, config.py), so there is one implementation
to keep correct. `breaks` names requirements of suites/dpp/requirements.yaml; the
self-test shows each test failing on the mutant built to break it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.protocols.dpp.auth import AuthQuirks
from harness.protocols.dpp.config import ConfigQuirks


@dataclass(frozen=True)
class Mutant:
    name: str
    role: str  # the DUT role the mutant plays: enrollee or configurator
    breaks: tuple[str, ...]  # requirement ids
    description: str
    apply: Callable[[AuthQuirks, ConfigQuirks], None]


def _set(obj: str, attr: str) -> Callable[[AuthQuirks, ConfigQuirks], None]:
    def apply(auth: AuthQuirks, config: ConfigQuirks) -> None:
        setattr(auth if obj == "auth" else config, attr, True)

    return apply


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("skips-i-nonce-check", "enrollee", ("DPP-6.3.4-MUST-01",),
           "the initiator accepts a response that echoes another I-nonce",
           _set("auth", "skip_i_nonce_check")),
    Mutant("skips-r-auth-check", "enrollee", ("DPP-6.3.4-MUST-02",),
           "the initiator confirms a response whose R-auth does not verify",
           _set("auth", "skip_r_auth_check")),
    Mutant("accepts-unknown-hash", "configurator", ("DPP-6.3.3-MUST-03",),
           "the responder answers requests for bootstrapping keys it does not have",
           _set("auth", "accept_unknown_r_hash")),
    Mutant("accepts-invalid-point", "configurator", ("DPP-6.3.3-MUST-04", "DPP-6.3.4-MUST-05"),
           "the peer rebuilds a protocol key from its x coordinate, never checking y",
           _set("auth", "skip_point_check")),
    Mutant("answers-after-failure", "configurator",
           ("DPP-6.3.3-MUST-05", "DPP-6.3.3-MUST-04", "DPP-6.3.3-MUST-10"),
           "the responder answers status OK whatever check of the request failed",
           _set("auth", "answer_after_failure")),
    Mutant("reuses-protocol-key", "configurator", ("DPP-6.3.3-MUST-11", "DPP-6.3.2-MUST-03"),
           "the device uses one protocol key for every exchange",
           _set("auth", "reuse_protocol_key")),
    Mutant("skips-i-auth-check", "configurator", ("DPP-6.3.4-MUST-08",),
           "the responder goes on to configuration although I-auth does not verify",
           _set("auth", "skip_i_auth_check")),
    Mutant("signs-with-wrong-key", "configurator", ("DPP-4.2-MUST-01",),
           "the configurator signs connectors with a key that is not its C-sign key",
           _set("config", "sign_with_wrong_key")),
    Mutant("installs-bad-connector", "enrollee", ("DPP-6.4.3-MUST-02",),
           "the enrollee installs a connector that does not verify with the C-sign key",
           _set("config", "skip_connector_check")),
)}  # fmt: skip


def quirks_of(name: str | None) -> tuple[AuthQuirks, ConfigQuirks]:
    auth, config = AuthQuirks(), ConfigQuirks()
    if name:
        MUTANTS[name].apply(auth, config)
    return auth, config
