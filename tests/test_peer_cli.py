"""`onboardcheck peer est-server`: a standalone EST server peer, run as its own process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from harness.crypto.pki import generate_key, make_csr
from harness.errors import UsageError
from harness.peers.est_server import FILES, listen_address, server_names
from harness.protocols.est.client import EstClientPeer

REPO = Path(__file__).resolve().parents[1]
STARTUP_BOUND = 60.0  # a bound for a broken peer, not a speed check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_argv(out: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harness.cli",
        "peer",
        "est-server",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--out",
        str(out),
        *extra,
    ]


def run_once(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def wait_manifest(proc: subprocess.Popen[str], out: Path) -> dict[str, object]:
    """The peer writes peer.json once it listens; fail if it dies first."""
    manifest = out / FILES["manifest"]
    deadline = time.monotonic() + STARTUP_BOUND
    while not manifest.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"peer exited with {proc.returncode} before listening: {err}")
        if time.monotonic() > deadline:
            pytest.fail("peer did not start listening")
        time.sleep(0.1)
    return json.loads(manifest.read_text())


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, dict[str, object]]]:
    out = tmp_path / "est-server"
    proc = subprocess.Popen(
        peer_argv(out, free_port()),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, out, wait_manifest(proc, out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_enrolls_and_stops_on_sigterm(peer: tuple[subprocess.Popen[str], Path, dict]) -> None:
    proc, out, manifest = peer
    username, password = (out / FILES["credentials"]).read_text().splitlines()
    url = manifest["urls"][0]
    client = EstClientPeer(
        url,
        trust_anchors=out / FILES["trust_anchor"],
        basic_auth=(username.split("=", 1)[1], password.split("=", 1)[1]),
    )
    csr = make_csr(generate_key(), "plugfest-device")
    answer = client.simpleenroll(csr)
    assert answer.ok, f"enroll failed: {answer.status} {answer.error} {answer.body!r}"
    issued = answer.certs()[0]
    assert issued.public_key() == csr.public_key()

    est_ca = x509.load_pem_x509_certificate((out / "pki" / "ca.crt").read_bytes())
    root = x509.load_pem_x509_certificate((out / FILES["trust_anchor"]).read_bytes())
    issued.verify_directly_issued_by(est_ca)  # raises if the signature does not verify
    est_ca.verify_directly_issued_by(root)

    # Without credentials the server refuses (it is not an open CA).
    anonymous = EstClientPeer(url, trust_anchors=out / FILES["trust_anchor"])
    assert anonymous.simpleenroll(csr).status == 401

    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert url in stdout and str(out / FILES["trust_anchor"]) in stdout
    keylog = (out / FILES["keylog"]).read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog or "CLIENT_RANDOM" in keylog
    assert "POST /.well-known/est/simpleenroll" in (out / FILES["log"]).read_text()


def test_restart_keeps_trust_anchor_and_credentials(tmp_path: Path) -> None:
    out = tmp_path / "est-server"
    first = run_once(*peer_argv(out, 0, "--duration", "0.2"))
    assert first.returncode == 0, first.stderr
    anchor, credentials = (
        (out / FILES["trust_anchor"]).read_bytes(),
        (out / FILES["credentials"]).read_text(),
    )
    again = run_once(*peer_argv(out, 0, "--duration", "0.2"))
    assert again.returncode == 0, again.stderr
    assert (out / FILES["trust_anchor"]).read_bytes() == anchor
    assert (out / FILES["credentials"]).read_text() == credentials
    fresh = run_once(*peer_argv(out, 0, "--duration", "0.2", "--new-pki"))
    assert fresh.returncode == 0, fresh.stderr
    assert (out / FILES["trust_anchor"]).read_bytes() != anchor


def test_unwritable_out_is_exit_2(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = run_once(*peer_argv(not_a_folder / "sub", free_port()))
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_out_is_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    result = run_once(*peer_argv(folder, free_port()))
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_port_in_use_is_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_once(*peer_argv(tmp_path / "o", taken.getsockname()[1]))
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen", "300.1.1.1"],
        ["--listen", "est.example"],
        ["--san", "not a name"],
        ["--port", "70000"],
        ["--duration", "-1"],
    ],
)
def test_bad_input_is_exit_2(tmp_path: Path, argv: list[str]) -> None:
    base = [sys.executable, "-m", "harness.cli", "peer", "est-server", "--out", str(tmp_path / "o")]
    result = run_once(*base, *argv)
    assert result.returncode == 2, result.stdout
    assert "onboardcheck:" in result.stderr and "Traceback" not in result.stderr


def test_server_names() -> None:
    assert server_names(listen_address("0.0.0.0"), ["198.19.200.10", "EST.Example."]) == [
        "198.19.200.10",
        "est.example",
        "localhost",
        "127.0.0.1",
        "::1",
    ]
    assert server_names(listen_address("198.18.0.2"), []) == ["198.18.0.2"]
    with pytest.raises(UsageError):
        server_names(listen_address("::"), ["a b"])
