"""Fixtures of the SZTP suite: the testbeds with the DUT as bootstrap server or device."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.backends import TestNetwork
from harness.campaign_state import Campaign
from harness.control import Controller, make_controller
from harness.control.builtin import builtin_factory
from harness.evidence import EvidenceDir
from harness.protocols.sztp.device_bed import DeviceDutBed
from harness.protocols.sztp.testbed import BootstrapServerBed, SztpPkiSet


@pytest.fixture(scope="session")
def sztp_pki(campaign: Campaign) -> SztpPkiSet:
    return SztpPkiSet.create(campaign.work_dir("sztp-pki"))


@pytest.fixture(scope="session")
def sztp_dut(campaign: Campaign, test_network: TestNetwork) -> Iterator[Controller]:
    controller = make_controller(campaign.dut, "sztp", builtin_factory, test_network.node("dut"))
    yield controller
    controller.stop()


@pytest.fixture
def server_bed(
    campaign: Campaign,
    sztp_dut: Controller,
    sztp_pki: SztpPkiSet,
    evidence: EvidenceDir,
    quote: Callable[[str], str],
    test_network: TestNetwork,
) -> Iterator[BootstrapServerBed]:
    """DUT = bootstrap server, not yet started (call `start()`); the harness is the device."""
    ics = campaign.ics("sztp")
    bed = BootstrapServerBed(
        sztp_dut, sztp_pki, evidence, quote, campaign.capture_mode,
        signed=bool(ics.get("SZTP-SERVER-SIGNED-DATA")),
        activation_code=bool(ics.get("SZTP-SERVER-ACTIVATION-CODE")),
        network=test_network,
    )  # fmt: skip
    yield bed
    bed.close()


@pytest.fixture
def device_bed(
    campaign: Campaign,
    sztp_dut: Controller,
    sztp_pki: SztpPkiSet,
    evidence: EvidenceDir,
    quote: Callable[[str], str],
    test_network: TestNetwork,
) -> Iterator[DeviceDutBed]:
    """DUT = device; the harness is the bootstrap server (call `serve()` first)."""
    bed = DeviceDutBed(sztp_dut, sztp_pki, evidence, quote, campaign.capture_mode,
                       network=test_network)
    yield bed
    bed.close()
