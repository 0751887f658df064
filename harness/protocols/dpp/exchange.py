"""One whole DPP exchange over a link: authentication, then configuration.

`run_initiator` and `run_responder` drive the pure state machines of auth.py and
config.py over a `Link` and keep a log of every payload sent and received, decoded,
with the outcome: the tester peer's side of the evidence (the capture is the other).
Nothing a DUT sends makes them raise: garbage, silence and closed links are outcomes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.protocols.dpp.attributes import AttrId, FrameType, Status
from harness.protocols.dpp.auth import AuthFailure, AuthKeys, AuthRole, Initiator, Responder
from harness.protocols.dpp.config import (
    ConfigBehaviour,
    ConfigQuirks,
    Configurator,
    ConfiguratorConfig,
    EnrolleeConfig,
    Received,
)
from harness.protocols.dpp.crypto import DppCryptoError
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.frames import DppFrame, decode_frame, encode_frame, is_dpp_frame
from harness.protocols.dpp.gas import decode_gas, is_gas
from harness.protocols.dpp.transport import Link, LinkClosed

DEFAULT_TIMEOUT = 5.0
AFTER_STATUS_WAIT = 1.5  # seconds a tester listens after answering a failure status


class Outcome:
    CONFIGURED = "configured"  # authentication and configuration completed
    AUTHENTICATED = "authenticated"  # authentication completed, configuration not asked
    PEER_STATUS = "peer-status"  # the DUT answered a status other than OK
    REJECTED = "rejected"  # the tester peer found the DUT's message invalid
    SILENT = "silent"  # the DUT sent nothing in time
    CLOSED = "closed"  # the DUT closed the link
    GARBAGE = "garbage"  # the DUT sent something that is not a DPP payload


@dataclass
class Step:
    direction: str  # "tx" (tester peer -> DUT) or "rx"
    kind: str  # auth-req, auth-resp, auth-conf, conf-req, conf-resp, conf-result, raw
    payload: bytes
    time: float = field(default_factory=time.time)
    status: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"direction": self.direction, "kind": self.kind, "status": self.status,
                "note": self.note, "len": len(self.payload), "hex": self.payload.hex()}


@dataclass
class Exchange:
    steps: list[Step] = field(default_factory=list)
    outcome: str = ""
    reason: str = ""
    keys: AuthKeys | None = None
    received: Received | None = None  # tester enrollee: what the DUT configurator sent
    result_status: int | None = None  # tester configurator: the DUT's Configuration Result
    config_request: dict | None = None  # tester configurator: the DUT's configAttrib
    e_nonce: bytes = b""

    def kinds(self, direction: str) -> list[str]:
        return [s.kind for s in self.steps if s.direction == direction]

    def first(self, direction: str, kind: str) -> Step | None:
        return next((s for s in self.steps if s.direction == direction and s.kind == kind), None)

    def frame(self, direction: str, kind: str) -> DppFrame | None:
        step = self.first(direction, kind)
        if step is None or not is_dpp_frame(step.payload):
            return None
        try:
            return decode_frame(step.payload)
        except DppCodecError:
            return None

    def summary(self) -> str:
        seq = " ".join(f"{'>' if s.direction == 'tx' else '<'}{s.kind}"
                       + (f"(status {s.status})" if s.status is not None else "")
                       for s in self.steps)  # fmt: skip
        return f"{self.outcome}: {self.reason} [{seq}]"

    def write(self, path: Path) -> Path:
        """The tester peer's log with the session keys a reader needs for wrapped data."""
        data = {
            "outcome": self.outcome, "reason": self.reason,
            "keys": self.keys.keylog() if self.keys else None,
            "e_nonce": self.e_nonce.hex(), "result_status": self.result_status,
            "config_request": self.config_request,
            "received": [o.decode("utf-8", "replace") for o in self.received.raw_objects]
            if self.received else None,
            "steps": [s.to_dict() for s in self.steps],
        }  # fmt: skip
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return path


_KINDS = {
    FrameType.AUTH_REQ: "auth-req", FrameType.AUTH_RESP: "auth-resp",
    FrameType.AUTH_CONF: "auth-conf", FrameType.CONFIGURATION_RESULT: "conf-result",
}  # fmt: skip


