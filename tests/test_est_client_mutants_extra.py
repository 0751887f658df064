"""Direct checks of the client mutants added for RFC7030-4.1.2-MUST-01, RFC7030-3.1-MUST-01,
RFC7030-4.5.2-MUST-03 and RFC7030-3.3-MUST-01: each differs from the reference client
exactly where it claims to."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from harness.crypto.pki import CertifiedKey, Pki
from harness.protocols.est import codec
from harness.protocols.est.mutants import CLIENT_MUTANTS
from harness.protocols.est.params import CACERTS_FILE, EstClientParams
from harness.protocols.est.reference_client import ActionOutcome, run_action
from harness.protocols.est.server import EstServerConfig, EstServerPeer, Exchange
from harness.vectors import vector_bytes

NEW = {
    "cacerts-get-with-body": ["RFC7030-4.1.2-MUST-01"],
    "cacerts-keeps-roots-only": ["RFC7030-3.1-MUST-01"],
    "copies-unknown-csrattrs": ["RFC7030-4.5.2-MUST-03"],
    # against a TLS 1.0-only server its first handshake succeeds: Basic goes there too
    "tls-1-0-first": ["RFC7030-3.3-MUST-01", "RFC7030-3.2.3-MUST-01"],
    "enroll-basic-only": ["RFC7030-3.3.2-MAY-01"],
}
TLS_1_0 = b"\x03\x01"


@dataclass
class Pkix:
    root: CertifiedKey
    est_ca: CertifiedKey
    server: CertifiedKey
    mfg: CertifiedKey
    ta_pem: Path
    idevid: tuple[Path, Path]

    def config(self, csrattrs: bytes | None = None) -> EstServerConfig:
        return EstServerConfig(
            credential=self.server,
            ca=self.est_ca,
            client_trust=[self.mfg.cert, self.est_ca.cert],
            users={"alice": "s3cret"},
            csrattrs=csrattrs,
        )

    def run(self, url: str, state: Path, action: str, mutant: str | None) -> ActionOutcome:
        params = EstClientParams(
            est_url=url,
            state_dir=state,
            trust_anchors=self.ta_pem,
            client_cert=self.idevid[0],
            client_key=self.idevid[1],
            timeout=6.0,
            subject_cn="dev-0001",
        )
        return run_action(action, params, mutant)


@pytest.fixture(scope="module")
def pkix(tmp_path_factory: pytest.TempPathFactory) -> Pkix:
    tmp = tmp_path_factory.mktemp("est-client-mutants")
    pki = Pki.create()
    root = pki.root_ca("onboardcheck Test Root")
    est_ca = pki.sub_ca(root, "onboardcheck EST CA")
    server = pki.server_cert(est_ca, "localhost", sans=["localhost", "127.0.0.1"])
    mfg = pki.root_ca("onboardcheck Manufacturer CA")
    paths = pki.idevid(mfg, serial="SN-0001").write(tmp, "idevid")
    ta = tmp / "ta.pem"
    ta.write_bytes(root.cert_pem())
    return Pkix(root, est_ca, server, mfg, ta, (paths.cert, paths.key))


def _both(
    pkix: Pkix, tmp: Path, mutant: str, action: str, csrattrs: bytes | None = None
) -> dict[str, tuple[ActionOutcome, list[Exchange]]]:
    seen = {}
    for which, name in (("ref", None), ("mut", mutant)):
        with EstServerPeer(pkix.config(csrattrs)) as server:
            outcome = pkix.run(server.base_url, tmp / which, action, name)
        seen[which] = (outcome, list(server.exchanges))
    return seen


def _held(state: Path) -> set[x509.Certificate]:
    return set(x509.load_pem_x509_certificates((state / CACERTS_FILE).read_bytes()))


def test_registered_with_their_breaks() -> None:
    assert {n: CLIENT_MUTANTS[n].breaks for n in NEW} == NEW


def test_cacerts_get_with_body(pkix: Pkix, tmp_path: Path) -> None:
    seen = _both(pkix, tmp_path, "cacerts-get-with-body", "cacerts")
    gets = {w: [(e.method, e.op, e.request_body) for e in ex] for w, (_, ex) in seen.items()}
    assert gets["ref"] == [("GET", "cacerts", b"")]
    assert gets["mut"] == [("GET", "cacerts", b"cacerts please")]
    # The body is all that differs: the server answers and the bag is installed.
    assert [o.returncode for o, _ in seen.values()] == [0, 0]
    assert _held(tmp_path / "ref") == _held(tmp_path / "mut")


def test_cacerts_keeps_roots_only(pkix: Pkix, tmp_path: Path) -> None:
    seen = _both(pkix, tmp_path, "cacerts-keeps-roots-only", "cacerts")
    assert [o.returncode for o, _ in seen.values()] == [0, 0]
    assert _held(tmp_path / "ref") == {pkix.root.cert, pkix.est_ca.cert}
    assert _held(tmp_path / "mut") == {pkix.root.cert}


def _csr_oids(exchanges: list[Exchange]) -> list[str]:
    post = [e for e in exchanges if e.method == "POST"][-1]
    csr = x509.load_der_x509_csr(codec.b64_decode(post.request_body))
    return [a.oid.dotted_string for a in csr.attributes]


def test_copies_unknown_csrattrs(pkix: Pkix, tmp_path: Path) -> None:
    # RFC 7030's own example: 2.999.1 and 2.999.2 no client can recognise.
    example = vector_bytes("est", "a4_csrattrs", "expected", "payload")
    seen = _both(pkix, tmp_path, "copies-unknown-csrattrs", "enroll", csrattrs=example)
    assert [o.returncode for o, _ in seen.values()] == [0, 0]
    ref, mut = (_csr_oids(ex) for _, ex in seen.values())
    assert not [oid for oid in ref if oid.startswith("2.999.")]
    assert {"2.999.1", "2.999.2"} <= set(mut)
    # Recognised items are used the same way: challengePassword in both.
    assert "1.2.840.113549.1.9.7" in ref and "1.2.840.113549.1.9.7" in mut


class _HelloRecorder:
    """A TCP relay in front of a server that keeps each connection's first client bytes."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.hellos: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            first = client.recv(16384)
            self.hellos.append(first)
            server.sendall(first)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(16384):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def _client_version(hello: bytes) -> bytes:
    # TLS record header (5) + handshake type (1) + length (3), then ClientHello.client_version
    assert hello[0] == 0x16 and hello[5] == 0x01, hello[:8].hex()
    return hello[9:11]


