"""DPP codec: attributes, frames (scapy layers), GAS, DPP over TCP, radiotap, URI.

Expected bytes are written out from the layouts of hostap (src/common/dpp.h,
dpp_build_conf_req) and Wireshark (packet-wifi-dpp.c); the URI decisions come from the
hostap/iwd corpus in vectors/dpp/bootstrap_uri_parsing.json. tests/test_dpp_tshark.py
has tshark judge the same encoders.
"""

from __future__ import annotations

import base64
import random
import socket
import struct
import threading

import pytest
from scapy.layers.dot11 import Dot11, RadioTap
from scapy.packet import fuzz

from harness.protocols.dpp.attributes import (
    Attr,
    AttrId,
    FrameType,
    Status,
    decode_attrs,
    encode_attrs,
    find,
    find_all,
)
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.frames import (
    DPPAttribute,
    DppFrame,
    DPPPublicAction,
    decode_frame,
    encode_frame,
    is_dpp_frame,
)
from harness.protocols.dpp.gas import (
    ADV_PROTO_DPP,
    decode_gas,
    gas_comeback_request,
    gas_comeback_response,
    gas_initial_request,
    gas_initial_response,
    is_gas,
)
from harness.protocols.dpp.radiotap import payload_of, wlan_action
from harness.protocols.dpp.tcp import MAX_PDU, ConnectionClosed, PduReader, pdu
from harness.protocols.dpp.uri import BootstrapInfo, channel_freq, make_uri, parse_uri
from harness.vectors import load_vector

R_HASH = bytes(range(32))
AUTH_REQ = bytes.fromhex(
    "09" "506f9a" "1a" "01" "00"  # vendor specific, WFA OUI, DPP, suite 1, Auth Request
    "0210" "2000") + R_HASH + bytes.fromhex(  # R-bootstrap key hash, le16 id, le16 len
    "0610" "0100" "02")  # I-capabilities: configurator


# --- attributes and frames -------------------------------------------------------------

def test_enums_name_the_values_of_hostap_dpp_h():
    assert AttrId.CONFIGURATOR_NONCE == 0x1022 and AttrId.FINITE_CYCLIC_GROUP == 0x1012
    assert Status.UNWRAP_FAILURE == Status.BAD_CODE == 3 and Status.NEW_KEY_NEEDED == 14
    assert FrameType.PEER_DISCOVERY_REQ == 5 and FrameType.PKEX_EXCHANGE_REQ == 18


def test_encode_frame_matches_the_wire_layout():
    frame = DppFrame(FrameType.AUTH_REQ, [Attr(AttrId.R_BOOTSTRAP_KEY_HASH, R_HASH),
                                          Attr(AttrId.I_CAPABILITIES, b"\x02")])
    assert encode_frame(frame) == AUTH_REQ
    assert frame.header() == bytes.fromhex("506f9a1a0100")
    assert frame.attrs_before(AttrId.I_CAPABILITIES) == AUTH_REQ[7:7 + 36]
    assert frame.attrs_before(AttrId.R_BOOTSTRAP_KEY_HASH) == b""
    with pytest.raises(DppCodecError, match="no attribute"):
        frame.attrs_before(AttrId.WRAPPED_DATA)


def test_decode_frame_reads_the_wire_layout():
    frame = decode_frame(AUTH_REQ)
    assert frame.frame_type == FrameType.AUTH_REQ and frame.crypto_suite == 1
    assert frame.get(AttrId.R_BOOTSTRAP_KEY_HASH) == R_HASH
    assert frame.get(AttrId.I_CAPABILITIES) == b"\x02"
    assert frame.get(AttrId.WRAPPED_DATA) is None
    assert is_dpp_frame(AUTH_REQ) and not is_dpp_frame(AUTH_REQ[:6])


def test_unknown_attributes_and_repeats_are_kept():
    data = bytes.fromhex("3412 0100 aa" "0010 0100 00" "3412 0000")
    attrs = decode_attrs(data)
    assert attrs == [Attr(0x1234, b"\xaa"), Attr(0x1000, b"\x00"), Attr(0x1234, b"")]
    assert encode_attrs(attrs) == data
    assert find(attrs, 0x1234) == b"\xaa" and find_all(attrs, 0x1234) == [b"\xaa", b""]


