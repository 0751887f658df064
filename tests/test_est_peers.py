"""EST tester peers on loopback: reference client vs reference server, client peer, curl."""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import CertifiedKey, Pki, generate_key, make_csr
from harness.protocols.est import cmc, codec
from harness.protocols.est import params as P
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.params import EstClientParams
from harness.protocols.est.reference_client import main as client_main
from harness.protocols.est.reference_client import run_action
from harness.protocols.est.server import (
    EstServerConfig,
    EstServerPeer,
    Exchange,
    ServerBehaviour,
)


@dataclass
class World:
    root: CertifiedKey
    est_ca: CertifiedKey
    server: CertifiedKey
    mfg: CertifiedKey
    idevid: CertifiedKey
    ta_pem: Path
    idevid_cert: Path
    idevid_key: Path
    tmp: Path

    def config(self, **kw: object) -> EstServerConfig:
        base: dict[str, object] = {
            "credential": self.server,
            "ca": self.est_ca,
            "client_trust": [self.mfg.cert, self.est_ca.cert],
            "users": {"alice": "s3cret"},
        }
        base.update(kw)
        return EstServerConfig(**base)  # type: ignore[arg-type]

    def params(self, url: str, state: Path, **kw: object) -> EstClientParams:
        fields: dict[str, object] = {
            "est_url": url,
            "state_dir": state,
            "trust_anchors": self.ta_pem,
            "client_cert": self.idevid_cert,
            "client_key": self.idevid_key,
            "timeout": 8.0,
            "subject_cn": "dev-0001",
        }
        fields.update(kw)
        return EstClientParams(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("est")
    pki = Pki.create()
    root = pki.root_ca("onboardcheck Test Root")
    est_ca = pki.sub_ca(root, "onboardcheck EST CA")
    server = pki.server_cert(est_ca, "localhost", sans=["localhost", "127.0.0.1"])
    mfg = pki.root_ca("onboardcheck Manufacturer CA")
    idevid = pki.idevid(mfg, serial="SN-0001", model="Reference")
    ta = tmp / "ta.pem"
    ta.write_bytes(root.cert_pem())
    paths = idevid.write(tmp, "idevid")
    return World(root, est_ca, server, mfg, idevid, ta, paths.cert, paths.key, tmp)


@pytest.fixture
def server(world: World, tmp_path: Path) -> Iterator[EstServerPeer]:
    with EstServerPeer(
        world.config(keylog=tmp_path / "tls.keylog", log=tmp_path / "peer.log")
    ) as peer:
        yield peer


def _posts(peer: EstServerPeer) -> list[Exchange]:
    """The CSR POSTs (enroll first fetches /cacerts and /csrattrs, RFC 7030 §4.2, §4.5)."""
    return [e for e in peer.exchanges if e.method == "POST"]


def _run(action: str, params: EstClientParams, mutant: str | None = None) -> None:
    outcome = run_action(action, params, mutant)
    assert outcome.returncode == 0, outcome.stderr + outcome.stdout


# -- reference client vs reference server ---------------------------------------------------------


def test_cacerts_and_csrattrs(world: World, tmp_path: Path) -> None:
    attrs = codec.encode_csrattrs([codec.CsrAttr("1.2.840.113549.1.9.7")])
    with EstServerPeer(world.config(csrattrs=attrs)) as peer:
        params = world.params(peer.base_url, tmp_path, client_cert=None, client_key=None)
        _run("cacerts", params)
        _run("csrattrs", params)
    cacerts = x509.load_pem_x509_certificates((tmp_path / P.CACERTS_FILE).read_bytes())
    assert set(cacerts) == {world.est_ca.cert, world.root.cert}  # DER SET OF: any order
    assert (tmp_path / P.CSRATTRS_FILE).read_bytes() == attrs
    assert [e.status for e in peer.exchanges] == [200, 200]
    assert peer.exchanges[0].client_subject is None  # no auth needed for /cacerts


def test_csrattrs_none_is_204(server: EstServerPeer, world: World, tmp_path: Path) -> None:
    _run("csrattrs", world.params(server.base_url, tmp_path))
    assert server.exchanges[-1].status == 204
    assert not (tmp_path / P.CSRATTRS_FILE).exists()


def test_enroll_with_cert_then_reenroll(
    server: EstServerPeer, world: World, tmp_path: Path
) -> None:
    params = world.params(server.base_url, tmp_path)
    _run("enroll", params)
    first = x509.load_pem_x509_certificate((tmp_path / P.CERT_FILE).read_bytes())
    assert first.subject.rfc4514_string() == "CN=dev-0001"
    assert server.exchanges[-1].client_subject is not None
    assert server.exchanges[-1].basic_user is None
    _run("reenroll", params)
    second = x509.load_pem_x509_certificate((tmp_path / P.CERT_FILE).read_bytes())
    assert second.subject == first.subject and second.serial_number != first.serial_number
    assert second.public_key() != first.public_key()  # a new key (rekey)
    reenroll = server.exchanges[-1]
    assert reenroll.op == "simplereenroll" and reenroll.status == 200
    assert reenroll.client_subject == "CN=dev-0001"
    assert len(server.issued) == 2


def test_enroll_with_basic_after_challenge(
    server: EstServerPeer, world: World, tmp_path: Path
) -> None:
    params = world.params(
        server.base_url,
        tmp_path,
        client_cert=None,
        client_key=None,
        username="alice",
        password="s3cret",
    )
    _run("enroll", params)
    statuses = [(e.status, e.request_header("authorization") is not None) for e in _posts(server)]
    assert statuses == [(401, False), (200, True)]
    assert _posts(server)[0].response_header("WWW-Authenticate") == 'Basic realm="estrealm"'
    # The GETs before the CSR went without credentials: /cacerts needs none (§4.1.1).
    assert [e.op for e in server.exchanges[:2]] == ["cacerts", "csrattrs"]
    assert all(e.request_header("authorization") is None for e in server.exchanges[:2])


def test_pending_then_success_after_retry_after(world: World, tmp_path: Path) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(pending=1, retry_after=1)) as peer:
        _run("enroll", world.params(peer.base_url, tmp_path))
    first, second = _posts(peer)
    assert (first.status, first.response_header("Retry-After"), second.status) == (202, "1", 200)
    assert second.time - first.time >= 1.0


