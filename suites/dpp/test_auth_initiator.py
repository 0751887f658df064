"""DUT = DPP Authentication initiator (DPP §6.3.2), as enrollee or configurator.

The tester responder listens on the peer node; the DUT's `initiate` action is given
the tester's URI and address and connects over TCP. The tester answers spec-exact or
misbehaving and watches whether the DUT confirms.
"""

from __future__ import annotations

import pytest

from harness.protocols.dpp import crypto
from harness.protocols.dpp.attributes import AttrId, Status
from harness.protocols.dpp.auth import AuthBehaviour
from harness.protocols.dpp.exchange import Outcome
from harness.protocols.dpp.suite_support import (
    AUTH_CONF,
    AUTH_REQ,
    check_point,
    dut_frames,
    from_initiator,
)
from harness.protocols.dpp.testbed import DppBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.ics("DPP-INITIATOR")


def _lines(bed: DppBed, subtype: int) -> list[str]:
    return [f.line() for f in dut_frames(bed, bed.wire(), subtype)]


@pytest.mark.requirement("DPP-7-MUST-01")
@pytest.mark.ics("DPP-TCP")
def test_tcp_framing(dpp_bed: DppBed, dut_role: str) -> None:
    """Over TCP the DUT's request is a PDU of 4-octet length and the frame without its
    Category octet, which tshark's dpp dissector decodes as an Authentication Request."""
    got = from_initiator(dpp_bed, dut_role, judge_garbage=True)
    frames = dut_frames(dpp_bed, dpp_bed.wire(), AUTH_REQ)
    check(frames, f"no Authentication Request decoded as DPP over TCP: "
          f"{got.exchange.summary() if got.exchange else ''}", "DPP-7-MUST-01")


@pytest.mark.requirement("DPP-6.3.2-MUST-01")
def test_request_fields(dpp_bed: DppBed, dut_role: str) -> None:
    """The request carries the R-bootstrap key hash of the tester's URI key, the
    I-protocol key and Wrapped Data."""
    got = from_initiator(dpp_bed, dut_role)
    frames = dut_frames(dpp_bed, dpp_bed.wire(), AUTH_REQ)
    if not frames:
        inconclusive(f"no Authentication Request decoded (see the framing test): "
                     f"{got.exchange.summary() if got.exchange else ''}")
    first = frames[0]
    for name in ("dpp.resp.hash", "dpp.key.x", "dpp.primary.wrapped_data"):
        check(first.get(name) is not None, f"frame {first.number}: no {name}", "DPP-6.3.2-MUST-01",
              frames=[first.line()])
    ex = got.exchange
    assert ex is not None
    check(not (ex.outcome == Outcome.REJECTED and "bootstrapping key" in ex.reason),
          f"the request names no bootstrapping key of the tester: {ex.summary()}",
          "DPP-6.3.2-MUST-01", frames=[first.line()])


@pytest.mark.requirement("DPP-6.3.2-MUST-02")
def test_protocol_key_and_nonce(dpp_bed: DppBed, dut_role: str) -> None:
    """The I-protocol key is on the responder's curve; the I-nonce has its length."""
    req = "DPP-6.3.2-MUST-02"
    ex = from_initiator(dpp_bed, dut_role).exchange
    assert ex is not None
    frame = ex.frame("rx", "auth-req")
    check(frame is not None, f"no Authentication Request: {ex.summary()}", req)
    assert frame is not None
    check_point(crypto.CURVES["P-256"], frame.get(AttrId.I_PROTOCOL_KEY), "I-protocol key",
                req, _lines(dpp_bed, AUTH_REQ))
    if ex.keys is None:
        inconclusive(f"the I-nonce is wrapped and the exchange did not get far enough to "
                     f"unwrap it: {ex.summary()}")
    assert ex.keys is not None
    check(len(ex.keys.i_nonce) == 16, f"an I-nonce of {len(ex.keys.i_nonce)} octets, "
          "P-256 needs 16", req)


