"""Debian's wpa_supplicant 2.10 as DPP DUTs: the two profiles configure each other over
TCP on loopback, through the process adapter, and tshark's own DPP dissector reads the
capture of the exchange.

Needs wpa_supplicant; the tests that capture also need tshark, dumpcap and root.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.capture.live import LiveCapture
from harness.control import ProcessController, make_controller
from harness.dut import load_profile
from harness.errors import CaptureError

DUTS = Path(__file__).resolve().parent.parent / "duts"
WAIT = 15.0  # bound on every wait for the DUTs (seconds)

pytestmark = pytest.mark.skipif(
    shutil.which("wpa_supplicant") is None, reason="wpa_supplicant is not installed"
)


def capture_unavailable() -> str | None:
    if shutil.which("tshark") is None or shutil.which("dumpcap") is None:
        return "tshark/dumpcap not installed"
    if os.geteuid() != 0:
        return "capturing on lo needs root"
    return None


def free_port() -> int:
    # wpa_supplicant 2.10 binds its controller to the wildcard address: probe the same.
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dut:
    controller: ProcessController
    params: dict[str, str]

    def act(self, action: str, **extra: str) -> str:
        result = self.controller.action(action, {**self.params, **extra})
        assert result.ok, f"{action}: {result.describe()}\n{result.stderr}"
        return result.stdout


def start_dut(name: str, root: Path) -> Dut:
    profile = load_profile(
        DUTS / f"wpa-supplicant-{name}.yaml", {"dpp": ["enrollee", "configurator"]}
    )
    controller = make_controller(profile, "dpp")
    assert isinstance(controller, ProcessController)
    params = {"work_dir": str(root / name), "state_dir": str(root / name / "state")}
    controller.start(params)
    dut = Dut(controller, params)
    deadline = time.monotonic() + WAIT
    while not (root / name / "state" / "ctrl_base").exists():  # start runs in the background
        if time.monotonic() > deadline:
            controller.stop()
            log = (root / name / "dut-start.log").read_text(errors="replace")
            pytest.fail(f"{name}: wpa_supplicant not up within {WAIT:g} s\n{log}")
        time.sleep(0.05)
    return dut


@pytest.fixture
def duts(tmp_path: Path) -> Iterator[tuple[Dut, Dut]]:
    started: list[Dut] = []
    ctrl_dirs: list[Path] = []
    try:
        for name in ("enrollee", "configurator"):
            started.append(start_dut(name, tmp_path))
            ctrl_dirs.append(Path((tmp_path / name / "state" / "ctrl_base").read_text()))
        yield started[0], started[1]
    finally:
        for dut in started:
            dut.controller.stop()
    for ctrl in ctrl_dirs:  # the DUT script removes its own control folder on stop
        assert not ctrl.exists(), f"{ctrl} left behind"


def wait_received(dut: Dut) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        result = dut.controller.action("received", dut.params)
        if result.returncode == 0:
            return json.loads(result.stdout)
        assert result.returncode == 3, result.stderr
        if time.monotonic() > deadline:
            events = dut.act("events")
            pytest.fail(f"no configuration received within {WAIT:g} s; events:\n{events}")
        time.sleep(0.2)


def wait_event(dut: Dut, prefix: str) -> list[str]:
    deadline = time.monotonic() + WAIT
    while True:
        lines = dut.act("events").splitlines()
        if any(line.startswith(prefix) for line in lines):
            return lines
        if time.monotonic() > deadline:
            pytest.fail(f"no {prefix} within {WAIT:g} s; events:\n" + "\n".join(lines))
        time.sleep(0.2)


@contextlib.contextmanager
def capture(path: Path, port: int) -> Iterator[None]:
    """A live capture of lo on `port`, synchronised with sentinel datagrams at both
    ends so no frame of the exchange is missed however loaded the machine is."""
    live = LiveCapture(path, [port], "lo", sync="sentinel")
    try:
        live.start()
    except CaptureError as exc:
        pytest.fail(f"dumpcap did not start: {exc}")
    try:
        yield
    finally:
        live.stop()


def dpp_frames(path: Path, port: int) -> list[tuple[str, bool]]:
    """(tshark's name of the DPP message, malformed?) for each DPP PDU of the capture."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", f"tcp.port=={port},dpp", "-Y", "dpp",
         "-T", "fields", "-E", "separator=|", "-e", "_ws.col.Info", "-e", "_ws.malformed"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    frames = []
    for line in out.stdout.splitlines():
        info, _, malformed = line.rpartition("|")
        frames.append((info.rpartition("DPP - ")[2], bool(malformed)))
    return frames


def connector_payload(connector: str) -> dict:
    body = connector.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


CASES = [
    pytest.param("P-256", False, id="p256"),
    pytest.param("P-256", True, id="p256-mutual"),
    pytest.param("P-384", False, id="p384"),
    pytest.param("P-384", True, id="p384-mutual"),
]
CURVE_ALG = {"P-256": ("ES256", "P-256"), "P-384": ("ES384", "P-384")}
CONFIG = {"ssid": "onboardcheck-dpp", "akm": "dpp"}


def check_configuration(got: dict, curve: str) -> None:
    assert got["ssid"] == CONFIG["ssid"]
    assert got["akm"] == "dpp"
    assert got["passphrase"] is None
    assert got["connector"] and got["c_sign_key"] and got["net_access_key"]
    header = json.loads(base64.urlsafe_b64decode(got["connector"].split(".")[0] + "=="))
    assert header["typ"] == "dppCon" and header["alg"] == CURVE_ALG[curve][0]
    payload = connector_payload(got["connector"])
    assert payload["groups"] == [{"groupId": "*", "netRole": "sta"}]
    assert payload["netAccessKey"]["crv"] == CURVE_ALG[curve][1]
    names = [line.split(" ")[0] for line in got["events"]]
    assert names[0] == "DPP-CONF-RECEIVED"
    assert {"DPP-CONFOBJ-AKM", "DPP-CONFOBJ-SSID", "DPP-CONNECTOR", "DPP-C-SIGN-KEY",
            "DPP-NET-ACCESS-KEY"} <= set(names)  # fmt: skip


# What wpa_supplicant 2.10 sends over TCP, named by tshark's DPP dissector: the GAS
# exchange travels without the GAS header, and the enrollee ends with a Configuration
# Result (DPP R2).
EXCHANGE = [
    "Authentication Request",
    "Authentication Response",
    "Authentication Confirm",
    "Configuration Request",
    "Configuration Response",
    "Configuration Result",
]


def check_capture(path: Path, port: int) -> None:
    frames = dpp_frames(path, port)
    assert [name for name, _ in frames] == EXCHANGE, frames
    assert not any(malformed for _, malformed in frames), frames


def check_exchange(duts: tuple[Dut, Dut], tmp_path: Path, curve: str, mutual: bool,
                   configurator_listens: bool) -> None:  # fmt: skip
    """One DUT listens, the other initiates to it over TCP with the listener's URI; the
    enrollee gets its configuration and the capture holds the whole exchange."""
    why = capture_unavailable()
    if why:
        pytest.skip(why)
    enrollee, configurator = duts
    conf_uri = configurator.act("bootstrap", curve=curve).strip()
    enr_uri = enrollee.act("bootstrap", curve=curve).strip()
    assert conf_uri.startswith("DPP:") and conf_uri.endswith(";;")
    listener, initiator = (configurator, enrollee) if configurator_listens \
        else (enrollee, configurator)
    listen_conf, init_conf = (CONFIG, {}) if configurator_listens else ({}, CONFIG)
    port = free_port()
    listen = {"role": "configurator" if configurator_listens else "enrollee",
              "dut_port": str(port), **listen_conf}
    if mutual:
        listen["peer_uri"] = enr_uri if configurator_listens else conf_uri
    listener.act("listen", **listen)
    pcap = tmp_path / "dpp.pcapng"
    with capture(pcap, port):
        initiator.act("initiate", role="enrollee" if configurator_listens else "configurator",
                      peer_uri=conf_uri if configurator_listens else enr_uri,
                      peer_host="127.0.0.1", peer_port=str(port), **init_conf)  # fmt: skip
        got = wait_received(enrollee)
        wait_event(configurator, "DPP-CONF-SENT")
    check_configuration(got, curve)
    assert f"DPP-AUTH-DIRECTION mutual={int(mutual)}" in got_events(initiator)
    assert "DPP-AUTH-SUCCESS init=0" in got_events(listener)
    check_capture(pcap, port)


@pytest.mark.parametrize(("curve", "mutual"), CASES)
def test_enrollee_initiates_to_listening_configurator(
    duts: tuple[Dut, Dut], tmp_path: Path, curve: str, mutual: bool
) -> None:
    check_exchange(duts, tmp_path, curve, mutual, configurator_listens=True)


@pytest.mark.parametrize(("curve", "mutual"), CASES)
def test_configurator_initiates_to_listening_enrollee(
    duts: tuple[Dut, Dut], tmp_path: Path, curve: str, mutual: bool
) -> None:
    check_exchange(duts, tmp_path, curve, mutual, configurator_listens=False)


def got_events(dut: Dut) -> list[str]:
    return [line.rstrip() for line in dut.act("events").splitlines()]


def test_psk_configuration_and_reset(duts: tuple[Dut, Dut]) -> None:
    enrollee, configurator = duts
    result = enrollee.controller.action("received", enrollee.params)
    assert result.returncode == 3 and "no configuration" in result.stderr
    conf_uri = configurator.act("bootstrap", curve="P-256").strip()
    enrollee.act("bootstrap", curve="P-256")
    port = free_port()
    configurator.act("listen", role="configurator", dut_port=str(port), ssid="caf\u00e9 net",
                     akm="psk", passphrase="correct horse")  # fmt: skip
    enrollee.act("initiate", role="enrollee", peer_uri=conf_uri, peer_host="127.0.0.1",
                 peer_port=str(port))  # fmt: skip
    got = wait_received(enrollee)
    assert (got["ssid"], got["akm"], got["passphrase"]) == ("caf\u00e9 net", "psk", "correct horse")
    enrollee.act("reset")
    configurator.act("reset")
    result = enrollee.controller.action("received", enrollee.params)
    assert result.returncode == 3
    # The listener is gone with the reset: nothing accepts on the port any more.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_bad_parameters_fail_with_a_message(duts: tuple[Dut, Dut]) -> None:
    enrollee, _ = duts
    bad = [
        ("bootstrap", {"curve": "P-999"}, "curve"),
        ("listen", {"role": "enrollee", "dut_port": "70000"}, "not a TCP port"),
        (
            "initiate",
            {
                "role": "enrollee",
                "peer_uri": "http://x",
                "peer_host": "127.0.0.1",
                "peer_port": "7871",
            },
            "not a DPP URI",
        ),
        (
            "initiate",
            {"role": "enrollee", "peer_uri": "DPP:K:xx;;", "peer_host": "a;b", "peer_port": "7871"},
            "IP address",
        ),
        ("listen", {"role": "proxy", "dut_port": "7871"}, "configurator or enrollee"),
    ]
    for action, extra, message in bad:
        result = enrollee.controller.action(action, {**enrollee.params, **extra})
        assert result.returncode == 1, (action, extra, result.describe())
        assert message in result.stderr, result.stderr
