"""DUT = DPP configurator in the Configuration protocol (DPP §6.4); the tester is the
enrollee and checks what it is given: configuration object, connector, C-sign key."""

from __future__ import annotations

import base64
import json

import pytest

from harness.campaign_state import KnowledgeLog
from harness.protocols.dpp.config import ConfigBehaviour, Received
from harness.protocols.dpp.exchange import ConfigSide, Exchange
from harness.protocols.dpp.suite_support import with_dut_in_role
from harness.protocols.dpp.testbed import DppBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("dpp", "configurator")


def _enrol(bed: DppBed, ics: dict[str, object], behaviour: ConfigBehaviour | None = None
           ) -> Exchange:  # fmt: skip
    ex = with_dut_in_role(bed, "configurator", ics,
                          ConfigSide(behaviour=behaviour or ConfigBehaviour()))
    if ex.first("tx", "conf-req") is None:  # authentication is judged by its own tests
        inconclusive(f"the exchange ended before configuration: {ex.summary()}")
    return ex


def _header(connector: str) -> dict[str, object]:
    part = connector.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.mark.requirement("DPP-6.4.3-MUST-06", "DPP-4.5-MUST-01")
def test_configuration_response(dpp_bed: DppBed, dpp_ics: dict[str, object],
                                knowledge: KnowledgeLog) -> None:
    """A valid request gets a GAS Initial Response with DPP Status OK and wrapped data
    echoing the E-nonce, holding a configuration object with wi-fi_tech, ssid, akm."""
    ex = _enrol(dpp_bed, dpp_ics)
    gas = dpp_bed.wire().all(dpp_bed.gas(11))
    check(gas, f"no GAS Initial Response decoded as DPP: {ex.summary()}", "DPP-6.4.3-MUST-06")
    got = ex.received
    check(got is not None and got.status == 0, f"no configuration with status OK: "
          f"{ex.summary()}", "DPP-6.4.3-MUST-06", frames=[f.line() for f in gas])
    assert got is not None
    check(got.objects, "no configuration object", "DPP-4.5-MUST-01")
    check(not got.object_errors, "; ".join(got.object_errors), "DPP-4.5-MUST-01")
    obj = got.objects[0]
    check(obj.wifi_tech == "infra" and obj.ssid and obj.akm,
          f"configuration object without wi-fi_tech/ssid/akm: {obj.raw}", "DPP-4.5-MUST-01")
    knowledge.record("ssid", "pass", obj.ssid)


def _connector(bed: DppBed, ics: dict[str, object]) -> tuple[Received, dict[str, object]]:
    """The configuration the DUT gave the tester and its connector's JWS header."""
    ex = _enrol(bed, ics)
    got = ex.received
    if got is None or not got.objects:
        inconclusive(f"no configuration object: {ex.summary()}")
    assert got is not None
    connector = got.objects[0].connector
    if not connector:
        inconclusive(f"no signedConnector in the configuration object: {got.objects[0].raw}")
    try:
        return got, _header(connector or "")
    except ValueError as exc:
        return got, {"unreadable": str(exc)}


@pytest.mark.requirement("DPP-4.2-MUST-01")
@pytest.mark.ics("DPP-CONNECTOR")
def test_connector_jws(dpp_bed: DppBed, dpp_ics: dict[str, object],
                       knowledge: KnowledgeLog) -> None:
    """The connector is a JWS (typ dppCon) that verifies with the csign JWK."""
    got, header = _connector(dpp_bed, dpp_ics)
    req = "DPP-4.2-MUST-01"
    check(header.get("typ") == "dppCon", f"JWS header {header}: typ is not dppCon", req)
    error = got.connector_error or ""
    check(not error or "netAccessKey" in error, error, req)
    check(got.connector_payload is not None, error or "no connector payload", req)
    knowledge.record("connector", "pass", f"verifies with C-sign key kid={header.get('kid')}")


@pytest.mark.requirement("DPP-6.4.3-MUST-09")
@pytest.mark.ics("DPP-CONNECTOR")
def test_connector_curve(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """The JWS algorithm is the one of the C-sign key's curve (ES256 for P-256)."""
    got, header = _connector(dpp_bed, dpp_ics)
    csign = got.objects[0].csign or {}
    want = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(str(csign.get("crv")))
    check(want is not None and header.get("alg") == want, f"JWS alg {header.get('alg')!r} "
          f"for a C-sign key on {csign.get('crv')!r}", "DPP-6.4.3-MUST-09")


@pytest.mark.requirement("DPP-6.4.3-MUST-07")
@pytest.mark.ics("DPP-CONNECTOR")
def test_connector_net_access_key(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """The connector's netAccessKey is the tester enrollee's protocol key."""
    got, _ = _connector(dpp_bed, dpp_ics)
    error = got.connector_error or ""
    if got.connector_payload is None and "netAccessKey" not in error:
        inconclusive(f"the connector does not verify, so its payload proves nothing: {error}")
    check("netAccessKey" not in error, error, "DPP-6.4.3-MUST-07")


@pytest.mark.requirement("DPP-4.2-MUST-02")
@pytest.mark.ics("DPP-CONNECTOR")
def test_connector_net_role(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """The connector's groups give the netRole the tester asked for (sta)."""
    got, _ = _connector(dpp_bed, dpp_ics)
    if got.connector_payload is None:
        inconclusive(f"the connector does not verify: {got.connector_error}")
    groups = (got.connector_payload or {}).get("groups") or []
    roles = [g.get("netRole") for g in groups if isinstance(g, dict)]
    check("sta" in roles, f"connector groups {groups}: no netRole 'sta'", "DPP-4.2-MUST-02")


@pytest.mark.requirement("DPP-6.4.3-MUST-08")
def test_bad_request_gets_nothing(dpp_bed: DppBed, dpp_ics: dict[str, object]) -> None:
    """A Configuration Request whose wrapped data does not unwrap gets no configuration."""
    ex = _enrol(dpp_bed, dpp_ics, ConfigBehaviour(tamper_wrapped=True))
    if ex.first("tx", "conf-req") is None:
        inconclusive(f"the exchange ended before the tester's request: {ex.summary()}")
    answers = [f for f in dpp_bed.wire().all(dpp_bed.gas(11))
               if dpp_bed.sent_by_dut(f) and f.get_int("dpp.status") == 0]
    check(not answers, "the DUT answered DPP Status OK to a request that does not unwrap",
          "DPP-6.4.3-MUST-08", frames=[f.line() for f in answers])
    check(ex.received is None or not ex.received.objects,
          f"the DUT configured a request that does not unwrap: {ex.summary()}",
          "DPP-6.4.3-MUST-08")
