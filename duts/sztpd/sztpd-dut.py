#!/usr/bin/env python3
"""sztpd 0.0.46 (an RFC 8572 bootstrap server) as a server DUT.

Run by the process adapter as `python3 sztpd-dut.py ACTION` (by the container adapter
through docker exec, containers/duts/sztpd/Dockerfile); parameters come from the
ONBOARDCHECK_* environment variables (docs/dut-profile.md). Only the standard library:
sztpd runs from its own venv (scripts/install-sztpd) and is driven over its RESTCONF
management ("native") interface, plain HTTP on 127.0.0.1 of the DUT's own host or
container: only this script uses it. The bootstrap interface the harness reaches is
bound where the harness's setup says (the DUT's address on the test network).

Actions:
  start      sztpd in the foreground, a fresh sqlite database in the state folder, its
             native interface on 127.0.0.1:native_port (and ::1, else 127.0.0.2, till
             `configure`). Refused unless the environment holds
             SZTPD_ACCEPT_CONTRACT=Yes: sztpd's licence is a contract the user accepts,
             never this script. The process adapter keeps it in the background.
  detach     `start` in a session of its own, returning once the native interface
             answers: the container adapter's start (an action there runs to completion).
  stop       ends what `detach` started (SIGTERM, then SIGKILL).
  configure  PUT the running datastore read from the JSON file `sztpd_config`
             (harness.peers.sztpd_config builds it), with this script's native
             endpoint and management user added; then waits for the bootstrap port.
  reset      PUT a configuration with the native endpoint and the user only: no keys,
             devices or bootstrap endpoint.

Exit status: 0 done, 1 failed (message on stderr), 2 usage.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SZTPD_VENV") or HERE.parent.parent / ".venv-sztpd")
DATABASE = "sztpd.db"
STATE = "sztpd-dut.json"
START_LOG = "sztpd-start.log"  # what a detached sztpd prints
START_PID = "sztpd-start.pid"  # its process group
NATIVE_ADDRESS = "127.0.0.1"
USER = "onboardcheck"
RUNNING = "/restconf/ds/ietf-datastores:running"
MEDIA = "application/yang-data+json"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
HTTP_TIMEOUT = 30.0


class DutError(Exception):
    """A failed action; its message goes to stderr, exit status 1. (A plain Exception:
    this script is the DUT, not part of the harness, and imports nothing of it.)"""


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"sztpd-dut: {message}", file=sys.stderr)
    sys.exit(code)


def param(name: str, default: str | None = None) -> str:
    value = os.environ.get(f"ONBOARDCHECK_{name.upper()}", "")
    if value:
        return value
    if default is None:
        raise DutError(f"missing parameter {name} (ONBOARDCHECK_{name.upper()})")
    return default


def port(name: str) -> int:
    value = param(name)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise DutError(f"{name} {value!r} is not a TCP port")
    return int(value)


def state_dir() -> Path:
    path = Path(param("state_dir"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_state(sdir: Path) -> dict[str, Any]:
    # `start` runs in the background: an action right after it waits for its record.
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            data = json.loads((sdir / STATE).read_text())
            break
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise DutError("the DUT is not started (no state recorded)") from None
            time.sleep(0.05)
    if not isinstance(data, dict) or not isinstance(data.get("native_port"), int):
        raise DutError(f"{sdir / STATE}: not this script's state")
    return data


def save_state(sdir: Path, data: dict[str, Any]) -> None:
    tmp = sdir / (STATE + ".tmp")
    # It holds the management password: owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    tmp.replace(sdir / STATE)


# -- start ------------------------------------------------------------------------------------


def start() -> None:
    if os.environ.get("SZTPD_ACCEPT_CONTRACT") != "Yes":
        fail(
            "sztpd's licence is a contract for non-production use (see "
            f"{VENV}/lib/python*/site-packages/sztpd/LICENSE); sztpd is started only when "
            "you accept it by setting SZTPD_ACCEPT_CONTRACT=Yes in the DUT's environment"
        )
    program = VENV / "bin" / "sztpd"
    if not os.access(program, os.X_OK):
        fail(f"{program} not found: run scripts/install-sztpd")
    sdir = state_dir()
    native_port = port("native_port")
    database = sdir / DATABASE
    # A fresh database each start: the factory default (native endpoint on
    # YANGCORE_INIT_PORT, no users) is written only into a new one.
    for stale in (database, sdir / STATE):
        stale.unlink(missing_ok=True)
    save_state(sdir, {"native_port": native_port, "password": None})
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SZTPD_ACCEPT_CONTRACT": "Yes",
        "YANGCORE_INIT_PORT": str(native_port),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [str(program), f"sqlite:///{database}"]
    if not ipv6_loopback():
        # sztpd's factory default binds the native interface on 127.0.0.1 and ::1 and
        # exits when either fails; a host or container without IPv6 (the docker backend
        # turns it off) has no ::1. There the second bind becomes 127.0.0.2, still this
        # host's loopback; `configure` replaces both with 127.0.0.1 anyway.
        argv = [str(VENV / "bin" / "python"), "-c", NO_IPV6_LOOPBACK, *argv[1:]]
    sys.stdout.flush()
    os.execve(argv[0], argv, env)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


# sztpd run with its factory-default native endpoint on 127.0.0.1 and 127.0.0.2.
NO_IPV6_LOOPBACK = """
import sys
from yangcore.dal_init_mixin import DataAccessLayerInitMixin as Mixin
load = Mixin._load_yang_dir_file
def factory(self, filename):
    data = load(self, filename)
    if filename == "factory-default.json":
        server = data["ietf-restconf-server:restconf-server"]
        for endpoint in server["listen"]["endpoints"]["endpoint"]:
            params = endpoint["http-over-tcp"]["tcp-server-parameters"]
            for bind in params["local-bind"]:
                if bind["local-address"] == "::1":
                    bind["local-address"] = "127.0.0.2"
    return data
