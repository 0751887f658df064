"""DUT = DPP Authentication responder (DPP §6.3.3), as enrollee or configurator.

The DUT listens for DPP over TCP; the tester initiator connects, spec-exact or
misbehaving. What the DUT sent is read from tshark's dpp dissection of the capture;
what is inside its wrapped data from the tester's own unwrapping, logged with the
session keys in dpp-keys-NN.json beside the capture.
"""

from __future__ import annotations

import pytest

from harness.protocols.dpp import crypto
from harness.protocols.dpp.attributes import AttrId, Status
from harness.protocols.dpp.auth import AuthBehaviour, Bootstrap
from harness.protocols.dpp.config import Configurator
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.exchange import ConfigSide, Outcome
from harness.protocols.dpp.suite_support import (
    AUTH_RESP,
    DUT_CONF,
    Arranged,
    again,
    alive_after_silence,
    check_point,
    dut_frames,
    judge_by_reason,
    to_responder,
)
from harness.protocols.dpp.testbed import DppBed
from harness.protocols.dpp.transport import LinkClosed
from harness.verdicts import Inconclusive, check, fail, inconclusive

pytestmark = pytest.mark.ics("DPP-RESPONDER")


def _answered(bed: DppBed, req: str) -> list[str]:
    frames = dut_frames(bed, bed.wire(), AUTH_RESP)
    return [f.line() for f in frames]


@pytest.mark.requirement("DPP-6.3.3-MUST-02")
def test_response_to_valid_request(dpp_bed: DppBed, dut_role: str) -> None:
    """A valid Authentication Request for the DUT's key gets an Authentication Response
    with DPP Status OK, R-bootstrap key hash, R-protocol key and Wrapped Data."""
    req = "DPP-6.3.3-MUST-02"
    got = to_responder(dpp_bed, dut_role, judge_garbage=True)
    frames = dut_frames(dpp_bed, dpp_bed.wire(), AUTH_RESP)
    check(frames, f"no Authentication Response on the wire ({got.exchange.summary()})", req)
    first = frames[0]
    for name in ("dpp.status", "dpp.resp.hash", "dpp.key.x", "dpp.primary.wrapped_data"):
        check(first.get(name) is not None, f"frame {first.number}: no {name}", req,
              frames=[first.line()])
    check(int(first.get("dpp.status") or "-1", 0) == 0, f"frame {first.number}: DPP Status "
          f"{first.get('dpp.status')}, not 0 (STATUS_OK)", req, frames=[first.line()])


@pytest.mark.requirement("DPP-6.3.3-MUST-01")
def test_response_hash_is_uri_key_hash(dpp_bed: DppBed, dut_role: str) -> None:
    """The R-bootstrap key hash is SHA-256 over the DER SubjectPublicKeyInfo of the
    key in the DUT's URI."""
    req = "DPP-6.3.3-MUST-01"
    got = to_responder(dpp_bed, dut_role)
    frames = dut_frames(dpp_bed, dpp_bed.wire(), AUTH_RESP)
    check(frames, f"no Authentication Response ({got.exchange.summary()})", req)
    assert got.info is not None
    want = crypto.bootstrap_key_hash(got.info.public_key()).hex()
    seen = (frames[0].get("dpp.resp.hash") or "").replace(":", "").lower()
    check(seen == want, f"frame {frames[0].number}: R-bootstrap key hash {seen}, SHA-256 of "
          f"the URI's key is {want}", req, frames=[frames[0].line()])


@pytest.mark.requirement("DPP-6.3.3-MUST-06")
def test_response_echoes_i_nonce(dpp_bed: DppBed, dut_role: str) -> None:
    """The response's wrapped data echoes the I-nonce and carries an R-nonce of the
    curve's nonce length."""
    req = "DPP-6.3.3-MUST-06"
    ex = to_responder(dpp_bed, dut_role).exchange
    assert ex is not None
    judge_by_reason(ex, req, "I-nonce", _answered(dpp_bed, req))


@pytest.mark.requirement("DPP-6.3.3-MUST-07")
def test_r_auth_verifies(dpp_bed: DppBed, dut_role: str) -> None:
    """R-auth = H(I-nonce | R-nonce | PI.x | PR.x | [BI.x |] BR.x | 0), wrapped with ke,
    verifies."""
    req = "DPP-6.3.3-MUST-07"
    ex = to_responder(dpp_bed, dut_role).exchange
    assert ex is not None
    judge_by_reason(ex, req, "R-auth", _answered(dpp_bed, req))


