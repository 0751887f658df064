"""tshark judges the DPP codec's wire format.

The frames are built by the codec (attribute values are arbitrary octets of the right
lengths), written as a TCP conversation (DPP over TCP on port 7871, and on another port
decoded with `-d tcp.port==P,dpp`) and as radiotap 802.11 frames; Wireshark's own `dpp`
and `wlan` dissectors must find every frame type and attribute value and no malformed
packet or expert error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.capture.relay import C2S, S2C, Connection, Event
from harness.capture.transcript import write_transcript
from harness.protocols.dpp.attributes import Attr, AttrId, FrameType
from harness.protocols.dpp.frames import DppFrame, encode_frame
from harness.protocols.dpp.gas import (
    gas_comeback_request,
    gas_comeback_response,
    gas_initial_request,
    gas_initial_response,
)
from harness.protocols.dpp.radiotap import wlan_action, write_pcapng
from harness.protocols.dpp.tcp import DPP_TCP_PORT, pdu

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")

OTHER_PORT = 17871
I_HASH, R_HASH = b"\x11" * 32, b"\x22" * 32
I_KEY, R_KEY = b"\x33" * 32 + b"\x44" * 32, b"\x66" * 32 + b"\x77" * 32
WRAPPED = {"req": b"\x55" * 41, "resp": b"\x88" * 117, "conf": b"\x99" * 48}
CONF_QUERY_WRAPPED = bytes.fromhex("aabbccdd")
CONF_RESP_WRAPPED = bytes.fromhex("eeff00")
COMEBACK_WRAPPED = bytes.fromhex("1234")

AUTH_REQ = encode_frame(DppFrame(FrameType.AUTH_REQ, [
    Attr(AttrId.R_BOOTSTRAP_KEY_HASH, R_HASH), Attr(AttrId.I_BOOTSTRAP_KEY_HASH, I_HASH),
    Attr(AttrId.I_PROTOCOL_KEY, I_KEY), Attr(AttrId.PROTOCOL_VERSION, b"\x02"),
    Attr(AttrId.WRAPPED_DATA, WRAPPED["req"])]))
AUTH_RESP = encode_frame(DppFrame(FrameType.AUTH_RESP, [
    Attr(AttrId.STATUS, b"\x00"), Attr(AttrId.R_BOOTSTRAP_KEY_HASH, R_HASH),
    Attr(AttrId.I_BOOTSTRAP_KEY_HASH, I_HASH), Attr(AttrId.R_PROTOCOL_KEY, R_KEY),
    Attr(AttrId.WRAPPED_DATA, WRAPPED["resp"])]))
AUTH_CONF = encode_frame(DppFrame(FrameType.AUTH_CONF, [
    Attr(AttrId.STATUS, b"\x02"), Attr(AttrId.R_BOOTSTRAP_KEY_HASH, R_HASH),
    Attr(AttrId.WRAPPED_DATA, WRAPPED["conf"])]))
GAS_REQ = gas_initial_request(0x42, bytes.fromhex("0410 0400") + CONF_QUERY_WRAPPED)
GAS_RESP = gas_initial_response(
    0x42, bytes.fromhex("0010 0100 00 0410 0300") + CONF_RESP_WRAPPED, comeback_delay=0)
COMEBACK_REQ = gas_comeback_request(0x42)
# One fragment (id 0, no more): over the air tshark reassembles GAS fragments and shows
# the query response only once the fragment chain is complete.
COMEBACK_RESP = gas_comeback_response(0x42, bytes.fromhex("0410 0200") + COMEBACK_WRAPPED,
                                      frag_id=0, more=False)
CONF_RESULT = encode_frame(DppFrame(FrameType.CONFIGURATION_RESULT,
                                    [Attr(AttrId.WRAPPED_DATA, b"\xab" * 20)]))
EXCHANGE = [(C2S, AUTH_REQ), (S2C, AUTH_RESP), (C2S, AUTH_CONF), (C2S, GAS_REQ),
            (S2C, GAS_RESP), (C2S, COMEBACK_REQ), (S2C, COMEBACK_RESP), (C2S, CONF_RESULT)]

FIELDS = ["frame.number", "dpp.tcp.length", "dpp.tcp.action_type", "dpp.public_action.subtype",
          "dpp.public_action.crypto_suite", "dpp.init.hash", "dpp.resp.hash", "dpp.key.x",
          "dpp.key.y", "dpp.status", "dpp.primary.wrapped_data", "dpp.tcp.dialog_token",
          "dpp.tcp.query_req_len", "dpp.tcp.query_resp_len", "dpp.tcp.status_code",
          "dpp.tcp.comeback_delay", "dpp.tp.query_resp_frag_id", "dpp.tcp.oui_type",
          "dpp.tcp.config", "wlan.fixed.publicact", "wlan.fixed.dialog_token",
          "wlan.sa", "wlan.da", "radiotap.channel.freq"]


def _conversation(port: int, client_port: int, opened: float,
                  exchange: Sequence[tuple[str, bytes]]) -> Connection:
    conn = Connection(client=("127.0.0.1", client_port), server=("127.0.0.1", port),
                      upstream=("127.0.0.1", port), opened=opened)
    t = opened
    for direction, payload in exchange:
        t += 0.1
        conn.events.append(Event(t, direction, "data", pdu(payload)))
    conn.events += [Event(t + 0.1, C2S, "fin"), Event(t + 0.2, S2C, "fin")]
    return conn


def _tshark(pcap: Path, *options: str) -> str:
    done = subprocess.run(["tshark", "-n", "-r", str(pcap), *options], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(pcap: Path, *options: str, display_filter: str = "dpp") -> list[dict[str, str]]:
    args = ["-Y", display_filter, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for name in FIELDS:
        args += ["-e", name]
    out = _tshark(pcap, *options, *args)
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def _walk(node: Any, key_path: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((key, value))
            found += _walk(value, key)
    elif isinstance(node, list):
        for item in node:
            found += _walk(item, key_path)
    return found


def _damage(pcap: Path, *options: str) -> list[str]:
    """Malformed packets and expert infos of severity warning or worse, per frame."""
    packets = json.loads(_tshark(pcap, *options, "-T", "json"))
    problems = []
    for packet in packets:
        layers = packet["_source"]["layers"]
        number = layers["frame"]["frame.number"]
        for key, value in _walk(layers):
            if key.startswith("_ws.malformed"):
                problems.append(f"frame {number}: malformed")
            if key == "_ws.expert.severity" and int(value) >= 6291456:  # PI_WARN
                problems.append(f"frame {number}: expert severity {value}")
    return problems


def _expert_errors(pcap: Path, *options: str) -> str:
    """tshark's expert summary at severity error; it has an "Errors" table if any."""
    return _tshark(pcap, *options, "-q", "-z", "expert,error")


