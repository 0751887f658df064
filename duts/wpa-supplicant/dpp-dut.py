#!/usr/bin/env python3
"""Debian's wpa_supplicant 2.10 as a DPP DUT (enrollee or configurator) over TCP.

Run by the process adapter as `python3 dpp-dut.py ACTION`; parameters come from the
ONBOARDCHECK_* environment variables (docs/dut-profile.md). Only the standard library:
wpa_supplicant is driven through its UNIX control socket, the way wpa_cli does it.

wpa_supplicant runs with the `none` driver on `lo`: it opens no radio and changes
nothing on the interface; DPP goes over TCP only (DPP_CONTROLLER_START as responder,
DPP_AUTH_INIT tcp_addr=... as initiator). Each `start` gets its own control folder
under /tmp (a UNIX socket path must stay under 108 octets, which a deep state folder
may not); the state folder records where it is. `start` runs in the foreground (the
process adapter keeps it in the background); `detach` starts it in a session of its own
and returns once it answers, and `stop` ends it (the container adapter's way).

Exit status: 0 done, 1 failed (message on stderr), 2 usage, 3 nothing received.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

IFNAME = "lo"
WPA_SUPPLICANT = os.environ.get("WPA_SUPPLICANT", "wpa_supplicant")
HOSTAPD = os.environ.get("HOSTAPD", "hostapd")
# Which daemon is the DUT: wpa_supplicant (default) or hostapd, whose control interface
# takes the same DPP commands (the profile's `env` chooses).
DAEMON = os.environ.get("DPP_DUT_DAEMON", "wpa_supplicant")
CURVES = ("P-256", "P-384", "P-521")
AKM_CONF = {"dpp": "sta-dpp", "psk": "sta-psk", "sae": "sta-sae", "psk+sae": "sta-psk-sae"}
# The none driver has no channel list; authentication over TCP still needs a frequency
# to put in the (unused) channel negotiation, or DPP_AUTH_INIT fails.
NEG_FREQ = "2412"
EVENTS = "events.log"
STATE = "wpas.json"
RESET_MARK = "# reset"
CTRL_TIMEOUT = 5.0
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
START_LOG = "dut-start.log"
START_PID = "dut-start.pid"


class DutError(Exception):
    """A failed action; its message goes to stderr, exit status 1. (A plain Exception:
    this script is the DUT, not part of the harness, and imports nothing of it.)"""


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"dpp-dut: {message}", file=sys.stderr)
    sys.exit(code)


def param(name: str, default: str | None = None) -> str:
    value = os.environ.get(f"ONBOARDCHECK_{name.upper()}", "")
    if value:
        return value
    if default is None:
        raise DutError(f"missing parameter {name} (ONBOARDCHECK_{name.upper()})")
    return default


def state_dir() -> Path:
    path = Path(param("state_dir"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- control socket ---------------------------------------------------------------------------


class Ctrl:
    """A client of wpa_supplicant's per-interface control socket."""

    def __init__(self, base: Path, timeout: float = CTRL_TIMEOUT):
        self.path = str(base / "ctrl" / IFNAME)
        self.local = str(base / f"c{os.getpid()}-{time.monotonic_ns() % 10**9}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.local)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except OSError as exc:
            self.close()
            raise DutError(f"wpa_supplicant control socket {self.path}: {exc}") from None

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.local)

    def __enter__(self) -> Ctrl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, command: str) -> str:
        try:
            self.sock.send(command.encode())
            while True:
                reply = self.sock.recv(65536).decode("utf-8", "replace")
                if not reply.startswith("<"):  # skip events if this socket is attached
                    return reply.rstrip("\n")
        except OSError as exc:
            raise DutError(f"{command.split()[0]}: no answer from wpa_supplicant ({exc})") from None

    def ok(self, command: str) -> None:
        reply = self.request(command)
        if reply != "OK":
            raise DutError(f"{redact(command)} -> {reply}")

    def number(self, command: str) -> int:
        reply = self.request(command)
        if not reply.isdigit():
            raise DutError(f"{redact(command)} -> {reply}")
        return int(reply)


