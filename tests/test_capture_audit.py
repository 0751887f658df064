"""The capture audit flags every frame that leaves the test ranges, and only those; the
backend self-test's verdict comparison names every differing row."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6MLReport2, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcapng

from harness.capture.audit import allowed, foreign_frames
from harness.errors import DecodeError
from tests.suite_runner import SuiteRun
from tests.test_selftest_backends import differing_rows

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


@pytest.mark.parametrize(("src", "dst", "ok"), [
    ("198.18.0.1", "198.18.0.2", True),
    ("198.19.0.2", "198.19.0.1", True),
    ("2001:2::1", "2001:2::2", True),
    ("127.0.0.1", "127.0.0.1", True),
    ("0.0.0.0", "224.0.0.22", True),  # IGMPv3 report before an address is set
    ("fe80::1", "ff02::16", True),  # MLDv2 report
    ("2001:2::1", "ff02::1:ff00:2", True),  # neighbour solicitation
    ("198.18.0.2", "8.8.8.8", False),  # a DUT phoning home
    ("198.18.0.2", "198.20.0.1", False),  # just outside 198.18.0.0/15
    ("2001:2:0:1::1", "2001:3::1", False),  # just outside 2001:2::/48
    ("10.0.0.1", "224.0.0.22", False),  # link-scope, but from a foreign address
    ("198.18.0.2", "239.1.2.3", False),  # multicast beyond the link
    ("fe80::1", "fe80::2", False),  # link-local unicast: not a test address
])  # fmt: skip
def test_allowed(src: str, dst: str, ok: bool) -> None:
    assert allowed(src, dst) is ok


def test_foreign_frames_lists_exactly_the_outsiders(tmp_path: Path) -> None:
    pcap = tmp_path / "capture.pcapng"
    wrpcapng(str(pcap), [
        ETH / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(dport=443),
        ETH / ARP(psrc="198.18.0.1", pdst="198.18.0.2"),
        ETH / IPv6(src="fe80::1", dst="ff02::16") / ICMPv6MLReport2(),
        ETH / IPv6(src="2001:2::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="2001:2::2"),
        ETH / IP(src="198.18.0.2", dst="9.9.9.9") / UDP(dport=53),
        ETH / ARP(psrc="198.18.0.2", pdst="192.168.1.1"),
    ])  # fmt: skip
    found = list(foreign_frames(pcap))
    assert [line.split(": ")[1] for line in found] == ["frame 5", "frame 6"], found


def test_foreign_frames_of_a_broken_file_is_a_decode_error(tmp_path: Path) -> None:
    pcap = tmp_path / "capture.pcapng"
    pcap.write_bytes(b"not a capture")
    with pytest.raises(DecodeError, match="cannot read"):
        list(foreign_frames(pcap))


def _run(verdicts: dict[str, str]) -> SuiteRun:
    results = [{"nodeid": n, "verdict": v, "reason": f"why {n}", "requirements": []}
               for n, v in verdicts.items()]  # fmt: skip
    return SuiteRun(0, "", results, Path("."))


def test_differing_rows_names_each_difference() -> None:
    loop = _run({"a": "pass", "b": "fail", "c": "pass"})
    assert differing_rows(loop, _run({"a": "pass", "b": "fail", "c": "pass"})) == []
    rows = differing_rows(loop, _run({"a": "pass", "b": "pass", "d": "pass"}))
    assert rows == [
        "b: loopback fail, here pass  why b",
        "c: loopback pass, here (not run)  ",
        "d: loopback (not run), here pass  why d",
    ]


def test_campaign_audit_writes_the_foreign_frames(tmp_path: Path) -> None:
    from harness.network_plan import audit_campaign_capture

    wrpcapng(str(tmp_path / "campaign-c1.pcapng"), [
        ETH / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(dport=443),
        ETH / IP(src="198.18.0.2", dst="203.0.113.9") / TCP(dport=80),
    ])  # fmt: skip
    found = audit_campaign_capture(tmp_path, "c1")
    assert len(found) == 1 and "frame 2" in found[0]
    assert (tmp_path / "foreign-frames-c1.txt").read_text() == found[0] + "\n"
    wrpcapng(str(tmp_path / "campaign-c2.pcapng"), [ETH / IP(src="198.18.0.1", dst="198.18.0.2")])
    assert audit_campaign_capture(tmp_path, "c2") == []
    assert not (tmp_path / "foreign-frames-c2.txt").exists()
