"""What the netns backend leaves on the host, and how a later run finds and removes it.

Each campaign writes a record ``<state_dir>/<tag>.json`` (owner pid and its start
time, address slot) *before* it creates any namespace, under a lock. So a namespace
named ``ocnet-<tag>-...`` whose record is missing, or whose owner is no longer the
same live process (pid plus start time: pids are reused), is a leftover.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BackendError

STATE_DIR = Path("/run/onboardcheck/netns")
NETNS_DIR = Path("/run/netns")  # where `ip netns` and pyroute2 bind namespaces
NS_PREFIX = "ocnet-"  # every namespace: ocnet-<tag>-<switch|role>
IF_PREFIX = "oc"  # every interface: oc<tag><kind><n>, at most 15 characters
SLOTS = 512  # /24s in 198.18.0.0/15
KILL_GRACE = 1.0


@dataclass(frozen=True)
class Record:
    tag: str
    campaign: str
    pid: int
    start: int  # the owner's start time in clock ticks since boot (/proc/<pid>/stat)
    slot: int

    @property
    def alive(self) -> bool:
        return process_start(self.pid) == self.start


def process_start(pid: int) -> int | None:
    """The start time of process ``pid``, or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def tag_of(namespace: str) -> str | None:
    match = re.fullmatch(re.escape(NS_PREFIX) + r"([a-z0-9]+)-.+", namespace)
    return match.group(1) if match else None


def our_namespaces() -> list[str]:
    """Every namespace on the host that carries our prefix."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if tag_of(n) is not None)


class State:
    """The records in ``state_dir``; mutate only inside ``locked()``."""

    def __init__(self, state_dir: Path = STATE_DIR):
        self.dir = Path(state_dir)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise BackendError(f"cannot use the state folder {self.dir}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def path(self, tag: str) -> Path:
        return self.dir / f"{tag}.json"

    def records(self) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                found[path.stem] = Record(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                found[path.stem] = Record(path.stem, "?", 0, -1, -1)  # unreadable: stale
        return found

    def write(self, record: Record) -> None:
        tmp = self.path(record.tag).with_suffix(".tmp")
        tmp.write_text(json.dumps(record.__dict__))
        tmp.replace(self.path(record.tag))

    def forget(self, tag: str) -> bool:
        try:
            self.path(tag).unlink()
            return True
        except FileNotFoundError:
            return False

    def free_slot(self, records: Iterable[Record]) -> int:
        used = {r.slot for r in records}
        for slot in range(SLOTS):
            if slot not in used:
                return slot
        raise BackendError(f"all {SLOTS} address slots of 198.18.0.0/15 are in use")


def pids_in(namespace: str) -> list[int]:
    """Processes (other than us) whose network namespace is ``namespace``."""
    try:
        target = os.stat(NETNS_DIR / namespace)
    except OSError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry))
    return pids


def kill_all(pids: list[int]) -> None:
    """SIGTERM, a grace period, then SIGKILL: the namespaces die with their last user."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + KILL_GRACE
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if process_start(p) is not None and _not_zombie(p)]
            time.sleep(0.02)
        if not pids:
            return


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def remove_namespace(namespace: str) -> bool:
    """Stop what runs inside ``namespace`` and remove it; False if it was not there."""
    from pyroute2 import netns as pr_netns  # a well-kept netlink library

    if not (NETNS_DIR / namespace).exists():
        return False
    kill_all(pids_in(namespace))
    try:
        pr_netns.remove(namespace)  # its interfaces (veths, bridge) go with it
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BackendError(f"cannot remove network namespace {namespace!r}: {exc}") from exc
    return True
