"""DUT = DPP configurator in the Configuration protocol (DPP §6.4); the tester is the
enrollee and checks what it is given: configuration object, connector, C-sign key."""

from __future__ import annotations

import base64
import json

import pytest

from harness.campaign_state import KnowledgeLog
from harness.protocols.dpp.config import ConfigBehaviour
from harness.protocols.dpp.exchange import ConfigSide, Exchange
from harness.protocols.dpp.suite_support import with_dut_in_role
from harness.protocols.dpp.testbed import DppBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("dpp", "configurator")


def _enrol(bed: DppBed, ics: dict[str, object], behaviour: ConfigBehaviour | None = None
           ) -> Exchange:  # fmt: skip
    return with_dut_in_role(bed, "configurator", ics,
                            ConfigSide(behaviour=behaviour or ConfigBehaviour()))


def _header(connector: str) -> dict[str, object]:
    part = connector.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.mark.requirement("DPP-6.4.3-MUST-06", "DPP-4.5-MUST-01")
def test_configuration_response(dpp_bed: DppBed, dpp_ics: dict[str, object],
                                knowledge: KnowledgeLog) -> None:
    """A valid request gets a GAS Initial Response with DPP Status OK and wrapped data
    echoing the E-nonce, holding a configuration object with wi-fi_tech, ssid, akm."""
    ex = _enrol(dpp_bed, dpp_ics)
    gas = dpp_bed.wire().all(dpp_bed.gas_filter(11))
    check(gas, f"no GAS Initial Response decoded as DPP: {ex.summary()}", "DPP-6.4.3-MUST-06")
    got = ex.received
    check(got is not None and got.status == 0, f"no configuration with status OK: "
          f"{ex.summary()}", "DPP-6.4.3-MUST-06", frames=[f.line() for f in gas])
    assert got is not None
    check(got.objects, "no configuration object", "DPP-4.5-MUST-01")
    obj = got.objects[0]
    check(obj.wifi_tech == "infra" and obj.ssid and obj.akm,
          f"configuration object without wi-fi_tech/ssid/akm: {obj.raw}", "DPP-4.5-MUST-01")
    knowledge.record("ssid", "pass", obj.ssid)


@pytest.mark.requirement(
    "DPP-4.2-MUST-01", "DPP-6.4.3-MUST-07", "DPP-4.2-MUST-02", "DPP-6.4.3-MUST-09")
@pytest.mark.ics("DPP-CONNECTOR")
def test_connector(dpp_bed: DppBed, dpp_ics: dict[str, object],
                   knowledge: KnowledgeLog) -> None:
    """The connector is a dppCon JWS that verifies with the csign JWK, its netAccessKey
    is the tester's protocol key and its group netRole is the one asked for."""
    ex = _enrol(dpp_bed, dpp_ics)
    got = ex.received
    if got is None or not got.objects:
        inconclusive(f"no configuration object: {ex.summary()}")
    assert got is not None
    obj = got.objects[0]
    check(obj.connector, f"no signedConnector in a DPP AKM object: {obj.raw}", "DPP-4.2-MUST-01")
    header = _header(obj.connector or "")
    check(header.get("typ") == "dppCon", f"JWS header typ {header.get('typ')!r}",
          "DPP-4.2-MUST-01")
    check(header.get("alg") == "ES256", f"JWS alg {header.get('alg')!r} for a P-256 "
          "C-sign key", "DPP-6.4.3-MUST-09")
    error = got.connector_error or ""
    check("verify" not in error or "netAccessKey" in error, error, "DPP-4.2-MUST-01")
    check(got.connector_payload is not None, error or "no connector payload", "DPP-4.2-MUST-01")
    check("netAccessKey" not in error, error, "DPP-6.4.3-MUST-07")
    groups = (got.connector_payload or {}).get("groups") or []
    roles = [g.get("netRole") for g in groups if isinstance(g, dict)]
    check("sta" in roles, f"connector groups {groups}: no netRole 'sta'", "DPP-4.2-MUST-02")
    knowledge.record("connector", "pass", f"verifies with C-sign key kid={header.get('kid')}")


@pytest.mark.requirement("DPP-6.4.3-MUST-08")
def test_bad_request_gets_nothing(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """A Configuration Request whose wrapped data does not unwrap gets no configuration."""
    ex = _enrol(dpp_bed, dpp_ics, ConfigBehaviour(tamper_wrapped=True))
    check(ex.first("tx", "conf-req") is not None, f"no request sent: {ex.summary()}",
          "DPP-6.4.3-MUST-08")
    check(ex.received is None or not ex.received.objects,
          f"the DUT configured a request that does not unwrap: {ex.summary()}",
          "DPP-6.4.3-MUST-08")
