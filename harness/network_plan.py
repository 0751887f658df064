"""A campaign's test network: the backend, what each node runs, and what of it is kept.

Every suite places its parties on two nodes: ``peer`` (the harness's tester peers) and
``dut``. Under the docker backend a DUT whose profile has a ``control.container``
section runs in that image, with the campaign folder bound in at the same path (the
files its actions exchange with the harness live there); every other node is an idle
container of the peer image that hosts in-process parties' sockets.

The network's description (nodes, addresses, containers), on netns and docker the
campaign's whole capture on the bridge with every test's TLS key log merged beside it,
and on docker each container's output are written to ``<out>/backend/``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends import NodeSpec, TestNetwork, get_backend
from harness.backends.docker_images import PEER_IMAGE
from harness.capture.audit import foreign_frames
from harness.errors import BackendError, DecodeError, OnboardcheckError

if TYPE_CHECKING:
    from harness.campaign_state import Campaign

ROLES = ("peer", "dut")
log = logging.getLogger(__name__)


def node_specs(campaign: Campaign) -> dict[str, NodeSpec]:
    """What the DUT's node runs under the docker backend (nothing: the default)."""
    container = campaign.dut.control.container
    if campaign.backend != "docker" or container is None:
        return {}
    return {
        "dut": NodeSpec(
            image=container.image,
            dockerfile=container.dockerfile,
            context=container.context,
            command=container.command,
            env=dict(container.env),
            mounts=[campaign.out],
            workdir=container.workdir,
        )
    }


def open_campaign_network(campaign: Campaign) -> TestNetwork:
    if campaign.dut.control.adapter == "container" and campaign.backend != "docker":
        raise BackendError("the DUT profile's adapter is 'container': run it with "
                           "--backend docker")  # fmt: skip
    campaign.out.mkdir(parents=True, exist_ok=True)
    backend = get_backend(campaign.backend)
    # One network per harness process: pytest-xdist workers each get their own.
    specs = node_specs(campaign)
    network = backend.open(f"{os.getpid():x}", ROLES, specs)
    folder = campaign.out / "backend"
    folder.mkdir(exist_ok=True)
    description = {
        "backend": network.backend,
        "campaign": network.campaign_id,
        "capture_interface": network.capture_interface,
        "nodes": {
            role: {"ipv4": n.ipv4, "ipv6": n.ipv6, "netns": n.netns, "interface": n.interface,
                   "container": n.container, "image": _image(network, specs, role)}
            for role, n in network.nodes.items()
        },
    }
    (folder / f"network-{network.campaign_id}.json").write_text(json.dumps(description, indent=2))
    if network.backend != "loopback":
        try:
            network.capture(folder / f"campaign-{network.campaign_id}.pcapng")
        except OnboardcheckError:
            network.close()
            raise
    return network


def audit_campaign_capture(folder: Path, campaign_id: str) -> list[str]:
    """List frames of the campaign's capture that left the test ranges (e.g. a DUT
    resolving a name or phoning home: the test network drops them, the capture shows
    them) in foreign-frames-<id>.txt; returns them."""
    pcap = folder / f"campaign-{campaign_id}.pcapng"
    try:
        found = list(foreign_frames(pcap)) if pcap.exists() else []
    except DecodeError as exc:
        found = [f"{pcap}: not audited: {exc}"]
    if found:
        (folder / f"foreign-frames-{campaign_id}.txt").write_text("\n".join(found) + "\n")
        log.warning("%d frame(s) of the campaign left the test ranges: see %s", len(found),
                    folder / f"foreign-frames-{campaign_id}.txt")  # fmt: skip
    return found


def _image(network: TestNetwork, specs: dict[str, NodeSpec], role: str) -> str | None:
    if role in specs:
        return specs[role].image
    return PEER_IMAGE if network.backend == "docker" else None


def close_campaign_network(campaign: Campaign, network: TestNetwork) -> None:
    """Keep each container's output as evidence, then tear the network down."""
    folder = campaign.out / "backend"
    try:
        for role, text in network.logs().items():
            (folder / f"{role}-{network.campaign_id}.log").write_text(text)
    finally:
        network.close()  # stops the campaign capture first
    if network.backend != "loopback":
        audit_campaign_capture(folder, network.campaign_id)
        keylogs = sorted(campaign.out.glob("*/evidence/*/*.keylog"))
        with (folder / f"campaign-{network.campaign_id}.keylog").open("wb") as merged:
            for keylog in keylogs:  # NSS key logs are line sets: concatenation is one
                merged.write(keylog.read_bytes())
