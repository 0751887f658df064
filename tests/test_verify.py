"""`onboardcheck verify` on real loopback captures: EST server peer vs curl and the client peer."""

from __future__ import annotations

import base64
import io
import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from harness.capture import CaptureSession
from harness.capture.transcript import empty_pcapng
from harness.cli import main as cli_main
from harness.crypto.pki import CertifiedKey, generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.server import EstServerConfig, EstServerPeer, ServerBehaviour
from harness.protocols.est.testbed import EstPkiSet
from harness.report.model import load_campaign
from harness.verify import verify_capture

pytestmark = pytest.mark.skipif(
    shutil.which("tshark") is None or shutil.which("curl") is None
    or shutil.which("openssl") is None,
    reason="needs tshark, curl and openssl",
)
USER, PASSWORD = "estuser", "s3cret"
CSRATTRS = codec.encode_csrattrs([codec.CsrAttr("1.2.840.113549.1.9.7")])


@dataclass
class Run:
    pcap: Path
    keylog: Path
    port: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _curl(args: list[str]) -> None:
    subprocess.run(["curl", "-s", "-o", "/dev/null", *args], check=True, timeout=20)


def _capture(folder: Path, pki: EstPkiSet, behaviour: ServerBehaviour, full: bool) -> Run:
    """Run the server peer under capture; curl (and, if ``full``, the client peer) talk to it."""
    folder.mkdir(parents=True)
    keylog = folder / "tls.keylog"
    port = _free_port()
    config = EstServerConfig(credential=pki.server, ca=pki.ca, port=port, keylog=keylog,
                             users={USER: PASSWORD}, csrattrs=CSRATTRS,
                             client_trust=[pki.root.cert, pki.manufacturer.cert])
    session = CaptureSession(folder, "verify", [port])
    session.start()
    try:
        with EstServerPeer(config, behaviour):
            url = f"https://127.0.0.1:{session.relay(('127.0.0.1', port))}/.well-known/est"
            ta = str(pki.files["root"].cert)
            _curl(["--cacert", ta, f"{url}/cacerts"])
            if full:
                _full_exchange(folder, pki, url, ta, keylog)
    finally:
        result = session.stop()
    return Run(result.pcap, keylog, port)


def _full_exchange(folder: Path, pki: EstPkiSet, url: str, ta: str, keylog: Path) -> None:
    # curl with a CSR made by openssl and HTTP Basic; the peer with the IDevID.
    der = folder / "csr.der"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(folder / "k.pem"),
                    "-subj", "/CN=curl-device", "-outform", "DER", "-out", str(der)],
                   check=True, capture_output=True, timeout=20)  # fmt: skip
    (folder / "csr.b64").write_bytes(base64.b64encode(der.read_bytes()))
    _curl(["--cacert", ta, "-u", f"{USER}:{PASSWORD}", "-H", "Content-Type: application/pkcs10",
           "--data-binary", f"@{folder / 'csr.b64'}", f"{url}/simpleenroll"])
    peer = EstClientPeer(url, [pki.root.cert], client=pki.idevid, keylog=keylog)
    key = generate_key()
    csr = make_csr(key, "peer-device", sans=["device.example"])
    assert peer.csrattrs().status == 200
    enrolled = peer.simpleenroll(csr)
    assert enrolled.status == 200
    assert peer.serverkeygen(make_csr(generate_key(), "keygen-device")).status == 200
    issued = CertifiedKey(enrolled.certs()[0], key, [pki.ca.cert, pki.root.cert])
    renew = EstClientPeer(url, [pki.root.cert], client=issued, keylog=keylog)
    assert renew.simplereenroll(make_csr(key, "peer-device", sans=["device.example"])).status == 200


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> EstPkiSet:
    return EstPkiSet.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, pki: EstPkiSet) -> Run:
    return _capture(tmp_path_factory.mktemp("good") / "run", pki, ServerBehaviour(), full=True)


@pytest.fixture(scope="module")
def text_plain(tmp_path_factory: pytest.TempPathFactory, pki: EstPkiSet) -> Run:
    behaviour = ServerBehaviour(content_type={"cacerts": "text/plain"})
    return _capture(tmp_path_factory.mktemp("tp") / "run", pki, behaviour, full=False)


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory, pki: EstPkiSet) -> Run:
    behaviour = ServerBehaviour(corrupt_base64={"cacerts"})
    return _capture(tmp_path_factory.mktemp("cb") / "run", pki, behaviour, full=False)


def _verify(run_pcap: Path, keylog: Path | None, out: Path, ports: list[int] | None = None,
            protocol: str = "est") -> tuple[int, dict[str, dict[str, object]], str]:  # fmt: skip
    buffer = io.StringIO()
    code = verify_capture(run_pcap, protocol, keylog, ports, out,
                          Console(file=buffer, width=200))  # fmt: skip
    results: dict[str, dict[str, object]] = {}
    path = out / protocol / "results.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            results[record["requirements"][0]] = record
    return code, results, buffer.getvalue()


def _verdicts(results: dict[str, dict[str, object]], verdict: str) -> set[str]:
    return {req for req, r in results.items() if r["verdict"] == verdict}


# -- spec-exact peers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_verified(tmp_path_factory: pytest.TempPathFactory, good: Run
                  ) -> tuple[Path, int, dict[str, dict[str, object]], str]:  # fmt: skip
    out = tmp_path_factory.mktemp("good-out")
    return (out, *_verify(good.pcap, good.keylog, out))


