"""Hostile SZTP DUTs: a bootstrap server that sends garbage, closes at once, goes silent
or breaks HTTP after TLS; a device whose `bootstrap` hangs, prints garbage, dies, leaves
a garbage outcome or throws junk at the tester's bootstrap server. Each test the suite
runs gets a fail or inconclusive verdict with its requirement and a reason: never an
error, a traceback, a hang or a pass the DUT did not earn."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.suite_runner import check_hostile_run, run_suite

FIXTURES = Path(__file__).parent / "fixtures" / "hostile"
RAW_SERVER = FIXTURES / "hostile_server.py"  # garbage | close | silent, before any TLS
TLS_SERVER = FIXTURES / "hostile_tls_server.py"  # tls-garbage | junk-200, after TLS
CLIENT = FIXTURES / "hostile_client.py"
YANG_JSON = "application/yang-data+json"
ACTION_TIMEOUT = 2  # seconds: the profile's bound on a device action

# Tests that need the server to serve, and the refusals a dead server must not pass.
SERVER_TESTS = (
    "test_no_client_certificate_refused or test_client_of_other_ca_refused or "
    "test_output_carries_conveyed_information or test_short_nonce_refused or "
    "test_report_progress_accepted or test_signed_data_preferred_honoured"
)
# A silent server makes every call sit out the tester's timeout (20 s): one test shows it.
SILENT_TESTS = "test_output_carries_conveyed_information"
DEVICE_TESTS = (
    "test_trusted_server_onboarding_accepted or "
    "test_untrusted_unsigned_onboarding_refused or test_bad_signature_refused or "
    "test_redirect_followed or test_reports_progress or "
    "test_client_certificate_identifies_device"
)


def start_command(mode: str) -> str:
    port = '"$ONBOARDCHECK_BOOTSTRAP_PORT"'
    if mode in ("tls-garbage", "junk-200"):
        return f"exec {sys.executable} {TLS_SERVER} {mode} {port} {YANG_JSON}"
    return f"exec {sys.executable} {RAW_SERVER} {mode} {port}"


def server_profile(tmp_path: Path, mode: str) -> Path:
    profile = tmp_path / f"hostile-sztp-server-{mode}.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: 1
        identity: {{vendor: Hostile, model: "{mode} bootstrap server", firmware: "0", serial: "0"}}
        protocols:
          sztp:
            roles: [bootstrap-server]
            endpoints: {{bootstrap: "https://{{dut_address}}:{{bootstrap_port}}"}}
            ics: {{SZTP-SERVER-SIGNED-DATA: true, SZTP-SERVER-REPORT-PROGRESS: true}}
        control:
          adapter: process
          process:
            timeout: 5
            actions:
              start: {json.dumps(start_command(mode))}
              configure: "true"
        """))  # fmt: skip
    return profile


def device_profile(tmp_path: Path, command: str) -> Path:
    profile = tmp_path / "hostile-sztp-device.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: 1
        identity: {{vendor: Hostile, model: device, firmware: "0", serial: "0"}}
        protocols:
          sztp:
            roles: [device]
            ics: {{SZTP-DEVICE-SIGNED-DATA: true, SZTP-DEVICE-REPORT-PROGRESS: true}}
        control:
          adapter: process
          state:
            outcome: "{{state_dir}}/outcome.json"
          process:
            timeout: {ACTION_TIMEOUT}
            actions:
              bootstrap: {json.dumps(command)}
              reset: "true"
        """))  # fmt: skip
    return profile




@pytest.mark.parametrize("mode", ["garbage", "close", "silent", "tls-garbage", "junk-200"])
def test_hostile_bootstrap_server_dut(tmp_path: Path, mode: str) -> None:
    tests = SILENT_TESTS if mode == "silent" else SERVER_TESTS
    run = run_suite("sztp", str(server_profile(tmp_path, mode)), tmp_path / "out", "-k", tests)
    check_hostile_run(run, "sztp")


DEVICE_COMMANDS = {
    "hangs": "sleep 30",
    "garbage": "head -c 3000 /dev/urandom",
    "dies": "kill -9 $$",
    "garbage-state": 'head -c 3000 /dev/urandom > "$ONBOARDCHECK_STATE_DIR/outcome.json"',
    "tcp-garbage": f"{sys.executable} {CLIENT} tcp-garbage",
    "tls-garbage": f"{sys.executable} {CLIENT} tls-garbage",
}


@pytest.mark.parametrize("name", list(DEVICE_COMMANDS))
def test_hostile_device_dut(tmp_path: Path, name: str) -> None:
    run = run_suite("sztp", str(device_profile(tmp_path, DEVICE_COMMANDS[name])),
                    tmp_path / "out", "-k", DEVICE_TESTS)  # fmt: skip
    check_hostile_run(run, "sztp")