@pytest.mark.requirement("DPP-6.3.3-MUST-08")
def test_protocol_key_on_curve(dpp_bed: DppBed, dut_role: str) -> None:
    """The responder's protocol key is a valid point on its bootstrapping key's curve."""
    req = "DPP-6.3.3-MUST-08"
    got = to_responder(dpp_bed, dut_role)
    ex = got.exchange
    assert ex is not None and got.info is not None
    frame = ex.frame("rx", "auth-resp")
    check(frame is not None, f"no Authentication Response: {ex.summary()}", req)
    assert frame is not None
    point = frame.get(AttrId.R_PROTOCOL_KEY)
    check(point is not None, "no R-protocol key attribute", req, frames=_answered(dpp_bed, req))
    curve = crypto.curve_of(got.info.public_key())  # the key of the URI this exchange used
    check_point(curve, point, "R-protocol key", req, _answered(dpp_bed, req))


@pytest.mark.parametrize(("probe", "what"), [
    pytest.param(AuthBehaviour(wrong_r_hash=True), "an R-bootstrap key hash of no key of "
                 "the DUT", marks=pytest.mark.requirement("DPP-6.3.3-MUST-03"), id="hash"),
    pytest.param(AuthBehaviour(invalid_protocol_key=True), "an I-protocol key off the curve",
                 marks=pytest.mark.requirement("DPP-6.3.3-MUST-04"), id="point"),
    pytest.param(AuthBehaviour(tamper_wrapped=True), "wrapped data that does not unwrap",
                 marks=pytest.mark.requirement("DPP-6.3.3-MUST-05"), id="wrap"),
    pytest.param(AuthBehaviour(curve="P-384"), "an I-protocol key on P-384 for a P-256 "
                 "bootstrapping key", marks=pytest.mark.requirement("DPP-6.3.3-MUST-10"),
                 id="curve"),
])  # fmt: skip
def test_bad_request_discarded(dpp_bed: DppBed, dut_role: str, probe: AuthBehaviour,
                               what: str, request: pytest.FixtureRequest) -> None:
    """A request the responder cannot accept is discarded: no Authentication Response
    (shown against a valid request right after, which the DUT must answer)."""
    req = request.node.get_closest_marker("requirement").args[0]
    got = to_responder(dpp_bed, dut_role, behaviour=probe)
    ex = got.exchange
    assert ex is not None
    answered = ex.first("rx", "auth-resp")
    alive_after_silence(dpp_bed, got, dut_role)
    if answered is not None and answered.status in (None, Status.OK):
        fail(f"the DUT answered a request with {what} with status "
             f"{answered.status}: {ex.summary()}", req)


@pytest.mark.requirement("DPP-6.3.3-MUST-09")
def test_incompatible_roles(dpp_bed: DppBed, dut_role: str) -> None:
    """I-capabilities naming the DUT's own role get STATUS_NOT_COMPATIBLE."""
    req = "DPP-6.3.3-MUST-09"
    same = 0x02 if dut_role == "configurator" else 0x01
    ex = to_responder(dpp_bed, dut_role, behaviour=AuthBehaviour(capabilities=same)).exchange
    assert ex is not None
    step = ex.first("rx", "auth-resp")
    check(step is not None, f"no Authentication Response to incompatible I-capabilities: "
          f"{ex.summary()}", req)
    assert step is not None
    check(step.status == Status.NOT_COMPATIBLE, f"the DUT answered status {step.status}, "
          f"not {int(Status.NOT_COMPATIBLE)} (STATUS_NOT_COMPATIBLE)", req,
          frames=_answered(dpp_bed, req))


@pytest.mark.requirement("DPP-6.3.4-MUST-08")
def test_wrong_i_auth_fails(dpp_bed: DppBed, dut_role: str) -> None:
    """A Confirm with a wrong I-auth fails authentication: the DUT does not go on."""
    req = "DPP-6.3.4-MUST-08"
    got = to_responder(dpp_bed, dut_role, behaviour=AuthBehaviour(wrong_i_auth=True),
                       side=_configure_side(dut_role))  # fmt: skip
    ex = got.exchange
    assert ex is not None
    check(ex.first("rx", "auth-resp") is not None, f"no response: {ex.summary()}", req)
    if ex.first("tx", "auth-conf") is None:  # the DUT's response did not verify
        inconclusive(f"the tester sent no Confirm, so no wrong I-auth: {ex.summary()}")
    went_on = [s.kind for s in ex.steps if s.direction == "rx" and s.kind in ("conf-req",
                                                                              "conf-resp")]
    check(not went_on, f"after a wrong I-auth the DUT went on with {went_on}: {ex.summary()}",
          req, frames=_answered(dpp_bed, req))
    check(ex.outcome != Outcome.CONFIGURED, f"configuration completed: {ex.summary()}", req)


