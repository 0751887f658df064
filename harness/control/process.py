"""The `process` adapter: every DUT action is a command line run by /bin/sh.

Parameters reach the command two ways: as environment variables `ONBOARDCHECK_<NAME>`
(the robust way: no quoting issues) and as `{name}` template fields, which are
shell-quoted before substitution so a parameter value can never inject shell syntax.
The environment is built from scratch (PATH, the profile's `env`, the parameters) so
a run does not depend on whatever the harness's own shell exported.

Each action runs in its own session (process group). On timeout the whole group is
killed, so a DUT that forks and hangs cannot outlive its test; a `start` action runs
in the background until stop().
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from harness.control.base import ActionResult, Controller, fill_template
from harness.dut import ProcessSection
from harness.errors import ControlError

if TYPE_CHECKING:
    from harness.backends import Node

# A chatty DUT must not exhaust the harness's memory; 1 MiB of a stream is plenty of
# evidence. The rest is drained (so the DUT does not block on a full pipe) and dropped.
MAX_OUTPUT = 1024 * 1024
# How long a terminated process group gets before SIGKILL.
KILL_GRACE = 0.5
# How long output readers may lag behind the shell's exit before leftovers are killed.
DRAIN_GRACE = 0.5
STOP_GRACE = 5.0
START_LOG = "dut-start.log"
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SHELL = "/bin/sh"


class _Reader(threading.Thread):
    """Drains one pipe, keeping the first `cap` bytes."""

    def __init__(self, stream: IO[bytes], cap: int):
        super().__init__(daemon=True)  # a reader stuck on an escaped grandchild must not pin exit
        self.stream = stream
        self.cap = cap
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False

    def run(self) -> None:
        try:
            while chunk := self.stream.read1(65536):
                room = self.cap - self.kept
                if len(chunk) > room:
                    self.truncated = True
                    chunk = chunk[:room]
                if chunk:
                    self.chunks.append(chunk)
                    self.kept += len(chunk)
        except (OSError, ValueError):  # pipe closed under us after a kill
            pass

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # group already gone
        os.killpg(pgid, sig)


def _end_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace`, reap the leader."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


class ProcessController(Controller):
    def __init__(
        self,
        section: ProcessSection,
        state_templates: Mapping[str, str] | None = None,
        endpoints: Mapping[str, str] | None = None,
        output_cap: int = MAX_OUTPUT,
    ):
        super().__init__(state_templates, section.cwd)
        self.section = section
        self.endpoints = dict(endpoints or {})
        self.output_cap = output_cap
        self._server: subprocess.Popen[bytes] | None = None
        self._server_log: IO[bytes] | None = None
        self._params: dict[str, str] = {}
        self._started = False
        self.last_stop: ActionResult | None = None

    def supports(self, action: str) -> bool:
        return action in self.section.actions

    # -- environment and command -----------------------------------------------------------

    def environment(self, action: str, params: Mapping[str, str]) -> dict[str, str]:
        base = {"PATH": os.environ.get("PATH", os.defpath), **self.section.env}
        return action_environment(action, base, params)

    def command(self, action: str, params: Mapping[str, str]) -> str:
        if action not in self.section.actions:
            defined = ", ".join(sorted(self.section.actions)) or "(none)"
            raise ControlError(action, f"the DUT profile defines no such action ({defined})")
        return fill_template(action, self.section.actions[action], params, quote=True)

    def _spawn(
        self, action: str, params: Mapping[str, str], stdout: int | IO[bytes], stderr: int
    ) -> subprocess.Popen[bytes]:
        command = self.command(action, params)
        try:
            argv = [SHELL, "-c", command]
            return subprocess.Popen(
                self.node.command(argv) if self.node is not None else argv,
                cwd=self.section.cwd,
                env=self.environment(action, params),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # own process group: killpg reaches every child
            )
        except OSError as exc:
            raise ControlError(action, f"cannot run {SHELL} in {self.section.cwd}: {exc}") from None

    # -- actions -------------------------------------------------------------------------------

    def action(
        self, name: str, params: dict[str, str], timeout: float | None = None
    ) -> ActionResult:
        limit = self.section.timeout if timeout is None else timeout
        started = time.monotonic()
        proc = self._spawn(name, params, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        readers = [_Reader(proc.stdout, self.output_cap), _Reader(proc.stderr, self.output_cap)]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _end_group(proc, KILL_GRACE)
        for reader in readers:
            reader.join(DRAIN_GRACE)
        # Children left behind by a finished action (or ones that ignored SIGTERM) are
        # killed: each action runs to completion, the next test must start clean.
        _signal_group(proc.pid, signal.SIGKILL)
        for reader in readers:
            reader.join(DRAIN_GRACE)
        if not any(r.is_alive() for r in readers):  # else a reader still owns its pipe
            proc.stdout.close()
            proc.stderr.close()
        return ActionResult(
            action=name,
            returncode=None if timed_out else proc.returncode,
            stdout=readers[0].text(),
            stderr=readers[1].text(),
            duration=time.monotonic() - started,
            timed_out=timed_out,
            truncated=any(r.truncated for r in readers),
        )

    def reset(self, params: dict[str, str]) -> None:
        reset_by_action(self, params)

    # -- a long-running DUT (a server) ---------------------------------------------------------

    def start(self, params: dict[str, str]) -> dict[str, str]:
        self._params = dict(params)
        self._started = True
        facts = endpoint_facts(self.endpoints, params)
        if not self.supports("start"):
            return facts
        if self._server is not None:
            raise ControlError("start", "the DUT is already started")
        work_dir = params.get("work_dir")
        if not work_dir:
            raise ControlError("start", "needs the 'work_dir' parameter for the DUT's log")
        log_path = Path(work_dir) / START_LOG
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._server_log = log_path.open("ab")
        self._server = self._spawn("start", params, self._server_log, subprocess.STDOUT)
        self._wait_ready(facts, log_path)
        return facts

    def _wait_ready(self, facts: Mapping[str, str], log_path: Path) -> None:
        """Wait until every endpoint with an explicit host:port accepts TCP connections."""
        server = self._server
        assert server is not None

        def alive() -> str | None:
            code = server.poll()
            return None if code in (None, 0) else f"exited with status {code}"  # 0: daemonised

        try:
            wait_for_ports(facts, self.section.timeout, self.node, alive)
        except ControlError as exc:
            self.stop()
            raise ControlError("start", str(exc).split(": ", 1)[-1], _tail(log_path)) from None

    def stop(self) -> None:
        if self._started and self.supports("stop"):
            self._started = False  # a failing stop action must not run again on retry
            self.last_stop = self.action("stop", self._params)
        self._started = False
        if self._server is not None:
            _end_group(self._server, STOP_GRACE)
            self._server = None
        if self._server_log is not None:
            self._server_log.close()
            self._server_log = None


def reset_by_action(controller: Controller, params: dict[str, str]) -> None:
    """Run the profile's `reset` action, if it defines one; ControlError when it fails."""
    if not controller.supports("reset"):
        return
    result = controller.action("reset", params)
    if not result.ok:
        raise ControlError("reset", result.describe(), result.stdout + result.stderr)


