"""Where tester peers and DUTs run: nodes, the test network joining them, backends.

A ``Node`` is one place a party runs (a tester peer, a DUT). It lives in a network
namespace, or in the harness's own one (``netns=None``). ``Node.socket()`` creates
a socket *inside* the node's namespace from this very process: a socket keeps the
namespace it was created in, so in-process tester peers listen and connect from
their node. ``Node.command()`` wraps a command line (a process DUT) to run there.
"""

from __future__ import annotations

import contextlib
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.capture.live import LiveCapture
from harness.errors import BackendError


def netns_exec(netns: str | None) -> list[str]:
    """The command prefix that runs a command in ``netns`` (nothing for our own).

    A name is one of /run/netns (``ip netns exec``); a path is any namespace file, e.g.
    a container's /proc/<pid>/ns/net (``nsenter``, which execs too).
    """
    if netns is None:
        return []
    if netns.startswith("/"):
        return ["nsenter", f"--net={netns}", "--"]
    return ["ip", "netns", "exec", netns]


@contextlib.contextmanager
def inside_netns(netns: str | None) -> Iterator[None]:
    """Switch the *calling thread* into ``netns`` for the duration of the block.

    setns(2) changes only the calling thread. pyroute2's pushns()/popns() keep their
    saved namespaces on one process-wide stack (and save /proc/self, the main
    thread's namespace), so two threads switching at once would restore each other's;
    this saves the thread's own namespace (/proc/thread-self) locally instead.
    """
    if netns is None:
        yield
        return
    from pyroute2 import netns as pr_netns  # a well-kept netlink library

    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            pr_netns.setns(netns, flags=0)  # flags=0: never create a missing namespace
        except OSError as exc:
            raise BackendError(f"cannot enter network namespace {netns!r}: {exc}") from exc
        try:
            yield
        finally:
            pr_netns.setns(saved, flags=0)
    finally:
        os.close(saved)


@dataclass(frozen=True)
class Node:
    """One party's place on the test network."""

    name: str  # the role it plays, e.g. "peer" or "dut"
    ipv4: str
    ipv6: str
    netns: str | None = None  # None: the harness's own; a /run/netns name or a path
    interface: str | None = None  # its link to the test network (None on loopback)
    container: str | None = None  # the docker container holding the namespace, if any

    @property
    def loopback(self) -> bool:
        """Whether this node is the harness's own host (the loopback backend)."""
        return self.netns is None

    @property
    def addresses(self) -> list[str]:
        """Its addresses on the test network (IPv4 first)."""
        return [a for a in (self.ipv4, self.ipv6) if a]

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM,
               proto: int = 0) -> socket.socket:  # fmt: skip
        """A socket created inside this node's namespace."""
        with inside_netns(self.netns):
            return socket.socket(family, type, proto)

    def create_connection(self, address: tuple[str, int], timeout: float | None = None,
                          source_address: tuple[str, int] | None = None) -> socket.socket:
        """``socket.create_connection`` from this node (the drop-in for http.client)."""
        with inside_netns(self.netns):
            return socket.create_connection(address, timeout, source_address)

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Run the block's socket calls from this node (the calling thread only).

        Threads started inside the block stay in the node's namespace for life (Linux
        gives a new thread its creator's namespaces): an in-process server started here
        listens on the node.
        """
        with inside_netns(self.netns):
            yield

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside this node's namespace."""
        return [*netns_exec(self.netns), *argv]


@dataclass
class NodeSpec:
    """What a node runs, for backends that run nodes in containers (docker).

    The other backends place the harness's in-process parties and process DUTs in the
    node's namespace and ignore it.
    """

    image: str
    dockerfile: Path | None = None  # built into `image` when the daemon lacks it
    context: Path | None = None
    command: list[str] | None = None  # None: the node stays idle (it only hosts sockets)
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Path] = field(default_factory=list)  # host folders, bound at the same path
    workdir: str | None = None


@dataclass
class TestNetwork:
    """The nodes of one campaign by role, where to capture, and the teardown."""

    __test__ = False  # not a pytest test class

    campaign_id: str
    nodes: dict[str, Node]
    capture_interface: str
    capture_netns: str | None = None
    backend: str = "loopback"
    _teardown: Callable[[], None] | None = field(default=None, repr=False)
    # The docker backend's: role -> the container's output so far (evidence).
    _logs: Callable[[], dict[str, str]] | None = field(default=None, repr=False)
    _captures: list[LiveCapture] = field(default_factory=list, repr=False)

    def node(self, role: str) -> Node:
        try:
            return self.nodes[role]
        except KeyError:
            raise BackendError(f"test network {self.campaign_id!r} has no node {role!r} "
                               f"(roles: {', '.join(self.nodes)})") from None  # fmt: skip

    @property
    def closed(self) -> bool:
        return self._teardown is None

    def close(self) -> None:
        """Tear the network down; idempotent."""
        teardown, self._teardown = self._teardown, None
        captures, self._captures = self._captures, []
        for live in captures:  # dumpcap first, so that it flushes before its namespace goes
            live.stop()
        if teardown is not None:
            teardown()

    def logs(self) -> dict[str, str]:
        """Each container node's output (role -> text); empty where nodes are no containers."""
        return self._logs() if self._logs is not None and not self.closed else {}

    def capture(self, pcap: Path, capture_filter: str = "") -> LiveCapture:
        """Start dumpcap where this network's traffic passes (all of it by default).

        On netns that is the bridge inside the switch namespace: real Ethernet frames.
        Stop it with ``stop()``, which lets dumpcap flush the file.
        """
        live = LiveCapture(pcap, [], self.capture_interface, capture_filter=capture_filter,
                           prefix=netns_exec(self.capture_netns))  # fmt: skip
        live.start()
        self._captures = [c for c in self._captures if c.running]
        self._captures.append(live)
        return live

    def __enter__(self) -> TestNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    """Builds test networks and removes what earlier runs left behind."""

    name: str

    @abstractmethod
    def open(self, campaign_id: str, roles: Sequence[str],
             specs: Mapping[str, NodeSpec] | None = None) -> TestNetwork:  # fmt: skip
        """A test network with one node per role (``specs``: what a role's node runs)."""

    @abstractmethod
    def clean(self, force: bool = False) -> list[str]:
        """Remove leftovers of dead runs (all, with ``force``); return what was removed."""


class LoopbackBackend(Backend):
    """Every node is the harness itself on 127.0.0.1 / ::1 (no privilege needed)."""

    name = "loopback"

    def open(self, campaign_id: str, roles: Sequence[str],
             specs: Mapping[str, NodeSpec] | None = None) -> TestNetwork:  # fmt: skip
        nodes = {role: Node(role, "127.0.0.1", "::1") for role in roles}
        return TestNetwork(campaign_id, nodes, "lo", None, _teardown=lambda: None)

    def clean(self, force: bool = False) -> list[str]:
        return []