def test_serverkeygen(server: EstServerPeer, world: World, tmp_path: Path) -> None:
    _run("serverkeygen", world.params(server.base_url, tmp_path))
    key = serialization.load_pem_private_key(
        (tmp_path / P.SERVERKEYGEN_KEY_FILE).read_bytes(), None
    )
    cert = x509.load_pem_x509_certificate((tmp_path / P.SERVERKEYGEN_CERT_FILE).read_bytes())
    assert cert.public_key() == key.public_key()
    assert server.exchanges[-1].response_header("Content-Type").startswith("multipart/mixed")


def test_pop_with_tls_unique(world: World, tmp_path: Path) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(require_pop=True)) as peer:
        _run("enroll", world.params(peer.base_url, tmp_path, pop=True))
        assert peer.exchanges[-1].tls_version == "TLSv1.2"
        assert peer.exchanges[-1].status == 200
        # Without the tls-unique link the server refuses.
        outcome = run_action("enroll", world.params(peer.base_url, tmp_path / "nopop"))
    assert outcome.returncode == 1 and "400" in outcome.stderr
    assert peer.exchanges[-1].status == 400


def test_cli_reads_environment(
    server: EstServerPeer,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in world.params(server.base_url, tmp_path).to_env().items():
        monkeypatch.setenv(name, value)
    assert client_main(["cacerts"]) == 0
    assert (tmp_path / P.CACERTS_FILE).is_file()
    monkeypatch.delenv(P.URL)
    assert client_main(["cacerts"]) == 2
    assert P.URL in capsys.readouterr().err


def test_client_refuses_untrusted_server(world: World, tmp_path: Path) -> None:
    other = Pki.create().root_ca("Some Other Root")
    (tmp_path / "other.pem").write_bytes(other.cert_pem())
    with EstServerPeer(world.config()) as peer:
        params = world.params(
            peer.base_url,
            tmp_path,
            trust_anchors=tmp_path / "other.pem",
            username="alice",
            password="s3cret",
        )
        outcome = run_action("enroll", params)
    assert outcome.returncode == 1 and "certificate" in outcome.stderr
    assert peer.exchanges == []


# -- client peer against the server ----------------------------------------------------------------


def test_client_peer_operations(server: EstServerPeer, world: World) -> None:
    peer = EstClientPeer(server.base_url, [world.root.cert], client=world.idevid)
    cacerts = peer.cacerts()
    assert cacerts.ok and cacerts.media_type == codec.PKCS7_MIME
    assert cacerts.header("content-transfer-encoding") == "base64"
    assert set(cacerts.certs()) == {world.est_ca.cert, world.root.cert}
    assert peer.csrattrs().status == 204
    key = generate_key()
    enrolled = peer.simpleenroll(make_csr(key, "peer-dev"))
    assert enrolled.ok and enrolled.certs()[0].public_key() == key.public_key()
    assert peer.fullcmc(b"\x30\x00").status == 400  # not a Full PKI Request
    fullcmc = peer.fullcmc(cmc.full_pki_request(make_csr(key, "peer-dev"), key))
    assert fullcmc.ok and fullcmc.content_type == cmc.CMC_RESPONSE
    answer = cmc.parse_full_pki_response(codec.b64_decode(fullcmc.body))
    assert answer.statuses == [(cmc.SUCCESS, [1])]
    assert answer.certificates[0].public_key() == key.public_key()
    assert peer.request("GET", "/.well-known/est/nosuchop").status == 404
    assert peer.request("POST", codec.CACERTS).status == 405
    bad_type = peer.request(
        "POST",
        codec.SIMPLEENROLL,
        {"Content-Type": "text/plain"},
        codec.csr_to_body(make_csr(key, "x")),
    )
    assert bad_type.status == 415
    bad_b64 = peer.request("POST", codec.SIMPLEENROLL, {"Content-Type": codec.PKCS10}, b"!!!")
    assert bad_b64.status == 400 and bad_b64.media_type == "text/plain"


def test_client_peer_bad_csr_signature(server: EstServerPeer, world: World) -> None:
    csr_der = bytearray(
        make_csr(generate_key(), "tampered").public_bytes(serialization.Encoding.DER)
    )
    csr_der[-1] ^= 0x01  # flips a bit of the signature only
    peer = EstClientPeer(server.base_url, [world.root.cert], client=world.idevid)
    resp = peer.request(
        "POST", codec.SIMPLEENROLL, {"Content-Type": codec.PKCS10}, codec.b64_encode(bytes(csr_der))
    )
    assert resp.status == 400 and b"signature" in resp.body


def test_client_peer_pop_session(world: World) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(require_pop=True)) as server:
        peer = EstClientPeer(server.base_url, [world.root.cert], client=world.idevid)
        key = generate_key()
        with peer.session() as s:
            assert s.tls_unique is not None and s.tls_version == "TLSv1.2"
            csr = make_csr(key, "pop-dev", challenge_password=base64.b64encode(s.tls_unique))
            assert s.simpleenroll(csr).status == 200
        # Same CSR on another connection: another tls-unique, so refused.
        assert peer.simpleenroll(csr).status == 400


