"""The shipped curl + openssl EST client against the EST server peer, on loopback.

These tests check that the profile, the process adapter and the script work together
(a real curl, a real openssl, real TLS); they do not judge the client's conformance,
which is the suites' job.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.control import ProcessController, make_controller
from harness.crypto.pki import CertifiedKey, CertPaths, Pki
from harness.dut import load_profile
from harness.protocols.est.params import EstClientParams
from harness.protocols.est.server import EstServerConfig, EstServerPeer, ServerBehaviour

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "duts" / "curl-openssl-est-client.yaml"

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("openssl")), reason="needs curl and openssl"
)


class Pkis:
    def __init__(self, folder: Path):
        pki = Pki.create(folder)
        self.root = pki.root_ca("Test EST Root")
        self.ca = pki.sub_ca(self.root, "Test EST CA")
        self.server = pki.server_cert(self.ca, "localhost", sans=["localhost", "127.0.0.1"])
        rogue_root = pki.root_ca("Rogue Root")
        self.rogue = pki.server_cert(rogue_root, "localhost", sans=["127.0.0.1"])
        self.manufacturer = pki.root_ca("Test Manufacturer CA")
        self.idevid = pki.idevid(self.manufacturer, serial_number="SN-1", model="curl")
        self.root_files: CertPaths = self.root.write(folder, "root")
        self.idevid_files: CertPaths = self.idevid.write(folder, "idevid")


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> Pkis:
    return Pkis(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def dut() -> ProcessController:
    ctl = make_controller(load_profile(PROFILE), "est")
    assert isinstance(ctl, ProcessController)
    return ctl


def serve(
    pkis: Pkis, behaviour: ServerBehaviour | None = None, credential: CertifiedKey | None = None
) -> EstServerPeer:
    config = EstServerConfig(
        credential=credential or pkis.server,
        ca=pkis.ca,
        client_trust=[pkis.manufacturer.cert, pkis.ca.cert],  # IDevIDs and LDevIDs
        users={"estuser": "estpwd"},
    )
    return EstServerPeer(config, behaviour).start()


@pytest.fixture
def peer(pkis: Pkis) -> Iterator[EstServerPeer]:
    server = serve(pkis)
    yield server
    server.stop()


def params(pkis: Pkis, server: EstServerPeer, state: Path, **extra: str) -> dict[str, str]:
    out = EstClientParams(
        est_url=server.base_url,
        state_dir=state,
        trust_anchors=pkis.root_files.cert,
        client_cert=pkis.idevid_files.bundle,
        client_key=pkis.idevid_files.key,
        subject_cn="curl-dut",
        timeout=10,
    ).to_params()
    out["work_dir"] = str(state.parent)
    out.update(extra)
    return out


def test_cacerts_then_enroll_then_reenroll(
    dut: ProcessController, pkis: Pkis, peer: EstServerPeer, tmp_path: Path
) -> None:
    p = params(pkis, peer, tmp_path / "state")
    dut.reset(p)
    result = dut.action("cacerts", p)
    assert result.ok, result
    state = dut.state(p)
    explicit = x509.load_pem_x509_certificates(state["explicit_ta"] or b"")
    assert pkis.ca.cert in explicit

    result = dut.action("enroll", p)
    assert result.ok, result
    cert = x509.load_pem_x509_certificate(dut.state(p)["client_certificate"] or b"")
    assert cert.issuer == pkis.ca.cert.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "curl-dut"
    assert peer.exchanges[-1].client_subject is not None  # authenticated with the IDevID

    result = dut.action("reenroll", p)
    assert result.ok, result
    renewed = x509.load_pem_x509_certificate(dut.state(p)["client_certificate"] or b"")
    assert renewed.subject == cert.subject
    assert renewed.public_key() != cert.public_key()
    assert peer.exchanges[-1].op == "simplereenroll"


def test_enroll_waits_out_a_202(dut: ProcessController, pkis: Pkis, tmp_path: Path) -> None:
    server = serve(pkis, ServerBehaviour(pending=1, retry_after=1))
    try:
        p = params(pkis, server, tmp_path / "state")
        started = time.monotonic()
        result = dut.action("enroll", p)
        assert result.ok, result
        assert time.monotonic() - started >= 1.0
        assert [e.status for e in server.exchanges] == [202, 200]
    finally:
        server.stop()


def test_refuses_wrong_media_type(dut: ProcessController, pkis: Pkis, tmp_path: Path) -> None:
    server = serve(pkis, ServerBehaviour(content_type={"cacerts": "text/plain"}))
    try:
        p = params(pkis, server, tmp_path / "state")
        result = dut.action("cacerts", p)
        assert result.returncode == 1
        assert "expected Content-Type application/pkcs7-mime" in result.stderr
        assert dut.state(p)["explicit_ta"] is None
    finally:
        server.stop()


def test_refuses_untrusted_server(dut: ProcessController, pkis: Pkis, tmp_path: Path) -> None:
    server = serve(pkis, credential=pkis.rogue)
    try:
        p = params(pkis, server, tmp_path / "state")
        result = dut.action("cacerts", p)
        assert result.returncode == 1 and "curl failed" in result.stderr
        assert not [e for e in server.exchanges if e.status is not None]
    finally:
        server.stop()


def test_basic_auth_without_idevid(
    dut: ProcessController, pkis: Pkis, peer: EstServerPeer, tmp_path: Path
) -> None:
    p = params(pkis, peer, tmp_path / "state", client_cert="", client_key="",
               username="estuser", password="estpwd")
    result = dut.action("enroll", p)
    assert result.ok, result
    assert peer.exchanges[-1].basic_user == "estuser"


def test_serverkeygen_is_unsupported(
    dut: ProcessController, pkis: Pkis, peer: EstServerPeer, tmp_path: Path
) -> None:
    result = dut.action("serverkeygen", params(pkis, peer, tmp_path / "state"))
    assert result.returncode == 3 and "not supported" in result.stderr


def test_csrattrs_none_and_keylog(
    dut: ProcessController, pkis: Pkis, peer: EstServerPeer, tmp_path: Path
) -> None:
    keylog = tmp_path / "dut-tls.keylog"
    p = params(pkis, peer, tmp_path / "state", keylog=str(keylog))
    result = dut.action("csrattrs", p)
    assert result.ok, result
    assert peer.exchanges[-1].status == 204
    assert not (tmp_path / "state" / "csrattrs.der").exists()
    assert "CLIENT_RANDOM" in keylog.read_text() or "TRAFFIC_SECRET" in keylog.read_text()