Mixin._load_yang_dir_file = factory
from sztpd.__main__ import main
sys.argv[0] = "sztpd"
sys.exit(main())
"""


def detach() -> None:
    """`start` in a session of its own, returning once the native interface accepts
    connections: for the container adapter, whose actions run to completion (docker exec
    has no background action). `stop` ends it."""
    sdir = state_dir()
    native_port = port("native_port")
    stop()  # one sztpd per state folder: a second start replaces the first
    log = (sdir / START_LOG).open("ab")
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "start"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)  # fmt: skip
    log.close()
    (sdir / START_PID).write_text(str(child.pid))
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with socket.create_connection((NATIVE_ADDRESS, native_port), timeout=1.0):
                return
        except OSError:
            pass
        if child.poll() is not None or time.monotonic() > deadline:
            tail = (sdir / START_LOG).read_text(errors="replace")[-2000:]
            raise DutError(f"sztpd did not start (status {child.poll()}): {tail}")
        time.sleep(0.1)


def stop() -> None:
    """End what `detach` started: SIGTERM to its process group, SIGKILL if it outlives
    STOP_TIMEOUT. Nothing detached: nothing to do."""
    sdir = state_dir()
    try:
        pid = int((sdir / START_PID).read_text())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(pid, signal.SIGKILL)
    (sdir / START_PID).unlink(missing_ok=True)


def running(pid: int) -> bool:
    """Whether `pid` runs: neither gone nor a zombie. In a container whose first process
    (sleep) reaps no orphans, an ended sztpd stays a zombie, which signals still reach."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X", "")


# -- RESTCONF client --------------------------------------------------------------------------


