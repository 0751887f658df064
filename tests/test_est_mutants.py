"""Each EST mutant differs from the reference exactly where it claims to (direct checks)."""

from __future__ import annotations

import base64
import socket
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.crypto.pki import CertifiedKey, Pki, generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.mutants import CLIENT_MUTANTS, SERVER_MUTANTS, make_server
from harness.protocols.est.params import CACERTS_FILE, CERT_FILE, EstClientParams
from harness.protocols.est.reference_client import run_action
from harness.protocols.est.server import (
    EstServerConfig,
    EstServerPeer,
    Exchange,
    ServerBehaviour,
)

CATALOGUE = Path(__file__).resolve().parent.parent / "suites" / "est" / "requirements.yaml"
_DER = serialization.Encoding.DER
CSRATTRS = codec.encode_csrattrs([codec.CsrAttr("1.2.840.113549.1.9.7")])


@dataclass
class World:
    pki: Pki
    root: CertifiedKey
    est_ca: CertifiedKey
    server: CertifiedKey
    mfg: CertifiedKey
    idevid: CertifiedKey
    renewable: CertifiedKey  # a client certificate the EST CA issued
    ta_pem: Path
    idevid_paths: tuple[Path, Path]

    def config(self, credential: CertifiedKey | None = None) -> EstServerConfig:
        return EstServerConfig(
            credential=credential or self.server,
            ca=self.est_ca,
            client_trust=[self.mfg.cert, self.est_ca.cert],
            users={"alice": "s3cret"},
            csrattrs=CSRATTRS,
        )

    def client(self, server: EstServerPeer, cred: CertifiedKey | None = None) -> EstClientPeer:
        return EstClientPeer(server.base_url, [self.root.cert], client=cred, timeout=5)

    def params(self, server: EstServerPeer, state: Path, **kw: object) -> EstClientParams:
        values: dict[str, object] = {
            "est_url": server.base_url,
            "state_dir": state,
            "trust_anchors": self.ta_pem,
            "client_cert": self.idevid_paths[0],
            "client_key": self.idevid_paths[1],
            "timeout": 6.0,
            "subject_cn": "dev-0001",
        }
        values.update(kw)
        return EstClientParams(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("est-mutants"))


def make_world(tmp: Path) -> World:
    """The PKI and files the direct mutant checks share (also used by other test files)."""
    pki = Pki.create()
    root = pki.root_ca("onboardcheck Test Root")
    est_ca = pki.sub_ca(root, "onboardcheck EST CA")
    server = pki.server_cert(est_ca, "localhost", sans=["localhost", "127.0.0.1"])
    mfg = pki.root_ca("onboardcheck Manufacturer CA")
    idevid = pki.idevid(mfg, serial="SN-0001")
    renewable = pki.client_cert(est_ca, "dev-renew", sans=["dev-renew.example"])
    ta = tmp / "ta.pem"
    ta.write_bytes(root.cert_pem())
    paths = idevid.write(tmp, "idevid")
    return World(pki, root, est_ca, server, mfg, idevid, renewable, ta, (paths.cert, paths.key))


