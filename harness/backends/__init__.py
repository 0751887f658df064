"""Backends: where tester peers and DUTs run and where their traffic is captured.

``loopback`` (no privilege; every node is 127.0.0.1/::1), ``netns`` (Linux network
namespaces joined by a bridge; real Ethernet captures) and ``docker`` (containers on a
docker network per campaign). See docs/backends.md.
"""

from harness.backends.base import Backend, LoopbackBackend, Node, NodeSpec, TestNetwork
from harness.backends.docker import DockerBackend
from harness.backends.netns import NetnsBackend
from harness.errors import BackendError

BACKENDS: dict[str, type[Backend]] = {
    "loopback": LoopbackBackend,
    "netns": NetnsBackend,
    "docker": DockerBackend,
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]()
    except KeyError:
        raise BackendError(f"unknown backend {name!r} (one of {', '.join(BACKENDS)})") from None


__all__ = [
    "BACKENDS",
    "Backend",
    "DockerBackend",
    "LoopbackBackend",
    "NetnsBackend",
    "Node",
    "NodeSpec",
    "TestNetwork",
    "get_backend",
]