def kind_of(payload: bytes) -> tuple[str, int | None]:
    """A payload's kind for the log, and its DPP Status when it has one in clear."""
    if is_dpp_frame(payload):
        try:
            frame = decode_frame(payload)
        except DppCodecError:
            return "raw", None
        status = frame.get(AttrId.STATUS)
        kind = _KINDS.get(frame.frame_type, f"dpp-{frame.frame_type}")
        return kind, status[0] if status else None
    if is_gas(payload):
        try:
            gas = decode_gas(payload)
        except DppCodecError:
            return "raw", None
        return {0x0A: "conf-req", 0x0B: "conf-resp"}.get(gas.action, f"gas-{gas.action}"), None
    return "raw", None


class _Run:
    def __init__(self, link: Link, timeout: float):
        self.link = link
        self.timeout = timeout
        self.ex = Exchange()

    def send(self, payload: bytes, note: str = "") -> None:
        kind, status = kind_of(payload)
        self.ex.steps.append(Step("tx", kind, payload, status=status, note=note))
        self.link.send(payload)

    def recv(self, want: str) -> bytes:
        """The next payload; raises _End with the outcome for silence, close or garbage."""
        try:
            payload = self.link.recv(self.timeout)
        except LinkClosed as exc:
            raise _End(Outcome.CLOSED, f"the DUT closed the link waiting for {want}: {exc}") \
                from None
        except DppCodecError as exc:
            raise _End(Outcome.GARBAGE, f"the DUT broke the framing waiting for {want}: {exc}") \
                from None
        if payload is None:
            raise _End(Outcome.SILENT, f"no {want} within {self.timeout:g} s")
        kind, status = kind_of(payload)
        self.ex.steps.append(Step("rx", kind, payload, status=status))
        return payload

    def frame(self, want: str) -> DppFrame:
        payload = self.recv(want)
        try:
            return decode_frame(payload)
        except DppCodecError as exc:
            raise _End(Outcome.GARBAGE, f"{want}: not a DPP frame: {exc}") from None


class _End(Exception):
    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def _finish(run: _Run, body: Callable[[], tuple[str, str]]) -> Exchange:
    try:
        run.ex.outcome, run.ex.reason = body()
    except _End as end:
        run.ex.outcome, run.ex.reason = end.outcome, end.reason
    except AuthFailure as exc:
        run.ex.outcome = Outcome.PEER_STATUS if exc.status is not None and \
            exc.reason.startswith("the responder answered") else Outcome.REJECTED
        run.ex.reason = exc.reason
    except LinkClosed as exc:
        run.ex.outcome, run.ex.reason = Outcome.CLOSED, f"link closed: {exc}"
    except DppCryptoError as exc:  # e.g. the DUT answered with a key on another curve
        run.ex.outcome, run.ex.reason = Outcome.REJECTED, f"unusable key material: {exc}"
    return run.ex


@dataclass
class ConfigSide:
    """What the tester peer does in the configuration phase."""

    configurator: Configurator | None = None  # set: the peer configures the DUT
    behaviour: ConfigBehaviour = field(default_factory=ConfigBehaviour)
    quirks: ConfigQuirks = field(default_factory=ConfigQuirks)
    skip: bool = False  # stop after authentication
    send_result: bool = True  # enrollee: send the R2 Configuration Result


def run_initiator(link: Link, initiator: Initiator, side: ConfigSide,
                  timeout: float = DEFAULT_TIMEOUT) -> Exchange:
    run = _Run(link, timeout)

    def body() -> tuple[str, str]:
        run.send(encode_frame(initiator.request()))
        response = run.frame("an Authentication Response")
        # A response that does not verify ends the exchange; the tester sends no
        # failure Confirm (optional in DPP) so the DUT's own handling stays visible.
        try:
            confirm = initiator.on_response(response)
        except AuthFailure:
            if initiator.quirks.confirm_whatever:
                run.send(encode_frame(initiator.forged_confirm()))
            raise
        run.ex.keys = initiator.keys
        run.send(encode_frame(confirm))
        return _configure(run, initiator.keys, initiator.role, side, initiator.peer_version)

    return _finish(run, body)


