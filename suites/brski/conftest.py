"""Fixtures of the BRSKI suite: the DUT controller and one testbed per DUT role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.backends import TestNetwork
from harness.campaign_state import Campaign
from harness.control import Controller, make_controller
from harness.control.builtin import builtin_factory
from harness.evidence import EvidenceDir
from harness.protocols.brski.suite_support import MasaDutBed, PledgeDutBed, RegistrarDutBed


@pytest.fixture(scope="session")
def brski_dut(campaign: Campaign, test_network: TestNetwork) -> Iterator[Controller]:
    controller = make_controller(campaign.dut, "brski", builtin_factory,
                                 test_network.node("dut"))  # fmt: skip
    yield controller
    controller.stop()


@pytest.fixture
def pledge_bed(campaign: Campaign, brski_dut: Controller, evidence: EvidenceDir,
               quote: Callable[[str], str], test_network: TestNetwork
               ) -> Iterator[PledgeDutBed]:  # fmt: skip
    """DUT = pledge; the harness serves as registrar and MASA (call `serve()` first)."""
    bed = PledgeDutBed(brski_dut, evidence, quote, campaign.capture_mode,
                       network=test_network)
    yield bed
    bed.close()


@pytest.fixture
def registrar_bed(campaign: Campaign, brski_dut: Controller, evidence: EvidenceDir,
                  quote: Callable[[str], str], test_network: TestNetwork
                  ) -> Iterator[RegistrarDutBed]:  # fmt: skip
    """DUT = registrar; the harness plays pledge and MASA (call `start()` first)."""
    bed = RegistrarDutBed(brski_dut, evidence, quote, campaign.capture_mode,
                          network=test_network)
    yield bed
    bed.close()


@pytest.fixture
def masa_bed(campaign: Campaign, brski_dut: Controller, evidence: EvidenceDir,
             quote: Callable[[str], str], test_network: TestNetwork
             ) -> Iterator[MasaDutBed]:  # fmt: skip
    """DUT = MASA; the harness is the registrar (call `start()` first)."""
    bed = MasaDutBed(brski_dut, evidence, quote, campaign.capture_mode,
                     network=test_network)
    yield bed
    bed.close()
