"""Backends: where tester peers and DUTs run and where their traffic is captured.

``loopback`` (no privilege; every node is 127.0.0.1/::1) and ``netns`` (Linux
network namespaces joined by a bridge; real Ethernet captures). See docs/backends.md.
"""

from harness.backends.base import Backend, LoopbackBackend, Node, TestNetwork
from harness.backends.netns import NetnsBackend
from harness.errors import BackendError

BACKENDS: dict[str, type[Backend]] = {"loopback": LoopbackBackend, "netns": NetnsBackend}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]()
    except KeyError:
        raise BackendError(f"unknown backend {name!r} (one of {', '.join(BACKENDS)})") from None


__all__ = [
    "BACKENDS",
    "Backend",
    "LoopbackBackend",
    "NetnsBackend",
    "Node",
    "TestNetwork",
    "get_backend",
]