@pytest.mark.parametrize(("data", "message"), [
    (AUTH_REQ[:6], "too short"),
    (b"\x0a" + AUTH_REQ[1:], "not vendor specific"),
    (AUTH_REQ[:1] + b"\x00\x10\x18" + AUTH_REQ[4:], "OUI"),
    (AUTH_REQ[:4] + b"\x09" + AUTH_REQ[5:], "not DPP"),
    (AUTH_REQ[:-1], "announces 1 octets, 0 left"),
    (AUTH_REQ + b"\x00\x10\x01", "header truncated"),
])
def test_decode_frame_rejects_broken_frames(data, message):
    with pytest.raises(DppCodecError, match=message):
        decode_frame(data)


def test_attr_rejects_values_that_do_not_fit():
    with pytest.raises(DppCodecError):
        Attr(0x10000, b"")
    with pytest.raises(DppCodecError):
        Attr(0x1004, bytes(0x10000))
    with pytest.raises(DppCodecError):
        encode_frame(DppFrame(256, []))


def test_scapy_layer_parses_and_shows():
    pkt = DPPPublicAction(AUTH_REQ)
    assert pkt.frame_type == 0 and len(pkt.attrs) == 2
    assert pkt.attrs[0].id == 0x1002 and pkt.attrs[0].value == R_HASH
    text = pkt.show(dump=True)
    assert "R_BOOTSTRAP_KEY_HASH" in text and "AUTH_REQ" in text
    assert bytes(pkt) == AUTH_REQ


def test_fuzzed_frames_parse_or_raise_the_codec_error():
    random.seed(7871)  # scapy's random values come from `random`
    outcomes = {"parsed": 0, "rejected": 0}
    templates = [
        lambda: fuzz(DPPPublicAction(attrs=[DPPAttribute(id=0x1002, value=R_HASH)])),
        lambda: DPPPublicAction(attrs=[fuzz(DPPAttribute()), fuzz(DPPAttribute())]),
        lambda: fuzz(DPPPublicAction(attrs=[fuzz(DPPAttribute())])),
    ]
    for i in range(300):
        raw = bytes(templates[i % len(templates)]())
        for data in (raw, raw[: random.randrange(len(raw) + 1)]):
            try:
                decode_frame(data)
            except DppCodecError:
                outcomes["rejected"] += 1
            else:
                outcomes["parsed"] += 1
    assert outcomes["parsed"] > 0 and outcomes["rejected"] > 0, outcomes


# --- GAS -------------------------------------------------------------------------------

def test_gas_frames_match_the_802_11_layout():
    assert bytes.fromhex("6c087fdd05506f9a1a01") == ADV_PROTO_DPP
    assert gas_initial_request(5, b"q") == bytes.fromhex("0a05" "6c087fdd05506f9a1a01" "0100" "71")
    assert gas_initial_response(5, b"rr", status=0, comeback_delay=1) == bytes.fromhex(
        "0b05" "0000" "0100" "6c087fdd05506f9a1a01" "0200" "7272")
    assert gas_comeback_request(9) == b"\x0c\x09"
    assert gas_comeback_response(9, b"r", 3, True) == bytes.fromhex(
        "0d09" "0000" "83" "0000" "6c087fdd05506f9a1a01" "0100" "72")


def test_decode_gas_round_trips():
    req = decode_gas(gas_initial_request(5, b"query"))
    assert (req.action, req.dialog_token, req.query) == (0x0A, 5, b"query")
    resp = decode_gas(gas_initial_response(6, b"", status=61, comeback_delay=100))
    assert (resp.action, resp.status, resp.comeback_delay, resp.query) == (0x0B, 61, 100, b"")
    back = decode_gas(gas_comeback_response(7, b"part", 2, True, status=0, delay=0))
    assert (back.action, back.frag_id, back.more, back.query) == (0x0D, 2, True, b"part")
    assert decode_gas(gas_comeback_request(8)).dialog_token == 8
    assert is_gas(gas_comeback_request(8)) and not is_gas(AUTH_REQ)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"\x09\x01", "not a GAS frame"),
    (bytes.fromhex("0a05" "6c087fdd05506f9a1a02" "0000"), "not DPP"),  # ANQP-ish id
    (bytes.fromhex("0a05" "dd087fdd05506f9a1a01" "0000"), "not Advertisement Protocol"),
    (bytes.fromhex("0a05" "6c087fdd05506f9a1a01" "0500" "71"), "needs 5 octet"),
    (bytes.fromhex("0a05" "6c087fdd05506f9a1a01" "0100" "7172"), "after the query"),
    (bytes.fromhex("0b05" "00"), "status"),
    (bytes.fromhex("0c0800"), "extra"),
])
def test_decode_gas_rejects_broken_frames(data, message):
    with pytest.raises(DppCodecError, match=message):
        decode_gas(data)


