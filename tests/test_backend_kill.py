"""A campaign SIGKILLed mid-test leaves its test network behind; `onboardcheck clean`
then removes all of it: namespaces (with their veths and bridge), containers, the
docker network, its host bridge, and the capture processes a SIGKILL cannot reach.

Root and (docker) a daemon are needed; without them: skipped with the reason, except
under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.docker import capture_pids
from harness.backends.netns_state import IF_PREFIX, NS_PREFIX, our_namespaces, tag_of
from harness.backends.preflight import preflight
from harness.errors import BackendError

ROOT = Path(__file__).resolve().parent.parent
WAIT = 180.0  # bound on waiting for the run to be mid-test


def _usable(backend: str) -> None:
    try:
        preflight(backend)
    except BackendError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the {backend} backend must run in CI: {exc}", pytrace=False)
        pytest.skip(f"{backend} backend unavailable here: {exc}")


def _mid_test(out: Path, proc: subprocess.Popen[bytes]) -> str:
    """Wait until the run has its network and a few tests' evidence; its campaign tag."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        described = list((out / "backend").glob("network-*.json"))
        evidence = out / "est" / "evidence"
        if described and evidence.is_dir() and len(list(evidence.iterdir())) >= 3:
            return str(json.loads(described[0].read_text())["campaign"])
        time.sleep(0.2)
    pytest.fail("the run did not get under way in time")


def _links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def _docker_objects(tag: str) -> list[str]:
    from harness.backends.docker import L_TAG, docker_client

    client = docker_client()
    flt = {"label": f"{L_TAG}={tag}"}
    return [*(c.name for c in client.containers.list(all=True, filters=flt)),
            *(n.name for n in client.networks.list(filters=flt))]  # fmt: skip


@pytest.mark.parametrize("backend", ["netns", "docker"])
def test_clean_after_a_sigkilled_run(backend: str, tmp_path: Path) -> None:
    _usable(backend)
    # Another run's open() sweeps dead leftovers too: when a concurrent test's sweep
    # got there first, try again, so that `clean` itself is what is judged.
    for attempt in range(3):
        if _killed_run_cleaned(backend, tmp_path / f"out{attempt}"):
            return
    pytest.fail("each time, another run's sweep removed the leftovers before clean ran")


def _killed_run_cleaned(backend: str, out: Path) -> bool:
    """False when the leftovers were gone before `clean` ran (nothing judged)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--backend", backend,
         "--dut", "builtin:est/client", "--out", str(out), "--gate", "none"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        tag = _mid_test(out, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    bridge = f"{IF_PREFIX}{tag}br" if backend == "netns" else f"ocd{tag}br"
    if backend == "netns":
        left = [n for n in our_namespaces() if tag_of(n) == tag]
    else:
        left = _docker_objects(tag)  # two containers and the network
        assert not left or f" {bridge}:" in _links()
    if not left:
        return False
    assert len(left) == 3, left

    done = subprocess.run([sys.executable, "-m", "harness.cli", "clean", "--backend", backend],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    assert f"{NS_PREFIX}{tag}-" not in listed
    assert f" {bridge}:" not in _links() and f"{IF_PREFIX}{tag}" not in _links()
    assert capture_pids(bridge) == []
    if backend == "docker":
        assert _docker_objects(tag) == []
        from harness.backends.docker_images import docker_host

        env = {**os.environ, **({"DOCKER_HOST": h} if (h := docker_host()) else {})}
        shown = subprocess.run(["docker", "ps", "-a", "-q", "--filter",
                                f"label=org.onboardcheck.tag={tag}"],
                               capture_output=True, text=True, env=env, check=True)  # fmt: skip
        assert shown.stdout.strip() == ""
    # what the run recorded before it was killed is still there
    assert (out / "est" / "results.jsonl").stat().st_size > 0
    return True