def run_responder(link: Link, responder: Responder, side: ConfigSide,
                  timeout: float = DEFAULT_TIMEOUT) -> Exchange:
    run = _Run(link, timeout)

    def body() -> tuple[str, str]:
        while True:
            request = run.frame("an Authentication Request")
            if request.frame_type == FrameType.AUTH_REQ and (
                    responder.matches(request) or responder.quirks.accept_unknown_r_hash):
                break
            if responder.quirks.answer_unexpected:
                run.send(encode_frame(responder.failure_status()))
            if request.frame_type != FrameType.AUTH_REQ:
                raise _End(Outcome.REJECTED, f"frame type {request.frame_type} before any "
                                             "Authentication Request")  # fmt: skip
            raise _End(Outcome.REJECTED, "an Authentication Request for another bootstrapping key")
        response = responder.on_request(request)
        if responder.behaviour.confirm_instead:  # a frame the initiator must discard
            run.send(encode_frame(responder.out_of_state()))
            _drain(run, AFTER_STATUS_WAIT)
            return Outcome.PEER_STATUS, "the tester answered with an Authentication Confirm"
        run.send(encode_frame(response))
        status = response.get(AttrId.STATUS)
        if status and status[0] != Status.OK:
            _drain(run, AFTER_STATUS_WAIT)  # an initiator must not go on: record it if it does
            return Outcome.PEER_STATUS, f"the tester answered status {status[0]}"
        responder.on_confirm(run.frame("an Authentication Confirm"))
        run.ex.keys = responder.keys
        return _configure(run, responder.keys, responder.role, side, responder.peer_version)

    return _finish(run, body)


def _drain(run: _Run, wait: float) -> None:
    """Record what the DUT still sends within `wait` (until it stops or closes)."""
    run.timeout = wait
    try:
        while True:
            run.recv("nothing more")
    except _End:
        return


def _configure(run: _Run, keys: AuthKeys | None, role: AuthRole, side: ConfigSide,
               peer_version: int | None) -> tuple[str, str]:
    assert keys is not None  # authentication succeeded
    if side.skip:
        return Outcome.AUTHENTICATED, "authentication completed; configuration skipped"
    if AuthRole(role) == AuthRole.ENROLLEE:
        q = side.quirks
        if q.no_config_request:
            return Outcome.AUTHENTICATED, "authentication completed; no configuration asked"
        enrollee = EnrolleeConfig(keys, behaviour=side.behaviour, quirks=q)
        run.send(enrollee.request())
        run.ex.e_nonce = enrollee.e_nonce
        r2 = side.send_result and not q.no_config_result and (peer_version or 1) >= 2
        try:
            got = enrollee.on_response(run.recv("a Configuration Response"))
        except AuthFailure:
            if r2 and q.result_ok_always:
                run.send(encode_frame(enrollee.result(Status.OK)))
            raise
        run.ex.received = got
        if r2:
            ok = got.status == Status.OK and got.connector_error is None and got.objects
            if q.result_ok_always:
                ok = True
            run.send(encode_frame(enrollee.result(Status.OK if ok else Status.CONFIG_REJECTED)))
        if got.status != Status.OK:
            return Outcome.PEER_STATUS, f"the configurator answered status {got.status}"
        if got.connector_error:
            return Outcome.REJECTED, got.connector_error
        return Outcome.CONFIGURED, f"received {len(got.objects)} configuration object(s)"
    if side.configurator is None:
        raise _End(Outcome.REJECTED, "the tester configurator has no configuration to give")
    cfg = ConfiguratorConfig(keys, side.configurator, behaviour=side.behaviour,
                             quirks=side.quirks)  # fmt: skip
    run.send(cfg.on_request(run.recv("a Configuration Request")))
    run.ex.config_request = cfg.request_attributes
    run.ex.e_nonce = cfg.e_nonce
    if (peer_version or 1) >= 2:
        try:
            run.ex.result_status = cfg.on_result(run.frame("a Configuration Result"))
        except _End as end:
            return Outcome.CONFIGURED, f"configuration sent; no valid result: {end.reason}"
    return Outcome.CONFIGURED, "configuration sent"
