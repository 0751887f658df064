"""Hostile BRSKI DUTs: a registrar or MASA that sends garbage, closes at once, goes
silent or breaks HTTP after TLS; a pledge whose `onboard` hangs, prints garbage, dies,
leaves garbage state or throws junk at the tester's registrar. Each test the suite runs
gets a fail or inconclusive verdict with its requirement and a reason: never an error,
a traceback, a hang or a pass the DUT did not earn."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from harness.crypto.pki import Pki
from tests.suite_runner import check_hostile_run, run_suite

FIXTURES = Path(__file__).parent / "fixtures" / "hostile"
RAW_SERVER = FIXTURES / "hostile_server.py"  # garbage | close | silent, before any TLS
TLS_SERVER = FIXTURES / "hostile_tls_server.py"  # tls-garbage | junk-200, after TLS
CLIENT = FIXTURES / "hostile_client.py"
VOUCHER_CMS_JSON = "application/voucher-cms+json"
SERVER_MODES = ["garbage", "close", "silent", "tls-garbage", "junk-200"]
ACTION_TIMEOUT = 2  # seconds: the profile's bound on a pledge action

# A few tests of each role: what they need from the DUT differs (a voucher, a refusal,
# a voucher-request, EST), so each kind of handling is exercised.
REGISTRAR_TESTS = (
    "test_voucher_response_is_200 or test_rvr_has_no_proximity_cert or "
    "test_refuses_other_serial or test_csr_validated_against_attributes"
)
MASA_TESTS = (
    "test_voucher_response_is_200 or test_voucher_carries_request_nonce or "
    "test_refuses_serial_mismatch"
)
ROLE_TESTS = {"registrar": REGISTRAR_TESTS, "masa": MASA_TESTS}
# A silent server makes every connection sit out the tester's timeout: one test shows it.
SILENT_TESTS = "test_voucher_response_is_200"
PLEDGE_TESTS = (
    "test_request_carries_nonce or test_rejects_other_serial or "
    "test_telemetry_has_version_and_status or test_rejects_pin_the_registrar_does_not_chain_to"
)
# The 202 tests give the pledge the 60 s and more a conforming one may need (a hanging
# pledge sits all of it out); they read its retry_waits record.
RETRY_TESTS = "test_retry_after_limited_to_60s or test_retry_resends_same_nonce"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_command(mode: str, port: int) -> str:
    if mode in ("tls-garbage", "junk-200"):
        return f"exec {sys.executable} {TLS_SERVER} {mode} {port} {VOUCHER_CMS_JSON}"
    return f"exec {sys.executable} {RAW_SERVER} {mode} {port}"


def masa_facts(folder: Path) -> str:
    """The MASA facts a profile names: trust anchors and an IDevID it would vouch for;
    the TLS server's credential under its web root (HOSTILE_TLS_* of the TLS server)."""
    pki = Pki.create(folder)
    manufacturer = pki.root_ca("Hostile Manufacturer CA")
    web = pki.root_ca("Hostile MASA Web Root")
    web.write(folder, "masa-web")
    pki.server_cert(web, "127.0.0.1", sans=["127.0.0.1"]).write(folder, "masa-tls")
    manufacturer.write(folder, "manufacturer")
    ident = pki.idevid(manufacturer, serial_number="HOSTILE-0001").write(folder, "idevid")
    return (f'masa_trust: "{folder / "masa-web.crt"}", '
            f'voucher_anchor: "{folder / "manufacturer.crt"}", '
            f'idevid_cert: "{ident.bundle}", idevid_key: "{ident.key}"')  # fmt: skip


def server_profile(tmp_path: Path, role: str, mode: str) -> Path:
    port = free_port()
    url = f"https://127.0.0.1:{port}" + ("/.well-known/brski" if role == "masa" else "")
    extra, env = "", "{}"
    if role == "masa":
        facts = tmp_path / "facts"
        extra = ", " + masa_facts(facts)
        env = (f'{{HOSTILE_TLS_CERT: "{facts / "masa-tls.crt"}", '
               f'HOSTILE_TLS_KEY: "{facts / "masa-tls.key"}"}}')  # fmt: skip
    profile = tmp_path / f"hostile-{role}-{mode}.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: 1
        identity: {{vendor: Hostile, model: "{mode} {role}", firmware: "0", serial: "0"}}
        protocols:
          brski:
            roles: [{role}]
            endpoints: {{url: "{url}"{extra}}}
        control:
          adapter: process
          process:
            timeout: 5
            env: {env}
            actions:
              start: {start_command(mode, port)}
        """))  # fmt: skip
    return profile


def pledge_profile(tmp_path: Path, command: str) -> Path:
    profile = tmp_path / "hostile-pledge.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: 1
        identity: {{vendor: Hostile, model: pledge, firmware: "0", serial: "0"}}
        protocols:
          brski:
            roles: [pledge]
            ics:
              BRSKI-PLEDGE-RETRY-AFTER: true
              BRSKI-PLEDGE-REDIRECT: true
              BRSKI-PLEDGE-TELEMETRY: true
        control:
          adapter: process
          state:
            pinned_domain_cert: "{{state_dir}}/pinned.pem"
            ldevid: "{{state_dir}}/ldevid.pem"
            retry_waits: "{{state_dir}}/retry-waits.txt"
          process:
            timeout: {ACTION_TIMEOUT}
            actions:
              onboard: {json.dumps(command)}
              reset: "true"
        """))  # fmt: skip
    return profile




@pytest.mark.parametrize("mode", SERVER_MODES)
@pytest.mark.parametrize("role", ["registrar", "masa"])
def test_hostile_server_dut(tmp_path: Path, role: str, mode: str) -> None:
    selected = SILENT_TESTS if mode == "silent" else ROLE_TESTS[role]
    run = run_suite("brski", str(server_profile(tmp_path, role, mode)), tmp_path / "out",
                    "-k", selected)  # fmt: skip
    check_hostile_run(run, "brski")


_JUNK = "head -c 3000 /dev/urandom"
PLEDGE_COMMANDS = {
    "hangs": "sleep 30",
    "garbage": _JUNK,
    "dies": "kill -9 $$",
    "garbage-state": "; ".join(f'{_JUNK} > "$ONBOARDCHECK_STATE_DIR/{name}"'
                               for name in ("pinned.pem", "ldevid.pem", "retry-waits.txt")),
    "tcp-garbage": f"{sys.executable} {CLIENT} tcp-garbage",
    "tls-garbage": f"{sys.executable} {CLIENT} tls-garbage",
}  # fmt: skip


@pytest.mark.parametrize("name", list(PLEDGE_COMMANDS))
def test_hostile_pledge_dut(tmp_path: Path, name: str) -> None:
    tests = PLEDGE_TESTS if name == "hangs" else f"{PLEDGE_TESTS} or {RETRY_TESTS}"
    run = run_suite("brski", str(pledge_profile(tmp_path, PLEDGE_COMMANDS[name])),
                    tmp_path / "out", "-k", tests)  # fmt: skip
    check_hostile_run(run, "brski")