def redact(command: str) -> str:
    return re.sub(r"pass=\S+", "pass=...", command)


def ctrl_base(sdir: Path) -> Path:
    # `start` runs in the background: an action right after it waits for its socket.
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        base = recorded_base(sdir)
        if base is not None and (base / "ctrl" / IFNAME).exists():
            return base
        if time.monotonic() > deadline:
            if base is None:
                raise DutError("the DUT is not started (no control folder recorded)")
            raise DutError(f"{DAEMON} is not running (no socket in {base}/ctrl)")
        time.sleep(0.05)


def recorded_base(sdir: Path) -> Path | None:
    try:
        return Path((sdir / "ctrl_base").read_text().strip())
    except OSError:
        return None


def load_state(sdir: Path) -> dict[str, int]:
    try:
        data = json.loads((sdir / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)}


def save_state(sdir: Path, data: dict[str, int]) -> None:
    tmp = sdir / (STATE + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(sdir / STATE)


# -- start: wpa_supplicant in the foreground plus an event recorder ----------------------------


def start() -> None:
    sdir = state_dir()
    base = Path(tempfile.mkdtemp(prefix="ocwpas-", dir="/tmp"))
    conf = base / "dut.conf"
    if DAEMON == "hostapd":
        conf.write_text(f"interface={IFNAME}\ndriver=none\nctrl_interface={base / 'ctrl'}\n")
        argv = [HOSTAPD, str(conf)]
    elif DAEMON == "wpa_supplicant":
        # dpp_config_processing=0: report the configuration as events, add no network.
        conf.write_text(f"ctrl_interface={base / 'ctrl'}\ndpp_config_processing=0\n")
        argv = [WPA_SUPPLICANT, "-D", "none", "-i", IFNAME, "-c", str(conf)]
    else:
        fail(f"DPP_DUT_DAEMON={DAEMON!r}: wpa_supplicant or hostapd")
    (sdir / "ctrl_base").write_text(str(base))
    (sdir / EVENTS).write_text("")
    save_state(sdir, {})
    child = subprocess.Popen(argv)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        monitor = attach(base, child)
        record(monitor, child, sdir / EVENTS, lambda: stopping)
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        shutil.rmtree(base, ignore_errors=True)
        with contextlib.suppress(OSError):
            (sdir / "ctrl_base").unlink()
    if not stopping:
        fail(f"{DAEMON} exited with status {child.returncode}")


def detach() -> None:
    """`start` in a session of its own, returning once wpa_supplicant answers: for the
    container adapter, whose actions run to completion (docker exec has no background
    action). `stop` ends it."""
    sdir = state_dir()
    with contextlib.suppress(OSError):
        (sdir / "ctrl_base").unlink()  # a stale record must not pass for readiness
    log = (sdir / START_LOG).open("ab")
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "start"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)  # fmt: skip
    (sdir / START_PID).write_text(str(child.pid))
    deadline = time.monotonic() + READY_TIMEOUT
    while not _ready(sdir):
        if child.poll() is not None or time.monotonic() > deadline:
            tail = (sdir / START_LOG).read_text(errors="replace")[-2000:]
            raise DutError(f"{DAEMON} did not start (status {child.poll()}): {tail}")
        time.sleep(0.05)


def _ready(sdir: Path) -> bool:
    base = recorded_base(sdir)
    return base is not None and (base / "ctrl" / IFNAME).exists()


def stop() -> None:
    """End what `detach` started: SIGTERM (the script then stops wpa_supplicant and
    removes its control folder), SIGKILL if it outlives STOP_TIMEOUT."""
    sdir = state_dir()
    try:
        pid = int((sdir / START_PID).read_text())
    except (OSError, ValueError):
        return  # nothing was started in the background
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.killpg(pid, 0)
            time.sleep(0.05)
        os.killpg(pid, signal.SIGKILL)
    (sdir / START_PID).unlink(missing_ok=True)