def test_label_segment(world: World) -> None:
    with EstServerPeer(world.config(label="arbitraryLabel1")) as server:
        assert server.base_url.endswith("/.well-known/est/arbitraryLabel1")
        peer = EstClientPeer(server.base_url, [world.root.cert])
        assert peer.cacerts().ok
        assert peer.request("GET", "/.well-known/est/cacerts").status == 404


def test_keylog_and_peer_log(server: EstServerPeer, world: World, tmp_path: Path) -> None:
    EstClientPeer(server.base_url, [world.root.cert], tls_max=ssl.TLSVersion.TLSv1_2).cacerts()
    EstClientPeer(server.base_url, [world.root.cert]).cacerts()
    keylog = (tmp_path / "tls.keylog").read_text()
    assert "CLIENT_RANDOM " in keylog  # TLS 1.2
    assert "CLIENT_TRAFFIC_SECRET_0 " in keylog  # TLS 1.3
    log = (tmp_path / "peer.log").read_text()
    assert "GET /.well-known/est/cacerts" in log and "-> 200" in log


def test_curl_and_openssl_read_cacerts(server: EstServerPeer, world: World, tmp_path: Path) -> None:
    if not (shutil.which("curl") and shutil.which("openssl")):
        pytest.fail("curl and openssl are part of the test environment")
    url = f"https://127.0.0.1:{server.port}/.well-known/est/cacerts"
    body = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(world.ta_pem), url],
        check=True,
        capture_output=True,
        timeout=20,
    ).stdout
    der = subprocess.run(["base64", "-d"], input=body, check=True, capture_output=True).stdout
    printed = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-print_certs"],
        input=der,
        check=True,
        capture_output=True,
        timeout=20,
    ).stdout.decode()
    assert "subject=CN = onboardcheck EST CA" in printed
    assert "subject=CN = onboardcheck Test Root" in printed