def endpoint_facts(endpoints: Mapping[str, str], params: Mapping[str, str]) -> dict[str, str]:
    """The profile's `endpoints`, filled from the parameters."""
    return {k: fill_template(f"endpoints.{k}", v, params) for k, v in endpoints.items()}


def action_environment(
    action: str, base: Mapping[str, str], params: Mapping[str, str]
) -> dict[str, str]:
    """``base`` plus each parameter as ``ONBOARDCHECK_<NAME>``."""
    env = dict(base)
    for name, value in params.items():
        if not _PARAM_NAME.fullmatch(name):
            raise ControlError(action, f"parameter name {name!r} is not a valid variable")
        env[f"ONBOARDCHECK_{name.upper()}"] = str(value)
    return env


def endpoint_targets(facts: Mapping[str, str]) -> list[tuple[str, int]]:
    """The host:port of every endpoint URL that names both."""
    targets = []
    for value in facts.values():
        parts = urllib.parse.urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.hostname and port:
            targets.append((parts.hostname, port))
    return targets


def wait_for_ports(facts: Mapping[str, str], timeout: float, node: Node | None,
                   alive: Callable[[], str | None]) -> None:  # fmt: skip
    """Wait until every endpoint accepts TCP connections (from the DUT's own node).

    ``alive`` says why the DUT is down (None while it runs); raises ControlError("start").
    """
    targets = endpoint_targets(facts)
    deadline = time.monotonic() + timeout
    time.sleep(0.1)  # let a start command that fails at once do so
    while True:
        why = alive()
        if why is not None:
            raise ControlError("start", why)
        pending = [t for t in targets if not _accepts(t, node)]
        if not pending:
            return
        if time.monotonic() > deadline:
            where = ", ".join(f"{h}:{p}" for h, p in pending)
            raise ControlError("start", f"not listening on {where} after {timeout:g} s")
        time.sleep(0.1)


def _accepts(target: tuple[str, int], node: Node | None = None) -> bool:
    connect = node.create_connection if node is not None else socket.create_connection
    try:
        with connect(target, 0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, limit: int = 4096) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")
