"""The DPP Configuration protocol (DPP §6.4): GAS-carried request and response, and the
Configuration Result (R2), for the enrollee and the configurator side.

As in hostap src/common/dpp.c: the request's Wrapped Data {E-nonce, configAttrib}ke has
no associated data; the response's {E-nonce, configurationObject[, sendConnStatus]}ke
has the DPP Status attribute before it as associated data; the Configuration Result
{DPP Status, E-nonce}ke has the frame header and the (empty) attributes before it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from harness.protocols.dpp import connector as conn
from harness.protocols.dpp import crypto
from harness.protocols.dpp.attributes import (
    Attr,
    AttrId,
    FrameType,
    Status,
    encode_attrs,
    find,
)
from harness.protocols.dpp.auth import AuthFailure, AuthKeys, flip, inner_attrs, unwrap_frame
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.frames import DppFrame
from harness.protocols.dpp.gas import (
    GasFrame,
    decode_gas,
    gas_initial_request,
    gas_initial_response,
)

GAS_INITIAL_REQUEST, GAS_INITIAL_RESPONSE = 0x0A, 0x0B


def _gas(payload: bytes, action: int, what: str) -> GasFrame:
    """The GAS frame of `action` in `payload`; AuthFailure (the peer drops it) otherwise."""
    try:
        gas = decode_gas(payload)
    except DppCodecError as exc:
        raise AuthFailure(f"not a DPP GAS {what}: {exc}") from None
    if gas.action != action:
        raise AuthFailure(f"expected a GAS Initial {what.capitalize()}, got action "
                          f"{gas.action}")  # fmt: skip
    return gas


@dataclass
class Configurator:
    """A configurator's signing identity and the network it provisions."""

    csign: ec.EllipticCurvePrivateKey
    ssid: str = "onboardcheck-net"
    akm: str = "dpp"
    passphrase: str | None = None
    expiry: str | None = None

    @classmethod
    def generate(cls, curve: str = "P-256", **kw: object) -> Configurator:
        return cls(crypto.generate_key(crypto.CURVES[curve]), **kw)  # type: ignore[arg-type]


@dataclass
class ConfigBehaviour:
    """How a tester configurator or enrollee deviates on purpose (off by default)."""

    wrong_e_nonce: bool = False  # configurator: echo another E-nonce
    tamper_wrapped: bool = False
    status: int | None = None  # configurator: answer this status
    sign_with: ec.EllipticCurvePrivateKey | None = None  # sign the connector with another key
    net_access_key: ec.EllipticCurvePublicKey | None = None  # another netAccessKey
    net_role: str = "sta"  # enrollee: the netRole it asks for
    config_attributes: bytes | None = None  # enrollee: raw configAttrib override


@dataclass
class ConfigQuirks:
    """Checks a reference configurator/enrollee skips when bent into a mutant."""

    sign_with_wrong_key: bool = False
    ignore_curve: bool = False  # sign with a P-256 C-sign key whatever was agreed
    skip_connector_check: bool = False  # enrollee installs a connector that does not verify
    # enrollee
    skip_e_nonce_check: bool = False
    result_ok_always: bool = False  # a Configuration Result OK even after rejecting
    no_config_request: bool = False  # stops after authentication
    no_config_result: bool = False  # never sends the R2 Configuration Result
    attrs_without_netrole: bool = False
    # configurator
    wrong_e_nonce_echo: bool = False
    object_without_ssid: bool = False  # no "discovery" object
    connector_other_key: bool = False  # netAccessKey of a key the enrollee never used
    netrole_ap: bool = False  # the connector's group netRole is "ap" whatever was asked
    answers_bad_request: bool = False  # configures although the request did not unwrap
    connector_alg_mismatch: bool = False  # JWS alg ES384 over a P-256 C-sign key


@dataclass
class Received:
    """What an enrollee got from one configuration (the knowledge imparted)."""

    status: int
    objects: list[conn.ConfigObject] = field(default_factory=list)
    raw_objects: list[bytes] = field(default_factory=list)
    send_conn_status: bool = False
    connector_payload: dict | None = None
    connector_error: str | None = None
    object_errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- enrollee


