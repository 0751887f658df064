"""Direct checks of the reference EST client's TA databases and bootstrap (RFC 7030 §3.1,
§3.3.1, §3.6, §4.1.1, §4.1.3) and of the client mutants that bend them: each differs
from the reference exactly where it claims to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.crypto.pki import CertifiedKey, Pki
from harness.protocols.est import params as P
from harness.protocols.est.client_trust import CMC_RA, fingerprint_match, has_cmc_ra, names_host
from harness.protocols.est.params import EstClientParams
from harness.protocols.est.reference_client import ActionOutcome, run_action
from harness.protocols.est.server import EstServerConfig, EstServerPeer

LOCAL = ["localhost", "127.0.0.1"]


@dataclass
class Trust:
    root: CertifiedKey
    est_ca: CertifiedKey
    public_root: CertifiedKey
    creds: dict[str, CertifiedKey]
    files: dict[str, Path]

    def run(
        self, cred: str, state: Path, action: str = "cacerts", mutant: str | None = None,
        **kw: object,
    ) -> tuple[ActionOutcome, list[str]]:  # fmt: skip
        """One action against a server presenting `cred`; the ops the server received."""
        config = EstServerConfig(
            credential=self.creds[cred], ca=self.est_ca, users={"alice": "s3cret"}
        )
        with EstServerPeer(config) as server:
            values: dict[str, object] = {
                "est_url": server.base_url,
                "state_dir": state,
                "trust_anchors": self.files["root"],
                "timeout": 6.0,
                "username": "alice",
                "password": "s3cret",
            }
            values.update(kw)
            outcome = run_action(action, EstClientParams(**values), mutant)  # type: ignore[arg-type]
            return outcome, [e.op for e in server.exchanges]

    def implicit(self, enabled: bool = True) -> dict[str, object]:
        return {"implicit_tas": self.files["public"], "use_implicit_ta": enabled}


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Trust:
    tmp = tmp_path_factory.mktemp("est-trust")
    pki = Pki.create()
    root = pki.root_ca("onboardcheck Test Root")
    est_ca = pki.sub_ca(root, "onboardcheck EST CA")
    public = pki.root_ca("onboardcheck Public Root")
    creds = {
        "valid": pki.server_cert(est_ca, "localhost", sans=LOCAL),
        "cmcra": pki.server_cert(est_ca, "est.invalid", extra_ekus=[CMC_RA]),
        "implicit": pki.server_cert(public, "localhost", sans=LOCAL),
        "implicit-wrong-host": pki.server_cert(public, "est.invalid"),
        "implicit-cmcra": pki.server_cert(public, "est.invalid", extra_ekus=[CMC_RA]),
    }
    files = {"root": tmp / "root.pem", "public": tmp / "public.pem"}
    files["root"].write_bytes(root.cert_pem())
    files["public"].write_bytes(public.cert_pem())
    return Trust(root, est_ca, public, creds, files)


def test_params_round_trip(tmp_path: Path) -> None:
    params = EstClientParams(
        est_url="https://127.0.0.1:1/.well-known/est",
        state_dir=tmp_path,
        implicit_tas=tmp_path / "public.pem",
        use_implicit_ta=True,
        bootstrap_fingerprint="ab:cd",
    )
    env = params.to_env()
    assert set(env) == set(P.ALL_NAMES)
    assert EstClientParams.from_env(env) == params


def test_rfc6125_host_match(trust: Trust) -> None:
    valid, wrong = trust.creds["valid"].cert, trust.creds["implicit-wrong-host"].cert
    assert names_host(valid, "localhost") and names_host(valid, "127.0.0.1")
    assert not names_host(valid, "127.0.0.2") and not names_host(valid, "other.localhost")
    assert not names_host(wrong, "localhost")
    assert has_cmc_ra(trust.creds["cmcra"].cert) and not has_cmc_ra(valid)


def test_fingerprint_match(trust: Trust) -> None:
    der = trust.root.cert.public_bytes(Encoding.DER)
    spaced = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    certs: list[x509.Certificate] = [trust.est_ca.cert, trust.root.cert]
    assert fingerprint_match(certs, spaced) == trust.root.cert
    assert fingerprint_match(certs, "00" * 32) is None


def test_reference_databases(trust: Trust, tmp_path: Path) -> None:
    # §3.6.1: id-kp-cmcRA authorizes under the Explicit TA.
    assert trust.run("cmcra", tmp_path / "a")[0].returncode == P.EXIT_OK
    # §3.1: an implicit-only server is refused while the database is disabled ...
    assert trust.run("implicit", tmp_path / "b", **trust.implicit(False))[1] == []
    # ... and accepted when it is enabled.
    first, ops = trust.run("implicit", tmp_path / "c", trust_anchors=None, **trust.implicit())
    assert first.returncode == P.EXIT_OK and ops == ["cacerts"]
    # §4.1.3: once /cacerts gave an Explicit TA, no longer.
    assert trust.run("implicit", tmp_path / "c", trust_anchors=None, **trust.implicit())[1] == []
    # §3.6.2: under an Implicit TA the URI is checked, id-kp-cmcRA or not.
    for cred in ("implicit-wrong-host", "implicit-cmcra"):
        assert trust.run(cred, tmp_path / cred, trust_anchors=None, **trust.implicit())[1] == []


@pytest.mark.parametrize(
    ("mutant", "cred", "kw"),
    [
        ("implicit-ta-always-on", "implicit", {"use_implicit_ta": False}),
        ("implicit-ta-no-uri-check", "implicit-wrong-host", {"trust_anchors": None}),
        ("implicit-ta-honours-cmcra", "implicit-cmcra", {"trust_anchors": None}),
    ],
)
def test_implicit_mutants(
    trust: Trust, tmp_path: Path, mutant: str, cred: str, kw: dict[str, object]
) -> None:
    settings = {**trust.implicit(), **kw}
    assert trust.run(cred, tmp_path / "ref", **settings)[1] == []
    assert trust.run(cred, tmp_path / "mut", mutant=mutant, **settings)[1] == ["cacerts"]


def test_implicit_kept_after_cacerts(trust: Trust, tmp_path: Path) -> None:
    settings = {"trust_anchors": None, **trust.implicit()}
    mutant = "implicit-ta-kept-after-cacerts"
    assert trust.run("implicit", tmp_path, mutant=mutant, **settings)[1] == ["cacerts"]
    assert trust.run("implicit", tmp_path, mutant=mutant, **settings)[1] == ["cacerts"]


def test_pins_first_ta(trust: Trust, tmp_path: Path) -> None:
    public = trust.files["public"]
    for mutant, expected in ((None, ["cacerts"]), ("pins-first-ta", [])):
        state = tmp_path / (mutant or "ref")
        trust.run("valid", state, mutant=mutant)  # first designation: the EST root
        assert trust.run("implicit", state, mutant=mutant, trust_anchors=public)[1] == expected


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def test_bootstrap_reference(trust: Trust, tmp_path: Path) -> None:
    good = {"trust_anchors": None, "bootstrap_fingerprint": _fingerprint(trust.root.cert)}
    outcome, ops = trust.run("valid", tmp_path / "good", "enroll", **good)
    assert outcome.returncode == P.EXIT_OK, outcome.stderr
    assert ops[0] == "cacerts" and ops[-1] == "simpleenroll"
    assert (tmp_path / "good" / P.CACERTS_FILE).is_file()
    bad = {**good, "bootstrap_fingerprint": "00" * 32}
    outcome, ops = trust.run("valid", tmp_path / "bad", "enroll", **bad)
    assert outcome.returncode == P.EXIT_REFUSED and ops == ["cacerts"]
    # a usage error, not a connection, when the client has no way to authenticate the server
    assert trust.run("valid", tmp_path / "none", trust_anchors=None)[0].returncode == 2


def test_bootstrap_mutants(trust: Trust, tmp_path: Path) -> None:
    bad = {"trust_anchors": None, "bootstrap_fingerprint": "00" * 32}
    for mutant in ("bootstrap-no-fingerprint-check", "bootstrap-enrolls-provisionally"):
        outcome, ops = trust.run("valid", tmp_path / mutant, "enroll", mutant=mutant, **bad)
        assert "simpleenroll" in ops, (mutant, outcome.stderr)