# -- misbehaviours --------------------------------------------------------------------------------


def _client(server: EstServerPeer, world: World, **kw: object) -> EstClientPeer:
    return EstClientPeer(server.base_url, [world.root.cert], client=world.idevid, **kw)  # type: ignore[arg-type]


def test_behaviour_content_type_corrupt_raw(world: World) -> None:
    behaviour = ServerBehaviour(
        content_type={"cacerts": "text/html"}, corrupt_base64={"simpleenroll"}, raw_der={"csrattrs"}
    )
    attrs = codec.encode_csrattrs([codec.CsrAttr("1.2.840.113549.1.9.7")])
    with EstServerPeer(world.config(csrattrs=attrs), behaviour) as server:
        peer = _client(server, world)
        assert peer.cacerts().content_type == "text/html"
        enrolled = peer.simpleenroll(make_csr(generate_key(), "d"))
        assert enrolled.status == 200
        with pytest.raises(codec.CodecError):
            codec.b64_decode(enrolled.body)
        assert peer.csrattrs().body == attrs  # binary DER, not base64


def test_behaviour_extra_certs_and_status(world: World) -> None:
    behaviour = ServerBehaviour(extra_certs_in_enroll=True, status={"cacerts": 503})
    with EstServerPeer(world.config(), behaviour) as server:
        peer = _client(server, world)
        assert peer.cacerts().status == 503
        certs = peer.simpleenroll(make_csr(generate_key(), "d")).certs()
        assert len(certs) == 2 and world.est_ca.cert in certs


def test_behaviour_pending_without_retry_after(world: World) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(pending=2, retry_after=None)) as server:
        peer = _client(server, world)
        csr = make_csr(generate_key(), "d")
        answers = [peer.simpleenroll(csr) for _ in range(3)]
    assert [a.status for a in answers] == [202, 202, 200]
    assert answers[0].header("retry-after") is None


def test_behaviour_require_basic_and_cert(world: World) -> None:
    csr = make_csr(generate_key(), "d")
    with EstServerPeer(world.config(), ServerBehaviour(require_basic=True)) as server:
        assert _client(server, world).simpleenroll(csr).status == 401
        assert _client(server, world, basic_auth=("alice", "s3cret")).simpleenroll(csr).ok
        assert _client(server, world, basic_auth=("alice", "nope")).simpleenroll(csr).status == 401
    with EstServerPeer(world.config(), ServerBehaviour(require_cert=True)) as server:
        anonymous = EstClientPeer(
            server.base_url, [world.root.cert], basic_auth=("alice", "s3cret")
        )
        assert anonymous.simpleenroll(csr).status == 403
        assert _client(server, world).simpleenroll(csr).ok


