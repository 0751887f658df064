"""The virtual 802.11 medium's evidence: radiotap + 802.11 management action frames.

Frames are written to pcapng with link type 127 (LINKTYPE_IEEE802_11_RADIOTAP), so
Wireshark's radiotap, wlan and dpp dissectors decode them as a real capture.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

from scapy.layers.dot11 import Dot11, RadioTap

from harness.errors import CaptureError
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.frames import PUBLIC_ACTION_CATEGORY

LINKTYPE_IEEE802_11_RADIOTAP = 127
BROADCAST = "ff:ff:ff:ff:ff:ff"  # DPP frames outside a BSS use the wildcard BSSID
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_FC_ACTION = 0xD0  # frame control octet 0: management (type 0), subtype 13 (action)
_FLAG_FCS = 0x10  # radiotap Flags: frame includes FCS
_FC1_PROTECTED = 0x40
_FC1_ORDER = 0x80  # +HTC: a 4-octet HT Control field follows the header
_DOT11_HEADER = 24


def _mac(value: str, what: str) -> str:
    mac = value.lower()
    if not _MAC.match(mac):
        raise DppCodecError(f"{what} {value!r} is not a MAC address aa:bb:cc:dd:ee:ff")
    return mac


def wlan_action(payload: bytes, src: str, dst: str, bssid: str | None = None,
                freq_mhz: int = 2412) -> bytes:
    """Radiotap header + 802.11 action frame (subtype 13) with body 0x04 + `payload`."""
    if not 0 < freq_mhz <= 0xFFFF:
        raise DppCodecError(f"frequency {freq_mhz} MHz does not fit the radiotap channel field")
    # scapy takes the rate in Mb/s: 1 Mb/s DSSS at 2.4 GHz, 6 Mb/s OFDM elsewhere.
    if freq_mhz < 3000:
        radio = RadioTap(present="Flags+Rate+Channel", Flags=0, Rate=1,
                         ChannelFrequency=freq_mhz, ChannelFlags="2GHz+CCK")
    else:
        radio = RadioTap(present="Flags+Rate+Channel", Flags=0, Rate=6,
                         ChannelFrequency=freq_mhz, ChannelFlags="5GHz+OFDM")
    header = Dot11(type=0, subtype=13, addr1=_mac(dst, "destination"),
                   addr2=_mac(src, "source"), addr3=_mac(bssid or BROADCAST, "BSSID"))
    return bytes(radio / header) + bytes([PUBLIC_ACTION_CATEGORY]) + bytes(payload)


def _radiotap_split(wlan: bytes) -> tuple[bytes, bool]:
    """The 802.11 frame after the radiotap header, and whether it ends with an FCS."""
    if len(wlan) < 8:
        raise DppCodecError(f"radiotap header truncated: {len(wlan)} octets")
    version, _, length = struct.unpack_from("<BBH", wlan, 0)
    if version != 0:
        raise DppCodecError(f"radiotap version {version} is not 0")
    if not 8 <= length <= len(wlan):
        raise DppCodecError(f"radiotap length {length} outside 8..{len(wlan)}")
    present = struct.unpack_from("<I", wlan, 4)[0]
    offset, word = 8, present
    while word & 0x80000000:  # extended presence bitmaps
        if offset + 4 > length:
            raise DppCodecError("radiotap presence bitmaps run past the header")
        word = struct.unpack_from("<I", wlan, offset)[0]
        offset += 4
    fcs = False
    if present & 0x1:  # TSFT: 8 octets, 8-aligned
        offset = (offset + 7) & ~7
        offset += 8
    if present & 0x2:  # Flags
        if offset >= length:
            raise DppCodecError("radiotap Flags field runs past the header")
        fcs = bool(wlan[offset] & _FLAG_FCS)
    return bytes(wlan[length:]), fcs


def payload_of(wlan: bytes) -> tuple[str, str, bytes]:
    """(source, destination, payload after Category 4) of a radiotap public action frame."""
    frame, fcs = _radiotap_split(wlan)
    if fcs:
        if len(frame) < 4:
            raise DppCodecError("frame too short for its FCS")
        frame = frame[:-4]
    if len(frame) < _DOT11_HEADER + 1:
        raise DppCodecError(f"802.11 frame too short for an action frame: {len(frame)} octets")
    if frame[0] != _FC_ACTION:
        raise DppCodecError(f"frame control {frame[0]:#04x} is not a management action frame")
    if frame[1] & _FC1_PROTECTED:
        raise DppCodecError("protected action frame: public action frames are not protected")
    start = _DOT11_HEADER + (4 if frame[1] & _FC1_ORDER else 0)
    if len(frame) <= start:
        raise DppCodecError("action frame has no body")
    if frame[start] != PUBLIC_ACTION_CATEGORY:
        raise DppCodecError(f"action category {frame[start]} is not Public (4)")

    def mac(at: int) -> str:
        return ":".join(f"{b:02x}" for b in frame[at:at + 6])

    return mac(10), mac(4), bytes(frame[start + 1:])


def _block(kind: int, body: bytes) -> bytes:
    size = struct.pack("<I", 12 + len(body))
    return struct.pack("<I", kind) + size + body + size


def write_pcapng(path: Path, frames: Iterable[tuple[float, bytes]]) -> None:
    """Write (time, radiotap frame) pairs to `path` as pcapng, link type 127."""
    out = [
        _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),  # section header
        _block(1, struct.pack("<HHI", LINKTYPE_IEEE802_11_RADIOTAP, 0, 0)),  # interface, µs
    ]
    for when, data in frames:
        micros = round(when * 1_000_000)
        if micros < 0:
            raise CaptureError(f"frame time {when} is negative")
        pad = b"\x00" * (-len(data) % 4)
        out.append(_block(6, struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF,
                                          len(data), len(data)) + bytes(data) + pad))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(out))
    except OSError as exc:
        raise CaptureError(f"cannot write {path}: {exc}") from exc
