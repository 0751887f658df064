"""The netns backend: per campaign, nodes in network namespaces joined by a bridge.

Topology of campaign ``<tag>`` (nothing is created in the host's own namespace)::

    ocnet-<tag>-switch   bridge oc<tag>br, ports oc<tag>s0, oc<tag>s1, ...
    ocnet-<tag>-<role>   oc<tag>n<i> (the other end of veth i), lo

Addresses come from the benchmarking ranges only: slot ``s`` (free among live
campaigns) gives 198.18.0.0/15's s-th /24 and 2001:2:0:<s>::/64; node ``i`` gets
host ``i+1`` in both. The bridge has no address: the harness reaches nodes only
through ``Node.socket()`` and ``Node.command()``.

Teardown happens on ``close()``, on an exception during ``open()``, at exit and on
SIGTERM/SIGINT; a SIGKILLed run is swept by the next ``open()`` or by ``clean()``.
Netlink work goes through pyroute2, a well-kept library (no parsing of `ip` output).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.backends.base import Backend, Node, NodeSpec, TestNetwork, inside_netns
from harness.backends.netns_state import (
    IF_PREFIX,
    NS_PREFIX,
    STATE_DIR,
    Record,
    State,
    our_namespaces,
    process_start,
    remove_namespace,
    tag_of,
)
from harness.backends.teardown import forget, register
from harness.errors import BackendError

log = logging.getLogger(__name__)

IPV4_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
IPV6_RANGE = ipaddress.IPv6Network("2001:2::/48")
MAX_NODES = 99  # keeps oc<tag>s<i> within IFNAMSIZ (15 characters)
ROLE_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
TAG_RE = re.compile(r"[a-z0-9]{1,8}")


# A node sends nothing of its own accord beyond what its links need: no router
# solicitations, no duplicate address detection (the test's addresses are ours alone).
# What remains is link-scope: ARP/ND and IGMP/MLD membership reports (docs/backends.md).
QUIET_NODE = {
    "net/ipv6/conf/default/router_solicitations": "0",
    "net/ipv6/conf/default/accept_ra": "0",
    "net/ipv6/conf/default/dad_transmits": "0",
}


def campaign_tag(campaign_id: str) -> str:
    """The short name part of a campaign: the id itself if it fits, else its hash."""
    if TAG_RE.fullmatch(campaign_id):
        return campaign_id
    return hashlib.sha256(campaign_id.encode()).hexdigest()[:8]


def slot_networks(slot: int) -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    v4 = list(IPV4_RANGE.subnets(new_prefix=24))[slot]
    v6 = ipaddress.IPv6Network((int(IPV6_RANGE.network_address) + (slot << 64), 64))
    return v4, v6


class NetnsBackend(Backend):
    """Linux network namespaces + veth + bridge; needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)."""

    name = "netns"

    def __init__(self, state_dir: Path = STATE_DIR):
        self.state = State(state_dir)

    def open(self, campaign_id: str, roles: Sequence[str],
             specs: Mapping[str, NodeSpec] | None = None) -> TestNetwork:  # fmt: skip
        check_supported()
        roles = list(roles)
        bad = [r for r in roles if not ROLE_RE.fullmatch(r) or r == "switch"]
        if bad or not roles or len(roles) > MAX_NODES or len(set(roles)) != len(roles):
            raise BackendError(f"roles must be 1-{MAX_NODES} distinct names matching "
                               f"{ROLE_RE.pattern} (not 'switch'): {roles}")  # fmt: skip
        tag = campaign_tag(campaign_id)
        with self.state.locked():
            self._sweep(force=False)
            records = self.state.records()
            if tag in records or any(tag_of(n) == tag for n in our_namespaces()):
                raise BackendError(f"campaign {campaign_id!r} already has a test network")
            start = process_start(os.getpid())
            assert start is not None
            record = Record(tag, campaign_id, os.getpid(), start,
                            self.state.free_slot(records.values()))  # fmt: skip
            self.state.write(record)  # before any namespace: a crash now leaves a findable trail
        network = TestNetwork(campaign_id, {}, f"{IF_PREFIX}{tag}br", f"{NS_PREFIX}{tag}-switch",
                              backend=self.name)  # fmt: skip
        network._teardown = lambda: self._teardown(tag)
        register(f"netns:{tag}", network)
        try:
            network.nodes.update(_build(tag, record.slot, roles))
        except BaseException:
            network.close()
            raise
        return network

    def clean(self, force: bool = False) -> list[str]:
        check_supported()
        with self.state.locked():
            return self._sweep(force)

    def _sweep(self, force: bool) -> list[str]:
        """Remove campaigns whose owner is dead (all with ``force``); caller holds the lock."""
        records = self.state.records()
        by_tag: dict[str, list[str]] = {tag: [] for tag in records}
        for name in our_namespaces():
            by_tag.setdefault(tag_of(name) or "", []).append(name)
        removed: list[str] = []
        for tag, names in sorted(by_tag.items()):
            record = records.get(tag)
            if not force and record is not None and record.alive:
                continue
            # switch last: node namespaces first drop their ends of the veths
            for name in sorted(names, key=lambda n: n.endswith("-switch")):
                if remove_namespace(name):
                    removed.append(name)
            if self.state.forget(tag):
                removed.append(str(self.state.path(tag)))
            if (network := forget(f"netns:{tag}")) is not None:
                network._teardown = None  # ours, removed by force: close() is now a no-op
        return removed

    def _teardown(self, tag: str) -> None:
        forget(f"netns:{tag}")
        errors = []
        for name in [n for n in our_namespaces() if tag_of(n) == tag]:
            try:
                remove_namespace(name)
            except BackendError as exc:
                errors.append(str(exc))
        with self.state.locked():
            self.state.forget(tag)
        if errors:
            raise BackendError("; ".join(errors))


def check_supported() -> None:
    """Raise a BackendError saying why namespaces cannot be used here, if they cannot."""
    if os.geteuid() != 0:
        raise BackendError("the netns backend needs root (network namespaces, veth, bridge)")
    if not os.path.exists("/proc/self/ns/net"):
        raise BackendError("this kernel has no network namespaces (/proc/self/ns/net missing)")


def _build(tag: str, slot: int, roles: list[str]) -> dict[str, Node]:
    from pyroute2 import IPRoute, netns  # a well-kept netlink library

    v4net, v6net = slot_networks(slot)
    switch = f"{NS_PREFIX}{tag}-switch"
    bridge = f"{IF_PREFIX}{tag}br"
    try:
        netns.create(switch)
        # The switch is pure L2: no IPv6 on its ports, so captures hold only the nodes' frames.
        _sysctl(switch, "net/ipv6/conf/default/disable_ipv6", "1")
        _sysctl(switch, "net/ipv6/conf/all/disable_ipv6", "1")
        with IPRoute(netns=switch, flags=0) as sw:
            sw.link("add", ifname=bridge, kind="bridge", br_stp_state=0, br_forward_delay=0)
            br = sw.link_lookup(ifname=bridge)[0]
            sw.link("set", index=br, state="up")
            sw.link("set", index=sw.link_lookup(ifname="lo")[0], state="up")
        nodes: dict[str, Node] = {}
        for i, role in enumerate(roles):
            ns = f"{NS_PREFIX}{tag}-{role}"
            inner, outer = f"{IF_PREFIX}{tag}n{i}", f"{IF_PREFIX}{tag}s{i}"
            v4 = str(v4net.network_address + i + 1)
            v6 = str(v6net.network_address + i + 1)
            netns.create(ns)
            for key, value in QUIET_NODE.items():  # before the veth exists: it inherits them
                _sysctl(ns, key, value)
            with IPRoute(netns=ns, flags=0) as nr:
                nr.link("add", ifname=inner, kind="veth",
                        peer={"ifname": outer, "net_ns_fd": switch})
                idx = nr.link_lookup(ifname=inner)[0]
                nr.link("set", index=nr.link_lookup(ifname="lo")[0], state="up")
                nr.link("set", index=idx, state="up")
                nr.addr("add", index=idx, address=v4, prefixlen=24)
                # IFA_F_NODAD: usable at once (no DAD wait); the addresses are ours alone.
                nr.addr("add", index=idx, address=v6, prefixlen=64, flags=0x02)
            with IPRoute(netns=switch, flags=0) as sw:
                port = sw.link_lookup(ifname=outer)[0]
                sw.link("set", index=port, master=br, state="up")
            nodes[role] = Node(role, v4, v6, ns, inner)
        return nodes
    except OSError as exc:  # NetlinkError is an OSError too
        raise BackendError(f"cannot build the test network of campaign tag {tag}: {exc}") from exc


def _sysctl(netns: str, key: str, value: str) -> None:
    # /proc/sys/net resolves against the opening thread's namespace.
    with inside_netns(netns), open(f"/proc/sys/{key}", "w") as f:
        f.write(value)