def test_behaviour_tls_versions(world: World) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(max_tls=ssl.TLSVersion.TLSv1_2)) as s:
        assert _client(s, world).cacerts().tls_version == "TLSv1.2"
    with EstServerPeer(world.config(), ServerBehaviour(min_tls=ssl.TLSVersion.TLSv1_3)) as s:
        resp = _client(s, world, tls_max=ssl.TLSVersion.TLSv1_2).cacerts()
        assert resp.status == 0 and resp.error and "TLS" in resp.error


@pytest.mark.parametrize("knob", ["garbage", "close_early", "hang"])
def test_client_peer_survives_misbehaviour(world: World, knob: str) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(**{knob: True})) as server:
        started = time.monotonic()
        resp = _client(server, world, timeout=0.5).cacerts()
        assert resp.status == 0 and resp.error
        assert time.monotonic() - started < 5
        assert server.exchanges[-1].status is None and server.exchanges[-1].note


def test_stop_is_idempotent_and_port_is_freed(world: World) -> None:
    peer = EstServerPeer(world.config()).start()
    port = peer.port
    peer.stop()
    peer.stop()
    resp = EstClientPeer(f"https://127.0.0.1:{port}/.well-known/est", None, timeout=1).cacerts()
    assert resp.status == 0 and "refused" in (resp.error or "")


def test_csrattrs_challenge_password_turns_on_pop(world: World, tmp_path: Path) -> None:
    attrs = codec.encode_csrattrs([codec.CsrAttr("1.2.840.113549.1.9.7")])
    behaviour = ServerBehaviour(require_pop=True)
    with EstServerPeer(world.config(csrattrs=attrs), behaviour) as peer:
        params = world.params(peer.base_url, tmp_path)  # pop not asked for explicitly
        _run("csrattrs", params)
        _run("enroll", params)
    enroll = peer.exchanges[-1]
    csr = x509.load_der_x509_csr(codec.b64_decode(enroll.request_body))
    assert enroll.status == 200 and codec.challenge_password(csr) is not None


def test_module_entry_point(server: EstServerPeer, world: World, tmp_path: Path) -> None:
    env = {**os.environ, **world.params(server.base_url, tmp_path).to_env()}
    done = subprocess.run(
        [sys.executable, "-m", "harness.protocols.est.reference_client", "cacerts"],
        env=env, capture_output=True, text=True, timeout=30, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "certificate(s) written" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "harness.protocols.est.reference_client", "nonsense"],
        env=env, capture_output=True, text=True, timeout=30, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert bad.returncode == 2


def test_untrusted_client_certificate_is_refused(world: World) -> None:
    stranger = Pki.create().root_ca("Unrelated Manufacturer")
    device = Pki.create().idevid(stranger, serial="SN-X")
    with EstServerPeer(world.config()) as server:
        resp = EstClientPeer(server.base_url, [world.root.cert], client=device).simpleenroll(
            make_csr(generate_key(), "x")
        )
    assert resp.status == 0 and resp.error
    assert server.exchanges == []  # refused in the TLS handshake, before any HTTP


# -- enroll order, /cacerts validation, csrattrs, RFC 8951 knobs -----------------------------------


def test_enroll_fetches_cacerts_and_csrattrs_first(
    server: EstServerPeer, world: World, tmp_path: Path
) -> None:
    params = world.params(server.base_url, tmp_path)
    _run("enroll", params)
    assert [e.op for e in server.exchanges] == ["cacerts", "csrattrs", "simpleenroll"]
    _run("enroll", params)  # the explicit TA is held now: no second /cacerts
    assert [e.op for e in server.exchanges[3:]] == ["csrattrs", "simpleenroll"]


