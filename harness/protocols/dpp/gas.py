"""GAS frames carrying the DPP configuration exchange (IEEE 802.11 GAS, DPP adv. protocol).

Payloads start at the public action octet (after the Category octet):
  0x0a initial request:   dialog token | adv proto element | query len (le16) | query
  0x0b initial response:  dialog token | status (le16) | comeback delay (le16) |
                          adv proto element | response len (le16) | response
  0x0c comeback request:  dialog token
  0x0d comeback response: dialog token | status (le16) | fragment id (bit 7: more) |
                          comeback delay (le16) | adv proto element | len (le16) | response
The field order is the one Wireshark's dissect_wifi_dpp_tcp_pdu reads over TCP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from harness.protocols.dpp.errors import DppCodecError

GAS_INITIAL_REQUEST = 0x0A
GAS_INITIAL_RESPONSE = 0x0B
GAS_COMEBACK_REQUEST = 0x0C
GAS_COMEBACK_RESPONSE = 0x0D
GAS_ACTIONS = (GAS_INITIAL_REQUEST, GAS_INITIAL_RESPONSE, GAS_COMEBACK_REQUEST,
               GAS_COMEBACK_RESPONSE)

ADV_PROTO_EID = 0x6C
# Advertisement Protocol element: id 108, length 8, Query Response Info 0x7f, then the
# vendor-specific advertisement protocol id dd 05 | 50 6f 9a | 1a | 01 (DPP configuration),
# as hostap's dpp_build_conf_req writes it and Wireshark reads it (adv_proto_elt,
# vendor_spec_tag, vendor_spec_len, oui, oui_type, config).
ADV_PROTO_DPP = bytes.fromhex("6c087fdd05506f9a1a01")
_ADV_PROTO_ID = ADV_PROTO_DPP[3:]
MORE_FRAGMENTS = 0x80


@dataclass
class GasFrame:
    action: int  # 0x0a..0x0d
    dialog_token: int
    query: bytes = b""  # query (request) or response bytes
    status: int = 0
    comeback_delay: int = 0
    frag_id: int = 0
    more: bool = False


def _u8(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise DppCodecError(f"GAS {name} {value} does not fit in one octet")
    return value


def _u16(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise DppCodecError(f"GAS {name} {value} does not fit in 16 bits")
    return struct.pack("<H", value)


def _with_len(name: str, data: bytes) -> bytes:
    return _u16(f"{name} length", len(data)) + bytes(data)


def gas_initial_request(dialog_token: int, query: bytes) -> bytes:
    return (bytes([GAS_INITIAL_REQUEST, _u8("dialog token", dialog_token)]) + ADV_PROTO_DPP
            + _with_len("query", query))


def gas_initial_response(dialog_token: int, response: bytes, status: int = 0,
                         comeback_delay: int = 0) -> bytes:
    return (bytes([GAS_INITIAL_RESPONSE, _u8("dialog token", dialog_token)])
            + _u16("status", status) + _u16("comeback delay", comeback_delay)
            + ADV_PROTO_DPP + _with_len("response", response))


def gas_comeback_request(dialog_token: int) -> bytes:
    return bytes([GAS_COMEBACK_REQUEST, _u8("dialog token", dialog_token)])


def gas_comeback_response(dialog_token: int, response: bytes, frag_id: int, more: bool,
                          status: int = 0, delay: int = 0) -> bytes:
    if not 0 <= frag_id <= 0x7F:
        raise DppCodecError(f"GAS fragment id {frag_id} does not fit in 7 bits")
    return (bytes([GAS_COMEBACK_RESPONSE, _u8("dialog token", dialog_token)])
            + _u16("status", status) + bytes([frag_id | (MORE_FRAGMENTS if more else 0)])
            + _u16("comeback delay", delay) + ADV_PROTO_DPP + _with_len("response", response))


def is_gas(payload: bytes) -> bool:
    return len(payload) >= 2 and payload[0] in GAS_ACTIONS


class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def take(self, count: int, field: str) -> bytes:
        if self.pos + count > len(self.data):
            raise DppCodecError(
                f"{self.what}: {field} at offset {self.pos} needs {count} octet(s), "
                f"{len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + count]
        self.pos += count
        return out

    def u16(self, field: str) -> int:
        return int(struct.unpack("<H", self.take(2, field))[0])

    def adv_proto(self) -> None:
        head = self.take(2, "advertisement protocol element header")
        if head[0] != ADV_PROTO_EID:
            raise DppCodecError(f"{self.what}: element {head[0]} is not Advertisement Protocol "
                                f"({ADV_PROTO_EID})")
        body = self.take(head[1], "advertisement protocol element")
        # The Query Response Info octet (length limit, PAME-BI) may differ between peers.
        if body[1:] != _ADV_PROTO_ID:
            raise DppCodecError(
                f"{self.what}: advertisement protocol {body[1:].hex()} is not DPP "
                f"({_ADV_PROTO_ID.hex()})")

    def rest(self, field: str) -> bytes:
        length = self.u16(f"{field} length")
        data = self.take(length, field)
        if self.pos != len(self.data):
            raise DppCodecError(f"{self.what}: {len(self.data) - self.pos} octet(s) after "
                                f"the {field}")
        return data


def decode_gas(payload: bytes) -> GasFrame:
    """The GAS frame in `payload`; DppCodecError if malformed or not DPP's protocol."""
    data = bytes(payload)
    if not data:
        raise DppCodecError("empty GAS frame")
    action = data[0]
    names = {GAS_INITIAL_REQUEST: "GAS initial request", GAS_INITIAL_RESPONSE:
             "GAS initial response", GAS_COMEBACK_REQUEST: "GAS comeback request",
             GAS_COMEBACK_RESPONSE: "GAS comeback response"}
    if action not in names:
        raise DppCodecError(f"public action {action:#04x} is not a GAS frame (0x0a..0x0d)")
    r = _Reader(data, names[action])
    r.take(1, "action")
    token = r.take(1, "dialog token")[0]
    if action == GAS_INITIAL_REQUEST:
        r.adv_proto()
        return GasFrame(action, token, r.rest("query"))
    if action == GAS_COMEBACK_REQUEST:
        if r.pos != len(data):
            raise DppCodecError(f"GAS comeback request: {len(data) - r.pos} extra octet(s)")
        return GasFrame(action, token)
    status = r.u16("status")
    frag = r.take(1, "fragment id")[0] if action == GAS_COMEBACK_RESPONSE else 0
    delay = r.u16("comeback delay")
    r.adv_proto()
    response = r.rest("response")
    return GasFrame(action, token, response, status=status, comeback_delay=delay,
                    frag_id=frag & 0x7F, more=bool(frag & MORE_FRAGMENTS))
