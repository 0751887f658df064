"""The docker backend: per campaign, a docker network and one container per node.

Through the docker SDK, per campaign tag ``<tag>``:

    network    onbc-<tag>: bridge ocd<tag>br in the host namespace, internal (no route
               out, no NAT), a /24 of 198.19.0.0/17, gateway .254
    containers onbc-<tag>-<role>: the role's image (a DUT's, from its profile), or the
               peer image kept idle; node i at host i+1; IPv6 off inside

The harness's in-process parties (tester peers, builtin DUTs) make their sockets in a
container's network namespace (/proc/<pid>/ns/net, through ``Node.socket()``), so their
traffic crosses the bridge between container addresses like a containerised DUT's.
dumpcap captures on the bridge from the host. Every object carries the labels
``org.onboardcheck.campaign``, ``.tag`` and ``.owner`` (pid and start time of the run):
``clean()`` and every ``open()`` remove what a dead run left.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends.base import Backend, Node, NodeSpec, TestNetwork
from harness.backends.docker_images import (
    IMAGE_LABEL,
    docker_host,
    ensure_image,
    ensure_peer_image,
)
from harness.backends.netns import MAX_NODES, ROLE_RE, campaign_tag
from harness.backends.netns_state import kill_all, process_start
from harness.backends.teardown import forget, register
from harness.errors import BackendError

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

POOL = ipaddress.IPv4Network("198.19.0.0/17")  # containers/README.md: the docker plan
L_CAMPAIGN, L_TAG, L_OWNER, L_ROLE = (f"org.onboardcheck.{k}"
                                      for k in ("campaign", "tag", "owner", "role"))  # fmt: skip
NAME_PREFIX = "onbc-"
BRIDGE_PREFIX = "ocd"
LOG_TAIL = 2000  # lines of a container's output kept as evidence


def docker_client() -> docker.DockerClient:
    """A client of DOCKER_HOST, the private daemon (scripts/dockerd) or the default one."""
    try:
        import docker
        import docker.errors
    except ImportError as exc:  # a dependency of the package; missing means a broken install
        raise BackendError(f"the docker backend needs the 'docker' package: {exc}") from exc
    host = docker_host()
    try:
        client = docker.DockerClient(base_url=host, timeout=120) if host else docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        where = host or "the default socket"
        raise BackendError(f"no docker daemon answers at {where}: {exc}; start one with "
                           "'scripts/dockerd start' (root) or set DOCKER_HOST") from None
    return client


def owner_label() -> str:
    return f"{os.getpid()}:{process_start(os.getpid())}"


def owner_alive(label: str | None) -> bool:
    try:
        pid, start = (int(x) for x in str(label).split(":"))
    except ValueError:
        return False
    return process_start(pid) == start


class DockerBackend(Backend):
    """Docker containers on a per-campaign docker network; needs a docker daemon (root)."""

    name = "docker"

    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def open(self, campaign_id: str, roles: Sequence[str],
             specs: Mapping[str, NodeSpec] | None = None) -> TestNetwork:  # fmt: skip
        roles = list(roles)
        bad = [r for r in roles if not ROLE_RE.fullmatch(r)]
        if bad or not roles or len(roles) > MAX_NODES or len(set(roles)) != len(roles):
            raise BackendError(f"roles must be 1-{MAX_NODES} distinct names matching "
                               f"{ROLE_RE.pattern}: {roles}")  # fmt: skip
        specs = dict(specs or {})
        client = self.client
        self._sweep(force=False)
        tag = campaign_tag(campaign_id)
        if self._objects(tag):
            raise BackendError(f"campaign {campaign_id!r} already has a docker test network")
        images = {role: self._image(specs.get(role)) for role in roles}
        labels = {L_CAMPAIGN: campaign_id, L_TAG: tag, L_OWNER: owner_label()}
        network = TestNetwork(campaign_id, {}, f"{BRIDGE_PREFIX}{tag}br", None, backend=self.name)
        network._teardown = lambda: self._teardown(tag)
        network._logs = lambda: self._logs(tag)
        register(f"docker:{tag}", network)
        try:
            subnet = self._network(client, tag, labels)
            for i, role in enumerate(roles):
                ipv4 = str(subnet.network_address + i + 1)
                network.nodes[role] = self._container(
                    client, tag, role, ipv4, images[role], specs.get(role), labels
                )
        except BaseException:
            network.close()
            raise
        return network

    def clean(self, force: bool = False) -> list[str]:
        return self._sweep(force)

    # -- building ---------------------------------------------------------------------------

    def _image(self, spec: NodeSpec | None) -> str:
        if spec is None:
            return ensure_peer_image(self.client)
        return ensure_image(self.client, spec.image, spec.dockerfile, spec.context)

    def _network(self, client: docker.DockerClient, tag: str,
                 labels: dict[str, str]) -> ipaddress.IPv4Network:  # fmt: skip
        import docker.errors
        import docker.types

        used = host_subnets()  # another daemon's bridges, the netns switch has none
        for net in client.networks.list():
            for pool in (net.attrs.get("IPAM") or {}).get("Config") or []:
                with contextlib.suppress(ValueError, KeyError):
                    used.add(ipaddress.ip_network(pool["Subnet"]))
        for subnet in POOL.subnets(new_prefix=24):
            if any(subnet.overlaps(u) for u in used):
                continue
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                subnet=str(subnet), gateway=str(subnet.network_address + 254))])
            try:
                client.networks.create(
                    f"{NAME_PREFIX}{tag}", driver="bridge", internal=True, ipam=ipam,
                    labels=labels, check_duplicate=True,
                    options={"com.docker.network.bridge.name": f"{BRIDGE_PREFIX}{tag}br",
                             "com.docker.network.bridge.enable_ip_masquerade": "false"},
                )  # fmt: skip
            except docker.errors.APIError as exc:
                if "overlap" in str(exc).lower():  # taken meanwhile by another run
                    continue
                raise BackendError(f"cannot create docker network {NAME_PREFIX}{tag}: "
                                   f"{exc.explanation or exc}") from exc  # fmt: skip
            _no_ipv6_on(f"{BRIDGE_PREFIX}{tag}br")
            return subnet
        raise BackendError(f"no free /24 left in {POOL} for a docker test network")

    def _container(self, client: docker.DockerClient, tag: str, role: str, ipv4: str,
                   image: str, spec: NodeSpec | None, labels: dict[str, str]) -> Node:  # fmt: skip
        import docker.errors

        api = client.api
        name = f"{NAME_PREFIX}{tag}-{role}"
        command = spec.command if spec and spec.command else None
        host_config = api.create_host_config(
            binds={str(m): {"bind": str(m), "mode": "rw"} for m in (spec.mounts if spec else [])},
            # only the test's frames on the bridge: no IPv6 neighbour discovery chatter
            sysctls={"net.ipv6.conf.all.disable_ipv6": "1",
                     "net.ipv6.conf.default.disable_ipv6": "1"},
        )  # fmt: skip
        endpoint = api.create_endpoint_config(ipv4_address=ipv4)
        try:
            created = api.create_container(
                image, name=name, labels={**labels, L_ROLE: role}, detach=True,
                # idle nodes only hold a namespace; a DUT's command replaces the entrypoint
                entrypoint=command[:1] if command else ["sleep"],
                command=command[1:] if command else ["infinity"],
                environment=dict(spec.env) if spec else {},
                working_dir=spec.workdir if spec and spec.workdir else None,
                host_config=host_config,
                networking_config=api.create_networking_config(
                    {f"{NAME_PREFIX}{tag}": endpoint}),
            )  # fmt: skip
            api.start(created["Id"])
            state = api.inspect_container(created["Id"])["State"]
        except docker.errors.DockerException as exc:
            raise BackendError(f"cannot start container {name} from {image}: {exc}") from exc
        if not state.get("Running") or not state.get("Pid"):
            tail = api.logs(created["Id"], tail=20).decode("utf-8", "replace")
            raise BackendError(f"container {name} exited at once "
                               f"(status {state.get('ExitCode')}): {tail.strip()}")  # fmt: skip
        return Node(role, ipv4, "", f"/proc/{state['Pid']}/ns/net", "eth0", created["Id"])

    # -- removing ---------------------------------------------------------------------------

    def _objects(self, tag: str | None = None) -> list[Any]:
        """Our containers and networks (of one campaign tag, or all), containers first."""
        flt = {"label": f"{L_TAG}={tag}" if tag else L_TAG}
        client = self.client
        return [*client.containers.list(all=True, filters=flt), *client.networks.list(filters=flt)]

    def _remove(self, objects: Sequence[Any]) -> list[str]:
        import docker.errors

        removed = []
        for obj in objects:
            kind = "network" if obj.__class__.__name__ == "Network" else "container"
            try:
                obj.remove(**({"force": True, "v": True} if kind == "container" else {}))
                removed.append(f"{kind} {obj.name}")
            except docker.errors.NotFound:
                continue
            except docker.errors.DockerException as exc:
                raise BackendError(f"cannot remove {kind} {obj.name}: {exc}") from exc
        return removed

    def _sweep(self, force: bool) -> list[str]:
        """Remove campaigns whose owner is dead (all with ``force``), and dangling images
        a killed build left."""
        import docker.errors

        dead: dict[str, list[Any]] = {}
        for obj in self._objects():
            labels = obj.attrs.get("Labels") or (obj.attrs.get("Config") or {}).get("Labels") or {}
            if force or not owner_alive(labels.get(L_OWNER)):
                dead.setdefault(labels.get(L_TAG, ""), []).append(obj)
        removed: list[str] = []
        for tag, objects in sorted(dead.items()):
            removed += self._remove(objects)
            removed += _stop_captures_on(f"{BRIDGE_PREFIX}{tag}br")
            if (network := forget(f"docker:{tag}")) is not None:
                network._teardown = None  # ours, removed by force: close() is now a no-op
        with contextlib.suppress(docker.errors.DockerException):
            pruned = self.client.images.prune(filters={"dangling": True, "label": IMAGE_LABEL})
            removed += [f"image {i.get('Deleted') or i.get('Untagged')}"
                        for i in pruned.get("ImagesDeleted") or []]  # fmt: skip
        return removed

    def _teardown(self, tag: str) -> None:
        forget(f"docker:{tag}")
        self._remove(self._objects(tag))

    def _logs(self, tag: str) -> dict[str, str]:
        out = {}
        for container in self.client.containers.list(all=True, filters={"label": f"{L_TAG}={tag}"}):
            role = container.labels.get(L_ROLE, container.name)
            with contextlib.suppress(Exception):  # evidence, best effort: never fails a run
                out[role] = container.logs(tail=LOG_TAIL).decode("utf-8", "replace")
        return out


def host_subnets() -> set[ipaddress.IPv4Network]:
    """IPv4 subnets on the host's own interfaces: a second docker daemon's networks
    show here, though this daemon does not list them."""
    from pyroute2 import IPRoute  # a well-kept netlink library

    found = set()
    with contextlib.suppress(OSError), IPRoute() as ipr:
        for addr in ipr.get_addr(family=2):  # AF_INET
            with contextlib.suppress(ValueError, TypeError):
                found.add(ipaddress.ip_network(
                    f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}", strict=False))
    return found


def capture_pids(interface: str) -> list[int]:
    """dumpcap processes capturing on ``interface``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"dumpcap") and interface.encode() in argv:
            pids.append(int(entry))
    return pids


def _stop_captures_on(interface: str) -> list[str]:
    """Stop dumpcaps a killed run left capturing on ``interface`` (they run in their
    own session, so its SIGKILL spared them)."""
    pids = capture_pids(interface)
    kill_all(pids)
    return [f"capture process {pid} on {interface}" for pid in pids]


def _no_ipv6_on(interface: str) -> None:
    """Keep the host's end of the bridge quiet (no IPv6 router/MLD chatter in captures)."""
    path = f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"
    with contextlib.suppress(OSError), open(path, "w") as handle:
        handle.write("1")
