"""containers/compose/plugfest.yaml: addresses, commands and image agree with the harness."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.cli import _parser

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "containers" / "compose" / "plugfest.yaml"
README = REPO / "containers" / "README.md"
TEST_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
# containers/README.md, "Address plan": what the backends and the private dockerd take.
RESERVED = [
    ipaddress.IPv4Network("198.18.0.0/16"),  # netns backend
    ipaddress.IPv4Network("198.19.0.0/17"),  # the private dockerd's pool
    ipaddress.IPv4Network("198.19.255.0/24"),  # its default bridge
]
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults (the environment is not consulted)."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict) -> dict[str, dict]:
    found = compose.get("services")
    assert isinstance(found, dict) and found, "no services"
    return found


def test_version_less(compose: dict) -> None:
    assert "version" not in compose  # the compose specification, not the v2/v3 formats


def test_network_inside_benchmarking_range(compose: dict) -> None:
    subnets = [
        ipaddress.ip_network(pool["subnet"])
        for network in compose["networks"].values()
        for pool in network["ipam"]["config"]
    ]
    assert subnets
    for subnet in subnets:
        assert subnet.subnet_of(TEST_RANGE), subnet  # type: ignore[arg-type]
        for reserved in RESERVED:
            assert not subnet.overlaps(reserved), f"{subnet} overlaps {reserved}"
    for network in compose["networks"].values():
        for pool in network["ipam"]["config"]:
            if "gateway" in pool:
                assert ipaddress.ip_address(pool["gateway"]) in ipaddress.ip_network(pool["subnet"])


def test_fixed_addresses_inside_their_subnet(compose: dict) -> None:
    subnets = {
        name: [ipaddress.ip_network(p["subnet"]) for p in net["ipam"]["config"]]
        for name, net in compose["networks"].items()
    }
    fixed = 0
    for service in services(compose).values():
        for name, attachment in (service.get("networks") or {}).items():
            address = (attachment or {}).get("ipv4_address")
            if address is None:
                continue
            fixed += 1
            ip = ipaddress.ip_address(address)
            assert ip in TEST_RANGE, address
            assert any(ip in subnet for subnet in subnets[name]), f"{address} not in {name}"
    assert fixed, "the peers need fixed addresses devices can be pointed at"


def test_commands_are_ones_the_cli_accepts(compose: dict) -> None:
    parser = _parser()
    for name, service in services(compose).items():
        argv = [interpolate(str(arg)) for arg in service["command"]]
        args = parser.parse_args(argv)  # SystemExit(2) on anything the CLI refuses
        assert args.command == "peer", name
        # what it writes lands in a bind mount, and its port is published
        mounts = [v.split(":")[1] for v in service["volumes"]]
        assert any(str(args.out).startswith(m.rstrip("/") + "/") for m in mounts), args.out
        published = [interpolate(str(p)).rsplit(":", 1)[-1] for p in service["ports"]]
        assert str(args.port) in published
        for address in [args.listen, *args.san]:
            with_ip = _ip_or_none(address)
            assert (
                with_ip is None
                or with_ip.is_unspecified
                or with_ip in TEST_RANGE
                or (with_ip.is_loopback)
            ), address


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def test_image_is_the_one_the_readme_builds(compose: dict) -> None:
    text = README.read_text().replace("\\\n", " ")
    built = {
        m.group(1)
        for line in text.splitlines()
        if "docker build" in line and "containers/peer/Dockerfile" in line
        for m in re.finditer(r"-t\s+(\S+)", line)
    }
    assert built, "containers/README.md builds no peer image"
    for service in services(compose).values():
        assert service["image"].removesuffix(":latest") in built


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    v1 = shutil.which("docker-compose")
    return [v1] if v1 is not None else None


def test_compose_validates(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGFEST_")}
    result = subprocess.run([*command, "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                            text=True, timeout=60, env=env, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