@pytest.fixture(scope="module")
def tcp_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dpp") / "dpp_tcp.pcapng"
    write_transcript([_conversation(DPP_TCP_PORT, 40000, 1000.0, EXCHANGE),
                      _conversation(OTHER_PORT, 40001, 1010.0, EXCHANGE)], path)
    return path


@pytest.fixture(scope="module")
def wlan_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dpp") / "dpp_wlan.pcapng"
    a, b = "02:00:00:00:01:00", "02:00:00:00:02:00"
    frames = []
    for i, (direction, payload) in enumerate(EXCHANGE):
        src, dst = (a, b) if direction == C2S else (b, a)
        frames.append((2000.0 + i, wlan_action(payload, src, dst, freq_mhz=2437)))
    write_pcapng(path, frames)
    return path


def _check_auth(rows: list[dict[str, str]]) -> None:
    req, resp, conf = rows[:3]
    assert [r["dpp.public_action.subtype"] for r in rows[:3]] == ["0", "1", "2"]
    assert {r["dpp.public_action.crypto_suite"] for r in rows[:3]} == {"1"}
    assert (req["dpp.init.hash"], req["dpp.resp.hash"]) == (I_HASH.hex(), R_HASH.hex())
    assert (req["dpp.key.x"], req["dpp.key.y"]) == (I_KEY[:32].hex(), I_KEY[32:].hex())
    assert req["dpp.primary.wrapped_data"] == WRAPPED["req"].hex()
    assert req["dpp.status"] == ""
    assert (resp["dpp.status"], resp["dpp.key.x"]) == ("0x00", R_KEY[:32].hex())
    assert (resp["dpp.init.hash"], resp["dpp.resp.hash"]) == (I_HASH.hex(), R_HASH.hex())
    assert resp["dpp.primary.wrapped_data"] == WRAPPED["resp"].hex()
    assert (conf["dpp.status"], conf["dpp.resp.hash"], conf["dpp.init.hash"]) == (
        "0x02", R_HASH.hex(), "")
    assert conf["dpp.primary.wrapped_data"] == WRAPPED["conf"].hex()
    assert rows[-1]["dpp.public_action.subtype"] == "11"


