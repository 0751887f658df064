"""Which frames of a capture involve an address outside the test ranges.

A test network may carry unicast only between loopback, 198.18.0.0/15 and 2001:2::/48
addresses. Link-scope control traffic a node's kernel sends for its links is allowed:
ARP and ND between test addresses, and IGMP/MLD membership reports (from a test
address, a link-local one or the unspecified one, to link-scope multicast), which cannot
leave the link. Anything else is listed, e.g. a DUT resolving a public name or phoning
home. scapy reads the capture (pure Python: no tshark start-up per file).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

from harness.errors import DecodeError

TEST_RANGES = [ipaddress.ip_network(n) for n in
               ("127.0.0.0/8", "::1/128", "198.18.0.0/15", "2001:2::/48")]  # fmt: skip
LINK_SCOPE = [ipaddress.ip_network(n) for n in ("224.0.0.0/24", "ff02::/16")]
LINK_SOURCES = [ipaddress.ip_network(n) for n in ("0.0.0.0/32", "::/128", "fe80::/10")]


def within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in networks)


def allowed(src: str, dst: str) -> bool:
    """Whether a packet from ``src`` to ``dst`` may cross a test network."""
    if within(src, TEST_RANGES) and within(dst, TEST_RANGES):
        return True
    return within(dst, LINK_SCOPE) and within(src, [*TEST_RANGES, *LINK_SOURCES])


def foreign_frames(pcap: Path) -> Iterator[str]:
    """One line per frame of ``pcap`` that involves an address outside the test ranges."""
    from scapy.error import Scapy_Exception
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP
    from scapy.utils import PcapNgReader

    try:
        reader = PcapNgReader(str(pcap))
    except (OSError, Scapy_Exception) as exc:
        raise DecodeError(f"cannot read {pcap}: {exc}") from exc
    with reader:
        for number, packet in enumerate(reader, start=1):
            for layer in (IP, IPv6, ARP):
                if layer in packet:
                    header = packet[layer]
                    src, dst = (header.psrc, header.pdst) if layer is ARP else (header.src,
                                                                                  header.dst)
                    if not allowed(str(src), str(dst)):
                        yield f"{pcap}: frame {number}: {packet.summary()}"
                    break
