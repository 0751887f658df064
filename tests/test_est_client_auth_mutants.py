"""Direct checks of the client mutants for redirects and HTTP authentication (RFC 7030
§3.2.1, §3.2.3): each one, run next to the reference client against the same server
peer, behaves differently in exactly the way its description says."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from harness.protocols.est.server import EstServerPeer
from harness.protocols.est.server_ops import ServerBehaviour
from tests.test_est_mutants import World, _both, make_world

TLS_1_0_ONLY = dict(min_tls=ssl.TLSVersion.TLSv1, max_tls=ssl.TLSVersion.TLSv1,
                    ciphers="DEFAULT:@SECLEVEL=0")  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("est-auth-mutants"))


def _ops(server: EstServerPeer) -> list[tuple[str, int | None]]:
    return [(e.path, e.status) for e in server.exchanges]


def test_no_redirects(world: World, tmp_path: Path) -> None:
    moved = ServerBehaviour(redirect={"cacerts": 302})
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, "no-redirects", "cacerts",
                                           behaviour=moved)  # fmt: skip
    assert (ref, mut) == (0, 1)
    assert [s for _, s in _ops(ref_srv)] == [302, 200]
    assert [s for _, s in _ops(mut_srv)] == [302]


def test_accepts_tls_1_0(world: World, tmp_path: Path) -> None:
    legacy = ServerBehaviour(require_basic=True, **TLS_1_0_ONLY)  # type: ignore[arg-type]
    (ref, ref_srv), (_, mut_srv) = _both(world, tmp_path, "accepts-tls-1-0", "enroll",
                                         behaviour=legacy, username="alice",
                                         password="s3cret")  # fmt: skip
    assert ref == 1 and ref_srv.exchanges == []  # no TLS 1.0 handshake at all
    assert any(e.basic_user == "alice" and e.tls_version == "TLSv1" for e in mut_srv.exchanges)


def test_resends_after_401(world: World, tmp_path: Path) -> None:
    challenge = ServerBehaviour(require_basic=True)
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, "resends-after-401", "enroll",
                                           behaviour=challenge, username="",
                                           password="")  # fmt: skip
    assert (ref, mut) == (1, 1)
    posts = lambda s: [e for e in s.exchanges if e.method == "POST"]  # noqa: E731
    assert [e.status for e in posts(ref_srv)] == [401]
    assert [e.status for e in posts(mut_srv)] == [401, 401, 401]


def test_basic_auth_only(world: World, tmp_path: Path) -> None:
    digest = ServerBehaviour(require_basic=True, auth_schemes=("Digest",))
    (ref, _), (mut, mut_srv) = _both(world, tmp_path, "basic-auth-only", "enroll",
                                     behaviour=digest, username="alice",
                                     password="s3cret")  # fmt: skip
    assert (ref, mut) == (0, 1)
    assert all(e.status == 401 for e in mut_srv.exchanges if e.method == "POST")


def test_empty_username_no_credentials(world: World, tmp_path: Path) -> None:
    config = world.config()
    config.users = {"": "s3cret"}
    basic = ServerBehaviour(require_basic=True)
    (ref, ref_srv), (mut, mut_srv) = _both(world, tmp_path, "empty-username-no-credentials",
                                           "enroll", config, basic, username="",
                                           password="s3cret")  # fmt: skip
    assert (ref, mut) == (0, 1)
    assert any(e.basic_user == "" and e.status == 200 for e in ref_srv.exchanges)
    assert not any(e.basic_user is not None for e in mut_srv.exchanges)