def test_tls_1_0_first(pkix: Pkix, tmp_path: Path) -> None:
    versions, outcomes = {}, {}
    for which, name in (("ref", None), ("mut", "tls-1-0-first")):
        with EstServerPeer(pkix.config()) as server:
            relay = _HelloRecorder(("127.0.0.1", server.port))
            try:
                url = f"https://localhost:{relay.port}/.well-known/est"
                outcomes[which] = pkix.run(url, tmp_path / which, "cacerts", name)
            finally:
                relay.close()
        versions[which] = [_client_version(h) for h in relay.hellos]
    # The reference offers TLS 1.2 or later (legacy_version 1.2) on its one connection; the
    # mutant first offers TLS 1.0 alone, which the server refuses, then falls back.
    assert versions["ref"] == [b"\x03\x03"]
    assert versions["mut"] == [TLS_1_0, b"\x03\x03"]
    assert [o.returncode for o in outcomes.values()] == [0, 0]
    assert "TLS 1.0 connection failed" in outcomes["mut"].stdout


def test_enroll_basic_only(pkix: Pkix, tmp_path: Path) -> None:
    seen = _both(pkix, tmp_path, "enroll-basic-only", "enroll")
    subjects = {
        which: [e.client_subject for e in ex if e.op == codec.SIMPLEENROLL]
        for which, (_, ex) in seen.items()
    }
    assert subjects["ref"] and all(s and "SN-0001" in s for s in subjects["ref"])
    assert subjects["mut"] and not any(subjects["mut"])
