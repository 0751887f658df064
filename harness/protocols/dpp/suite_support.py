"""What the DPP suite's test cases share: arranging an exchange with the DUT in either
authentication role, proving the DUT alive before a silence counts, and reading its
frames off the decoded capture."""

from __future__ import annotations

from dataclasses import dataclass

from harness.capture import Frame, PacketCursor
from harness.control import ActionResult
from harness.protocols.dpp import crypto
from harness.protocols.dpp.auth import AuthBehaviour, AuthRole, Bootstrap, Initiator, Responder
from harness.protocols.dpp.config import Configurator
from harness.protocols.dpp.exchange import ConfigSide, Exchange, Outcome
from harness.protocols.dpp.testbed import DppBed
from harness.protocols.dpp.uri import BootstrapInfo
from harness.verdicts import Inconclusive, fail

# A network the tester configurator provisions, and what a configurator DUT is told to give.
SSID = "onboardcheck-dpp"
DUT_CONF = {"ssid": SSID, "akm": "dpp", "passphrase": ""}

# Wireshark's dpp dissector: DPP public action frame types (dpp.public_action.subtype).
AUTH_REQ, AUTH_RESP, AUTH_CONF, CONF_RESULT = 0, 1, 2, 11


def counterpart_role(dut_role: str) -> AuthRole:
    return AuthRole.ENROLLEE if dut_role == "configurator" else AuthRole.CONFIGURATOR


@dataclass
class Arranged:
    info: BootstrapInfo | None  # the DUT's URI (DUT responder)
    exchange: Exchange | None
    action: ActionResult | None = None


def decodable(ex: Exchange) -> Exchange:
    """Only the tests of framing and of the response itself judge messages that do not
    decode as DPP; for the others there is nothing to judge."""
    if ex.outcome == Outcome.GARBAGE:
        raise Inconclusive(f"the DUT's messages do not decode as DPP frames: {ex.summary()}")
    return ex


def to_responder(bed: DppBed, dut_role: str, behaviour: AuthBehaviour | None = None,
                 side: ConfigSide | None = None, mutual: Bootstrap | None = None,
                 curve: str = "P-256", judge_garbage: bool = False) -> Arranged:  # fmt: skip
    """The DUT listens as responder; the tester initiates once (behaving as told)."""
    info = bed.dut_uri(curve)
    bed.dut_listens(dut_role, peer=mutual, **(DUT_CONF if dut_role == "configurator" else {}))
    initiator = Initiator(info.public_key(), counterpart_role(dut_role), own=mutual,
                          behaviour=behaviour or AuthBehaviour())  # fmt: skip
    ex = bed.to_dut(initiator, side or ConfigSide(skip=True))
    return Arranged(info, ex if judge_garbage else decodable(ex))


def again(bed: DppBed, arranged: Arranged, dut_role: str, mutual: Bootstrap | None = None
          ) -> Exchange:  # fmt: skip
    """A second, spec-exact exchange with the listening DUT."""
    assert arranged.info is not None
    initiator = Initiator(arranged.info.public_key(), counterpart_role(dut_role), own=mutual)
    return bed.to_dut(initiator, ConfigSide(skip=True))


def alive_after_silence(bed: DppBed, arranged: Arranged, dut_role: str) -> Exchange:
    """A DUT that stayed silent must answer a valid request right after, or its silence
    proves nothing (a dead DUT would pass every 'discard' requirement)."""
    follow = again(bed, arranged, dut_role)
    if follow.outcome not in (Outcome.AUTHENTICATED, Outcome.CONFIGURED):
        raise Inconclusive(f"the DUT answered neither the probe nor a valid request after it "
                           f"({follow.summary()}): its silence proves nothing")  # fmt: skip
    return follow


def from_initiator(bed: DppBed, dut_role: str, behaviour: AuthBehaviour | None = None,
                   side: ConfigSide | None = None, curve: str = "P-256",
                   mutual: bool = False, judge_garbage: bool = False) -> Arranged:  # fmt: skip
    """The DUT initiates to the tester responder (whose URI it is given)."""
    own = Bootstrap.generate(crypto.CURVES[curve])
    responder = Responder(own, counterpart_role(dut_role), behaviour=behaviour or AuthBehaviour())
    if side is None:
        side = ConfigSide(skip=True)
    if counterpart_role(dut_role) == AuthRole.CONFIGURATOR and side.configurator is None:
        side.configurator = Configurator.generate(curve, ssid=SSID)
    conf = DUT_CONF if dut_role == "configurator" else {}
    action, ex = bed.from_dut(responder, side, mutual=mutual, **conf)
    if not action.ok:
        raise Inconclusive(f"the DUT's initiate action failed: {action.describe()}: "
                           f"{action.stderr.strip()[:300]}")  # fmt: skip
    if ex is None:
        raise Inconclusive("the DUT did not connect to the tester responder after initiate")
    return Arranged(None, ex if judge_garbage else decodable(ex), action)


def judge_by_reason(ex: Exchange, req: str, about: str, frames: list[str]) -> None:
    """Pass when the exchange authenticated; fail when the tester refused the DUT's
    message for `about` (e.g. "R-auth"); inconclusive when it stopped for another
    reason, which the requirement does not cover (another test judges that)."""
    if ex.outcome in (Outcome.AUTHENTICATED, Outcome.CONFIGURED):
        return
    if about in ex.reason:
        fail(f"{ex.reason}: {ex.summary()}", req, frames=frames)
    raise Inconclusive(f"the exchange stopped before {about} could be judged: {ex.summary()}")


def dut_frames(bed: DppBed, cursor: PacketCursor, subtype: int) -> list[Frame]:
    """The DPP frames of `subtype` the DUT sent, as tshark decoded them."""
    return cursor.all(lambda f: f.get("dpp.public_action.subtype") == str(subtype)
                      and bed.sent_by_dut(f))


def with_dut_in_role(bed: DppBed, dut_role: str, ics: dict[str, object],
                     side: ConfigSide) -> Exchange:  # fmt: skip
    """One full exchange with the DUT in `dut_role`: it initiates when it can, else it
    listens and the tester initiates."""
    if ics.get("DPP-INITIATOR"):
        found = from_initiator(bed, dut_role, side=side)
    elif ics.get("DPP-RESPONDER"):
        found = to_responder(bed, dut_role, side=side)
    else:
        raise Inconclusive("the DUT claims neither DPP-INITIATOR nor DPP-RESPONDER")
    assert found.exchange is not None
    return found.exchange


def check_point(curve: crypto.Curve, point: bytes | None, what: str, req: str,
                frames: list[str]) -> None:  # fmt: skip
    """Fails `req` unless `point` (a Protocol Key attribute) is a point of `curve`."""
    try:
        crypto.point_from_xy(curve, point or b"")
    except crypto.DppCryptoError as exc:
        fail(f"the {what} is not a point of {curve.name}: {exc}", req, frames=frames)