@pytest.mark.parametrize(("probe", "what"), [
    pytest.param(AuthBehaviour(wrong_i_nonce_echo=True), "echoes another I-nonce",
                 marks=pytest.mark.requirement("DPP-6.3.4-MUST-01"), id="nonce"),
    pytest.param(AuthBehaviour(wrong_r_auth=True), "has a wrong R-auth",
                 marks=pytest.mark.requirement("DPP-6.3.4-MUST-02"), id="r-auth"),
    pytest.param(AuthBehaviour(tamper_wrapped=True), "has wrapped data that does not unwrap",
                 marks=pytest.mark.requirement("DPP-6.3.4-MUST-03"), id="wrap"),
    pytest.param(AuthBehaviour(invalid_protocol_key=True), "has an R-protocol key off the curve",
                 marks=pytest.mark.requirement("DPP-6.3.4-MUST-05"), id="point"),
    pytest.param(AuthBehaviour(wrong_r_hash=True), "has an R-bootstrap key hash not of the "
                 "tester's key", marks=pytest.mark.requirement("DPP-6.3.4-MUST-04"), id="hash"),
    pytest.param(AuthBehaviour(status=Status.NOT_COMPATIBLE), "says STATUS_NOT_COMPATIBLE",
                 marks=pytest.mark.requirement("DPP-6.3.4-MUST-07"), id="status"),
])  # fmt: skip
def test_bad_response_not_confirmed(dpp_bed: DppBed, dut_role: str, probe: AuthBehaviour,
                                    what: str, request: pytest.FixtureRequest) -> None:
    """A response the initiator must not accept gets no Confirm with DPP Status OK."""
    req = request.node.get_closest_marker("requirement").args[0]
    ex = from_initiator(dpp_bed, dut_role, behaviour=probe).exchange
    assert ex is not None
    if ex.first("tx", "auth-resp") is None:
        inconclusive(f"the tester answered nothing (no acceptable request): {ex.summary()}")
    confirms = [s for s in ex.steps if s.direction == "rx" and s.kind == "auth-conf"]
    ok = [s for s in confirms if s.status == Status.OK]
    if ok:
        fail(f"the DUT confirmed (status OK) a response that {what}: {ex.summary()}", req,
             frames=_lines(dpp_bed, AUTH_CONF))


@pytest.mark.requirement("DPP-6.3.4-MUST-06")
def test_confirm_i_auth(dpp_bed: DppBed, dut_role: str) -> None:
    """The Confirm has DPP Status OK and an I-auth the tester verifies."""
    req = "DPP-6.3.4-MUST-06"
    ex = from_initiator(dpp_bed, dut_role).exchange
    assert ex is not None
    if ex.first("tx", "auth-resp") is None:
        inconclusive(f"the tester answered nothing (no acceptable request): {ex.summary()}")
    check(ex.first("rx", "auth-conf") is not None, f"no Authentication Confirm: "
          f"{ex.summary()}", req)
    check(ex.outcome in (Outcome.AUTHENTICATED, Outcome.CONFIGURED),
          f"the Confirm does not authenticate: {ex.summary()}", req,
          frames=_lines(dpp_bed, AUTH_CONF))


@pytest.mark.requirement("DPP-6.3.2-MUST-03")
def test_fresh_per_attempt(dpp_bed: DppBed, dut_role: str) -> None:
    """Two attempts: different I-protocol keys and I-nonces."""
    req = "DPP-6.3.2-MUST-03"
    one = from_initiator(dpp_bed, dut_role).exchange
    two = from_initiator(dpp_bed, dut_role).exchange
    assert one is not None and two is not None
    f1, f2 = one.frame("rx", "auth-req"), two.frame("rx", "auth-req")
    if f1 is None or f2 is None:
        inconclusive(f"an attempt sent no request: {one.summary()} / {two.summary()}")
    assert f1 and f2
    check(f1.get(AttrId.I_PROTOCOL_KEY) != f2.get(AttrId.I_PROTOCOL_KEY),
          "the DUT used one protocol key for two attempts", req,
          frames=_lines(dpp_bed, AUTH_REQ))
    if not (one.keys and two.keys):  # the I-nonce is inside wrapped data
        inconclusive(f"an attempt did not authenticate, its I-nonce unknown: "
                     f"{one.summary()} / {two.summary()}")  # fmt: skip
    assert one.keys and two.keys
    check(one.keys.i_nonce != two.keys.i_nonce, "the same I-nonce twice", req)