def _tampered_csr_body(cn: str) -> bytes:
    der = bytearray(make_csr(generate_key(), cn).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature
    return codec.b64_encode(bytes(der))


# -- server mutants: probe(world, server) -> an observable; reference vs mutant value ----------

Probe = Callable[[World, EstServerPeer], object]


def _anon_status(op: str) -> Probe:
    def probe(w: World, s: EstServerPeer) -> object:
        if op == codec.CACERTS:
            return w.client(s).cacerts().status
        return w.client(s).simpleenroll(make_csr(generate_key(), "anon")).status

    return probe


def _media(op: str) -> Probe:
    def probe(w: World, s: EstServerPeer) -> object:
        c = w.client(s, w.idevid)
        if op == codec.SIMPLEENROLL:
            return c.simpleenroll(make_csr(generate_key(), "d")).media_type
        if op == codec.SERVERKEYGEN:
            return c.serverkeygen(make_csr(generate_key(), "d")).media_type
        return c.request("GET", op).media_type

    return probe


def _http_auth_challenge(w: World, s: EstServerPeer) -> object:
    """(status, WWW-Authenticate) of an anonymous enroll, status with valid Basic only."""
    anon = w.client(s).simpleenroll(make_csr(generate_key(), "anon"))
    basic = EstClientPeer(s.base_url, [w.root.cert], basic_auth=("alice", "s3cret"), timeout=5)
    served = basic.simpleenroll(make_csr(generate_key(), "basic")).status
    return anon.status, anon.header("www-authenticate"), served


def _enroll_body_is_base64(w: World, s: EstServerPeer) -> object:
    body = w.client(s, w.idevid).simpleenroll(make_csr(generate_key(), "d")).body
    try:
        codec.b64_decode(body)
    except codec.CodecError:
        return False
    return True


def _enroll_cert_count(w: World, s: EstServerPeer) -> object:
    return len(w.client(s, w.idevid).simpleenroll(make_csr(generate_key(), "d")).certs())


def _pop_wrong_binding(w: World, s: EstServerPeer) -> object:
    csr = make_csr(generate_key(), "d", challenge_password=base64.b64encode(b"\x00" * 12))
    with w.client(s, w.idevid).session() as session:
        return session.tls_version, session.simpleenroll(csr).status


def _retry_after(w: World, s: EstServerPeer) -> object:
    resp = w.client(s, w.idevid).simpleenroll(make_csr(generate_key(), "d"))
    return resp.status, resp.header("retry-after")


def _reenroll_other_subject(w: World, s: EstServerPeer) -> object:
    csr = make_csr(generate_key(), "someone-else", sans=["dev-renew.example"])
    return w.client(s, w.renewable).simplereenroll(csr).status


def _bad_signature(op: str) -> Probe:
    def probe(w: World, s: EstServerPeer) -> object:
        headers = {"Content-Type": codec.PKCS10}
        return w.client(s, w.idevid).request("POST", op, headers, _tampered_csr_body("t")).status

    return probe


def _cacerts_subjects(w: World, s: EstServerPeer) -> object:
    return sorted(c.subject.rfc4514_string() for c in w.client(s).cacerts().certs())


def _reenroll_same_subject(w: World, s: EstServerPeer) -> object:
    csr = make_csr(generate_key(), "dev-renew", sans=["dev-renew.example"])
    return w.client(s, w.renewable).simplereenroll(csr).status


def _serverkeygen_key_media(w: World, s: EstServerPeer) -> object:
    resp = w.client(s, w.idevid).serverkeygen(make_csr(generate_key(), "d"))
    return codec.parse_serverkeygen_response(resp.content_type or "", resp.body).key_media_type


def _csrattrs_status(w: World, s: EstServerPeer) -> object:
    return w.client(s, w.idevid).csrattrs().status


def _csrattrs_oids(w: World, s: EstServerPeer) -> object:
    body = w.client(s, w.idevid).csrattrs().body
    return [item.oid for item in codec.parse_csrattrs(codec.b64_decode(body))]


def _blank_csr_statuses(w: World, s: EstServerPeer) -> object:
    text = codec.b64_encode(make_csr(generate_key(), "d").public_bytes(_DER), 0)
    spaced = b" \t".join(text[i : i + 16] for i in range(0, len(text), 16))
    lines = codec.b64_encode(make_csr(generate_key(), "d").public_bytes(_DER), 64)
    c, headers = w.client(s, w.idevid), {"Content-Type": codec.PKCS10}
    return [c.request("POST", codec.SIMPLEENROLL, headers, b).status for b in (spaced, lines)]


def _error_media(w: World, s: EstServerPeer) -> object:
    headers = {"Content-Type": codec.PKCS10}
    resp = w.client(s, w.idevid).request("POST", codec.SIMPLEENROLL, headers, b"!!not base64!!")
    return resp.status, resp.media_type


def _second_handshake_resumed(w: World, s: EstServerPeer) -> object:
    peer, session = w.client(s), None
    for _ in range(2):
        with (
            socket.create_connection((peer.host, peer.port), timeout=5) as raw,
            peer.context.wrap_socket(raw, server_hostname=peer.host, session=session) as tls,
        ):
            tls.sendall(f"GET {peer.path_of(codec.CACERTS)} HTTP/1.1\r\n".encode())
            tls.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
            while tls.recv(65536):  # TLS 1.3 tickets arrive after the handshake
                pass
            resumed, session = tls.session_reused, tls.session
    return resumed


def _server_cert_key_cert_sign(w: World, s: EstServerPeer) -> object:
    peer = w.client(s)  # verifies the chain and the hostname
    with (
        socket.create_connection((peer.host, peer.port), timeout=5) as raw,
        peer.context.wrap_socket(raw, server_hostname=peer.host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def _labelled_cacerts(label: str) -> Probe:
    def probe(w: World, s: EstServerPeer) -> object:
        s.config.labels = ("second-ca",)  # read per request
        return w.client(s).request("GET", codec.operation_path(codec.CACERTS, label)).status

    return probe


def _rollover_bag_size(w: World, s: EstServerPeer) -> object:
    rollover = Pki.create().root_rollover(w.root)
    s.behaviour.extra_cacerts = [rollover.new_with_new.cert, *rollover.links()]
    return len(w.client(s).cacerts().certs())


def _fullcmc_bare_csr(w: World, s: EstServerPeer) -> object:
    csr = make_csr(generate_key(), "fullcmc-bare")
    return w.client(s, w.idevid).fullcmc(csr.public_bytes(serialization.Encoding.DER)).status


def _well_known_cacerts(w: World, s: EstServerPeer) -> object:
    return w.client(s).request("GET", f"{codec.WELL_KNOWN}/{codec.CACERTS}").status


def _weak_tls(ciphers: str, version: ssl.TLSVersion) -> Probe:
    def probe(w: World, s: EstServerPeer) -> object:
        peer = w.client(s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            peer.context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
            peer.context.minimum_version = min(version, ssl.TLSVersion.TLSv1_2)
            peer.context.maximum_version = version
        resp = peer.cacerts()
        return resp.status, resp.tls_version

    return probe


def _cert_auth(w: World, s: EstServerPeer) -> object:
    status = w.client(s, w.idevid).simpleenroll(make_csr(generate_key(), "d")).status
    return status, s.exchanges[-1].client_subject


# name -> (probe, reference value, mutant value, server behaviour both run with)
SERVER_CASES: dict[str, tuple[Probe, object, object, ServerBehaviour | None]] = {
    "cacerts-wrong-media-type": (
        _media(codec.CACERTS),
        codec.PKCS7_MIME,
        "application/octet-stream",
        None,
    ),
    "cacerts-requires-auth": (_anon_status(codec.CACERTS), 200, 401, None),
    "enroll-wrong-media-type": (
        _media(codec.SIMPLEENROLL),
        codec.PKCS7_MIME,
        "application/octet-stream",
        None,
    ),
    "enroll-not-base64": (_enroll_body_is_base64, True, False, None),
    "enroll-extra-certs": (_enroll_cert_count, 1, 2, None),
    "enroll-without-auth": (_anon_status(codec.SIMPLEENROLL), 401, 200, None),
    "no-http-auth-challenge": (
        _http_auth_challenge,
        (401, 'Basic realm="estrealm"', 200),
        (403, None, 403),
        None,
    ),
    "pop-not-checked": (
        _pop_wrong_binding,
        ("TLSv1.2", 400),
        ("TLSv1.2", 200),
        ServerBehaviour(require_pop=True),
    ),
    "pending-no-retry-after": (
        _retry_after,
        (202, "1"),
        (202, None),
        ServerBehaviour(pending=1, retry_after=1),
    ),
    "reenroll-any-subject": (_reenroll_other_subject, 400, 200, None),
    "accepts-bad-csr-signature": (_bad_signature(codec.SIMPLEENROLL), 400, 200, None),
    "csrattrs-wrong-media-type": (
        _media(codec.CSRATTRS_OPERATION),
        codec.CSRATTRS,
        "application/octet-stream",
        None,
    ),
    "serverkeygen-not-multipart": (
        _media(codec.SERVERKEYGEN),
        codec.MULTIPART_MIXED,
        codec.PKCS7_MIME,
        None,
    ),
    "serverkeygen-checks-csr-key": (_bad_signature(codec.SERVERKEYGEN), 200, 400, None),
    "cacerts-status-203": (_anon_status(codec.CACERTS), 200, 203, None),
    "cacerts-without-root": (
        _cacerts_subjects,
        ["CN=onboardcheck EST CA", "CN=onboardcheck Test Root"],
        ["CN=onboardcheck EST CA"],
        None,
    ),
    "cacerts-without-issuer": (
        _cacerts_subjects,
        ["CN=onboardcheck EST CA", "CN=onboardcheck Test Root"],
        ["CN=onboardcheck Test Root"],
        None,
    ),
    "no-simplereenroll": (_reenroll_same_subject, 200, 501, None),
    "serverkeygen-key-not-pkcs8": (
        _serverkeygen_key_media,
        codec.PKCS8,
        codec.PKCS7_SERVER_GENERATED_KEY,
        None,
    ),
    "csrattrs-status-203": (_csrattrs_status, 200, 203, None),
    "csrattrs-no-challenge-password": (
        _csrattrs_oids,
        ["1.2.840.113549.1.9.7"],
        [],
        ServerBehaviour(require_pop=True),
    ),
    "csr-blanks-refused": (_blank_csr_statuses, [200, 200], [400, 200], None),
    "error-wrong-media-type": (
        _error_media,
        (400, "text/plain"),
        (400, "application/octet-stream"),
        None,
    ),
    "no-session-resumption": (_second_handshake_resumed, True, False, None),
    "server-cert-key-cert-sign": (_server_cert_key_cert_sign, False, True, None),
    "not-under-well-known": (_well_known_cacerts, 200, 404, None),
    "label-ignored": (_labelled_cacerts("second-ca"), 200, 404, None),
    "any-label": (_labelled_cacerts(codec.SIMPLEENROLL), 404, 200, None),
    "cacerts-without-rollover-links": (_rollover_bag_size, 5, 3, None),
    "fullcmc-accepts-anything": (_fullcmc_bare_csr, 400, 200, None),
    "accepts-tls-1-0": (
        _weak_tls("ALL", ssl.TLSVersion.TLSv1),
        (0, None),
        (200, "TLSv1"),
        None,
    ),
    "accepts-null-anon-suites": (
        _weak_tls("eNULL:aNULL", ssl.TLSVersion.TLSv1_2),
        (0, None),
        (200, "TLSv1.2"),
        None,
    ),
    "no-client-cert-auth": (
        _cert_auth,
        (200, "2.5.4.5=SN-0001,CN=SN-0001"),
        (200, None),
        None,
    ),
}


def _copy(behaviour: ServerBehaviour | None) -> ServerBehaviour | None:
    if behaviour is None:
        return None
    return ServerBehaviour(**{k: getattr(behaviour, k) for k in behaviour.__dataclass_fields__})


@pytest.mark.parametrize("name", sorted(SERVER_CASES))
def test_server_mutant_differs_from_reference(world: World, name: str) -> None:
    probe, reference_value, mutant_value, behaviour = SERVER_CASES[name]
    with make_server(world.config(), _copy(behaviour)) as reference:
        assert probe(world, reference) == reference_value
    with make_server(world.config(), _copy(behaviour), name) as mutant:
        assert probe(world, mutant) == mutant_value


def test_every_server_mutant_has_a_check() -> None:
    assert set(SERVER_CASES) == set(SERVER_MUTANTS)
    assert len(SERVER_MUTANTS) >= 7


def test_make_server_accepts_mutant_in_second_place(world: World) -> None:
    peer = make_server(world.config(), "enroll-extra-certs")
    assert peer.behaviour.extra_certs_in_enroll
    with pytest.raises(KeyError):
        make_server(world.config(), mutant="no-such-mutant")


# -- client mutants: reference vs mutant run of the reference client ---------------------------


def _run(
    w: World, server: EstServerPeer, tmp: Path, action: str, mutant: str | None, **kw: object
) -> int:
    return run_action(action, w.params(server, tmp, **kw), mutant).returncode


def _both(
    w: World,
    tmp: Path,
    mutant: str,
    action: str,
    config: EstServerConfig | None = None,
    behaviour: ServerBehaviour | None = None,
    **kw: object,
) -> tuple[tuple[int, EstServerPeer], tuple[int, EstServerPeer]]:
    results = []
    for which, name in (("ref", None), ("mut", mutant)):
        with EstServerPeer(config or w.config(), _copy(behaviour)) as server:
            code = _run(w, server, tmp / which, action, name, **kw)
        results.append((code, server))
    return results[0], results[1]


def test_no_server_auth(world: World, tmp_path: Path) -> None:
    stranger = Pki.create().root_ca("Unrelated Root")
    cred = Pki.create().server_cert(stranger, "localhost", sans=["127.0.0.1"])
    (ref, ref_srv), (mut, mut_srv) = _both(
        world, tmp_path, "no-server-auth", "cacerts", world.config(cred)
    )
    assert (ref, len(ref_srv.exchanges)) == (1, 0)
    assert (mut, len(mut_srv.exchanges)) == (0, 1)


def test_no_hostname_check(world: World, tmp_path: Path) -> None:
    cred = world.pki.server_cert(world.est_ca, "otherhost.example")  # no 127.0.0.1 SAN
    (ref, _), (mut, mut_srv) = _both(
        world, tmp_path, "no-hostname-check", "cacerts", world.config(cred)
    )
    assert (ref, mut) == (1, 0) and mut_srv.exchanges[0].status == 200


def test_basic_to_unverified_server(world: World, tmp_path: Path) -> None:
    stranger = Pki.create().root_ca("Unrelated Root")
    cred = Pki.create().server_cert(stranger, "localhost", sans=["127.0.0.1"])
    (ref, ref_srv), (_, mut_srv) = _both(
        world,
        tmp_path,
        "basic-to-unverified-server",
        "enroll",
        world.config(cred),
        client_cert=None,
        client_key=None,
        username="alice",
        password="s3cret",
    )
    assert ref == 1 and ref_srv.exchanges == []
    posts = [e for e in mut_srv.exchanges if e.method == "POST"]
    assert [e.basic_user for e in posts] == [None, "alice"]  # answered the 401


def test_wrong_csr_content_type(world: World, tmp_path: Path) -> None:
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, "wrong-csr-content-type", "enroll")
    assert ref_srv.exchanges[-1].request_header("content-type") == codec.PKCS10
    assert mut_srv.exchanges[-1].request_header("content-type") == "application/octet-stream"
    assert (ref, mut, mut_srv.exchanges[-1].status) == (0, 1, 415)


def test_csr_not_base64(world: World, tmp_path: Path) -> None:
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, "csr-not-base64", "enroll")
    x509.load_der_x509_csr(codec.b64_decode(ref_srv.exchanges[-1].request_body))
    x509.load_der_x509_csr(mut_srv.exchanges[-1].request_body)  # binary DER on the wire
    assert (ref, mut, mut_srv.exchanges[-1].status) == (0, 1, 400)


def test_accepts_binary_der(world: World, tmp_path: Path) -> None:
    raw = ServerBehaviour(raw_der={codec.SIMPLEENROLL})
    (ref, _), (mut, _) = _both(world, tmp_path, "accepts-binary-der", "enroll", behaviour=raw)
    assert (ref, mut) == (1, 0)
    assert (tmp_path / "mut" / CERT_FILE).is_file() and not (tmp_path / "ref" / CERT_FILE).exists()


def test_ignores_retry_after(world: World, tmp_path: Path) -> None:
    pending = ServerBehaviour(pending=1, retry_after=1)
    (ref, ref_srv), (mut, mut_srv) = _both(
        world, tmp_path, "ignores-retry-after", "enroll", behaviour=pending
    )
    posts = {n: _posts(s) for n, s in (("ref", ref_srv), ("mut", mut_srv))}
    gap = {n: p[1].time - p[0].time for n, p in posts.items()}
    assert (ref, mut) == (0, 0)
    assert gap["ref"] >= 1.0 and gap["mut"] < 0.5


def test_reenroll_changes_subject(world: World, tmp_path: Path) -> None:
    codes = {}
    for which, name in (("ref", None), ("mut", "reenroll-changes-subject")):
        with EstServerPeer(world.config()) as server:
            assert _run(world, server, tmp_path / which, "enroll", None) == 0
            codes[which] = _run(world, server, tmp_path / which, "reenroll", name)
            last = server.exchanges[-1]
        csr = x509.load_der_x509_csr(codec.b64_decode(last.request_body))
        codes[which + "-subject"] = csr.subject.rfc4514_string()
    assert codes == {
        "ref": 0,
        "ref-subject": "CN=dev-0001",
        "mut": 1,
        "mut-subject": "CN=dev-0001-renamed",
    }


def test_pop_stale_tls_unique(world: World, tmp_path: Path) -> None:
    pop = ServerBehaviour(require_pop=True)
    (ref, _), (mut, mut_srv) = _both(
        world, tmp_path, "pop-stale-tls-unique", "enroll", behaviour=pop, pop=True
    )
    assert (ref, mut, mut_srv.exchanges[-1].status) == (0, 1, 400)


def _posts(server: EstServerPeer) -> list[Exchange]:
    return [e for e in server.exchanges if e.method == "POST"]


def _csr(exchange: Exchange) -> x509.CertificateSigningRequest:
    return x509.load_der_x509_csr(codec.b64_decode(exchange.request_body))


def test_csr_signed_with_other_key(world: World, tmp_path: Path) -> None:
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, "csr-signed-with-other-key", "enroll")
    assert [(e.status, _csr(e).is_signature_valid) for e in _posts(ref_srv)] == [(200, True)]
    # The stray-signed CSR is refused (§4.2.3), then a proper one completes the enrollment.
    assert [(e.status, _csr(e).is_signature_valid) for e in _posts(mut_srv)] == [
        (400, False),
        (200, True),
    ]
    assert (ref, mut) == (0, 0)


def test_reenroll_with_idevid(world: World, tmp_path: Path) -> None:
    seen = {}
    for which, name in (("ref", None), ("mut", "reenroll-with-idevid")):
        with EstServerPeer(world.config()) as server:
            assert _run(world, server, tmp_path / which, "enroll", None) == 0
            code = _run(world, server, tmp_path / which, "reenroll", name)
        last = server.exchanges[-1]
        seen[which] = (code, last.op, last.client_subject, last.status)
    assert seen["ref"] == (0, "simplereenroll", "CN=dev-0001", 200)
    assert seen["mut"][:2] == (1, "simplereenroll") and seen["mut"][3] == 403
    assert seen["mut"][2] == world.idevid.cert.subject.rfc4514_string()


def test_cacerts_error_installs(world: World, tmp_path: Path) -> None:
    error = ServerBehaviour(status={"cacerts": 500})
    (ref, _), (mut, _) = _both(
        world, tmp_path, "cacerts-error-installs", "cacerts", behaviour=error
    )
    assert (ref, mut) == (1, 1)
    assert not (tmp_path / "ref" / CACERTS_FILE).exists()
    assert (tmp_path / "mut" / CACERTS_FILE).read_bytes() == world.ta_pem.read_bytes()


def test_cacerts_no_path_validation(world: World, tmp_path: Path) -> None:
    stray = Pki.create().root_ca("Unrelated Root").cert
    extra = ServerBehaviour(extra_cacerts=[stray])
    (ref, _), (mut, _) = _both(
        world, tmp_path, "cacerts-no-path-validation", "cacerts", behaviour=extra
    )
    held = {
        n: set(x509.load_pem_x509_certificates((tmp_path / n / CACERTS_FILE).read_bytes()))
        for n in ("ref", "mut")
    }
    assert (ref, mut) == (0, 0)
    assert stray not in held["ref"] and stray in held["mut"]
    assert held["ref"] == {world.root.cert, world.est_ca.cert}


def test_strict_base64(world: World, tmp_path: Path) -> None:
    wrapped = ServerBehaviour(wrap_base64=" \t\r\n")
    (ref, _), (mut, _) = _both(world, tmp_path, "strict-base64", "cacerts", behaviour=wrapped)
    assert (ref, mut) == (0, 1)
    # Plain LF-wrapped lines (the server's default) it still takes.
    (ref, _), (mut, _) = _both(world, tmp_path / "lf", "strict-base64", "cacerts")
    assert (ref, mut) == (0, 0)


@pytest.mark.parametrize(
    ("mutant", "missing"), [("skips-cacerts", "cacerts"), ("skips-csrattrs", "csrattrs")]
)
def test_skips_a_request_before_enroll(
    world: World, tmp_path: Path, mutant: str, missing: str
) -> None:
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, mutant, "enroll")
    assert (ref, mut) == (0, 0)
    assert [e.op for e in ref_srv.exchanges] == ["cacerts", "csrattrs", "simpleenroll"]
    ops = [e.op for e in mut_srv.exchanges]
    assert missing not in ops and ops[-1] == "simpleenroll"


