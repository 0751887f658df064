"""The `container` adapter: a DUT in its own container on the docker test network.

The docker backend starts the container (the profile's `control.container`: image,
command, environment) on the campaign's network and removes it afterwards. Each action
is a command line run inside it by ``docker exec`` through the SDK, with the same
parameters as the process adapter (``ONBOARDCHECK_<NAME>`` variables and shell-quoted
``{name}`` fields). Files the actions exchange with the harness (state folder, trust
anchors, keys, key logs) live in the campaign folder, which the backend binds into the
container at the same path.

A hang is bounded inside the container by coreutils ``timeout`` (the exec API has no
kill), and by a wait on the harness's side.
"""

from __future__ import annotations

import io
import tarfile
import threading
import time
from collections.abc import Mapping
from typing import Any

import yaml

from harness.control.base import ActionResult, Controller, fill_template
from harness.control.process import (
    MAX_OUTPUT,
    action_environment,
    endpoint_facts,
    reset_by_action,
    wait_for_ports,
)
from harness.dut import ContainerSection
from harness.errors import BackendError, ControlError

KILL_AFTER = 2  # seconds `timeout` waits after TERM before KILL
WAIT_SLACK = 10.0  # how much longer than the in-container limit the harness waits
TIMED_OUT = (124, 137)  # `timeout`: TERM sent (124), or KILL after KILL_AFTER (128+9)


class ContainerController(Controller):
    def __init__(
        self,
        section: ContainerSection,
        state_templates: Mapping[str, str] | None = None,
        endpoints: Mapping[str, str] | None = None,
        output_cap: int = MAX_OUTPUT,
    ):
        super().__init__(state_templates)
        self.section = section
        self.endpoints = dict(endpoints or {})
        self.output_cap = output_cap
        self._params: dict[str, str] = {}
        self._started = False

    def supports(self, action: str) -> bool:
        return action in self.section.actions

    @property
    def container(self) -> str:
        if self.node is None or self.node.container is None:
            raise ControlError("setup", "the container adapter needs the docker backend "
                               "(onboardcheck run --backend docker)")  # fmt: skip
        return self.node.container

    def _api(self) -> Any:
        from harness.backends.docker import docker_client

        try:
            return docker_client().api
        except BackendError as exc:
            raise ControlError("setup", str(exc)) from None

    # -- actions -------------------------------------------------------------------------------

    def action(
        self, name: str, params: dict[str, str], timeout: float | None = None
    ) -> ActionResult:
        if name not in self.section.actions:
            defined = ", ".join(sorted(self.section.actions)) or "(none)"
            raise ControlError(name, f"the DUT profile defines no such action ({defined})")
        command = fill_template(name, self.section.actions[name], params, quote=True)
        limit = self.section.timeout if timeout is None else timeout
        env = action_environment(name, self.section.env, params)
        argv = ["timeout", "-k", str(KILL_AFTER), f"{limit:g}", "/bin/sh", "-c", command]
        api = self._api()
        started = time.monotonic()
        try:
            exec_id = api.exec_create(self.container, argv, environment=env,
                                      workdir=self.section.workdir)["Id"]  # fmt: skip
        except Exception as exc:  # the SDK's errors and the transport's
            raise ControlError(name, f"cannot run in container {self.container[:12]}: {exc}") \
                from None
        reader = _ExecReader(api, exec_id, self.output_cap)
        reader.start()
        reader.join(limit + KILL_AFTER + WAIT_SLACK)
        code: int | None = None
        if not reader.is_alive():
            try:
                code = api.exec_inspect(exec_id).get("ExitCode")
            except Exception:  # the container went away: no exit status to report
                code = None
        timed_out = reader.is_alive() or (code in TIMED_OUT and
                                          time.monotonic() - started >= limit)  # fmt: skip
        stderr = reader.text(2)
        if reader.error:
            stderr += f"\n[harness] reading the output failed: {reader.error}"
        return ActionResult(
            action=name,
            returncode=None if timed_out else code,
            stdout=reader.text(1),
            stderr=stderr,
            duration=time.monotonic() - started,
            timed_out=timed_out,
            truncated=reader.truncated,
        )

    def reset(self, params: dict[str, str]) -> None:
        reset_by_action(self, params)

    # -- a long-running DUT: the container's own command ---------------------------------------

    def start(self, params: dict[str, str]) -> dict[str, str]:
        self._params = dict(params)
        self._started = True
        facts = endpoint_facts(self.endpoints, params)
        if self.supports("start"):
            result = self.action("start", params)
            if not result.ok:
                raise ControlError("start", result.describe(), result.stdout + result.stderr)
        wait_for_ports(facts, self.section.timeout, self.node, alive=self._running)
        return facts

    def _running(self) -> str | None:
        """None while the container runs, else why it does not."""
        try:
            state = self._api().inspect_container(self.container)["State"]
        except Exception as exc:
            return f"container gone: {exc}"
        return None if state.get("Running") else f"container exited ({state.get('ExitCode')})"

    def oob(self) -> dict[str, str]:
        """The mapping in `oob_file` inside the container ({} when the profile names none)."""
        path = self.section.oob_file
        if path is None:
            return {}
        try:
            stream, _ = self._api().get_archive(self.container, path)
            raw = _single_file(b"".join(stream), path)
        except ControlError:
            raise
        except Exception as exc:  # the SDK's NotFound and the transport's errors
            raise ControlError("oob", f"cannot read {path} in the container: {exc}") from None
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ControlError("oob", f"{path} is not a YAML mapping: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise ControlError("oob", f"{path} is not a mapping of names to values")
        return {k: "" if v is None else str(v) for k, v in data.items()}

    def stop(self) -> None:
        # The container itself goes with the test network; a `stop` action runs first.
        if self._started and self.supports("stop"):
            self._started = False
            self.action("stop", self._params)
        self._started = False


def _single_file(archive: bytes, path: str, limit: int = 1024 * 1024) -> bytes:
    """The one regular file in the tar docker's archive API returns for `path`."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            if member is None or member.size > limit:
                raise ControlError("oob", f"{path} is not a regular file under {limit} bytes")
            handle = tar.extractfile(member)
            return handle.read() if handle is not None else b""
    except tarfile.TarError as exc:
        raise ControlError("oob", f"cannot unpack {path}: {exc}") from None


class _ExecReader(threading.Thread):
    """Streams one exec's output, keeping the first `cap` bytes of each stream."""

    def __init__(self, api: Any, exec_id: str, cap: int):
        super().__init__(daemon=True)
        self.api, self.exec_id, self.cap = api, exec_id, cap
        self.chunks: dict[int, list[bytes]] = {1: [], 2: []}
        self.kept = {1: 0, 2: 0}
        self.truncated = False
        self.error: str | None = None

    def run(self) -> None:
        try:
            for out, err in self.api.exec_start(self.exec_id, stream=True, demux=True):
                for fd, chunk in ((1, out), (2, err)):
                    if chunk:
                        self._keep(fd, chunk)
        except Exception as exc:  # a broken stream still leaves what was read as evidence
            self.error = str(exc)

    def _keep(self, fd: int, chunk: bytes) -> None:
        room = self.cap - self.kept[fd]
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[:room]
        if chunk:
            self.chunks[fd].append(chunk)
            self.kept[fd] += len(chunk)

    def text(self, fd: int) -> str:
        return b"".join(self.chunks[fd]).decode("utf-8", "replace")
