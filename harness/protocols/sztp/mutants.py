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
        ("RFC8572-6.3-MUST-01", "RFC8572-3.1-MUST-02"),
    ),
    "serves-anonymous-client": Mutant(
        "a client without a certificate is served the first configured device's data",
        ServerBehaviour(serve_anonymous=True),
        ("RFC8040-2.5-MUST-01", "RFC8040-2.5-SHOULD-01"),
    ),
    "refuses-with-403": Mutant(
        "an unauthenticated client is refused with 403 Forbidden instead of 401",
        ServerBehaviour(refusal_status=403),
        ("RFC8040-2.5-SHOULD-01",),
    ),
    "ignores-activation-code": Mutant(
        "a device configured with an activation code is served without HTTP Basic credentials",
        ServerBehaviour(ignore_activation_code=True),
        ("RFC8572-5.3-MUST-02",),
    ),
    "redirect-default-port": Mutant(
        "redirect information names the configured address on port 443, not the configured port",
        ServerBehaviour(default_redirect_port=True),
        ("RFC8572-3.1-MUST-02",),
    ),
    "trust-anchor-extra-chain": Mutant(
        "redirect trust anchors also carry its device CA certificates: more than one chain",
        ServerBehaviour(anchor_extra_certs=True),
        ("RFC8572-6.3-MUST-02", "RFC8572-3.1-MUST-02"),
    ),
    "plain-json-media-type": Mutant(
        "answers with Content-Type application/json instead of application/yang-data+json",
        ServerBehaviour(media_type="application/json"),
        ("RFC8572-7.3-MUST-02",),
    ),
    "owner-signed-voucher": Mutant(
        "the ownership voucher is re-signed with the owner's key instead of the manufacturer's",
        ServerBehaviour(self_signed_voucher=True),
        ("RFC8572-3.3-MUST-01",),
    ),
    "omits-ownership-voucher": Mutant(
        "signed conveyed information comes with the owner certificate but no ownership voucher",
        ServerBehaviour(omit_voucher=True),
        ("RFC8572-7.3-MUST-06", "RFC8572-3.3-MUST-01"),
    ),
    "progress-answered-200": Mutant(
        "report-progress is answered 200 with an empty output instead of 204 No Content",
        ServerBehaviour(progress_output=True),
        ("RFC8572-7.3-MUST-07",),
    ),
}


def behaviour_of(name: str | None) -> ServerBehaviour:
    return MUTANTS[name].behaviour if name else ServerBehaviour()
