"""DUT = DPP enrollee in the Configuration protocol (DPP §6.4); the tester configures it.

What the DUT installed is read through its `received` action (the knowledge imparted);
what it sent on the wire from tshark's dissection and the tester's unwrapping.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from harness.campaign_state import KnowledgeLog
from harness.protocols.dpp import connector, crypto
from harness.protocols.dpp.config import ConfigBehaviour, Configurator
from harness.protocols.dpp.exchange import ConfigSide, Exchange
from harness.protocols.dpp.suite_support import SSID, with_dut_in_role
from harness.protocols.dpp.testbed import DppBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("dpp", "enrollee")


def _configure(bed: DppBed, ics: dict[str, object], ssid: str = SSID,
               behaviour: ConfigBehaviour | None = None) -> Exchange:  # fmt: skip
    configurator = Configurator.generate("P-256", ssid=ssid)
    bed.tester_configurator = configurator
    side = ConfigSide(configurator=configurator, behaviour=behaviour or ConfigBehaviour())
    return with_dut_in_role(bed, "enrollee", ics, side)


def _configured(ex: Exchange) -> None:
    """The tester sent a Configuration Response, else there is nothing to judge."""
    if ex.first("tx", "conf-resp") is None:
        inconclusive(f"the tester sent no Configuration Response: {ex.summary()}")


@pytest.mark.requirement("DPP-6.4.2-MUST-01", "DPP-6.4.2-MUST-02")
def test_configuration_request(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """After authentication the enrollee sends a GAS Initial Request with the DPP
    advertisement protocol; inside: an E-nonce and a Configuration Request object."""
    ex = _configure(dpp_bed, dpp_ics)
    if ex.keys is None:  # authentication is judged by its own tests
        inconclusive(f"the exchange ended before configuration: {ex.summary()}")
    gas = dpp_bed.wire().all(dpp_bed.gas(10))
    check(gas, f"no GAS Initial Request decoded as DPP: {ex.summary()}", "DPP-6.4.2-MUST-01")
    attrs = ex.config_request or {}
    for key in ("name", "wi-fi_tech", "netRole"):
        check(key in attrs, f"the Configuration Request object has no {key!r}: {attrs}",
              "DPP-6.4.2-MUST-02", frames=[f.line() for f in gas])
    check(len(ex.e_nonce) == 16, f"E-nonce of {len(ex.e_nonce)} octets, P-256 needs 16",
          "DPP-6.4.2-MUST-02")


@pytest.mark.requirement("DPP-6.4.4-MUST-01")
@pytest.mark.ics("DPP-R2")
def test_configuration_result(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """After a valid Configuration Response the enrollee sends a Configuration Result
    with DPP Status OK and the E-nonce."""
    ex = _configure(dpp_bed, dpp_ics)
    _configured(ex)
    check(ex.result_status == 0, f"Configuration Result status {ex.result_status}: "
          f"{ex.summary()}", "DPP-6.4.4-MUST-01")


@pytest.mark.requirement("DPP-6.4.3-MUST-04", "DPP-6.4.3-MUST-05")
def test_installs_configuration(dpp_bed: DppBed, dpp_ics: dict[str, object],
                                knowledge: KnowledgeLog) -> None:
    """The enrollee installs the SSID, AKM, connector and C-sign key it received, and
    its netAccessKey is the protocol key it authenticated with."""
    ex = _configure(dpp_bed, dpp_ics)
    _configured(ex)
    got = dpp_bed.received()
    if got is None:
        fail(f"the DUT reports no configuration after {ex.summary()}", "DPP-6.4.3-MUST-04")
    assert got is not None
    check(got.get("ssid") == SSID, f"installed SSID {got.get('ssid')!r}, sent {SSID!r}",
          "DPP-6.4.3-MUST-04")
    knowledge.record("ssid", "pass", str(got.get("ssid")))
    check(got.get("connector"), "no connector installed", "DPP-6.4.3-MUST-04")
    knowledge.record("connector", "pass", str(got.get("connector"))[:60] + "...")
    check(got.get("c_sign_key"), "no C-sign key installed", "DPP-6.4.3-MUST-04")
    assert dpp_bed.tester_configurator is not None
    sent = dpp_bed.tester_configurator.csign.public_key()
    check(str(got.get("c_sign_key")).lower() == crypto.spki_der(sent).hex(),
          "the installed C-sign key is not the configurator's", "DPP-6.4.3-MUST-04")
    try:
        connector.verify_connector(str(got.get("connector")), sent)
    except crypto.DppCryptoError as exc:
        fail(f"the installed connector does not verify with the C-sign key: {exc}",
             "DPP-6.4.3-MUST-04")
    knowledge.record("c-sign-key", "pass", "the configurator's; the connector verifies with it")
    nak = got.get("net_access_key")
    if not nak or ex.keys is None or ex.keys.peer_protocol_key is None:
        inconclusive(f"no netAccessKey to compare (reported {bool(nak)})")
    try:
        key = serialization.load_der_private_key(bytes.fromhex(str(nak)), None)
    except ValueError as exc:
        fail(f"the netAccessKey is not a DER private key: {exc}", "DPP-6.4.3-MUST-05")
    same = crypto.point_xy(key.public_key()) == crypto.point_xy(ex.keys.peer_protocol_key)  # type: ignore[arg-type, union-attr]
    check(same, "the installed netAccessKey is not the protocol key of the authentication",
          "DPP-6.4.3-MUST-05")
    knowledge.record("netAccessKey", "pass", "the enrollee's protocol key")


@pytest.mark.parametrize("probe", [
    pytest.param(ConfigBehaviour(wrong_e_nonce=True),
                 marks=pytest.mark.requirement("DPP-6.4.3-MUST-01"), id="e-nonce"),
    pytest.param(ConfigBehaviour(sign_with=crypto.generate_key(crypto.CURVES["P-256"])),
                 marks=[pytest.mark.requirement("DPP-6.4.3-MUST-02"),
                        pytest.mark.ics("DPP-CONNECTOR")], id="connector"),
    pytest.param(ConfigBehaviour(tamper_wrapped=True),
                 marks=pytest.mark.requirement("DPP-6.4.3-MUST-03"), id="wrap"),
])  # fmt: skip
def test_bad_response_not_installed(dpp_bed: DppBed, dpp_ics: dict[str, object],
                                    probe: ConfigBehaviour, request: pytest.FixtureRequest
                                    ) -> None:  # fmt: skip
    """A Configuration Response the enrollee must reject is not installed."""
    req = request.node.get_closest_marker("requirement").args[0]
    ssid = "onboardcheck-must-not-install"
    ex = _configure(dpp_bed, dpp_ics, ssid=ssid, behaviour=probe)
    _configured(ex)
    if ex.result_status == 0:
        fail(f"the DUT reported Configuration Result OK for a response it must reject: "
             f"{ex.summary()}", req)
    got = dpp_bed.received()
    if got is not None and got.get("ssid") == ssid:
        fail(f"the DUT installed the configuration of a response it must reject: {got}", req)