def test_gas_builders_reject_values_that_do_not_fit():
    with pytest.raises(DppCodecError):
        gas_initial_request(256, b"")
    with pytest.raises(DppCodecError):
        gas_initial_request(1, bytes(0x10000))
    with pytest.raises(DppCodecError):
        gas_comeback_response(1, b"", 128, False)


def test_random_bytes_never_escape_the_codec_error():
    rng = random.Random(11)
    seeds = [AUTH_REQ, gas_initial_request(1, AUTH_REQ[7:]),
             gas_comeback_response(1, b"x", 1, True), wlan_action(AUTH_REQ, "02:00:00:00:00:01",
                                                                  "02:00:00:00:00:02")]
    parsed = rejected = 0
    for _ in range(2000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randrange(len(data) + 1)]
        for decoder in (decode_frame, decode_gas, payload_of):
            try:
                decoder(bytes(data))
            except DppCodecError:
                rejected += 1
            else:
                parsed += 1
    assert parsed > 0 and rejected > 0


# --- DPP over TCP ----------------------------------------------------------------------

@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_pdu_is_big_endian_length_then_payload():
    assert pdu(AUTH_REQ) == struct.pack("!I", len(AUTH_REQ)) + AUTH_REQ


def test_reader_reads_whole_pdus(pair):
    a, b = pair
    a.sendall(pdu(b"one") + pdu(b"two"))
    reader = PduReader(b)
    assert reader.read(5.0) == b"one"
    assert reader.read(5.0) == b"two"


def test_reader_joins_a_split_pdu(pair):
    a, b = pair
    data = pdu(AUTH_REQ)
    reader = PduReader(b)
    a.sendall(data[:2])
    assert reader.read(0.05) is None  # a partial length is kept, not lost
    a.sendall(data[2:10])
    assert reader.read(0.05) is None
    sender = threading.Thread(target=a.sendall, args=(data[10:],))
    sender.start()
    assert reader.read(5.0) == AUTH_REQ
    sender.join()


def test_reader_times_out_with_none(pair):
    _, b = pair
    assert PduReader(b).read(0.05) is None


def test_reader_rejects_zero_length(pair):
    a, b = pair
    a.sendall(b"\x00\x00\x00\x00")
    with pytest.raises(DppCodecError, match="zero length"):
        PduReader(b).read(5.0)


def test_reader_rejects_over_long_length(pair):
    a, b = pair
    a.sendall(struct.pack("!I", MAX_PDU + 1))
    with pytest.raises(DppCodecError, match="more than the limit"):
        PduReader(b).read(5.0)
    a.sendall(struct.pack("!I", 101))
    with pytest.raises(DppCodecError, match="limit 100"):
        PduReader(b, max_pdu=100).read(5.0)


def test_reader_reports_eof_inside_and_before_a_pdu(pair):
    a, b = pair
    a.sendall(pdu(AUTH_REQ)[:-1])
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionClosed, match="inside a PDU"):
        PduReader(b).read(5.0)
    c, d = socket.socketpair()
    with c, d:
        c.shutdown(socket.SHUT_WR)
        with pytest.raises(ConnectionClosed, match="before a PDU"):
            PduReader(d).read(5.0)
    assert issubclass(ConnectionClosed, DppCodecError)


# --- radiotap --------------------------------------------------------------------------

def test_wlan_action_round_trips_and_uses_the_public_category():
    frame = wlan_action(AUTH_REQ, "02:00:00:00:01:00", "02:00:00:00:02:00", freq_mhz=5180)
    parsed = RadioTap(frame)
    assert parsed.ChannelFrequency == 5180
    dot11 = parsed[Dot11]
    assert (dot11.type, dot11.subtype, dot11.addr3) == (0, 13, "ff:ff:ff:ff:ff:ff")
    assert payload_of(frame) == ("02:00:00:00:01:00", "02:00:00:00:02:00", AUTH_REQ)


def test_payload_of_drops_an_fcs():
    body = b"\x04" + AUTH_REQ
    frame = bytes(RadioTap(present="TSFT+Flags", mac_timestamp=1, Flags="FCS")
                  / Dot11(type=0, subtype=13, addr1="02:00:00:00:02:00",
                          addr2="02:00:00:00:01:00", addr3="ff:ff:ff:ff:ff:ff")) + body
    assert payload_of(frame + b"\xde\xad\xbe\xef")[2] == AUTH_REQ


