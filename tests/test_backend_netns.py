"""The netns backend: nodes in namespaces joined by a bridge, captures on it, cleanup.

These tests need root (CI runs them as root). Where namespaces cannot be created
they fail and say so: a skipped backend test would hide a broken CI setup.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import LoopbackBackend, NetnsBackend, TestNetwork
from harness.backends.netns_state import (
    IF_PREFIX,
    NETNS_DIR,
    NS_PREFIX,
    our_namespaces,
    tag_of,
)
from harness.cli import main
from harness.errors import BackendError

ROOT = Path(__file__).resolve().parent.parent
BENCH_V4 = ipaddress.ip_network("198.18.0.0/15")
BENCH_V6 = ipaddress.ip_network("2001:2::/48")

CHILD = """
import os, signal, sys
from harness.backends.netns import NetnsBackend
net = NetnsBackend().open(sys.argv[1], ["peer", "dut"])
print("ready", flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
"""


def _campaign() -> str:
    return "t" + secrets.token_hex(3)  # a tag as is: [a-z0-9]{1,8}


def _open(campaign: str) -> TestNetwork:
    try:
        return NetnsBackend().open(campaign, ["peer", "dut"])
    except BackendError as exc:
        pytest.fail(f"the netns backend cannot run here ({exc}); these tests need root "
                    "and permission to create network namespaces", pytrace=False)  # fmt: skip


def _namespaces_of(campaign: str) -> list[str]:
    return [n for n in our_namespaces() if tag_of(n) == campaign]


@pytest.fixture(scope="module")
def network() -> Iterator[TestNetwork]:
    campaign = _campaign()
    net = _open(campaign)
    try:
        yield net
    finally:
        net.close()
    assert _namespaces_of(campaign) == []


def _echo_once(server: socket.socket) -> tuple[str, int]:
    conn, addr = server.accept()
    with conn:
        conn.sendall(conn.recv(1024))
    return addr


def tcp_echo(net: TestNetwork, family: int, port: int) -> str:
    """Listener made in the peer's namespace, client in the DUT's; returns the seen source."""
    peer, dut = net.node("peer"), net.node("dut")
    host = peer.ipv4 if family == socket.AF_INET else peer.ipv6
    seen: list[tuple[str, int]] = []
    with peer.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, port))
        server.listen(1)
        server.settimeout(5)
        thread = threading.Thread(target=lambda: seen.append(_echo_once(server)))
        thread.start()
        with dut.socket(family, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect((host, port))
            client.sendall(b"onboardcheck")
            assert client.recv(1024) == b"onboardcheck"
        thread.join(5)
    return seen[0][0]


def test_addresses_and_names(network: TestNetwork) -> None:
    nodes = list(network.nodes.values())
    assert [n.name for n in nodes] == ["peer", "dut"]
    for node in nodes:
        assert ipaddress.ip_address(node.ipv4) in BENCH_V4
        assert ipaddress.ip_address(node.ipv6) in BENCH_V6
        assert node.netns is not None and node.netns.startswith(NS_PREFIX)
        assert node.interface is not None and node.interface.startswith(IF_PREFIX)
        assert len(node.interface) <= 15
    assert len({n.ipv4 for n in nodes}) == len({n.ipv6 for n in nodes}) == 2
    assert network.capture_netns is not None and network.capture_netns.startswith(NS_PREFIX)
    assert network.capture_interface.startswith(IF_PREFIX)


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_tcp_echo_between_namespaces(network: TestNetwork, family: int) -> None:
    dut = network.node("dut")
    source = tcp_echo(network, family, 7000 + family)
    # The peer sees the DUT's own address: the traffic crossed the bridge, not loopback.
    assert source == (dut.ipv4 if family == socket.AF_INET else dut.ipv6)


def test_ping_over_the_bridge(network: TestNetwork) -> None:
    peer, dut = network.node("peer"), network.node("dut")
    ident = os.getpid() & 0xFFFF
    body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"ping"
    csum = _checksum(body)
    request = body[:2] + struct.pack("!H", csum) + body[4:]
    with dut.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as raw:
        raw.settimeout(3)
        raw.sendto(request, (peer.ipv4, 0))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            packet, (source, _) = raw.recvfrom(2048)
            icmp = packet[(packet[0] & 0x0F) * 4:]
            if icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                assert source == peer.ipv4
                return
    pytest.fail("no ICMP echo reply from the peer")


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def test_command_sees_only_its_namespace(network: TestNetwork) -> None:
    peer, dut = network.node("peer"), network.node("dut")
    out = subprocess.run(dut.command(["ip", "-o", "addr", "show"]), capture_output=True,
                         text=True, check=True, timeout=10).stdout  # fmt: skip
    interfaces = {line.split()[1] for line in out.splitlines()}
    assert interfaces == {"lo", dut.interface}
    assert f"{dut.ipv4}/24" in out and f"{dut.ipv6}/64" in out
    assert peer.ipv4 not in out and peer.ipv6 not in out
    host = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                          check=True, timeout=10).stdout  # fmt: skip
    for line in host.splitlines():
        address = line.split()[3].split("/")[0]
        if address != "127.0.0.1":
            assert address not in out


def test_capture_on_the_bridge_holds_ethernet_frames(network: TestNetwork,
                                                      tmp_path: Path) -> None:  # fmt: skip
    peer, dut = network.node("peer"), network.node("dut")
    pcap = tmp_path / "bridge.pcapng"
    live = network.capture(pcap)
    try:
        tcp_echo(network, socket.AF_INET, 7100)
    finally:
        live.stop()
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-e", "frame.protocols",
         "-e", "eth.src", "-e", "ip.src", "-e", "ip.dst"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows, f"no TCP frames in {pcap}: {live.diagnostics}"
    assert all(r[0].startswith("eth:ethertype:ip:tcp") and r[1] for r in rows)
    pairs = {(r[2], r[3]) for r in rows}
    assert pairs == {(dut.ipv4, peer.ipv4), (peer.ipv4, dut.ipv4)}
    assert len({r[1] for r in rows}) == 2  # two distinct MACs: the two veth ends


def _dead_campaign(mode: str = "kill") -> tuple[str, subprocess.Popen[str]]:
    """A child python that opens a network, then SIGKILLs itself (or waits, for signals)."""
    campaign = _campaign()
    child = subprocess.Popen([sys.executable, "-c", CHILD, campaign, mode], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    if mode == "kill":
        assert child.wait(10) == -signal.SIGKILL
        _close_pipes(child)
    return campaign, child


def _close_pipes(child: subprocess.Popen[str]) -> None:
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            pipe.close()


def _assert_only_live_left() -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    backend = NetnsBackend()
    alive = {tag for tag, rec in backend.state.records().items() if rec.alive}
    for line in listed.splitlines():
        name = line.split()[0]
        # (a namespace gone meanwhile was a concurrent run closing, not a leftover)
        if name.startswith(NS_PREFIX) and (NETNS_DIR / name).exists():
            assert tag_of(name) in alive, f"leftover {name}"


# Any run's open() sweeps dead leftovers too. When a concurrent test's sweep got there
# first, these try again, so they pass only once `clean` itself removed the leftovers.
ATTEMPTS = 3


def test_clean_removes_what_a_sigkilled_run_left() -> None:
    for _ in range(ATTEMPTS):
        campaign, _ = _dead_campaign()
        left = _namespaces_of(campaign)
        expected = sorted(f"{NS_PREFIX}{campaign}-{r}" for r in ("switch", "peer", "dut"))
        assert sorted(left) in ([], expected)
        removed = NetnsBackend().clean()
        assert _namespaces_of(campaign) == []
        if left and set(left) <= set(removed):
            break
    else:
        pytest.fail("each time, another run's sweep removed the leftovers before clean did")
    _assert_only_live_left()


def test_cli_clean_removes_what_a_sigkilled_run_left() -> None:
    for _ in range(ATTEMPTS):
        campaign, _ = _dead_campaign()
        done = subprocess.run([sys.executable, "-m", "harness.cli", "clean"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _namespaces_of(campaign) == []
        if f"removed {NS_PREFIX}{campaign}-switch" in done.stdout:
            break
    else:
        pytest.fail("each time, another run's sweep removed the leftovers before clean did")
    _assert_only_live_left()


def test_open_sweeps_stale_leftovers_first() -> None:
    stale, _ = _dead_campaign()
    with _open(_campaign()):
        assert _namespaces_of(stale) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_tears_down(network: TestNetwork, signum: int) -> None:
    campaign, child = _dead_campaign(mode="wait")
    assert len(_namespaces_of(campaign)) == 3
    child.send_signal(signum)
    # The previous handling still happens after ours: death by SIGTERM; for SIGINT,
    # KeyboardInterrupt, which Python ends with death by SIGINT.
    assert child.wait(10) == -signum
    _close_pipes(child)
    assert _namespaces_of(campaign) == []
    assert campaign not in NetnsBackend().state.records()


def test_close_is_idempotent_and_campaigns_do_not_collide(network: TestNetwork,
                                                           tmp_path: Path) -> None:  # fmt: skip
    campaign = _campaign()
    other = _open(campaign)
    live = other.capture(tmp_path / "left-running.pcapng")
    v4 = {ipaddress.ip_interface(f"{n.ipv4}/24").network for n in other.nodes.values()}
    v6 = {ipaddress.ip_interface(f"{n.ipv6}/64").network for n in other.nodes.values()}
    mine_v4 = ipaddress.ip_interface(f"{network.node('peer').ipv4}/24").network
    mine_v6 = ipaddress.ip_interface(f"{network.node('peer').ipv6}/64").network
    assert mine_v4 not in v4 and mine_v6 not in v6
    with pytest.raises(BackendError, match="already has a test network"):
        NetnsBackend().open(campaign, ["peer"])
    other.close()
    other.close()
    assert other.closed and _namespaces_of(campaign) == []
    assert not live.running and live.pcap.stat().st_size > 0  # stopped before the teardown
    assert campaign not in NetnsBackend().state.records()


def test_cli_clean_without_root_says_so(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["clean"]) == 2
    err = capsys.readouterr().err
    assert "needs root" in err and "Traceback" not in err


def test_loopback_backend_is_the_harness_itself() -> None:
    with LoopbackBackend().open("x", ["peer", "dut"]) as net:
        assert {(n.ipv4, n.ipv6, n.netns) for n in net.nodes.values()} == {("127.0.0.1", "::1",
                                                                             None)}
        assert net.node("dut").command(["true"]) == ["true"]
    assert LoopbackBackend().clean() == []