def wait_for_port(host: str, tcp_port: int, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with socket.create_connection((host, tcp_port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise DutError(f"{what} {host}:{tcp_port} not reachable ({exc})") from None
        time.sleep(0.1)


def put_running(state: dict[str, Any], document: dict[str, Any], password: str | None) -> None:
    """PUT `document`; `password` is the current management password (None: none yet)."""
    native_port = state["native_port"]
    wait_for_port(NATIVE_ADDRESS, native_port, "sztpd's native interface")
    headers = {"Content-Type": MEDIA, "Accept": MEDIA}
    if password is not None:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    body = json.dumps(document).encode()
    conn = http.client.HTTPConnection(NATIVE_ADDRESS, native_port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("PUT", RUNNING, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        raise DutError(f"PUT {RUNNING}: {exc}") from None
    finally:
        conn.close()
    if response.status not in (200, 201, 204):
        raise DutError(f"PUT {RUNNING} -> {response.status} {response.reason}: {answer.strip()}")


def management(state: dict[str, Any], password: str) -> dict[str, Any]:
    """The native endpoint and the one user this script manages sztpd with."""
    return {
        "endpoint": {
            "name": "native-interface",
            "yangcore:use-for": "native-interface",
            "http-over-tcp": {
                "tcp-server-parameters": {
                    "local-bind": [
                        {"local-address": NATIVE_ADDRESS, "local-port": state["native_port"]}
                    ]
                }
            },
        },
        "users": {
            "user": [
                {
                    "login": USER,
                    "email-address": f"{USER}@example.invalid",
                    # "$0$": crypt-hash's cleartext form; sztpd stores a SHA-256 crypt of it.
                    "authentication": {"password-based": {"password": "$0$" + password}},
                    "authorization": {"unrestricted": [None]},
                }
            ]
        },
    }


def with_management(document: dict[str, Any], state: dict[str, Any], password: str) -> None:
    parts = management(state, password)
    server = document.setdefault("ietf-restconf-server:restconf-server", {})
    if not isinstance(server, dict):
        raise DutError("ietf-restconf-server:restconf-server is not an object")
    endpoints = server.setdefault("listen", {}).setdefault("endpoints", {})
    others = [
        e
        for e in endpoints.get("endpoint", [])
        if isinstance(e, dict) and e.get("yangcore:use-for") != "native-interface"
    ]
    endpoints["endpoint"] = [parts["endpoint"], *others]
    document["yangcore:users"] = parts["users"]
    document.setdefault(
        "yangcore:preferences",
        {"authentication": {"internal-authenticator": {"passwords-allowed": {}}}},
    )


def bootstrap_binds(document: dict[str, Any]) -> list[tuple[str, int]]:
    binds = []
    server = document.get("ietf-restconf-server:restconf-server", {})
    for endpoint in server.get("listen", {}).get("endpoints", {}).get("endpoint", []):
        if endpoint.get("yangcore:use-for") != "sztpd:rfc8572-interface":
            continue
        for transport in ("http-over-tls", "http-over-tcp"):
            tcp = endpoint.get(transport, {}).get("tcp-server-parameters", {})
            for bind in tcp.get("local-bind", []):
                binds.append((str(bind["local-address"]), int(bind["local-port"])))
    return binds


# -- configure / reset ------------------------------------------------------------------------


def configure() -> None:
    sdir = state_dir()
    state = load_state(sdir)
    source = Path(param("sztpd_config"))
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DutError(f"{source}: not a JSON document ({exc})") from None
    if not isinstance(document, dict):
        raise DutError(f"{source}: not a JSON object")
    password = secrets.token_urlsafe(18)
    with_management(document, state, password)
    try:
        binds = bootstrap_binds(document)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise DutError(f"{source}: malformed rfc8572-interface endpoint") from None
    put_running(state, document, state.get("password"))
    state["password"] = password
    save_state(sdir, state)
    for host, tcp_port in binds:
        wait_for_port(host, tcp_port, "sztpd's bootstrap interface")


def reset() -> None:
    sdir = state_dir()
    state = load_state(sdir)
    password = secrets.token_urlsafe(18)
    document: dict[str, Any] = {}
    with_management(document, state, password)
    put_running(state, document, state.get("password"))
    state["password"] = password
    save_state(sdir, state)


ACTIONS = {"start": start, "detach": detach, "stop": stop, "configure": configure,
           "reset": reset}  # fmt: skip


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in ACTIONS:
        fail(f"usage: sztpd-dut.py {{{'|'.join(ACTIONS)}}}", 2)
    try:
        ACTIONS[argv[1]]()
    except DutError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main(sys.argv)