def _configure_side(dut_role: str) -> ConfigSide:
    if dut_role == "configurator":
        return ConfigSide()
    return ConfigSide(configurator=Configurator.generate("P-256"))


@pytest.mark.requirement("DPP-6.3.3-MUST-11")
def test_fresh_keys_per_exchange(dpp_bed: DppBed, dut_role: str) -> None:
    """Two exchanges: different R-protocol keys and R-nonces."""
    req = "DPP-6.3.3-MUST-11"
    got = to_responder(dpp_bed, dut_role)
    second = again(dpp_bed, got, dut_role)
    first = got.exchange
    assert first is not None
    # The protocol keys are in clear; the R-nonces only where the tester could unwrap.
    f1, f2 = first.frame("rx", "auth-resp"), second.frame("rx", "auth-resp")
    if f1 is None or f2 is None:
        inconclusive(f"two responses are needed: {first.summary()} / {second.summary()}")
    assert f1 is not None and f2 is not None
    check(f1.get(AttrId.R_PROTOCOL_KEY) != f2.get(AttrId.R_PROTOCOL_KEY),
          "the DUT used the same protocol key in two exchanges", req,
          frames=_answered(dpp_bed, req))
    if first.keys is not None and second.keys is not None:
        check(first.keys.r_nonce != second.keys.r_nonce, "the same R-nonce twice", req)


@pytest.mark.requirement("DPP-6.3.3-MUST-12")
@pytest.mark.ics("DPP-MUTUAL-AUTH")
def test_mutual_authentication(dpp_bed: DppBed, dut_role: str) -> None:
    """With the initiator's key known, the response carries the I-bootstrap key hash and
    R-auth covers BI.x (L in ke)."""
    req = "DPP-6.3.3-MUST-12"
    mine = Bootstrap.generate(crypto.CURVES["P-256"])
    ex = to_responder(dpp_bed, dut_role, mutual=mine).exchange
    assert ex is not None
    frame = ex.frame("rx", "auth-resp")
    if frame is None:
        inconclusive(f"no Authentication Response to judge: {ex.summary()}")
    assert frame is not None
    check(frame.get(AttrId.I_BOOTSTRAP_KEY_HASH) == mine.hash,
          f"no I-bootstrap key hash of the tester's key in the response: {ex.summary()}", req,
          frames=_answered(dpp_bed, req))
    if ex.outcome == Outcome.AUTHENTICATED and ex.keys is not None and ex.keys.mutual:
        return
    # Mutual failed: it is the mutual part (L, BI.x) only if responder-only works.
    plain = to_responder(dpp_bed, dut_role).exchange
    if plain is not None and plain.outcome == Outcome.AUTHENTICATED:
        fail(f"mutual authentication fails where responder-only authentication works: "
             f"{ex.summary()}", req, frames=_answered(dpp_bed, req))
    inconclusive(f"authentication fails with or without mutual authentication: {ex.summary()}")


@pytest.mark.requirement("DPP-8.1-MUST-01")
def test_garbage_then_valid(dpp_bed: DppBed, dut_role: str) -> None:
    """Frames that are not DPP are dropped; a valid exchange right after succeeds."""
    req = "DPP-8.1-MUST-01"
    info = dpp_bed.dut_uri()
    dpp_bed.dut_listens(dut_role, **(DUT_CONF if dut_role == "configurator" else {}))
    link = dpp_bed.connect_to_dut()
    try:
        link.send_malformed(b"\x09\x50\x6f\x9a\x1a\x01\x00\x10\x10\xff")  # truncated attr
        link.send_malformed(bytes(range(64)))
        got = link.recv(2.0)
    except (LinkClosed, DppCodecError):  # the DUT may close, or break off, on garbage
        got = None
    finally:
        link.close()
    check(got is None, f"the DUT answered garbage with {got.hex() if got else ''}", req)
    try:
        follow = again(dpp_bed, Arranged(info, None), dut_role)
    except Inconclusive as exc:  # it accepted the garbage's connection, then no other
        fail(f"after garbage the DUT no longer accepts a connection: {exc}", req)
    if follow.outcome in (Outcome.SILENT, Outcome.CLOSED):
        fail(f"after garbage the DUT did not answer a valid request: {follow.summary()}", req)
    if follow.outcome != Outcome.AUTHENTICATED:
        inconclusive(f"the DUT answered after the garbage, but the exchange failed for "
                     f"another reason: {follow.summary()}")
