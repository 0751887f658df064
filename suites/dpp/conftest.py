"""Fixtures of the DPP suite: the DUT controller and one testbed per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.backends import TestNetwork
from harness.campaign_state import Campaign
from harness.control import Controller, make_controller
from harness.control.builtin import builtin_factory
from harness.evidence import EvidenceDir
from harness.protocols.dpp.testbed import DppBed


@pytest.fixture(scope="session")
def dpp_dut(campaign: Campaign, test_network: TestNetwork) -> Iterator[Controller]:
    controller = make_controller(campaign.dut, "dpp", builtin_factory, test_network.node("dut"))
    yield controller
    controller.stop()


@pytest.fixture
def dpp_bed(
    request: pytest.FixtureRequest,
    campaign: Campaign,
    dpp_dut: Controller,
    evidence: EvidenceDir,
    quote: object,
    test_network: TestNetwork,
) -> Iterator[DppBed]:
    section = campaign.dut.protocols["dpp"]
    work = campaign.work_dir(f"dpp-{request.node.name}"[:100])
    bed = DppBed(dpp_dut, evidence, quote, campaign.capture_mode, test_network,  # type: ignore[arg-type]
                 oob={**section.oob, **dpp_dut.oob()}, work=work,
                 ics=dict(campaign.ics("dpp")))  # fmt: skip
    yield bed
    bed.close()


def _role_params() -> list[object]:
    return [pytest.param(role, marks=pytest.mark.dut_role("dpp", role), id=role)
            for role in ("enrollee", "configurator")]


@pytest.fixture(params=_role_params())
def dut_role(request: pytest.FixtureRequest) -> str:
    """The DUT's DPP role, for tests that apply to both (authentication, bootstrapping)."""
    return str(request.param)


@pytest.fixture
def dpp_ics(campaign: Campaign) -> dict[str, object]:
    return dict(campaign.ics("dpp"))