def test_cacerts_drops_certificates_without_path_to_ta(world: World, tmp_path: Path) -> None:
    stranger = Pki.create().root_ca("Unrelated Root")
    stray_ca = Pki.create().sub_ca(stranger, "Stray Sub CA")
    behaviour = ServerBehaviour(extra_cacerts=[stranger.cert, stray_ca.cert])
    with EstServerPeer(world.config(), behaviour) as peer:
        _run("cacerts", world.params(peer.base_url, tmp_path))
    held = x509.load_pem_x509_certificates((tmp_path / P.CACERTS_FILE).read_bytes())
    assert set(held) == {world.est_ca.cert, world.root.cert}


def test_cacerts_with_nothing_chaining_is_refused(world: World, tmp_path: Path) -> None:
    stranger = Pki.create().root_ca("Unrelated Root")
    with EstServerPeer(world.config(cacerts=[stranger.cert])) as peer:
        outcome = run_action("cacerts", world.params(peer.base_url, tmp_path))
    assert outcome.returncode == 1 and "trust anchor" in outcome.stderr
    assert not (tmp_path / P.CACERTS_FILE).exists()


def test_cacerts_error_installs_nothing(world: World, tmp_path: Path) -> None:
    with EstServerPeer(world.config(), ServerBehaviour(status={"cacerts": 500})) as peer:
        outcome = run_action("enroll", world.params(peer.base_url, tmp_path))
    assert outcome.returncode == 1 and "500" in outcome.stderr
    assert not (tmp_path / P.CACERTS_FILE).exists()
    assert [e.op for e in peer.exchanges] == ["cacerts"]  # §4.1.3: the protocol is aborted


def test_csrattrs_unknown_items_ignored_known_used(world: World, tmp_path: Path) -> None:
    attrs = codec.encode_csrattrs(
        [
            codec.CsrAttr("2.999.1"),  # unknown arc: ignored
            codec.CsrAttr("1.2.840.10045.2.1", (bytes.fromhex("06052b81040022"),)),  # P-384
        ]
    )
    with EstServerPeer(world.config(csrattrs=attrs)) as peer:
        _run("enroll", world.params(peer.base_url, tmp_path))
    csr = x509.load_der_x509_csr(codec.b64_decode(_posts(peer)[-1].request_body))
    assert csr.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    assert all(not a.oid.dotted_string.startswith("2.999.") for a in csr.attributes)


def test_csrattrs_challenge_on_tls_1_3_leaves_it_empty(world: World, tmp_path: Path) -> None:
    attrs = codec.encode_csrattrs([codec.CsrAttr("1.2.840.113549.1.9.7")])
    with EstServerPeer(world.config(csrattrs=attrs)) as peer:
        _run("enroll", world.params(peer.base_url, tmp_path))
        # Asked for explicitly (ONBOARDCHECK_POP=1), linking that cannot happen is refused.
        outcome = run_action("enroll", world.params(peer.base_url, tmp_path / "pop", pop=True))
    post = _posts(peer)[0]
    csr = x509.load_der_x509_csr(codec.b64_decode(post.request_body))
    assert post.tls_version == "TLSv1.3" and post.status == 200
    assert codec.challenge_password(csr) == b""  # §3.5: empty = not linked
    assert outcome.returncode == 1 and "tls-unique" in outcome.stderr


def test_behaviour_wrap_base64_and_transfer_encoding(world: World, tmp_path: Path) -> None:
    behaviour = ServerBehaviour(wrap_base64=" \t\r\n", transfer_encoding_header="binary")
    with EstServerPeer(world.config(), behaviour) as server:
        resp = _client(server, world).cacerts()
        assert resp.header("content-transfer-encoding") == "binary"
        for blank in (b" ", b"\t", b"\r", b"\n"):
            assert blank in resp.body.strip()
        assert set(resp.certs()) == {world.est_ca.cert, world.root.cert}
        _run("enroll", world.params(server.base_url, tmp_path))  # RFC 8951 §3.1 tolerated
    with EstServerPeer(world.config(), ServerBehaviour(transfer_encoding_header="")) as server:
        assert _client(server, world).cacerts().header("content-transfer-encoding") is None