@pytest.mark.parametrize("mutate", [
    lambda f: f[:7],
    lambda f: b"\x01" + f[1:],
    lambda f: f[:14] + b"\x80" + f[15:],  # beacon, not action
    lambda f: f[:14 + 24] + b"\x07" + f[14 + 25:],  # category 7
    lambda f: f[:14 + 24],
])
def test_payload_of_rejects_other_frames(mutate):
    frame = wlan_action(AUTH_REQ, "02:00:00:00:01:00", "02:00:00:00:02:00")
    with pytest.raises(DppCodecError):
        payload_of(mutate(frame))


def test_wlan_action_rejects_bad_addresses():
    with pytest.raises(DppCodecError, match="MAC"):
        wlan_action(AUTH_REQ, "02:00:00:00:01", "02:00:00:00:02:00")


# --- bootstrapping URI -----------------------------------------------------------------

def _corpus_uri(entry: str) -> str:
    # The corpus describes one entry instead of listing it; build it as its note says.
    if entry.startswith('DPP:K:<base64 of ASCII "hello">'):
        return "DPP:K:" + base64.b64encode(b"hello").decode("ascii") + ";;"
    return entry


URI_VECTOR = load_vector("dpp", "bootstrap_uri_parsing")


@pytest.mark.parametrize("uri", URI_VECTOR["inputs"]["hostap_valid_roundtrip"])
def test_hostap_valid_uris_parse_and_round_trip(uri):
    info = parse_uri(uri)
    assert make_uri(info) == uri
    assert info.public_key().curve.name == "secp256r1"


@pytest.mark.parametrize("uri", URI_VECTOR["inputs"]["hostap_invalid"]
                         + URI_VECTOR["inputs"]["iwd_invalid"])
def test_invalid_uris_are_rejected(uri):
    with pytest.raises(DppCodecError):
        parse_uri(_corpus_uri(uri))


def test_hello_entry_is_built_as_described():
    entries = [e for e in URI_VECTOR["inputs"]["hostap_invalid"] if "hello" in e]
    assert len(entries) == 1 and _corpus_uri(entries[0]) == "DPP:K:aGVsbG8=;;"


def test_iwd_valid_uri_gives_mac_version_and_channels():
    case = URI_VECTOR["inputs"]["iwd_valid"]
    info = parse_uri(case["uri"])
    assert info.mac == case["mac"] and info.version == case["version"]
    assert [channel_freq(*c) for c in info.channels] == case["expected_freqs_mhz"]
    assert info.info == "SN=4774LH2b4044"
    assert make_uri(info) == case["uri"]


def test_uri_fields_of_a_hostap_entry():
    info = parse_uri(URI_VECTOR["inputs"]["hostap_valid_roundtrip"][2])
    assert info.channels[:3] == [(81, 1), (81, 2), (81, 3)] and info.channels[-1] == (115, 36)
    host = parse_uri(URI_VECTOR["inputs"]["hostap_valid_roundtrip"][7])
    assert host.host == "[fe80::1234:5678:9abc:def0]:12345" and host.mac == "010203040506"


def test_make_uri_of_new_and_changed_info():
    info = parse_uri(URI_VECTOR["inputs"]["hostap_valid_roundtrip"][3])  # C:81/1,2,3
    key = URI_VECTOR["inputs"]["hostap_valid_roundtrip"][3].split("K:")[1][:-2]
    fresh = BootstrapInfo(key_der=info.key_der, channels=[(81, 6)], mac="02aa00000001",
                          version=2)
    assert make_uri(fresh) == f"DPP:C:81/6;M:02aa00000001;V:2;K:{key};;"
    assert parse_uri(make_uri(fresh)) == BootstrapInfo(
        key_der=info.key_der, channels=[(81, 6)], mac="02aa00000001", version=2,
        tokens=[("C", "81/6"), ("M", "02aa00000001"), ("V", "2"), ("K", key)])
    info.channels = [(81, 11)]
    info.info = "x"
    assert make_uri(info) == f"DPP:C:81/11;I:x;K:{key};;"


@pytest.mark.parametrize("uri", [
    "DPP:V:x;K:AAAA;;",
    "DPP:H:999.1.1.1;K:AAAA;;",
    "DPP:K:AAAA;K:AAAA;;",
    "DPP:k:AAAA;;",
])
def test_other_malformed_uris_are_rejected(uri):
    with pytest.raises(DppCodecError):
        parse_uri(uri)