def attach(base: Path, child: subprocess.Popen[bytes]) -> Ctrl:
    deadline = time.monotonic() + READY_TIMEOUT
    while not (base / "ctrl" / IFNAME).exists():
        if child.poll() is not None:
            fail(f"{DAEMON} exited with status {child.returncode}")
        if time.monotonic() > deadline:
            fail(f"{DAEMON} made no control socket within {READY_TIMEOUT:g} s")
        time.sleep(0.05)
    monitor = Ctrl(base)
    monitor.ok("ATTACH")
    monitor.sock.settimeout(0.5)
    return monitor


def record(
    monitor: Ctrl, child: subprocess.Popen[bytes], log: Path, stopping: Callable[[], bool]
) -> None:
    """Append every event to the log. Events a single wpa_supplicant callback emits (a
    received configuration is a burst of them) are written with one write, so a reader
    never sees half a configuration."""
    with monitor, log.open("a", encoding="utf-8") as out:
        while not stopping() and child.poll() is None:
            try:
                batch = [monitor.sock.recv(65536)]
            except TimeoutError:
                continue
            except OSError:
                return
            monitor.sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    batch.append(monitor.sock.recv(65536))
            monitor.sock.settimeout(0.5)
            lines = [
                re.sub(r"^<\d+>", "", b.decode("utf-8", "replace")).rstrip("\n") for b in batch
            ]
            out.write("".join(f"{line}\n" for line in lines if line.startswith(("DPP-", "CTRL-"))))
            out.flush()


# -- the DPP actions ----------------------------------------------------------------------------


def bootstrap() -> None:
    sdir = state_dir()
    curve = param("curve", "P-256")
    if curve not in CURVES:
        raise DutError(f"curve {curve!r} not supported (one of {', '.join(CURVES)})")
    with Ctrl(ctrl_base(sdir)) as ctrl:
        own = ctrl.number(f"DPP_BOOTSTRAP_GEN type=qrcode curve={curve}")
        uri = ctrl.request(f"DPP_BOOTSTRAP_GET_URI {own}")
    if not uri.startswith("DPP:"):
        raise DutError(f"DPP_BOOTSTRAP_GET_URI -> {uri}")
    data = load_state(sdir)
    data["own"] = own
    data["curve"] = CURVES.index(curve)
    save_state(sdir, data)
    print(uri)


def configurator_params(ctrl: Ctrl, sdir: Path) -> str:
    """conf=/ssid=/pass=/configurator= for DPP_AUTH_INIT or dpp_configurator_params."""
    data = load_state(sdir)
    if "configurator" not in data:
        curve = CURVES[data.get("curve", 0)]
        data["configurator"] = ctrl.number(f"DPP_CONFIGURATOR_ADD curve={curve}")
        save_state(sdir, data)
    akm = param("akm", "dpp")
    if akm not in AKM_CONF:
        raise DutError(f"akm {akm!r} not supported (one of {', '.join(AKM_CONF)})")
    ssid = param("ssid").encode()
    parts = [f"conf={AKM_CONF[akm]}", f"ssid={ssid.hex()}"]
    if akm != "dpp":
        parts.append(f"pass={param('passphrase').encode().hex()}")
    parts.append(f"configurator={data['configurator']}")
    return " ".join(parts)


def role() -> str:
    value = param("role")
    if value not in ("configurator", "enrollee"):
        raise DutError(f"role {value!r}: configurator or enrollee")
    return value


def port(name: str) -> int:
    value = param(name)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise DutError(f"{name} {value!r} is not a TCP port")
    return int(value)


def peer_id(ctrl: Ctrl) -> int:
    uri = param("peer_uri")
    if "\n" in uri or not uri.startswith("DPP:"):
        raise DutError("peer_uri is not a DPP URI")
    return ctrl.number(f"DPP_QR_CODE {uri}")


def listen() -> None:
    sdir = state_dir()
    as_role = role()
    tcp_port = port("dut_port")
    with Ctrl(ctrl_base(sdir)) as ctrl:
        extra = ""
        if param("peer_uri", ""):
            peer_id(ctrl)
            # The tester's key is known: insist on mutual authentication.
            extra = " qr=mutual"
        if as_role == "configurator":
            ctrl.ok(f'SET dpp_configurator_params " {configurator_params(ctrl, sdir)}"')
        ctrl.ok(f"DPP_CONTROLLER_START tcp_port={tcp_port} role={as_role}{extra}")


