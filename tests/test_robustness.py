"""Hostile DUTs and bad input: a verdict or a clear message, never a traceback, and no
result already written is lost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.crypto.pki import Pki
from tests.suite_runner import REPO, run_suite

HOSTILE = Path(__file__).parent / "fixtures" / "hostile" / "hostile_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_profile(tmp_path: Path, mode: str) -> Path:
    port = free_port()
    Pki.create(tmp_path).root_ca("Somebody's CA").write(tmp_path, "ta")
    profile = tmp_path / f"hostile-{mode}.yaml"
    profile.write_text(
        textwrap.dedent(f"""\
        profile: 1
        identity: {{vendor: Hostile, model: "{mode} server", firmware: "0", serial: "0"}}
        protocols:
          est:
            roles: [server]
            endpoints: {{url: "https://127.0.0.1:{port}/.well-known/est"}}
            credentials: {{trust_anchors: ta.crt, username: u, password: p}}
        control:
          adapter: process
          process:
            timeout: 5
            actions:
              start: {sys.executable} {HOSTILE} {mode} {port}
        """)
    )
    return profile


def client_profile(tmp_path: Path, command: str) -> Path:
    profile = tmp_path / "hostile-client.yaml"
    actions = "\n".join(
        f"      {a}: {command}" for a in ("cacerts", "csrattrs", "enroll", "reenroll")
    )
    profile.write_text(
        textwrap.dedent("""\
        profile: 1
        identity: {vendor: Hostile, model: client, firmware: "0", serial: "0"}
        protocols:
          est:
            roles: [client]
        control:
          adapter: process
          state:
            explicit_ta: "{state_dir}/cacerts.pem"
            client_certificate: "{state_dir}/cert.pem"
          process:
            timeout: 2
            actions:
        """)
        + actions
        + "\n"
    )
    return profile


def assert_verdicts_only(run) -> None:  # type: ignore[no-untyped-def]
    assert run.results, run.output
    assert "Traceback" not in run.output, run.output
    verdicts = set(run.verdicts().values())
    assert "error" not in verdicts, run.table()
    assert verdicts & {"fail", "inconclusive"}, run.table()


@pytest.mark.parametrize("mode", ["garbage", "close", "silent"])
def test_hostile_server_dut(tmp_path: Path, mode: str) -> None:
    run = run_suite("est", str(server_profile(tmp_path, mode)), tmp_path / "out",
                    "-k", "cacerts_supported or cacerts_success_is_200")  # fmt: skip
    assert_verdicts_only(run)
    assert run.returncode == 1, run.table()


@pytest.mark.parametrize(
    ("name", "command"),
    [("hangs", "sleep 30"), ("garbage", "head -c 3000 /dev/urandom"), ("dies", "kill -9 $$")],
)
def test_hostile_client_dut(tmp_path: Path, name: str, command: str) -> None:
    run = run_suite("est", str(client_profile(tmp_path, command)), tmp_path / "out",
                    "-k", "test_cacerts_get or test_cacerts_error_aborts")  # fmt: skip
    assert_verdicts_only(run)
    assert run.returncode == 1, run.table()  # nothing shown conformant: the gate fails


@pytest.mark.parametrize(
    "text",
    ["profile: [1, 2", "- just\n- a list\n", "\x00\x01\x02binary", "profile: 1\nidentity: 3\n"],
)
def test_bad_profile_is_one_clear_message(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(text.encode("latin-1"))
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "dut", "check", str(bad)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert str(bad) in proc.stderr


def test_run_with_bad_profile_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: 1\nidentity: {vendor: a}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--dut", str(bad), "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert str(bad) in proc.stderr + proc.stdout


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--backend", "docker"], {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
     "no docker daemon answers at unix:///nonexistent/docker.sock"),
    (["--backend", "netns", "--capture", "transcript"], {},
     "--capture transcript works on the loopback backend only"),
    (["--backend", "vms"], {}, "invalid choice: 'vms'"),
])  # fmt: skip
def test_run_with_unusable_backend_exits_2(tmp_path: Path, args: list[str], env: dict[str, str],
                                           message: str) -> None:  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--dut", "builtin:est/client",
         "--out", str(tmp_path), *args],
        capture_output=True, text=True, cwd=REPO, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    assert message in " ".join(output.split()), output


def test_container_adapter_on_loopback_exits_2(tmp_path: Path) -> None:
    profile = tmp_path / "dut.yaml"
    profile.write_text(
        "profile: 1\nidentity: {vendor: a, model: b, firmware: c, serial: d}\n"
        "protocols: {est: {roles: [client]}}\ncontrol:\n  adapter: container\n"
        "  container: {image: acme/widget, actions: {enroll: 'true'}}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--dut", str(profile), "--out",
         str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    assert "run it with --backend docker" in " ".join(output.split()), output