def test_refuses_root_key_update(world: World, tmp_path: Path) -> None:
    rollover = Pki.create().root_rollover(world.root)
    bag = ServerBehaviour(extra_cacerts=[rollover.new_with_new.cert, *rollover.links()])
    (ref, _), (mut, _) = _both(
        world, tmp_path, "refuses-root-key-update", "cacerts", behaviour=bag
    )
    assert (ref, mut) == (0, 1)
    held = x509.load_pem_x509_certificates((tmp_path / "ref" / CACERTS_FILE).read_bytes())
    assert rollover.new_with_new.cert in held


def test_every_client_mutant_has_a_check() -> None:
    checked = {
        "cacerts-get-with-body",
        "cacerts-keeps-roots-only",
        "copies-unknown-csrattrs",
        "tls-1-0-first",
        "enroll-basic-only",
        "csr-signed-with-other-key",
        "reenroll-with-idevid",
        "cacerts-error-installs",
        "cacerts-no-path-validation",
        "strict-base64",
        "skips-cacerts",
        "skips-csrattrs",
        "no-server-auth",
        "no-hostname-check",
        "basic-to-unverified-server",
        "wrong-csr-content-type",
        "csr-not-base64",
        "accepts-binary-der",
        "ignores-retry-after",
        "reenroll-changes-subject",
        "pop-stale-tls-unique",
        "refuses-root-key-update",
        # tests/test_est_client_auth_mutants.py
        "no-redirects",
        "accepts-tls-1-0",
        "resends-after-401",
        "basic-auth-only",
        "empty-username-no-credentials",
        # tests/test_est_client_trust.py
        "pins-first-ta",
        "implicit-ta-always-on",
        "implicit-ta-no-uri-check",
        "implicit-ta-honours-cmcra",
        "implicit-ta-kept-after-cacerts",
        "bootstrap-enrolls-provisionally",
        "bootstrap-no-fingerprint-check",
    }
    assert checked == set(CLIENT_MUTANTS) and len(CLIENT_MUTANTS) >= 5


def test_unknown_client_mutant_is_a_usage_error(world: World, tmp_path: Path) -> None:
    with EstServerPeer(world.config()) as server:
        outcome = run_action("cacerts", world.params(server, tmp_path), "no-such-mutant")
    assert outcome.returncode == 2


# -- the catalogue ---------------------------------------------------------------------------


def test_mutants_name_catalogued_requirements_of_the_right_role() -> None:
    assert CATALOGUE.is_file(), "suites/est/requirements.yaml is missing"
    roles = {r["id"]: r["role"] for r in yaml.safe_load(CATALOGUE.read_text())["requirements"]}
    for role, registry in (("server", SERVER_MUTANTS), ("client", CLIENT_MUTANTS)):
        for mutant in registry.values():
            assert mutant.breaks, mutant.name
            for req in mutant.breaks:
                assert roles.get(req) == role, f"{mutant.name}: {req} is not a {role} requirement"
