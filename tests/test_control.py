"""DUT control adapters: process (real /bin/sh commands) and manual (non-interactive)."""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import pytest

from harness.control import ManualController, ProcessController, make_controller
from harness.control.base import ActionResult, Controller
from harness.dut import ContainerSection, ProcessSection, builtin_profile, load_profile
from harness.errors import ControlError, ProfileError

FIXTURES = Path(__file__).parent / "fixtures" / "profiles"


def controller(
    tmp_path: Path, actions: dict[str, str], timeout: float = 5.0, **kw: object
) -> ProcessController:
    section = ProcessSection(cwd=tmp_path, actions=actions, env={"DUT_ENV": "from-profile"},
                             timeout=timeout)
    return ProcessController(section, **kw)  # type: ignore[arg-type]


def gone(pid: int) -> bool:
    """True when the process no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


# -- process adapter -------------------------------------------------------------------------


def test_env_and_templates_from_fixture_profile() -> None:
    profile = load_profile(FIXTURES / "process-client.yaml")
    ctl = make_controller(profile, "est")
    assert isinstance(ctl, ProcessController)
    result = ctl.action("enroll", {"est_url": "https://h:1/.well-known/est x"})
    assert result.ok, result
    assert result.stdout.strip() == (
        "url=https://h:1/.well-known/est x env=https://h:1/.well-known/est x mode=test"
    )


def test_environment_is_built_from_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SECRET", "leak")
    ctl = controller(tmp_path, {"env": "env"})
    result = ctl.action("env", {"state_dir": "/s", "subject_cn": "dev"})
    names = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert names["ONBOARDCHECK_STATE_DIR"] == "/s"
    assert names["ONBOARDCHECK_SUBJECT_CN"] == "dev"
    assert names["DUT_ENV"] == "from-profile"
    assert "PATH" in names
    assert "HARNESS_SECRET" not in names


def test_template_values_cannot_inject_shell(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"echo": "echo {value}"})
    result = ctl.action("echo", {"value": "$(touch pwned); echo hi"})
    assert result.stdout == "$(touch pwned); echo hi\n"
    assert not (tmp_path / "pwned").exists()


def test_cwd_and_exit_status(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"fail": "pwd; echo oops >&2; exit 7"})
    result = ctl.action("fail", {})
    assert (result.returncode, result.timed_out, result.ok) == (7, False, False)
    assert result.stdout.strip() == str(tmp_path)
    assert result.stderr == "oops\n"


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A child that ignores SIGTERM and a background grandchild: both must die.
    command = f"(trap '' TERM; sleep 100) & echo $! > {pids}; sleep 100 & echo $! >> {pids}; wait"
    ctl = controller(tmp_path, {"hang": command}, timeout=30)
    started = time.monotonic()
    result = ctl.action("hang", {}, timeout=1.0)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.returncode is None and not result.ok
    assert elapsed < 2.5, elapsed
    time.sleep(0.2)
    for pid in map(int, pids.read_text().split()):
        assert gone(pid), pid


def test_leftover_background_child_does_not_hold_the_action(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"fork": f"sleep 100 & echo $! > {tmp_path / 'pid'}; echo done"})
    started = time.monotonic()
    result = ctl.action("fork", {})
    assert result.ok and result.stdout == "done\n"
    assert time.monotonic() - started < 2.5
    time.sleep(0.2)
    assert gone(int((tmp_path / "pid").read_text()))


def test_output_is_capped(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"chatty": "head -c 3000000 /dev/zero | tr '\\0' a; echo end >&2"},
                     output_cap=1000)
    result = ctl.action("chatty", {})
    assert result.ok
    assert result.stdout == "a" * 1000
    assert result.stderr == "end\n"
    assert result.truncated


def test_missing_action_and_unknown_field(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"enroll": "echo {est_url}"})
    assert ctl.supports("enroll") and not ctl.supports("reenroll")
    with pytest.raises(ControlError, match="defines no such action"):
        ctl.action("reenroll", {})
    with pytest.raises(ControlError, match=r"template field \{est_url\}"):
        ctl.action("enroll", {"state_dir": "/x"})


def test_start_stop_absent_are_no_ops_and_reset(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"reset": "rm -f {state_dir}/cert.pem"},
                     endpoints={"url": "https://{host}:1/x"})
    assert ctl.start({"host": "127.0.0.1"}) == {"url": "https://127.0.0.1:1/x"}
    (tmp_path / "cert.pem").write_text("x")
    ctl.reset({"state_dir": str(tmp_path)})
    assert not (tmp_path / "cert.pem").exists()
    ctl.stop()
    ctl.stop()


def test_failing_reset_raises(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"reset": "echo cannot >&2; exit 1"})
    with pytest.raises(ControlError, match="reset") as info:
        ctl.reset({})
    assert "cannot" in info.value.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_background_server_start_and_stop(tmp_path: Path) -> None:
    port = free_port()
    work = tmp_path / "work"
    ctl = controller(
        tmp_path,
        {"start": "echo starting; exec python3 -m http.server --bind 127.0.0.1 {port}",
         "stop": f"echo stopped > {tmp_path / 'stopped'}"},
        endpoints={"url": "http://127.0.0.1:{port}/"},
    )
    facts = ctl.start({"port": str(port), "work_dir": str(work)})
    assert facts == {"url": f"http://127.0.0.1:{port}/"}
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    ctl.stop()
    assert (tmp_path / "stopped").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert "starting" in (work / "dut-start.log").read_text()


def test_start_that_fails_at_once(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"start": "echo no licence; exit 4"})
    with pytest.raises(ControlError, match="exited with status 4") as info:
        ctl.start({"work_dir": str(tmp_path)})
    assert "no licence" in info.value.output


def test_state_reading(tmp_path: Path) -> None:
    ctl = controller(tmp_path, {"x": "true"},
                     state_templates={"cert": "{state_dir}/cert.pem", "ta": "{state_dir}/ta.pem"})
    (tmp_path / "cert.pem").write_bytes(b"PEM")
    assert ctl.state({"state_dir": str(tmp_path)}) == {"cert": b"PEM", "ta": None}
    with pytest.raises(ControlError, match="state_dir"):
        ctl.state({})


# -- manual adapter --------------------------------------------------------------------------


def test_manual_non_interactive_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    ctl = ManualController({"enroll": "Enroll with {est_url}"}, stdin=io.StringIO("y\n"))
    started = time.monotonic()
    result = ctl.action("enroll", {"est_url": "https://x"})
    assert time.monotonic() - started < 0.5
    assert result.manual_unavailable and result.returncode is None and not result.ok
    with pytest.raises(ControlError):
        ctl.action("reenroll", {})


def test_manual_ci_wins_over_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    ctl = ManualController({"enroll": "go"}, stdin=Tty("y\n"))
    assert ctl.action("enroll", {}).manual_unavailable


@pytest.mark.parametrize(("answer", "code"), [("\n", 0), ("y\n", 0), ("n\n", 1), ("", 1)])
def test_manual_operator_answers(answer: str, code: int) -> None:
    out = io.StringIO()
    ctl = ManualController({"enroll": "Enroll with {est_url}"}, stdin=io.StringIO(answer),
                           stdout=out, interactive=True)
    result = ctl.action("enroll", {"est_url": "https://x"})
    assert result.returncode == code
    assert "Enroll with https://x" in out.getvalue()


def test_manual_operator_timeout() -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "r") as stdin:
            ctl = ManualController({"enroll": "go"}, stdin=stdin, stdout=io.StringIO(),
                                   interactive=True)
            result = ctl.action("enroll", {}, timeout=0.2)
        assert result.timed_out and result.returncode is None
    finally:
        os.close(write_end)


# -- make_controller ---------------------------------------------------------------------------


class FakeBuiltin(Controller):
    def start(self, params: dict[str, str]) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        pass

    def reset(self, params: dict[str, str]) -> None:
        pass

    def action(self, name: str, params: dict[str, str], timeout: float | None = None
               ) -> ActionResult:
        return ActionResult(name, 0, "", "", 0.0)

    def supports(self, action: str) -> bool:
        return True


def test_make_controller_builtin_and_errors() -> None:
    profile = builtin_profile("est", "client")
    made = make_controller(profile, "est", lambda p, proto: FakeBuiltin())
    assert isinstance(made, FakeBuiltin)
    with pytest.raises(ControlError, match="builtin_factory"):
        make_controller(profile, "est")
    with pytest.raises(ProfileError, match="does not implement 'brski'"):
        make_controller(profile, "brski", lambda p, proto: FakeBuiltin())
    profile.control.adapter = "http"
    with pytest.raises(ProfileError, match="not supported yet"):
        make_controller(profile, "est")
    profile.control.adapter = "container"
    profile.control.container = ContainerSection("onboardcheck/dut", actions={"enroll": "true"})
    with pytest.raises(ControlError, match="needs the docker backend"):
        make_controller(profile, "est")  # on loopback: no container to run it in


def test_make_controller_manual() -> None:
    profile = load_profile(FIXTURES / "manual-server.yaml")
    ctl = make_controller(profile, "est")
    assert isinstance(ctl, ManualController)
    assert ctl.supports("reset")
