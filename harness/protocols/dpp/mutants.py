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
    apply: Apply


@dataclass
class DeviceQuirks:
    """What the reference device around the protocol engines gets wrong when bent."""

    bad_uri_key: bool = False  # its URI's K: is a key on a curve DPP does not use
    dies_on_garbage: bool = False  # stops listening after a frame that is not DPP
    forgets_config: bool = False  # installs nothing it received
    reports_wrong_nak: bool = False  # reports a netAccessKey it never used
    tcp_category_octet: bool = False  # keeps the Category octet in DPP over TCP PDUs


Apply = Callable[[AuthQuirks, ConfigQuirks, DeviceQuirks], None]


def _set(obj: str, attr: str) -> Apply:
    def apply(auth: AuthQuirks, config: ConfigQuirks, device: DeviceQuirks) -> None:
        setattr({"auth": auth, "config": config, "device": device}[obj], attr, True)

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
    Mutant("bad-uri-key", "enrollee", ("DPP-5.2.1-MUST-01", "DPP-5.2.1-MUST-02"),
           "the bootstrapping URI carries a secp256k1 key, a curve DPP does not use",
           _set("device", "bad_uri_key")),
    Mutant("hashes-uncompressed-key", "configurator", ("DPP-6.3.3-MUST-01",),
           "the responder hashes its bootstrapping key's uncompressed point, not the SPKI",
           _set("auth", "hash_uncompressed")),
    Mutant("omits-status", "enrollee", ("DPP-6.3.3-MUST-02",),
           "the responder's Authentication Response has no DPP Status attribute",
           _set("auth", "omit_status")),
    Mutant("echoes-wrong-i-nonce", "configurator", ("DPP-6.3.3-MUST-06",),
           "the responder echoes an I-nonce that is not the initiator's",
           _set("auth", "bad_i_nonce_echo")),
    Mutant("wrong-r-auth", "enrollee", ("DPP-6.3.3-MUST-07",),
           "the responder's R-auth tag does not verify",
           _set("auth", "bad_r_auth")),
    Mutant("protocol-key-off-curve", "configurator", ("DPP-6.3.3-MUST-08", "DPP-6.3.2-MUST-02"),
           "the device's protocol key is not a point of its curve",
           _set("auth", "protocol_key_off_curve")),
    Mutant("ignores-roles", "configurator", ("DPP-6.3.3-MUST-09",),
           "the responder never answers STATUS_NOT_COMPATIBLE",
           _set("auth", "ignore_roles")),
    Mutant("never-mutual", "enrollee", ("DPP-6.3.3-MUST-12",),
           "the responder ignores the initiator's bootstrapping key it was given",
           _set("auth", "never_mutual")),
    Mutant("requests-wrong-hash", "enrollee", ("DPP-6.3.2-MUST-01",),
           "the initiator's request names a bootstrapping key hash of no key of the responder",
           _set("auth", "request_wrong_r_hash")),
    Mutant("wrong-i-auth", "configurator", ("DPP-6.3.4-MUST-06",),
           "the initiator's I-auth tag does not verify",
           _set("auth", "bad_i_auth")),
    Mutant("confirms-whatever", "enrollee", (
               "DPP-6.3.4-MUST-01", "DPP-6.3.4-MUST-02", "DPP-6.3.4-MUST-03",
               "DPP-6.3.4-MUST-04", "DPP-6.3.4-MUST-05", "DPP-6.3.4-MUST-07",
               "DPP-8.1-MUST-03"),
           "the initiator confirms with status OK whatever was wrong with the response",
           _set("auth", "confirm_whatever")),
    Mutant("tcp-category-octet", "enrollee", ("DPP-7-MUST-01", "DPP-6.3.3-MUST-02"),
           "DPP over TCP PDUs keep the 802.11 Category octet",
           _set("device", "tcp_category_octet")),
    Mutant("dies-on-garbage", "configurator", ("DPP-8.1-MUST-01",),
           "the device stops listening after a frame that is not DPP",
           _set("device", "dies_on_garbage")),
    Mutant("answers-unexpected", "configurator", ("DPP-8.1-MUST-02",),
           "the responder answers frames it should discard with STATUS_AUTH_FAILURE",
           _set("auth", "answer_unexpected")),
    Mutant("skips-e-nonce-check", "enrollee", ("DPP-6.4.3-MUST-01",),
           "the enrollee installs a configuration response whatever E-nonce it echoes",
           _set("config", "skip_e_nonce_check")),
    Mutant("result-ok-always", "enrollee", ("DPP-6.4.3-MUST-01", "DPP-6.4.3-MUST-02",
                                            "DPP-6.4.3-MUST-03"),
           "the enrollee reports Configuration Result OK after rejecting the response",
           _set("config", "result_ok_always")),
    Mutant("no-config-request", "enrollee", ("DPP-6.4.2-MUST-01",),
           "the enrollee never asks for its configuration",
           _set("config", "no_config_request")),
    Mutant("attributes-without-netrole", "enrollee", ("DPP-6.4.2-MUST-02",),
           "the enrollee's Configuration Request object has no netRole",
           _set("config", "attrs_without_netrole")),
    Mutant("no-config-result", "enrollee", ("DPP-6.4.4-MUST-01",),
           "the R2 enrollee sends no Configuration Result",
           _set("config", "no_config_result")),
    Mutant("forgets-configuration", "enrollee", ("DPP-6.4.3-MUST-04",),
           "the enrollee installs nothing it received",
           _set("device", "forgets_config")),
    Mutant("reports-other-netaccesskey", "enrollee", ("DPP-6.4.3-MUST-05",),
           "the enrollee keeps a netAccessKey that is not its protocol key",
           _set("device", "reports_wrong_nak")),
    Mutant("echoes-wrong-e-nonce", "configurator", ("DPP-6.4.3-MUST-06",),
           "the configurator echoes an E-nonce that is not the enrollee's",
           _set("config", "wrong_e_nonce_echo")),
    Mutant("object-without-ssid", "configurator", ("DPP-4.5-MUST-01",),
           "the configuration object has no discovery object (no SSID)",
           _set("config", "object_without_ssid")),
    Mutant("connector-for-other-key", "configurator", ("DPP-6.4.3-MUST-07",),
           "the connector's netAccessKey is not the enrollee's protocol key",
           _set("config", "connector_other_key")),
    Mutant("netrole-ap", "configurator", ("DPP-4.2-MUST-02",),
           "the connector grants netRole ap whatever the enrollee asked for",
           _set("config", "netrole_ap")),
    Mutant("configures-undecryptable", "configurator", ("DPP-6.4.3-MUST-08",),
           "the configurator answers status OK to a request that did not unwrap",
           _set("config", "answers_bad_request")),
    Mutant("jws-alg-mismatch", "configurator", ("DPP-6.4.3-MUST-09", "DPP-4.2-MUST-01"),
           "the connector's JWS alg is ES384 over a P-256 C-sign key",
           _set("config", "connector_alg_mismatch")),
)}  # fmt: skip


def quirks_of(name: str | None) -> tuple[AuthQuirks, ConfigQuirks, DeviceQuirks]:
    auth, config, device = AuthQuirks(), ConfigQuirks(), DeviceQuirks()
    if name:
        MUTANTS[name].apply(auth, config, device)
    return auth, config, device