def initiate() -> None:
    sdir = state_dir()
    as_role = role()
    host = param("peer_host")
    tcp_port = port("peer_port")
    if not re.fullmatch(r"[0-9A-Fa-f:.]+", host):
        raise DutError(f"peer_host {host!r}: wpa_supplicant takes an IP address only")
    with Ctrl(ctrl_base(sdir)) as ctrl:
        peer = peer_id(ctrl)
        command = f"DPP_AUTH_INIT peer={peer}"
        own = load_state(sdir).get("own")
        if own is not None:
            command += f" own={own}"
        command += f" role={as_role} tcp_addr={host} tcp_port={tcp_port} neg_freq={NEG_FREQ}"
        if as_role == "configurator":
            command += " " + configurator_params(ctrl, sdir)
        ctrl.ok(command)


def event_lines(sdir: Path) -> list[str]:
    try:
        return (sdir / EVENTS).read_text(encoding="utf-8").splitlines()
    except OSError:
        raise DutError("no event log: the DUT is not started") from None


def events() -> None:
    for line in event_lines(state_dir()):
        if line.startswith("DPP-"):
            print(line)


_ESCAPES = {"\\": "\\", '"': '"', "e": "\x1b", "n": "\n", "r": "\r", "t": "\t"}


def unescape(text: str) -> str:
    """Undo hostap's printf_encode() (how DPP-CONFOBJ-SSID prints the SSID)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            if nxt in _ESCAPES:
                out += _ESCAPES[nxt].encode()
                i += 2
                continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def received() -> None:
    lines = event_lines(state_dir())
    if RESET_MARK in lines:
        lines = lines[len(lines) - lines[::-1].index(RESET_MARK) :]
    starts = [i for i, line in enumerate(lines) if line.startswith("DPP-CONF-RECEIVED")]
    if not starts:
        print("dpp-dut: no configuration received", file=sys.stderr)
        sys.exit(3)
    got: dict[str, object] = {"ssid": None, "akm": None, "connector": None,
                              "c_sign_key": None, "net_access_key": None,
                              "passphrase": None}  # fmt: skip
    dpp = [line for line in lines[starts[-1] :] if line.startswith("DPP-")]
    for line in dpp:
        name, _, value = line.partition(" ")
        if name == "DPP-CONFOBJ-SSID":
            got["ssid"] = unescape(value)
        elif name == "DPP-CONFOBJ-AKM":
            got["akm"] = value
        elif name == "DPP-CONNECTOR":
            got["connector"] = value
        elif name == "DPP-C-SIGN-KEY":
            got["c_sign_key"] = value
        elif name == "DPP-NET-ACCESS-KEY":
            got["net_access_key"] = value.split()[0] if value else None  # then an expiry
        elif name == "DPP-CONFOBJ-PASS":
            got["passphrase"] = bytes.fromhex(value).decode("utf-8", "replace")
    got["events"] = dpp
    print(json.dumps(got))


def reset() -> None:
    sdir = state_dir()
    with Ctrl(ctrl_base(sdir)) as ctrl:
        for command in ("DPP_CONTROLLER_STOP", "DPP_STOP_LISTEN", "DPP_PKEX_REMOVE *",
                        "DPP_BOOTSTRAP_REMOVE *", "DPP_CONFIGURATOR_REMOVE *"):  # fmt: skip
            ctrl.request(command)  # FAIL when there is nothing to remove: fine
        ctrl.request('SET dpp_configurator_params " "')
    save_state(sdir, {})
    with (sdir / EVENTS).open("a", encoding="utf-8") as out:
        out.write(RESET_MARK + "\n")


ACTIONS = {"start": start, "detach": detach, "stop": stop, "bootstrap": bootstrap,
           "listen": listen, "initiate": initiate, "received": received, "events": events,
           "reset": reset}  # fmt: skip


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in ACTIONS:
        fail(f"usage: dpp-dut.py {{{'|'.join(ACTIONS)}}}", 2)
    try:
        ACTIONS[argv[1]]()
    except DutError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main(sys.argv)
