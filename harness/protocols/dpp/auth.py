"""The DPP Authentication protocol (DPP §6.3): initiator and responder state machines.

Both sides are pure: they take and return `DppFrame`s and never touch a socket, so the
same code runs over TCP, over the virtual 802.11 medium, and in unit tests. A tester
peer is spec-exact by default; `AuthBehaviour` makes it misbehave on purpose to probe
a DUT (tampered wrapped data, a wrong hash, a point off the curve, ...), and
`AuthQuirks` bends the checks of the reference implementation into a mutant.

Key derivation and tags are those of DPP §6.3.1 (hostap src/common/dpp_auth.c builds
the same frames): M = pI·BR = bR·PI, k1; N = pI·PR = pR·PI, k2; L for mutual
authentication; ke; R-auth and I-auth.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import ec

from harness.protocols.dpp import crypto
from harness.protocols.dpp.attributes import (
    Attr,
    AttrId,
    FrameType,
    Status,
    decode_attrs,
    encode_attrs,
    find,
)
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.frames import DppFrame

HASH_LEN = 32  # bootstrapping key hashes are SHA-256 whatever the curve
DPP_VERSION = 2


class Capab:
    """I-/R-capabilities role bits (DPP §8.1.1.x)."""

    ENROLLEE = 0x01
    CONFIGURATOR = 0x02
    MASK = 0x03


class AuthRole(StrEnum):
    CONFIGURATOR = "configurator"
    ENROLLEE = "enrollee"


def capab_of(role: AuthRole | str) -> int:
    return Capab.CONFIGURATOR if AuthRole(role) == AuthRole.CONFIGURATOR else Capab.ENROLLEE


class AuthFailure(Exception):
    """The exchange cannot go on; `status` is what the spec says to answer (None: silence)."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class Bootstrap:
    """A bootstrapping key pair (the key behind a DPP URI)."""

    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, curve: crypto.Curve) -> Bootstrap:
        return cls(crypto.generate_key(curve))

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    @property
    def curve(self) -> crypto.Curve:
        return crypto.curve_of(self.key)

    @property
    def hash(self) -> bytes:
        return crypto.bootstrap_key_hash(self.public)

    def spki(self) -> bytes:
        return crypto.spki_der(self.public)


@dataclass
class AuthBehaviour:
    """How a tester peer deviates from the spec in one exchange (all off by default)."""

    wrong_r_hash: bool = False  # initiator: an R-bootstrap hash that is not the DUT's
    wrong_i_hash: bool = False  # an I-bootstrap hash of a key the DUT never saw
    invalid_protocol_key: bool = False  # a protocol key point that is not on the curve
    tamper_wrapped: bool = False  # flip a bit of the (outer) wrapped data
    wrong_i_nonce_echo: bool = False  # responder: echo a different I-nonce
    wrong_r_auth: bool = False  # responder: a wrong R-auth tag
    wrong_i_auth: bool = False  # initiator: a wrong I-auth tag
    curve: str | None = None  # protocol key on another curve than the bootstrapping key
    capabilities: int | None = None  # I-/R-capabilities override
    status: int | None = None  # responder: answer this status instead of OK
    version: int | None = DPP_VERSION  # Protocol Version attribute (None: omit)
    confirm_instead: bool = False  # responder: answers a request with a Confirm frame


@dataclass
class AuthQuirks:
    """Checks a reference implementation skips when bent into a mutant."""

    skip_i_nonce_check: bool = False
    accept_unknown_r_hash: bool = False
    reuse_protocol_key: bool = False
    skip_r_auth_check: bool = False
    skip_i_auth_check: bool = False
    skip_point_check: bool = False
    answer_after_failure: bool = False  # responder answers OK although unwrap failed
    # what the reference sends wrong when bent (each breaks what the peer checks)
    bad_r_auth: bool = False  # responder: an R-auth tag that does not verify
    bad_i_auth: bool = False  # initiator: an I-auth tag that does not verify
    bad_i_nonce_echo: bool = False  # responder: echoes another I-nonce
    protocol_key_off_curve: bool = False  # either side: its protocol key is not a point
    ignore_roles: bool = False  # responder: never answers STATUS_NOT_COMPATIBLE
    never_mutual: bool = False  # responder: ignores the initiator's known key
    hash_uncompressed: bool = False  # responder: R-bootstrap hash over the uncompressed key
    omit_status: bool = False  # responder: no DPP Status attribute in its response
    request_wrong_r_hash: bool = False  # initiator: an R-bootstrap hash of no known key
    confirm_whatever: bool = False  # initiator: confirms OK whatever failed in the response
    answer_unexpected: bool = False  # responder: answers any frame with a failure status