@dataclass
class EnrolleeConfig:
    keys: AuthKeys
    name: str = "onboardcheck enrollee"
    behaviour: ConfigBehaviour = field(default_factory=ConfigBehaviour)
    quirks: ConfigQuirks = field(default_factory=ConfigQuirks)
    dialog_token: int = 1
    e_nonce: bytes = b""

    def request(self) -> bytes:
        """The GAS Initial Request payload carrying the DPP Configuration Request."""
        curve = crypto.CURVES[self.keys.curve]
        self.e_nonce = os.urandom(curve.nonce_len)
        attrib = self.behaviour.config_attributes or conn.config_request_json(
            self.name, self.behaviour.net_role)
        if self.quirks.attrs_without_netrole:
            attrib = json.dumps({"name": self.name, "wi-fi_tech": "infra"}).encode()
        clear = encode_attrs([Attr(AttrId.ENROLLEE_NONCE, self.e_nonce),
                              Attr(AttrId.CONFIG_ATTRIBUTES_OBJECT, attrib)])
        wrapped = crypto.wrap(self.keys.ke, clear, [])
        if self.behaviour.tamper_wrapped:
            wrapped = flip(wrapped)
        query = encode_attrs([Attr(AttrId.WRAPPED_DATA, wrapped)])
        return gas_initial_request(self.dialog_token, query)

    def on_response(self, payload: bytes) -> Received:
        """Checks and opens the GAS Initial Response; AuthFailure if it is not valid."""
        gas = _gas(payload, GAS_INITIAL_RESPONSE, "response")
        if gas.dialog_token != self.dialog_token:
            raise AuthFailure(f"dialog token {gas.dialog_token}, sent {self.dialog_token}")
        attrs = inner_attrs(gas.query)
        status = find(attrs, AttrId.STATUS)
        if not status:
            raise AuthFailure("no DPP Status attribute in the configuration response")
        wrapped = find(attrs, AttrId.WRAPPED_DATA)
        if wrapped is None:
            raise AuthFailure("no Wrapped Data in the configuration response")
        ad = encode_attrs([a for a in attrs[: _index(attrs, AttrId.WRAPPED_DATA)]])
        try:
            inner = inner_attrs(crypto.unwrap(self.keys.ke, wrapped, [ad]))
        except crypto.DppCryptoError as exc:
            raise AuthFailure(f"the configuration response does not unwrap: {exc}") from None
        if find(inner, AttrId.ENROLLEE_NONCE) != self.e_nonce and \
                not self.quirks.skip_e_nonce_check:
            raise AuthFailure("the configuration response does not echo our E-nonce")
        got = Received(status[0], send_conn_status=find(inner, AttrId.SEND_CONN_STATUS)
                       is not None)  # fmt: skip
        for attr in inner:
            if attr.id != AttrId.CONFIGURATION_OBJECT:
                continue
            got.raw_objects.append(attr.value)
            try:
                obj = conn.parse_config_object(attr.value)
            except (DppCodecError, crypto.DppCryptoError) as exc:
                got.object_errors.append(f"a configuration object does not parse: {exc}")
                continue
            got.objects.append(obj)
            if obj.connector and obj.csign:
                self._check_connector(obj, got)
        return got

    def _check_connector(self, obj: conn.ConfigObject, got: Received) -> None:
        try:
            csign = conn.public_from_jwk(obj.csign or {})
            payload = conn.verify_connector(obj.connector or "", csign)
        except (crypto.DppCryptoError, DppCodecError) as exc:
            got.connector_error = f"the connector does not verify against the C-sign key: {exc}"
            return
        got.connector_payload = payload
        nak = payload.get("netAccessKey")
        own = self.keys.own_protocol_key
        if own is not None and isinstance(nak, dict):
            try:
                key = conn.public_from_jwk(nak)
            except (crypto.DppCryptoError, DppCodecError) as exc:
                got.connector_error = f"netAccessKey is not a key: {exc}"
                return
            if crypto.point_xy(key) != crypto.point_xy(own.public_key()):
                got.connector_error = "netAccessKey is not our protocol key"

    def result(self, status: int = Status.OK) -> DppFrame:
        """The Configuration Result frame (DPP R2) acknowledging the response."""
        frame = DppFrame(FrameType.CONFIGURATION_RESULT, [])
        clear = encode_attrs([Attr(AttrId.STATUS, bytes([status])),
                              Attr(AttrId.ENROLLEE_NONCE, self.e_nonce)])
        wrapped = crypto.wrap(self.keys.ke, clear, [frame.header(), b""])
        frame.attrs.append(Attr(AttrId.WRAPPED_DATA, wrapped))
        return frame


def _index(attrs: list[Attr], aid: int) -> int:
    return next(i for i, a in enumerate(attrs) if a.id == aid)


# --------------------------------------------------------------------------- configurator


