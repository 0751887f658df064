"""Frames that are valid but not expected in the DUT's current protocol state: the DUT
discards them (DPP §8.1, paraphrased) and stays able to run a valid exchange."""

from __future__ import annotations

import pytest

from harness.protocols.dpp.auth import AuthBehaviour, Initiator
from harness.protocols.dpp.config import ConfigBehaviour
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.exchange import ConfigSide, EnrolleeConfig, kind_of
from harness.protocols.dpp.frames import encode_frame
from harness.protocols.dpp.suite_support import (
    DUT_CONF,
    Arranged,
    again,
    counterpart_role,
    from_initiator,
)
from harness.protocols.dpp.testbed import DppBed
from harness.protocols.dpp.transport import LinkClosed
from harness.verdicts import check, fail, inconclusive

PROBE_WAIT = 2.0  # seconds the tester waits for an answer the DUT must not send


def _config_request_without_auth() -> bytes:
    """A well-formed GAS Configuration Request under keys no exchange agreed on."""
    from harness.protocols.dpp.auth import AuthKeys

    keys = AuthKeys("P-256", b"\0" * 16, b"\0" * 16, b"\1" * 32, b"\2" * 32, b"\3" * 32, False)
    return EnrolleeConfig(keys, behaviour=ConfigBehaviour()).request()


@pytest.mark.requirement("DPP-8.1-MUST-02")
@pytest.mark.ics("DPP-RESPONDER")
def test_responder_idle_discards(dpp_bed: DppBed, dut_role: str) -> None:
    """With no exchange under way: an Authentication Confirm and a Configuration Request
    get no answer, and a valid exchange right after succeeds."""
    req = "DPP-8.1-MUST-02"
    info = dpp_bed.dut_uri()
    dpp_bed.dut_listens(dut_role, **(DUT_CONF if dut_role == "configurator" else {}))
    probes = {
        "an Authentication Confirm": encode_frame(
            Initiator(info.public_key(), counterpart_role(dut_role)).forged_confirm()),
        "a Configuration Request": _config_request_without_auth(),
    }
    for what, payload in probes.items():
        link = dpp_bed.connect_to_dut()
        try:
            link.send(payload)
            answer = link.recv(PROBE_WAIT)
        except LinkClosed:
            answer = None  # closing on an unexpected frame is discarding it
        except DppCodecError as exc:
            fail(f"the DUT answered {what} sent with no exchange under way with bytes that "
                 f"break the framing: {exc}", req)
        finally:
            link.close()
        if answer is not None:
            kind, status = kind_of(answer)
            fail(f"the DUT answered {what} sent with no exchange under way with {kind}"
                 + (f" (status {status})" if status is not None else ""), req)
    follow = again(dpp_bed, Arranged(info, None), dut_role)
    if follow.keys is None:
        inconclusive(f"no valid exchange after the probes either: {follow.summary()}")


@pytest.mark.requirement("DPP-8.1-MUST-03")
@pytest.mark.ics("DPP-INITIATOR")
def test_initiator_discards_confirm(dpp_bed: DppBed, dut_role: str) -> None:
    """Answered with an Authentication Confirm where it awaits a Response, the initiator
    sends no Confirm and asks for no configuration."""
    req = "DPP-8.1-MUST-03"
    ex = from_initiator(dpp_bed, dut_role, behaviour=AuthBehaviour(confirm_instead=True),
                        side=ConfigSide(skip=True)).exchange  # fmt: skip
    assert ex is not None
    if ex.first("rx", "auth-req") is None:
        inconclusive(f"the DUT sent no request: {ex.summary()}")
    went_on = [s.kind for s in ex.steps if s.direction == "rx"
               and s.kind in ("auth-conf", "conf-req")]  # fmt: skip
    check(not went_on, f"after a Confirm in place of a Response the DUT sent {went_on}: "
          f"{ex.summary()}", req)