@dataclass
class AuthKeys:
    """What both sides share once authenticated: the session keys of the report."""

    curve: str
    i_nonce: bytes
    r_nonce: bytes
    k1: bytes
    k2: bytes
    ke: bytes
    mutual: bool
    peer_protocol_key: ec.EllipticCurvePublicKey | None = None
    own_protocol_key: ec.EllipticCurvePrivateKey | None = None

    def keylog(self) -> dict[str, str]:
        """Hex values a reader needs to unwrap the exchange's wrapped data."""
        return {
            "curve": self.curve, "i_nonce": self.i_nonce.hex(), "r_nonce": self.r_nonce.hex(),
            "k1": self.k1.hex(), "k2": self.k2.hex(), "ke": self.ke.hex(),
            "mutual": str(self.mutual).lower(),
        }  # fmt: skip


_REUSED: dict[str, ec.EllipticCurvePrivateKey] = {}


def _protocol_key(curve: crypto.Curve, quirks: AuthQuirks) -> ec.EllipticCurvePrivateKey:
    if quirks.reuse_protocol_key:  # the mutant keeps one "ephemeral" key for ever
        return _REUSED.setdefault(curve.name, crypto.generate_key(curve))
    return crypto.generate_key(curve)


def _attr(aid: int, value: bytes) -> Attr:
    return Attr(int(aid), value)


def flip(data: bytes) -> bytes:
    """`data` with its last bit inverted: a probe's wrong hash, tag, nonce or ciphertext."""
    return data[:-1] + bytes([data[-1] ^ 0x01]) if data else b"\x01"


def inner_attrs(data: bytes) -> list[Attr]:
    """Attributes decoded from unwrapped data; AuthFailure when they are malformed."""
    try:
        return decode_attrs(data)
    except DppCodecError as exc:
        raise AuthFailure(f"malformed attributes: {exc}") from None


def _wrapped_frame(ftype: int, attrs: list[Attr], key: bytes, clear: list[Attr],
                   tamper: bool = False) -> DppFrame:
    """A frame whose last attribute is Wrapped Data over `clear`, with the header and the
    attributes before it as AES-SIV associated data (hostap dpp_auth_build_req)."""
    frame = DppFrame(ftype, list(attrs))
    ad = [frame.header(), encode_attrs(attrs)]
    wrapped = crypto.wrap(key, encode_attrs(clear), ad)
    frame.attrs.append(_attr(AttrId.WRAPPED_DATA, flip(wrapped) if tamper else wrapped))
    return frame


def unwrap_frame(frame: DppFrame, key: bytes) -> list[Attr]:
    """The attributes inside `frame`'s Wrapped Data; AuthFailure if absent or not authentic."""
    wrapped = frame.get(AttrId.WRAPPED_DATA)
    if wrapped is None or len(wrapped) < 16:
        raise AuthFailure("no (or too short) Wrapped Data attribute")
    ad = [frame.header(), frame.attrs_before(AttrId.WRAPPED_DATA)]
    try:
        clear = crypto.unwrap(key, wrapped, ad)
    except crypto.DppCryptoError as exc:
        raise AuthFailure(f"AES-SIV unwrap failed: {exc}") from None
    return inner_attrs(clear)


def _point(curve: crypto.Curve, data: bytes | None, what: str, quirks: AuthQuirks
           ) -> ec.EllipticCurvePublicKey:
    if data is None:
        raise AuthFailure(f"no {what}")
    try:
        return crypto.point_from_xy(curve, data)
    except crypto.DppCryptoError as exc:
        if quirks.skip_point_check and len(data) == 2 * curve.prime_len:
            # the mutant rebuilds the point from x alone, ignoring y: x(k·P) is the same
            # for either y, so it agrees on M.x with a peer that sent an invalid y
            with contextlib.suppress(ValueError):
                return ec.EllipticCurvePublicKey.from_encoded_point(
                    curve.ec, b"\x02" + data[: curve.prime_len])
        if quirks.answer_after_failure:  # the mutant goes on whatever failed
            return crypto.generate_key(curve).public_key()
        raise AuthFailure(f"{what} is not a valid point: {exc}") from None


# --------------------------------------------------------------------------- initiator


