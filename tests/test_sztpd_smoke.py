"""sztpd (a third-party RFC 8572 bootstrap server) run through duts/sztpd/sztpd-dut.py.

Starts sztpd on 127.0.0.1, configures it with a fresh PKI built by
harness.peers.sztpd_config, then speaks to it as devices do (RFC 8572 §7: RESTCONF
RPCs over TLS with a client certificate whose subject's last RDN is the serial
number). The expected values are what the test configured, read back from sztpd's
answers with asn1crypto.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms, core
from cryptography.hazmat.primitives.serialization import Encoding

from harness.crypto.pki import CertifiedKey, Pki
from harness.peers import sztpd_config as sc
from harness.protocols.sztp.testbed import free_ports

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-sztpd"
DUT = ROOT / "duts" / "sztpd" / "sztpd-dut.py"
HOST = "127.0.0.1"
RPC = "/restconf/operations/ietf-sztp-bootstrap-server:"
MEDIA = "application/yang-data+json"
ID_CT_SZTP_CONVEYED_INFO_JSON = "1.2.840.113549.1.9.16.1.43"  # RFC 8572 §10.3
ACTION_TIMEOUT = 60
STOP_TIMEOUT = 10

if not (VENV / "bin" / "sztpd").exists():
    # CI installs it (scripts/setup): there a missing sztpd is a failure, not a skip.
    if os.environ.get("CI") == "true":
        pytest.fail("CI must test sztpd: .venv-sztpd is missing (scripts/install-sztpd)",
                    pytrace=False)
    pytest.skip("sztpd is not installed (scripts/install-sztpd makes .venv-sztpd)",
                allow_module_level=True)

REDIRECT_SN = "SN-REDIRECT-1"
ONBOARD_SN = "SN-ONBOARD-2"
UNKNOWN_SN = "SN-UNKNOWN-3"
CODE_SN = "SN-CODE-4"
ACTIVATION_CODE = "code-4711"
BOOT_DIGEST = bytes(range(32))




def dut_env(state_dir: Path, **params: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ONBOARDCHECK_STATE_DIR": str(state_dir),
    }
    env.update({f"ONBOARDCHECK_{k.upper()}": v for k, v in params.items()})
    return env


@dataclass
class Bed:
    pki_root: CertifiedKey
    device_ca: CertifiedKey
    redirect_root: CertifiedKey
    port: int
    files: Path

    def device(self, cert: CertifiedKey | None, stem: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.pki_root.cert_pem().decode())
        if cert is not None:
            paths = cert.write(self.files, stem)
            context.load_cert_chain(paths.bundle, paths.key)
        return context


def post(
    context: ssl.SSLContext,
    port: int,
    rpc: str,
    body: dict[str, object],
    basic: tuple[str, str] | None = None,
) -> tuple[int, str, bytes]:
    headers = {"Content-Type": MEDIA, "Accept": MEDIA}
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    conn = http.client.HTTPSConnection(HOST, port, context=context, timeout=30)
    try:
        conn.request("POST", RPC + rpc, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def conveyed(payload: bytes) -> dict[str, object]:
    """The conveyed-information of a get-bootstrapping-data answer, decoded."""
    output = json.loads(payload)["ietf-sztp-bootstrap-server:output"]
    info = cms.ContentInfo.load(base64.b64decode(output["conveyed-information"]))
    assert info["content_type"].dotted == ID_CT_SZTP_CONVEYED_INFO_JSON
    text = info["content"].parse(core.OctetString).native
    result = json.loads(text)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    work = tmp_path_factory.mktemp("sztpd")
    state_dir = work / "state"
    native_port, bootstrap_port = free_ports(HOST, HOST)
    env = dut_env(state_dir, native_port=str(native_port))
    # The test suite accepts sztpd's non-production licence for its own run only; a
    # DUT profile passes SZTPD_ACCEPT_CONTRACT on only when the user sets it.
    env["SZTPD_ACCEPT_CONTRACT"] = "Yes"
    log = (work / "sztpd.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, str(DUT), "start"], env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        pki = Pki.create()
        pki_root = pki.root_ca("sztpd test server root")
        server_cert = pki.server_cert(pki_root, HOST, sans=[HOST])
        device_ca = pki.root_ca("sztpd test device CA")
        redirect_root = pki.root_ca("next bootstrap server root")
        config = sc.SztpdConfig(
            address=HOST,
            port=bootstrap_port,
            server=server_cert,
            device_ca=[device_ca.cert],
            devices=[
                sc.Device(
                    REDIRECT_SN,
                    redirect=[sc.BootstrapServer("198.18.0.10", 8443, [redirect_root.cert])],
                ),
                sc.Device(
                    ONBOARD_SN,
                    onboarding=sc.Onboarding(
                        boot_image=sc.BootImage(
                            "ExampleOS", "1.2", ["https://198.18.0.10/image"], BOOT_DIGEST
                        ),
                        configuration=b"<config/>",
                        post_configuration_script=b"#!/bin/sh\nexit 0\n",
                    ),
                ),
                sc.Device(
                    CODE_SN,
                    redirect=[sc.BootstrapServer("198.18.0.11")],
                    activation_code=ACTIVATION_CODE,
                ),
            ],
        )
        document = work / "running.json"
        document.write_text(sc.dumps(config))
        configured = subprocess.run(
            [sys.executable, str(DUT), "configure"],
            env=dut_env(state_dir, sztpd_config=str(document)),
            capture_output=True, text=True, timeout=ACTION_TIMEOUT, check=False,
        )  # fmt: skip
        if configured.returncode != 0:
            log.flush()
            tail = (work / "sztpd.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"configure failed: {configured.stderr}\nsztpd log:\n{tail}")
        yield Bed(pki_root, device_ca, redirect_root, bootstrap_port, work)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(STOP_TIMEOUT)
        log.close()


def test_redirect_information(bed: Bed) -> None:
    device = Pki.create().idevid(bed.device_ca, REDIRECT_SN)
    status, ctype, payload = post(
        bed.device(device, "redirect"), bed.port, "get-bootstrapping-data",
        {"ietf-sztp-bootstrap-server:input": {"hw-model": "model-x"}},
    )  # fmt: skip
    assert status == 200, payload
    assert ctype.startswith(MEDIA)
    info = conveyed(payload)
    servers = info["ietf-sztp-conveyed-info:redirect-information"]["bootstrap-server"]  # type: ignore[index]
    assert [(s["address"], s["port"]) for s in servers] == [("198.18.0.10", 8443)]
    anchor = cms.ContentInfo.load(base64.b64decode(servers[0]["trust-anchor"]))
    certs = [c.chosen.dump() for c in anchor["content"]["certificates"]]
    assert certs == [bed.redirect_root.cert.public_bytes(Encoding.DER)]


def test_onboarding_information(bed: Bed) -> None:
    device = Pki.create().idevid(bed.device_ca, ONBOARD_SN)
    status, _, payload = post(
        bed.device(device, "onboard"), bed.port, "get-bootstrapping-data",
        {"ietf-sztp-bootstrap-server:input": {}},
    )  # fmt: skip
    assert status == 200, payload
    info = conveyed(payload)["ietf-sztp-conveyed-info:onboarding-information"]
    assert info["boot-image"]["os-name"] == "ExampleOS"  # type: ignore[index]
    assert info["boot-image"]["download-uri"] == ["https://198.18.0.10/image"]  # type: ignore[index]
    verification = info["boot-image"]["image-verification"][0]  # type: ignore[index]
    assert bytes.fromhex(verification["hash-value"].replace(":", "")) == BOOT_DIGEST
    assert base64.b64decode(info["configuration"]) == b"<config/>"  # type: ignore[index]
    assert base64.b64decode(info["post-configuration-script"]) == b"#!/bin/sh\nexit 0\n"  # type: ignore[index]


def test_unknown_serial_refused(bed: Bed) -> None:
    device = Pki.create().idevid(bed.device_ca, UNKNOWN_SN)
    status, _, payload = post(
        bed.device(device, "unknown"), bed.port, "get-bootstrapping-data",
        {"ietf-sztp-bootstrap-server:input": {}},
    )  # fmt: skip
    assert status == 401, payload
    assert b"conveyed-information" not in payload


def test_no_client_certificate_refused(bed: Bed) -> None:
    status, _, payload = post(
        bed.device(None, "none"), bed.port, "get-bootstrapping-data",
        {"ietf-sztp-bootstrap-server:input": {}},
    )  # fmt: skip
    assert status == 401, payload
    assert b"conveyed-information" not in payload


def test_foreign_ca_refused(bed: Bed) -> None:
    """A known serial number in a certificate the device CA did not issue."""
    pki = Pki.create()
    device = pki.idevid(pki.root_ca("someone else's CA"), REDIRECT_SN)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        post(
            bed.device(device, "foreign"), bed.port, "get-bootstrapping-data",
            {"ietf-sztp-bootstrap-server:input": {}},
        )  # fmt: skip


def test_report_progress(bed: Bed) -> None:
    device = Pki.create().idevid(bed.device_ca, REDIRECT_SN)
    status, _, payload = post(
        bed.device(device, "progress"), bed.port, "report-progress",
        {"ietf-sztp-bootstrap-server:input": {"progress-type": "bootstrap-initiated"}},
    )  # fmt: skip
    assert status == 204, payload
    assert payload == b""


def test_activation_code(bed: Bed) -> None:
    """A device with an activation code sends it as the HTTP Basic password."""
    context = bed.device(Pki.create().idevid(bed.device_ca, CODE_SN), "code")
    body: dict[str, object] = {"ietf-sztp-bootstrap-server:input": {}}
    status, _, _ = post(context, bed.port, "get-bootstrapping-data", body)
    assert status == 401
    status, _, _ = post(context, bed.port, "get-bootstrapping-data", body, (CODE_SN, "wrong"))
    assert status == 401
    status, _, payload = post(
        context, bed.port, "get-bootstrapping-data", body, (CODE_SN, ACTIVATION_CODE)
    )
    assert status == 200, payload
    servers = conveyed(payload)["ietf-sztp-conveyed-info:redirect-information"]["bootstrap-server"]  # type: ignore[index]
    assert [(s["address"], s["port"]) for s in servers] == [("198.18.0.11", 443)]