@pytest.mark.parametrize("port", [DPP_TCP_PORT, OTHER_PORT])
def test_tshark_decodes_dpp_over_tcp(tcp_pcap, port):
    options = ("-d", f"tcp.port=={OTHER_PORT},dpp")
    # Filter on dpp.tcp.length: tshark 4.0 adds no `dpp` protocol item to a TCP PDU that
    # carries a GAS comeback request (0x0c), only the length and action type fields.
    rows = _rows(tcp_pcap, *options, display_filter=f"dpp.tcp.length && tcp.port=={port}")
    assert [r["dpp.tcp.action_type"] for r in rows] == [
        "0x09", "0x09", "0x09", "0x0a", "0x0b", "0x0c", "0x0d", "0x09"]
    assert [int(r["dpp.tcp.length"]) for r in rows] == [len(p) for _, p in EXCHANGE]
    _check_auth([r for r in rows if r["dpp.tcp.action_type"] == "0x09"])
    req, resp, _, back = (r for r in rows if r["dpp.tcp.action_type"] != "0x09")
    assert (req["dpp.tcp.dialog_token"], req["dpp.tcp.oui_type"], req["dpp.tcp.config"]) == (
        "0x42", "26", "1")
    assert req["dpp.tcp.query_req_len"] == str(len(GAS_REQ) - 14)
    assert req["dpp.primary.wrapped_data"] == CONF_QUERY_WRAPPED.hex()
    assert (resp["dpp.tcp.status_code"], resp["dpp.tcp.comeback_delay"]) == ("0", "0")
    assert (resp["dpp.status"], resp["dpp.primary.wrapped_data"]) == (
        "0x00", CONF_RESP_WRAPPED.hex())
    assert resp["dpp.tcp.query_resp_len"] == str(len(GAS_RESP) - 18)
    assert back["dpp.tp.query_resp_frag_id"] == "0"
    assert back["dpp.primary.wrapped_data"] == COMEBACK_WRAPPED.hex()


def test_tshark_finds_nothing_malformed_over_tcp(tcp_pcap):
    options = ("-d", f"tcp.port=={OTHER_PORT},dpp")
    assert _damage(tcp_pcap, *options) == []
    assert "Errors" not in _expert_errors(tcp_pcap, *options)


def test_tshark_decodes_radiotap_frames(wlan_pcap):
    rows = _rows(wlan_pcap, display_filter="wlan")
    assert [r["wlan.fixed.publicact"] for r in rows] == [
        "0x09", "0x09", "0x09", "0x0a", "0x0b", "0x0c", "0x0d", "0x09"]
    assert {r["radiotap.channel.freq"] for r in rows} == {"2437"}
    assert (rows[0]["wlan.sa"], rows[0]["wlan.da"]) == ("02:00:00:00:01:00", "02:00:00:00:02:00")
    assert (rows[1]["wlan.sa"], rows[1]["wlan.da"]) == ("02:00:00:00:02:00", "02:00:00:00:01:00")
    _check_auth([r for r in rows if r["dpp.public_action.subtype"]])
    gas = rows[3:7]
    assert {r["wlan.fixed.dialog_token"] for r in gas} == {"0x42"}
    assert [r["dpp.primary.wrapped_data"] for r in gas] == [
        CONF_QUERY_WRAPPED.hex(), CONF_RESP_WRAPPED.hex(), "", COMEBACK_WRAPPED.hex()]
    assert gas[1]["dpp.status"] == "0x00"


def test_tshark_finds_nothing_malformed_in_radiotap_frames(wlan_pcap):
    assert _damage(wlan_pcap) == []
    assert "Errors" not in _expert_errors(wlan_pcap)


def test_the_damage_check_sees_a_broken_attribute(tmp_path):
    # An attribute announcing more octets than the frame holds: tshark must object,
    # or the checks above could not fail.
    broken = AUTH_REQ[:7] + bytes.fromhex("0210 4000") + R_HASH
    tcp = tmp_path / "broken_tcp.pcapng"
    write_transcript([_conversation(DPP_TCP_PORT, 40002, 1.0, [(C2S, broken)])], tcp)
    wlan = tmp_path / "broken_wlan.pcapng"
    write_pcapng(wlan, [(1.0, wlan_action(broken, "02:00:00:00:01:00", "02:00:00:00:02:00"))])
    assert _damage(tcp) != [] and "Errors" in _expert_errors(tcp)
    assert _damage(wlan) != [] and "Errors" in _expert_errors(wlan)