@dataclass
class Initiator:
    """Sends the Authentication Request, checks the Response, sends the Confirm."""

    peer: ec.EllipticCurvePublicKey  # the responder's bootstrapping key (from its URI)
    role: AuthRole
    own: Bootstrap | None = None  # for mutual authentication
    behaviour: AuthBehaviour = field(default_factory=AuthBehaviour)
    quirks: AuthQuirks = field(default_factory=AuthQuirks)
    i_nonce: bytes = b""
    keys: AuthKeys | None = None
    peer_version: int | None = None
    _p: ec.EllipticCurvePrivateKey | None = None
    _k1: bytes = b""
    _mx: bytes = b""

    @property
    def curve(self) -> crypto.Curve:
        return crypto.curve_of(self.peer)

    def request(self) -> DppFrame:
        curve = self.curve
        b = self.behaviour
        proto_curve = crypto.CURVES[b.curve] if b.curve else curve
        self._p = _protocol_key(proto_curve, self.quirks)
        self.i_nonce = os.urandom(curve.nonce_len)
        pi = crypto.point_xy(self._p.public_key())
        if b.invalid_protocol_key or self.quirks.protocol_key_off_curve:
            pi = _off_curve(pi)
        self._mx = crypto.ecdh_x(self._p, self.peer) if not b.curve else os.urandom(
            curve.prime_len)
        self._k1 = crypto.k1(curve, self._mx)
        r_hash = crypto.bootstrap_key_hash(self.peer)
        wrong = b.wrong_r_hash or self.quirks.request_wrong_r_hash
        attrs = [_attr(AttrId.R_BOOTSTRAP_KEY_HASH, flip(r_hash) if wrong else r_hash)]
        if self.own is None:
            # An initiator without a bootstrapping key of its own makes one, as hostap's
            # dpp_autogen_bootstrap_key does: R2 responders (wpa_supplicant 2.10's
            # controller) drop a request without an I-bootstrap key hash.
            self.own = Bootstrap.generate(curve)
        i_hash = self.own.hash
        attrs.append(_attr(AttrId.I_BOOTSTRAP_KEY_HASH, flip(i_hash) if b.wrong_i_hash
                           else i_hash))  # fmt: skip
        attrs.append(_attr(AttrId.I_PROTOCOL_KEY, pi))
        if b.version is not None:
            attrs.append(_attr(AttrId.PROTOCOL_VERSION, bytes([b.version])))
        capab = b.capabilities if b.capabilities is not None else capab_of(self.role)
        clear = [_attr(AttrId.I_NONCE, self.i_nonce), _attr(AttrId.I_CAPABILITIES, bytes([capab]))]
        return _wrapped_frame(FrameType.AUTH_REQ, attrs, self._k1, clear, b.tamper_wrapped)

    def on_response(self, frame: DppFrame) -> DppFrame:
        """The Authentication Confirm for a valid Response; AuthFailure otherwise (with
        `status` set when a status-carrying response came, for the caller to report)."""
        if frame.frame_type != FrameType.AUTH_RESP:
            raise AuthFailure(f"expected an Authentication Response, got frame type "
                              f"{frame.frame_type}")  # fmt: skip
        if self._p is None:
            raise AuthFailure("a response before any request")
        curve = self.curve
        r_hash = frame.get(AttrId.R_BOOTSTRAP_KEY_HASH)
        if r_hash != crypto.bootstrap_key_hash(self.peer):
            raise AuthFailure("the R-bootstrap key hash is missing or not the responder's")
        i_hash = frame.get(AttrId.I_BOOTSTRAP_KEY_HASH)
        if i_hash is not None and (self.own is None or i_hash != self.own.hash):
            raise AuthFailure("the I-bootstrap key hash is not ours")
        version = frame.get(AttrId.PROTOCOL_VERSION)
        self.peer_version = version[0] if version else 1
        status = frame.get(AttrId.STATUS)
        if not status:
            raise AuthFailure("no DPP Status attribute")
        if status[0] != Status.OK:
            inner = unwrap_frame(frame, self._k1)
            echo = find(inner, AttrId.I_NONCE)
            if echo != self.i_nonce and not self.quirks.skip_i_nonce_check:
                raise AuthFailure("the status response does not echo our I-nonce")
            raise AuthFailure(f"the responder answered status {status[0]}", status[0])
        pr = _point(curve, frame.get(AttrId.R_PROTOCOL_KEY), "R-protocol key", self.quirks)
        nx = crypto.ecdh_x(self._p, pr)
        k2 = crypto.k2(curve, nx)
        inner = unwrap_frame(frame, k2)
        r_nonce = find(inner, AttrId.R_NONCE)
        echo = find(inner, AttrId.I_NONCE)
        r_capab = find(inner, AttrId.R_CAPABILITIES)
        if r_nonce is None or len(r_nonce) != curve.nonce_len:
            raise AuthFailure("no R-nonce of the curve's nonce length")
        if echo != self.i_nonce and not self.quirks.skip_i_nonce_check:
            raise AuthFailure("the responder did not echo our I-nonce")
        if not r_capab:
            raise AuthFailure("no R-capabilities")
        expected = Capab.ENROLLEE if self.role == AuthRole.CONFIGURATOR else Capab.CONFIGURATOR
        if r_capab[0] & Capab.MASK != expected:
            raise AuthFailure(f"R-capabilities 0x{r_capab[0]:02x} do not complement our role",
                              Status.NOT_COMPATIBLE)  # fmt: skip
        mutual = i_hash is not None and self.own is not None
        lx = crypto.lx_initiator(self.own.key, self.peer, pr) if mutual and self.own else None
        ke = crypto.ke(curve, self.i_nonce, r_nonce, self._mx, nx, lx)
        wrapped_r_auth = find(inner, AttrId.WRAPPED_DATA)
        if wrapped_r_auth is None:
            raise AuthFailure("no {R-auth}ke inside the wrapped data")
        try:
            r_auth_attrs = inner_attrs(crypto.unwrap(ke, wrapped_r_auth, []))
        except crypto.DppCryptoError as exc:
            raise AuthFailure(f"{{R-auth}}ke does not unwrap: {exc}") from None
        r_auth = find(r_auth_attrs, AttrId.R_AUTH_TAG)
        pi_x, pr_x = crypto.point_x(self._p), crypto.point_x(pr)
        bi_x = crypto.point_x(self.own.key) if mutual and self.own else None
        br_x = crypto.point_x(self.peer)
        want = crypto.r_auth(curve, self.i_nonce, r_nonce, pi_x, pr_x, bi_x, br_x)
        if r_auth != want and not self.quirks.skip_r_auth_check:
            raise AuthFailure("R-auth does not verify", Status.AUTH_FAILURE)
        self.keys = AuthKeys(curve.name, self.i_nonce, r_nonce, self._k1, k2, ke, mutual,
                             pr, self._p)  # fmt: skip
        i_auth = crypto.i_auth(curve, r_nonce, self.i_nonce, pr_x, pi_x, br_x, bi_x)
        if self.behaviour.wrong_i_auth or self.quirks.bad_i_auth:
            i_auth = flip(i_auth)
        attrs = [_attr(AttrId.STATUS, bytes([Status.OK])),
                 _attr(AttrId.R_BOOTSTRAP_KEY_HASH, crypto.bootstrap_key_hash(self.peer))]
        if mutual and self.own is not None:
            attrs.append(_attr(AttrId.I_BOOTSTRAP_KEY_HASH, self.own.hash))
        return _wrapped_frame(FrameType.AUTH_CONF, attrs, ke, [_attr(AttrId.I_AUTH_TAG, i_auth)],
                              self.behaviour.tamper_wrapped)  # fmt: skip


    def forged_confirm(self) -> DppFrame:
        """A Confirm with status OK that authenticates nothing (a mutant's, after a
        response it should have refused)."""
        attrs = [_attr(AttrId.STATUS, bytes([Status.OK])),
                 _attr(AttrId.R_BOOTSTRAP_KEY_HASH, crypto.bootstrap_key_hash(self.peer))]
        curve = self.curve
        attrs.append(_attr(AttrId.WRAPPED_DATA, os.urandom(4 + curve.hash_len + 16)))
        return DppFrame(FrameType.AUTH_CONF, attrs)


