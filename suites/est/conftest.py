"""Fixtures of the EST suite: the testbeds for both DUT roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.backends import TestNetwork
from harness.campaign_state import Campaign
from harness.control import Controller, make_controller
from harness.control.builtin import builtin_factory
from harness.evidence import EvidenceDir
from harness.protocols.est.testbed import ClientDutBed, EstPkiSet, ServerDutBed


@pytest.fixture(scope="session")
def est_pki(campaign: Campaign, test_network: TestNetwork) -> EstPkiSet:
    hosts = test_network.node("peer").addresses
    return EstPkiSet.create(campaign.work_dir("est-pki"), hosts=hosts)


@pytest.fixture(scope="session")
def est_dut(campaign: Campaign, test_network: TestNetwork) -> Iterator[Controller]:
    controller = make_controller(campaign.dut, "est", builtin_factory, test_network.node("dut"))
    yield controller
    controller.stop()


@pytest.fixture
def client_bed(
    campaign: Campaign,
    est_dut: Controller,
    est_pki: EstPkiSet,
    evidence: EvidenceDir,
    quote: Callable[[str], str],
    test_network: TestNetwork,
) -> Iterator[ClientDutBed]:
    """DUT = EST client; the harness serves as EST server (call `serve()` first)."""
    section = campaign.dut.protocols["est"]
    ics = campaign.ics("est")
    bed = ClientDutBed(
        est_dut,
        est_pki,
        evidence,
        quote,
        campaign.capture_mode,
        oob={**section.oob, **est_dut.oob()},
        pop=bool(ics.get("EST-CLIENT-POP-LINKING")),
        network=test_network,
    )
    yield bed
    bed.close()


@pytest.fixture
def server_bed(
    campaign: Campaign,
    est_dut: Controller,
    evidence: EvidenceDir,
    quote: Callable[[str], str],
    test_network: TestNetwork,
) -> Iterator[ServerDutBed]:
    """DUT = EST server, not yet started (call `start()`); the harness is the client."""
    section = campaign.dut.protocols["est"]
    creds = section.credentials
    credentials = {
        "client_cert": str(creds.client_cert) if creds.client_cert else "",
        "client_key": str(creds.client_key) if creds.client_key else "",
        "trust_anchors": str(creds.trust_anchors) if creds.trust_anchors else "",
        "username": creds.username or "",
        "password": creds.password or "",
    }
    bed = ServerDutBed(
        est_dut,
        evidence,
        quote,
        campaign.capture_mode,
        endpoints=dict(section.endpoints),
        credentials={k: v for k, v in credentials.items() if v},
        network=test_network,
    )
    yield bed
    bed.close()