def test_spec_exact_exchanges_pass(
    good_verified: tuple[Path, int, dict[str, dict[str, object]], str],
) -> None:
    _, code, results, text = good_verified
    assert code == 0, text
    assert _verdicts(results, "fail") == set(), text
    expected = {
        "RFC7030-3.2.2-MUST-01", "RFC7030-3.2.3-MUST-01", "RFC7030-3.3-MUST-01",
        "RFC7030-3.3-MUST-02", "RFC7030-3.3.1-MUST-02", "RFC7030-3.3.2-MUST-01",
        "RFC7030-4.1.2-MUST-01", "RFC7030-4.1.2-MUST-02", "RFC7030-4.1.3-MUST-03",
        "RFC7030-4.1.3-MUST-04", "RFC7030-4.1.3-MUST-05", "RFC7030-4.2.1-MUST-01",
        "RFC7030-4.2.1-MUST-02", "RFC7030-4.2.2-MUST-01", "RFC7030-4.2.3-MUST-01",
        "RFC7030-4.2.3-MUST-02", "RFC7030-4.4.2-MUST-01", "RFC7030-4.4.2-MUST-02",
        "RFC7030-4.5.2-MUST-01", "RFC7030-4.5.2-MUST-02", "RFC8951-3-MUST-01",
        "RFC8951-3-MUST-02",
    }  # fmt: skip
    assert expected <= _verdicts(results, "pass"), text


def test_output_is_a_campaign_folder(
    good_verified: tuple[Path, int, dict[str, dict[str, object]], str],
) -> None:
    folder = good_verified[0] / "est"
    for name in ("campaign.json", "results.jsonl", "report.json", "report.html", "junit.xml"):
        assert (folder / name).is_file(), name
    assert (folder / "evidence/verify/capture.pcapng").is_file()
    assert (folder / "evidence/verify/tls.keylog").is_file()
    report = load_campaign(folder)
    assert not report.interrupted
    test = next(t for t in report.tests if t.nodeid == "verify::RFC7030-4.1.3-MUST-03")
    assert test.capture == "evidence/verify/capture.pcapng"
    assert test.keylog == "evidence/verify/tls.keylog"
    assert test.frames and "cacerts" in test.frames[0]


def test_without_keylog_http_requirements_are_inconclusive(good: Run, tmp_path: Path) -> None:
    code, results, text = _verify(good.pcap, None, tmp_path)
    assert code == 0, text
    for req in ("RFC7030-4.1.3-MUST-03", "RFC7030-4.2.1-MUST-01", "RFC8951-3-MUST-01",
                "RFC7030-3.3.1-MUST-02", "RFC7030-4.2.3-MUST-02"):  # fmt: skip
        assert results[req]["verdict"] == "inconclusive", (req, results[req])
        assert "encrypted" in str(results[req]["reason"])
    # The handshake itself is in clear: TLS versions are still judged.
    assert results["RFC7030-3.3-MUST-02"]["verdict"] == "pass"
    assert _verdicts(results, "pass") <= {"RFC7030-3.3-MUST-01", "RFC7030-3.3-MUST-02"}


# -- misbehaving server ----------------------------------------------------------------------


def test_wrong_cacerts_media_type_fails_exactly_that(text_plain: Run, tmp_path: Path) -> None:
    code, results, text = _verify(text_plain.pcap, text_plain.keylog, tmp_path)
    assert code == 1, text
    assert _verdicts(results, "fail") == {"RFC7030-4.1.3-MUST-03"}, text
    assert "text/plain" in str(results["RFC7030-4.1.3-MUST-03"]["reason"])
    assert "FAILED" in text


def test_corrupt_base64_fails_the_body_requirements(corrupt: Run, tmp_path: Path) -> None:
    code, results, text = _verify(corrupt.pcap, corrupt.keylog, tmp_path)
    assert code == 1, text
    assert _verdicts(results, "fail") == {"RFC7030-4.1.3-MUST-03", "RFC8951-3-MUST-01"}, text
    assert results["RFC7030-4.1.3-MUST-04"]["verdict"] == "inconclusive"


# -- bad input: one message, exit code 2 -----------------------------------------------------


def _bad(tmp_path: Path, pcap: Path, keylog: Path | None = None, protocol: str = "est") -> str:
    code, results, text = _verify(pcap, keylog, tmp_path / "out", protocol=protocol)
    assert code == 2, text
    assert not results
    assert "Traceback" not in text
    assert len([ln for ln in text.splitlines() if ln.strip()]) <= 3, text
    return text


def test_missing_capture(tmp_path: Path) -> None:
    assert "no such capture file" in _bad(tmp_path, tmp_path / "absent.pcapng")


def test_garbage_capture(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcapng"
    junk.write_bytes(b"this is not a capture file\x00\x01" * 40)
    assert "could not decode" in _bad(tmp_path, junk)


def test_capture_without_tls(good: Run, tmp_path: Path) -> None:
    # Keep only the TCP segments without payload: connections, but no TLS or HTTP.
    bare = tmp_path / "bare.pcapng"
    subprocess.run(["tshark", "-r", str(good.pcap), "-Y", "tcp.len == 0", "-w", str(bare)],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    assert "no EST traffic" in _bad(tmp_path, bare)


def test_empty_capture(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcapng"
    empty.write_bytes(empty_pcapng())
    assert "no TCP server found" in _bad(tmp_path, empty)


def test_missing_keylog(good: Run, tmp_path: Path) -> None:
    assert "no such key log" in _bad(tmp_path, good.pcap, keylog=tmp_path / "none.keylog")


def test_unknown_protocol(good: Run, tmp_path: Path) -> None:
    assert "no offline checks" in _bad(tmp_path, good.pcap, protocol="nosuch")


def test_cli_verify(text_plain: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", str(text_plain.pcap), "--protocol", "est", "--keylog",
            str(text_plain.keylog), "--port", str(text_plain.port), "--out", str(tmp_path)]
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert "RFC7030-4.1.3-MUST-03" in err and "FAILED" in err