# --------------------------------------------------------------------------- responder


@dataclass
class Responder:
    """Answers an Authentication Request for its own bootstrapping key, checks the Confirm."""

    own: Bootstrap
    role: AuthRole
    peer: ec.EllipticCurvePublicKey | None = None  # the initiator's key (mutual)
    require_mutual: bool = False
    behaviour: AuthBehaviour = field(default_factory=AuthBehaviour)
    quirks: AuthQuirks = field(default_factory=AuthQuirks)
    keys: AuthKeys | None = None
    peer_version: int | None = None
    i_capab: int | None = None
    # x coordinates R-auth covered, for checking I-auth (set by on_request)
    _pi_x: bytes = b""
    _pr_x: bytes = b""
    _bi_x: bytes | None = None

    @property
    def curve(self) -> crypto.Curve:
        return self.own.curve

    def out_of_state(self) -> DppFrame:
        """A well-formed Authentication Confirm for no exchange: status OK, the hash of
        the key it is sent to, wrapped data nobody can unwrap (a state-machine probe)."""
        return DppFrame(FrameType.AUTH_CONF, [
            _attr(AttrId.STATUS, bytes([Status.OK])),
            _attr(AttrId.R_BOOTSTRAP_KEY_HASH, self.own.hash),
            _attr(AttrId.WRAPPED_DATA, os.urandom(4 + self.curve.hash_len + 16))])

    def failure_status(self) -> DppFrame:
        """An Authentication Response carrying STATUS_AUTH_FAILURE and nothing else (what
        a mutant answers to frames it should have discarded)."""
        return DppFrame(FrameType.AUTH_RESP, [
            _attr(AttrId.STATUS, bytes([Status.AUTH_FAILURE])),
            _attr(AttrId.R_BOOTSTRAP_KEY_HASH, self.own.hash)])

    def matches(self, frame: DppFrame) -> bool:
        """Whether the request is for our bootstrapping key (else: stay silent)."""
        return frame.get(AttrId.R_BOOTSTRAP_KEY_HASH) == self.own.hash

    def on_request(self, frame: DppFrame) -> DppFrame:
        """The Authentication Response; AuthFailure(status=None) means discard silently."""
        if frame.frame_type != FrameType.AUTH_REQ:
            raise AuthFailure(f"expected an Authentication Request, got {frame.frame_type}")
        if not self.matches(frame) and not self.quirks.accept_unknown_r_hash:
            raise AuthFailure("the R-bootstrap key hash is not ours: discarded")
        curve, b = self.curve, self.behaviour
        version = frame.get(AttrId.PROTOCOL_VERSION)
        if version is not None and (not version or version[0] == 0):
            raise AuthFailure("invalid Protocol Version attribute")
        self.peer_version = version[0] if version else 1
        pi = _point(curve, frame.get(AttrId.I_PROTOCOL_KEY), "I-protocol key", self.quirks)
        mx = crypto.ecdh_x(self.own.key, pi)
        k1 = crypto.k1(curve, mx)
        try:
            inner = unwrap_frame(frame, k1)
        except AuthFailure:
            if not self.quirks.answer_after_failure:
                raise
            inner = [_attr(AttrId.I_NONCE, os.urandom(curve.nonce_len)),
                     _attr(AttrId.I_CAPABILITIES, bytes([Capab.ENROLLEE | Capab.CONFIGURATOR]))]
        i_nonce = find(inner, AttrId.I_NONCE)
        i_capab = find(inner, AttrId.I_CAPABILITIES)
        if i_nonce is None or len(i_nonce) != curve.nonce_len:
            raise AuthFailure("no I-nonce of the curve's nonce length")
        if not i_capab:
            raise AuthFailure("no I-capabilities")
        self.i_capab = i_capab[0]
        i_hash = frame.get(AttrId.I_BOOTSTRAP_KEY_HASH)
        mutual = self.peer is not None and i_hash == crypto.bootstrap_key_hash(self.peer) \
            and not self.quirks.never_mutual
        own_hash = flip(self.own.hash) if b.wrong_r_hash else self.own.hash
        if self.quirks.hash_uncompressed:
            own_hash = hashlib.sha256(crypto.uncompressed_point(self.own.public)).digest()
        header = [_attr(AttrId.R_BOOTSTRAP_KEY_HASH, own_hash)]
        if mutual:
            header.append(_attr(AttrId.I_BOOTSTRAP_KEY_HASH, i_hash or b""))
        own_capab = capab_of(self.role)
        wanted = Capab.CONFIGURATOR if self.role == AuthRole.ENROLLEE else Capab.ENROLLEE
        role_ok = bool(i_capab[0] & wanted)
        status = b.status
        if status is None and not role_ok and not self.quirks.ignore_roles:
            status = Status.NOT_COMPATIBLE
        if status is None and self.require_mutual and not mutual:
            status = Status.RESPONSE_PENDING
        r_capab = b.capabilities if b.capabilities is not None else own_capab
        if status is not None and status != Status.OK:
            # DPP §6.3.3: a status response carries {I-nonce, R-capabilities}k1
            attrs = [_attr(AttrId.STATUS, bytes([status])), *header]
            if b.version is not None:
                attrs.append(_attr(AttrId.PROTOCOL_VERSION, bytes([b.version])))
            clear = [_attr(AttrId.I_NONCE, i_nonce),
                     _attr(AttrId.R_CAPABILITIES, bytes([r_capab]))]
            return _wrapped_frame(FrameType.AUTH_RESP, attrs, k1, clear, b.tamper_wrapped)
        proto_curve = crypto.CURVES[b.curve] if b.curve else curve
        p = _protocol_key(proto_curve, self.quirks)
        pr = crypto.point_xy(p.public_key())
        if b.invalid_protocol_key or self.quirks.protocol_key_off_curve:
            pr = _off_curve(pr)
        nx = crypto.ecdh_x(p, pi) if not b.curve else os.urandom(curve.prime_len)
        k2 = crypto.k2(curve, nx)
        r_nonce = os.urandom(curve.nonce_len)
        lx = crypto.lx_responder(self.own.key, p, self.peer) if mutual and self.peer else None
        ke = crypto.ke(curve, i_nonce, r_nonce, mx, nx, lx)
        pi_x, pr_x = crypto.point_x(pi), crypto.point_x(p)
        bi_x = crypto.point_x(self.peer) if mutual and self.peer else None
        br_x = crypto.point_x(self.own.key)
        r_auth = crypto.r_auth(curve, i_nonce, r_nonce, pi_x, pr_x, bi_x, br_x)
        if b.wrong_r_auth or self.quirks.bad_r_auth:
            r_auth = flip(r_auth)
        wrapped_r_auth = crypto.wrap(ke, encode_attrs([_attr(AttrId.R_AUTH_TAG, r_auth)]), [])
        echo = flip(i_nonce) if b.wrong_i_nonce_echo or self.quirks.bad_i_nonce_echo \
            else i_nonce
        status_attr = [] if self.quirks.omit_status else [_attr(AttrId.STATUS, bytes([Status.OK]))]
        attrs = [*status_attr, *header, _attr(AttrId.R_PROTOCOL_KEY, pr)]
        if b.version is not None:
            attrs.append(_attr(AttrId.PROTOCOL_VERSION, bytes([b.version])))
        clear = [_attr(AttrId.R_NONCE, r_nonce), _attr(AttrId.I_NONCE, echo),
                 _attr(AttrId.R_CAPABILITIES, bytes([r_capab])),
                 _attr(AttrId.WRAPPED_DATA, wrapped_r_auth)]
        self.keys = AuthKeys(curve.name, i_nonce, r_nonce, k1, k2, ke, mutual, pi, p)
        self._pi_x, self._pr_x, self._bi_x = pi_x, pr_x, bi_x
        return _wrapped_frame(FrameType.AUTH_RESP, attrs, k2, clear, b.tamper_wrapped)

    def on_confirm(self, frame: DppFrame) -> None:
        """Checks the Authentication Confirm; AuthFailure when it does not authenticate."""
        if frame.frame_type != FrameType.AUTH_CONF:
            raise AuthFailure(f"expected an Authentication Confirm, got {frame.frame_type}")
        if self.keys is None:
            raise AuthFailure("a confirm before any response")
        if frame.get(AttrId.R_BOOTSTRAP_KEY_HASH) != self.own.hash:
            raise AuthFailure("the confirm's R-bootstrap key hash is not ours")
        status = frame.get(AttrId.STATUS)
        if not status:
            raise AuthFailure("no DPP Status attribute in the confirm")
        if status[0] != Status.OK:
            raise AuthFailure(f"the initiator confirmed with status {status[0]}", status[0])
        inner = unwrap_frame(frame, self.keys.ke)
        i_auth = find(inner, AttrId.I_AUTH_TAG)
        want = crypto.i_auth(self.curve, self.keys.r_nonce, self.keys.i_nonce, self._pr_x,
                             self._pi_x, crypto.point_x(self.own.key), self._bi_x)
        if i_auth != want and not self.quirks.skip_i_auth_check:
            raise AuthFailure("I-auth does not verify", Status.AUTH_FAILURE)


def _off_curve(xy: bytes) -> bytes:
    """The same x with y+1: a point of the right size that is not on the curve."""
    half = len(xy) // 2
    y = int.from_bytes(xy[half:], "big") + 1
    return xy[:half] + (y % (1 << (8 * half))).to_bytes(half, "big")