@dataclass
class ConfiguratorConfig:
    keys: AuthKeys
    configurator: Configurator
    behaviour: ConfigBehaviour = field(default_factory=ConfigBehaviour)
    quirks: ConfigQuirks = field(default_factory=ConfigQuirks)
    request_attributes: dict | None = None
    e_nonce: bytes = b""
    dialog_token: int = 0
    sent_status: int | None = None

    def on_request(self, payload: bytes) -> bytes:
        """The GAS Initial Response for a Configuration Request; AuthFailure if invalid
        (the spec has the configurator drop it)."""
        gas = _gas(payload, GAS_INITIAL_REQUEST, "request")
        self.dialog_token = gas.dialog_token
        attrs = inner_attrs(gas.query)
        wrapped = find(attrs, AttrId.WRAPPED_DATA)
        if wrapped is None:
            raise AuthFailure("no Wrapped Data in the configuration request")
        try:
            inner = inner_attrs(crypto.unwrap(self.keys.ke, wrapped, []))
        except crypto.DppCryptoError as exc:
            if self.quirks.answers_bad_request:  # the mutant configures anyway
                self.e_nonce = os.urandom(crypto.CURVES[self.keys.curve].nonce_len)
                self.request_attributes = {"netRole": "sta"}
                return self._response()
            raise AuthFailure(f"the configuration request does not unwrap: {exc}") from None
        e_nonce = find(inner, AttrId.ENROLLEE_NONCE)
        curve = crypto.CURVES[self.keys.curve]
        if e_nonce is None or len(e_nonce) != curve.nonce_len:
            raise AuthFailure("no E-nonce of the curve's nonce length")
        self.e_nonce = e_nonce
        attrib = find(inner, AttrId.CONFIG_ATTRIBUTES_OBJECT)
        if attrib is None:
            raise AuthFailure("no Configuration Attributes object")
        try:
            self.request_attributes = conn.parse_config_request(attrib)
        except (DppCodecError, crypto.DppCryptoError) as exc:
            raise AuthFailure(f"the Configuration Attributes object is invalid: {exc}") from None
        return self._response()

    def _response(self) -> bytes:
        b = self.behaviour
        status = b.status if b.status is not None else Status.OK
        wrong = b.wrong_e_nonce or self.quirks.wrong_e_nonce_echo
        clear = [Attr(AttrId.ENROLLEE_NONCE, flip(self.e_nonce) if wrong else self.e_nonce)]
        if status == Status.OK:
            clear.append(Attr(AttrId.CONFIGURATION_OBJECT, self.config_object()))
        head = encode_attrs([Attr(AttrId.STATUS, bytes([status]))])
        wrapped = crypto.wrap(self.keys.ke, encode_attrs(clear), [head])
        if b.tamper_wrapped:
            wrapped = flip(wrapped)
        self.sent_status = status
        body = head + encode_attrs([Attr(AttrId.WRAPPED_DATA, wrapped)])
        return gas_initial_response(self.dialog_token, body)

    def config_object(self) -> bytes:
        c, b = self.configurator, self.behaviour
        q = self.quirks
        net_role = str((self.request_attributes or {}).get("netRole", "sta"))
        if q.netrole_ap:
            net_role = "ap"
        obj = conn.ConfigObject(wifi_tech="infra", ssid=c.ssid, akm=c.akm,
                                passphrase=c.passphrase, psk_hex=None, connector=None,
                                csign=None, pp_key=None, raw={})  # fmt: skip
        if "dpp" in c.akm:
            signer = b.sign_with or c.csign
            if self.quirks.sign_with_wrong_key:
                signer = crypto.generate_key(crypto.curve_of(c.csign))
            peer_key = b.net_access_key or self.keys.peer_protocol_key
            assert peer_key is not None  # set by a completed authentication
            if q.connector_other_key:
                peer_key = crypto.generate_key(crypto.curve_of(peer_key)).public_key()
            alg = "ES384" if q.connector_alg_mismatch else None
            obj.connector = conn.make_connector(signer, peer_key, net_role=net_role,
                                                expiry=c.expiry, alg=alg)  # fmt: skip
            obj.csign = conn.jwk_of(c.csign.public_key(), conn.csign_kid(c.csign.public_key()))
        data = conn.config_object_json(obj)
        if q.object_without_ssid:
            tree = json.loads(data)
            tree.pop("discovery", None)
            data = json.dumps(tree).encode()
        return data

    def on_result(self, frame: DppFrame) -> int:
        """The enrollee's Configuration Result status; AuthFailure if it is not valid."""
        if frame.frame_type != FrameType.CONFIGURATION_RESULT:
            raise AuthFailure(f"expected a Configuration Result, got {frame.frame_type}")
        inner = unwrap_frame(frame, self.keys.ke)
        if find(inner, AttrId.ENROLLEE_NONCE) != self.e_nonce:
            raise AuthFailure("the Configuration Result does not echo the E-nonce")
        status = find(inner, AttrId.STATUS)
        if not status:
            raise AuthFailure("no DPP Status in the Configuration Result")
        return status[0]
