"""DPP attributes: identifiers, status codes, frame types, and the TLV codec.

Values checked against hostap src/common/dpp.h (greearb/hostap-ct @782c89c3:
enum dpp_public_action_frame_type, enum dpp_attribute_id, enum dpp_status_error) and
Wireshark epan/dissectors/packet-wifi-dpp.c (value strings dpp_ie_attr_ids,
dpp_status_codes, dpp_public_action_subtypes). An attribute is le16 id, le16 length,
value (hostap dpp_get_attr, Wireshark dissect_wifi_dpp_attributes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from harness.protocols.dpp.errors import DppCodecError

ATTR_HEADER_LEN = 4


class AttrId(IntEnum):
    """hostap enum dpp_attribute_id; Wireshark knows 0x1000-0x1021 (not 0x1011, 0x1022)."""

    STATUS = 0x1000
    I_BOOTSTRAP_KEY_HASH = 0x1001
    R_BOOTSTRAP_KEY_HASH = 0x1002
    I_PROTOCOL_KEY = 0x1003
    WRAPPED_DATA = 0x1004
    I_NONCE = 0x1005
    I_CAPABILITIES = 0x1006
    R_NONCE = 0x1007
    R_CAPABILITIES = 0x1008
    R_PROTOCOL_KEY = 0x1009
    I_AUTH_TAG = 0x100A
    R_AUTH_TAG = 0x100B
    CONFIGURATION_OBJECT = 0x100C
    CONNECTOR = 0x100D
    CONFIG_ATTRIBUTES_OBJECT = 0x100E
    BOOTSTRAPPING_KEY = 0x100F
    OWN_NET_NK_HASH = 0x1011  # hostap DPP_ATTR_OWN_NET_NK_HASH (R3)
    FINITE_CYCLIC_GROUP = 0x1012
    ENCRYPTED_KEY = 0x1013
    ENROLLEE_NONCE = 0x1014
    CODE_IDENTIFIER = 0x1015
    TRANSACTION_ID = 0x1016
    BOOTSTRAPPING_INFO = 0x1017
    CHANNEL = 0x1018
    PROTOCOL_VERSION = 0x1019
    ENVELOPED_DATA = 0x101A
    SEND_CONN_STATUS = 0x101B
    CONN_STATUS = 0x101C
    RECONFIG_FLAGS = 0x101D
    C_SIGN_KEY_HASH = 0x101E
    CSR_ATTRIBUTES_REQUEST = 0x101F
    A_NONCE = 0x1020
    E_PRIME_ID = 0x1021
    CONFIGURATOR_NONCE = 0x1022


class Status(IntEnum):
    """hostap enum dpp_status_error; Wireshark names 0-13 the same way."""

    OK = 0
    NOT_COMPATIBLE = 1
    AUTH_FAILURE = 2
    # Both hostap and Wireshark call 3 UNWRAP_FAILURE; BAD_CODE is kept as an alias.
    UNWRAP_FAILURE = 3
    BAD_CODE = 3
    BAD_GROUP = 4
    CONFIGURE_FAILURE = 5
    RESPONSE_PENDING = 6
    INVALID_CONNECTOR = 7
    NO_MATCH = 8
    CONFIG_REJECTED = 9
    NO_AP = 10
    CONFIGURE_PENDING = 11
    CSR_NEEDED = 12
    CSR_BAD = 13
    NEW_KEY_NEEDED = 14


class FrameType(IntEnum):
    """hostap enum dpp_public_action_frame_type; Wireshark 4.0 names 0-17 only."""

    AUTH_REQ = 0
    AUTH_RESP = 1
    AUTH_CONF = 2
    PEER_DISCOVERY_REQ = 5
    PEER_DISCOVERY_RESP = 6
    PKEX_V1_EXCHANGE_REQ = 7
    PKEX_EXCHANGE_RESP = 8
    PKEX_COMMIT_REVEAL_REQ = 9
    PKEX_COMMIT_REVEAL_RESP = 10
    CONFIGURATION_RESULT = 11
    CONNECTION_STATUS_RESULT = 12
    PRESENCE_ANNOUNCEMENT = 13
    RECONFIG_ANNOUNCEMENT = 14
    RECONFIG_AUTH_REQ = 15
    RECONFIG_AUTH_RESP = 16
    RECONFIG_AUTH_CONF = 17
    PKEX_EXCHANGE_REQ = 18
    PB_PRESENCE_ANNOUNCEMENT = 19
    PB_PRESENCE_ANNOUNCEMENT_RESP = 20
    PRIV_PEER_INTRO_QUERY = 21
    PRIV_PEER_INTRO_NOTIFY = 22
    PRIV_PEER_INTRO_UPDATE = 23


@dataclass(frozen=True)
class Attr:
    """One attribute; `id` may be a value no enum names (kept as the int)."""

    id: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= int(self.id) <= 0xFFFF:
            raise DppCodecError(f"attribute id {self.id!r} does not fit in 16 bits")
        if len(self.value) > 0xFFFF:
            raise DppCodecError(
                f"attribute {self.id:#06x}: value of {len(self.value)} octets exceeds 65535")

    def __repr__(self) -> str:
        try:
            name = AttrId(self.id).name
        except ValueError:
            name = f"{self.id:#06x}"
        return f"Attr({name}, {self.value.hex()})"


def encode_attrs(attrs: Iterable[Attr]) -> bytes:
    return b"".join(struct.pack("<HH", a.id, len(a.value)) + bytes(a.value) for a in attrs)


def decode_attrs(data: bytes) -> list[Attr]:
    """Every attribute of `data`, which must hold whole attributes and nothing else."""
    out: list[Attr] = []
    pos = 0
    view = bytes(data)
    while pos < len(view):
        if len(view) - pos < ATTR_HEADER_LEN:
            raise DppCodecError(
                f"attribute header truncated at offset {pos}: {len(view) - pos} octet(s) left")
        aid, length = struct.unpack_from("<HH", view, pos)
        start = pos + ATTR_HEADER_LEN
        if start + length > len(view):
            raise DppCodecError(
                f"attribute {aid:#06x} at offset {pos} announces {length} octets, "
                f"{len(view) - start} left")
        out.append(Attr(aid, view[start:start + length]))
        pos = start + length
    return out


def find(attrs: Sequence[Attr], aid: int) -> bytes | None:
    """Value of the first attribute with id `aid`, None if there is none."""
    for attr in attrs:
        if attr.id == aid:
            return attr.value
    return None


def find_all(attrs: Sequence[Attr], aid: int) -> list[bytes]:
    return [attr.value for attr in attrs if attr.id == aid]
