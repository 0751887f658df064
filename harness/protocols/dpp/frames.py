"""DPP public action frames, as scapy layers and as the harness's `DppFrame`.

A DPP frame's payload (after the 802.11 Category octet, and exactly what follows the
length in a DPP-over-TCP PDU) is: action 0x09 (vendor specific), OUI 50-6F-9A, OUI
type 0x1A, crypto suite, DPP frame type, attributes (hostap DPP_HDR_LEN = 4 + 2 counts
OUI, OUI type, crypto suite and frame type; Wireshark dissect_wifi_dpp_tcp_pdu reads
the same order after the TCP length).

The scapy layers build and parse (`DPPPublicAction(raw).show()`, `fuzz(...)`); the
functions below add strict checks so that broken input gives `DppCodecError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from scapy.config import conf
from scapy.fields import (
    ByteEnumField,
    ByteField,
    FieldLenField,
    IntField,
    LEShortEnumField,
    PacketListField,
    StrLenField,
    X3BytesField,
)
from scapy.layers.dot11 import Dot11Action
from scapy.layers.inet import TCP
from scapy.packet import Packet, bind_layers

from harness.protocols.dpp.attributes import (
    Attr,
    AttrId,
    FrameType,
    decode_attrs,
    encode_attrs,
    find,
)
from harness.protocols.dpp.errors import DppCodecError

PUBLIC_ACTION_CATEGORY = 4
VENDOR_SPECIFIC_ACTION = 0x09
WFA_OUI = b"\x50\x6f\x9a"
DPP_OUI_TYPE = 0x1A  # Wireshark WFA_SUBTYPE_DPP (26); hostap DPP_OUI_TYPE
DPP_PREFIX = bytes([VENDOR_SPECIFIC_ACTION]) + WFA_OUI + bytes([DPP_OUI_TYPE])
HEADER_LEN = len(DPP_PREFIX) + 2  # + crypto suite + frame type
DPP_TCP_PORT = 7871  # Wireshark WIFI_DPP_TCP_PORT; the spec's port for DPP over TCP

_ATTR_NAMES = {a.value: a.name for a in AttrId}
_FRAME_NAMES = {f.value: f.name for f in FrameType}


class DPPAttribute(Packet):
    name = "DPP attribute"
    fields_desc = [
        LEShortEnumField("id", AttrId.STATUS, _ATTR_NAMES),
        FieldLenField("length", None, length_of="value", fmt="<H"),
        StrLenField("value", b"", length_from=lambda pkt: pkt.length),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class DPPPublicAction(Packet):
    name = "DPP public action"
    fields_desc = [
        ByteField("action", VENDOR_SPECIFIC_ACTION),
        X3BytesField("oui", 0x506F9A),
        ByteField("oui_type", DPP_OUI_TYPE),
        ByteField("crypto_suite", 1),
        ByteEnumField("frame_type", FrameType.AUTH_REQ, _FRAME_NAMES),
        PacketListField("attrs", [], DPPAttribute),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        # Other public actions (GAS 10..13, ...) share the category: leave them raw.
        if _pkt is not None and bytes(_pkt[:len(DPP_PREFIX)]) != DPP_PREFIX:
            return conf.raw_layer
        return cls


class DPPTcpPdu(Packet):
    """DPP over TCP: a 4-octet big-endian length, then the payload (no Category)."""

    name = "DPP over TCP"
    fields_desc = [
        IntField("length", None),  # filled in by post_build
    ]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.length is None:
            pkt = struct.pack("!I", len(pay)) + pkt[4:]
        return pkt + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return s[:self.length], s[self.length:]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return DPPPublicAction


bind_layers(Dot11Action, DPPPublicAction, category=PUBLIC_ACTION_CATEGORY)
bind_layers(TCP, DPPTcpPdu, dport=DPP_TCP_PORT)
bind_layers(TCP, DPPTcpPdu, sport=DPP_TCP_PORT)


@dataclass
class DppFrame:
    frame_type: int
    attrs: list[Attr] = field(default_factory=list)
    crypto_suite: int = 1

    def get(self, aid: int) -> bytes | None:
        return find(self.attrs, aid)

    def header(self) -> bytes:
        """OUI | OUI type | crypto suite | frame type: the first AES-SIV AD of a frame."""
        return WFA_OUI + bytes([DPP_OUI_TYPE, self.crypto_suite & 0xFF, self.frame_type & 0xFF])

    def attrs_before(self, aid: int) -> bytes:
        """The encoded attributes before the first `aid` (the second AD of Wrapped Data)."""
        for index, attr in enumerate(self.attrs):
            if attr.id == aid:
                return encode_attrs(self.attrs[:index])
        raise DppCodecError(f"frame has no attribute {aid:#06x}")


def scapy_layer(frame: DppFrame) -> DPPPublicAction:
    """`frame` as the scapy layer (for show(), fuzz() or composing with Dot11)."""
    for name, value in (("frame type", frame.frame_type), ("crypto suite", frame.crypto_suite)):
        if not 0 <= value <= 0xFF:
            raise DppCodecError(f"{name} {value} does not fit in one octet")
    return DPPPublicAction(
        crypto_suite=frame.crypto_suite,
        frame_type=frame.frame_type,
        attrs=[DPPAttribute(id=a.id, value=a.value) for a in frame.attrs],
    )


def encode_frame(frame: DppFrame) -> bytes:
    """The payload of `frame`, starting with action 0x09."""
    return bytes(scapy_layer(frame))


def is_dpp_frame(payload: bytes) -> bool:
    return len(payload) >= HEADER_LEN and bytes(payload[:len(DPP_PREFIX)]) == DPP_PREFIX


def decode_frame(payload: bytes) -> DppFrame:
    """The DPP frame in `payload`; DppCodecError if it is not one or is malformed."""
    data = bytes(payload)
    if len(data) < HEADER_LEN:
        raise DppCodecError(f"DPP frame too short: {len(data)} octets, header needs {HEADER_LEN}")
    if data[0] != VENDOR_SPECIFIC_ACTION:
        raise DppCodecError(f"public action {data[0]:#04x} is not vendor specific (0x09)")
    if data[1:4] != WFA_OUI:
        raise DppCodecError(f"OUI {data[1:4].hex()} is not the Wi-Fi Alliance's (506f9a)")
    if data[4] != DPP_OUI_TYPE:
        raise DppCodecError(f"WFA OUI type {data[4]:#04x} is not DPP (0x1a)")
    attrs = decode_attrs(data[HEADER_LEN:])  # strict: scapy's list parsing is lenient
    return DppFrame(frame_type=data[6], attrs=attrs, crypto_suite=data[5])
