"""Mutants of the reference bootstrap server: each breaks named requirements of
suites/sztp/requirements.yaml and nothing else (tests/test_selftest_sztp.py)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.protocols.sztp.server import ServerBehaviour


@dataclass(frozen=True)
class Mutant:
    description: str
    behaviour: ServerBehaviour
    breaks: tuple[str, ...]


MUTANTS: dict[str, Mutant] = {
    "serves-unknown-serial": Mutant(
        "a serial number it was not configured for gets another device's data",
        ServerBehaviour(serve_unknown=True),
        ("RFC8572-7.3-MUST-05", "RFC8040-2.5-SHOULD-02"),
    ),
    "ignores-signed-data-preferred": Mutant(
        "signed-data-preferred changes nothing: unsigned onboarding information is served",
        ServerBehaviour(ignore_signed_preferred=True),
        ("RFC8572-7.3-MUST-01", "RFC8572-7.3-MUST-NOT-01"),
    ),
    "trusts-any-configured-ca": Mutant(
        "client certificates are verified against every certificate of its configuration",
        ServerBehaviour(trust_all_configured=True),
        ("RFC8572-5.3-MUST-01",),
    ),
    "wrong-content-type": Mutant(
        "unsigned conveyed information wrapped as id-data instead of id-ct-sztpConveyedInfoJSON",
        ServerBehaviour(content_type="1.2.840.113549.1.7.1"),
        ("RFC8572-3.1-MUST-01",),
    ),
    "accepts-bad-input": Mutant(
        "input the YANG module refuses (nonce length, progress type) is answered as valid",
        ServerBehaviour(accept_bad_input=True),
        ("RFC8572-7.3-MUST-03", "RFC8572-7.3-MUST-04", "RFC8040-7-MUST-01"),
    ),
    "owner-certificate-mismatch": Mutant(
        "the owner certificate returned is not the one whose key signed the conveyed information",
        ServerBehaviour(foreign_owner_certificate=True),
        ("RFC8572-3.2-MUST-01",),
    ),
    "trust-anchor-without-root": Mutant(
        "redirect trust anchors lose their self-signed root certificate",
        ServerBehaviour(drop_anchor_root=True),
        ("RFC8572-6.3-MUST-01",),
    ),
}


def behaviour_of(name: str | None) -> ServerBehaviour:
    return MUTANTS[name].behaviour if name else ServerBehaviour()
