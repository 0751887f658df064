"""The docker backend: containers on a per-campaign docker network, captures on its
bridge, labels on everything, cleanup after a SIGKILL; the container control adapter.

They need root and a docker daemon (`scripts/setup` starts one as root); the peer image
is built first if absent. Without them the tests are skipped with the reason, except
under CI=true, where they fail: a skipped backend test would hide a broken CI setup.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import DockerBackend, NodeSpec, TestNetwork
from harness.backends.docker import L_OWNER, L_TAG, NAME_PREFIX, POOL, docker_client
from harness.backends.docker_images import PEER_IMAGE, ensure_peer_image
from harness.backends.preflight import preflight
from harness.control.container import ContainerController
from harness.dut import ContainerSection
from harness.errors import BackendError, ControlError

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import os, signal, sys
from harness.backends.docker import DockerBackend
net = DockerBackend().open(sys.argv[1], ["peer", "dut"])
print("ready", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(scope="module", autouse=True)
def docker_here() -> None:
    try:
        preflight("docker")
        ensure_peer_image(docker_client())  # waits for a build under way, or builds it
    except BackendError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the docker backend must run in CI: {exc}", pytrace=False)
        pytest.skip(f"docker backend unavailable here: {exc}")


def _campaign() -> str:
    return "d" + secrets.token_hex(3)


def _objects(tag: str) -> list[str]:
    client = docker_client()
    flt = {"label": f"{L_TAG}={tag}"}
    return [*(c.name for c in client.containers.list(all=True, filters=flt)),
            *(n.name for n in client.networks.list(filters=flt))]  # fmt: skip


@pytest.fixture(scope="module")
def network() -> Iterator[TestNetwork]:
    campaign = _campaign()
    net = DockerBackend().open(campaign, ["peer", "dut"])
    try:
        yield net
    finally:
        net.close()
    assert _objects(campaign) == []


def test_nodes_are_labelled_containers_in_the_test_range(network: TestNetwork) -> None:
    client = docker_client()
    for role, node in network.nodes.items():
        assert ipaddress.ip_address(node.ipv4) in POOL
        assert ipaddress.ip_address(node.ipv4) in ipaddress.ip_network("198.18.0.0/15")
        container = client.containers.get(node.container)
        assert container.labels[L_TAG] == network.campaign_id
        assert container.labels[L_OWNER].startswith(f"{os.getpid()}:")
        assert container.name == f"{NAME_PREFIX}{network.campaign_id}-{role}"
    net = client.networks.get(f"{NAME_PREFIX}{network.campaign_id}")
    assert net.attrs["Internal"] is True  # no route out of the test network
    assert net.attrs["Labels"][L_TAG] == network.campaign_id


def test_tcp_between_containers_is_captured_on_the_bridge(network: TestNetwork,
                                                          tmp_path: Path) -> None:  # fmt: skip
    peer, dut = network.node("peer"), network.node("dut")
    live = network.capture(tmp_path / "capture.pcapng")
    with dut.socket() as server:
        server.bind((dut.ipv4, 7000))
        server.listen(1)
        server.settimeout(10)

        def echo() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(64))

        thread = threading.Thread(target=echo)
        thread.start()
        with peer.create_connection((dut.ipv4, 7000), 10) as client:
            client.sendall(b"onboardcheck")
            assert client.recv(64) == b"onboardcheck"
        thread.join(10)
    live.stop()
    rows = subprocess.run(
        ["tshark", "-r", str(live.pcap), "-Y", "tcp.port == 7000", "-T", "fields",
         "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split("\n")  # fmt: skip
    frames = [r.split("\t") for r in rows if r]
    assert frames and all(f[0].startswith("eth:ethertype:ip:tcp") for f in frames)
    assert {(f[1], f[2]) for f in frames} == {(peer.ipv4, dut.ipv4), (dut.ipv4, peer.ipv4)}


def test_command_runs_in_the_node_namespace(network: TestNetwork) -> None:
    dut = network.node("dut")
    argv = dut.command(["ip", "-o", "-4", "addr", "show"])
    assert argv[0] == "nsenter"
    seen = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    assert f" {dut.ipv4}/24 " in seen and "eth0" in seen
    assert network.node("peer").ipv4 not in seen


def test_clean_removes_what_a_sigkilled_run_left() -> None:
    # Any run's open() sweeps dead leftovers too: when a concurrent test's did it first,
    # try again, so that this passes only once `clean` itself removed them.
    for _ in range(3):
        campaign = _campaign()
        child = subprocess.run([sys.executable, "-c", CHILD, campaign], cwd=ROOT,
                               capture_output=True, text=True, timeout=180)  # fmt: skip
        assert child.returncode == -signal.SIGKILL, child.stderr
        left = _objects(campaign)
        assert len(left) in (0, 3), left  # two containers and the network survive a SIGKILL
        done = subprocess.run([sys.executable, "-m", "harness.cli", "clean", "--backend",
                               "docker"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _objects(campaign) == []
        if f"removed network {NAME_PREFIX}{campaign}" in done.stdout:
            break
    else:
        pytest.fail("each time, another run's sweep removed the leftovers before clean did")
    listed = subprocess.run(["docker", "ps", "-a", "--filter", f"label={L_TAG}={campaign}",
                             "-q"], capture_output=True, text=True, check=False,
                            env={**os.environ, **_docker_env()})  # fmt: skip
    assert listed.stdout.strip() == ""


def _docker_env() -> dict[str, str]:
    from harness.backends.docker_images import docker_host

    host = docker_host()
    return {"DOCKER_HOST": host} if host else {}


def test_open_sweeps_leftovers_of_dead_runs() -> None:
    stale = _campaign()
    subprocess.run([sys.executable, "-c", CHILD, stale], cwd=ROOT, capture_output=True,
                   timeout=180, check=False)  # fmt: skip
    assert _objects(stale)
    with DockerBackend().open(_campaign(), ["peer"]):
        assert _objects(stale) == []


def test_missing_image_without_dockerfile_is_a_clear_error() -> None:
    with pytest.raises(BackendError, match="names no dockerfile"):
        DockerBackend().open(_campaign(), ["dut"], {"dut": NodeSpec("onboardcheck/absent-image")})


# -- the container control adapter ---------------------------------------------------------------


@pytest.fixture(scope="module")
def dut_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestNetwork, Path]]:
    shared = tmp_path_factory.mktemp("shared")
    spec = NodeSpec(PEER_IMAGE, mounts=[shared], env={"DUT_GREETING": "hello"})
    with DockerBackend().open(_campaign(), ["dut"], {"dut": spec}) as net:
        yield net, shared


def _controller(
    net: TestNetwork, actions: dict[str, str], timeout: float = 30
) -> ContainerController:
    section = ContainerSection(PEER_IMAGE, workdir="/tmp", actions=actions, timeout=timeout,
                               env={"EXTRA": "x y"})  # fmt: skip
    controller = ContainerController(section, {"greeting": "{state_dir}/greeting.txt"})
    controller.node = net.node("dut")
    return controller


def test_container_action_runs_inside_with_parameters(
    dut_network: tuple[TestNetwork, Path],
) -> None:
    net, shared = dut_network
    controller = _controller(net, {
        "greet": 'echo "$DUT_GREETING $EXTRA $ONBOARDCHECK_NAME" > {state_dir}/greeting.txt; '
                 "pwd; hostname -i; echo oops >&2; exit 3"})  # fmt: skip
    result = controller.action("greet", {"state_dir": str(shared), "name": "a'b; rm -rf /"})
    assert result.returncode == 3 and not result.timed_out
    assert result.stdout.split() == ["/tmp", net.node("dut").ipv4]
    assert result.stderr.strip() == "oops"
    # the file the action wrote in the bound folder is the DUT's state, read on the host
    assert controller.state({"state_dir": str(shared)})["greeting"] == b"hello x y a'b; rm -rf /\n"


def test_container_action_timeout_and_output_cap(dut_network: tuple[TestNetwork, Path]) -> None:
    net, _ = dut_network
    controller = _controller(net, {"hang": "sleep 60", "chatty": "head -c 3000000 /dev/zero"})
    hung = controller.action("hang", {}, timeout=1)
    assert hung.timed_out and hung.returncode is None and not hung.ok
    controller.output_cap = 1000
    chatty = controller.action("chatty", {})
    assert chatty.truncated and len(chatty.stdout) == 1000 and chatty.returncode == 0


def test_container_adapter_errors_are_typed(dut_network: tuple[TestNetwork, Path]) -> None:
    net, _ = dut_network
    controller = _controller(net, {"ok": "true"})
    with pytest.raises(ControlError, match="no such action"):
        controller.action("enroll", {})
    controller.node = None
    with pytest.raises(ControlError, match="needs the docker backend"):
        controller.action("ok", {})


def test_container_oob_file(dut_network: tuple[TestNetwork, Path]) -> None:
    net, _ = dut_network
    controller = _controller(net, {
        "boot": "printf 'username: dut-7\\npassword: s3cret\\nport: 8443\\n' > /tmp/oob.yaml",
        "garble": "echo '[not, a, mapping' > /tmp/oob.yaml"})  # fmt: skip
    assert controller.oob() == {}  # the profile names no oob_file
    controller.section.oob_file = "/tmp/oob.yaml"
    assert controller.action("boot", {}).ok
    assert controller.oob() == {"username": "dut-7", "password": "s3cret", "port": "8443"}
    assert controller.action("garble", {}).ok
    with pytest.raises(ControlError, match="not a YAML mapping"):
        controller.oob()
    controller.section.oob_file = "/tmp/absent.yaml"
    with pytest.raises(ControlError, match=r"cannot read /tmp/absent\.yaml"):
        controller.oob()
