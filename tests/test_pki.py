"""PKI factory, checked by an independent implementation: the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from harness.crypto.pki import (
    IDEVID_NOT_AFTER,
    CertifiedKey,
    Pki,
    PkiError,
    challenge_password,
    expired_window,
    future_window,
    generate_key,
    make_csr,
)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not found")


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=30
    )
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {args} failed: {result.stdout}{result.stderr}")
    return result


def write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def verify(tmp_path: Path, root: CertifiedKey, leaf: CertifiedKey, *extra: str):
    root_paths = root.write(tmp_path, "root")
    leaf_paths = leaf.write(tmp_path, "leaf")
    return openssl(
        "verify",
        *extra,
        "-CAfile",
        root_paths.cert,
        "-untrusted",
        leaf_paths.chain,
        leaf_paths.cert,
        check=False,
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create()


@pytest.fixture(scope="module")
def hierarchy(pki: Pki) -> tuple[CertifiedKey, CertifiedKey]:
    root = pki.root_ca("onboardcheck Test Root")
    return root, pki.sub_ca(root, "onboardcheck EST CA")


@pytest.mark.parametrize("key_type", ["p256", "p384", "rsa2048"])
def test_server_and_client_certs_verify(tmp_path: Path, key_type: str) -> None:
    pki = Pki.create(key_type=key_type)  # type: ignore[arg-type]
    root = pki.root_ca("Root " + key_type)
    sub = pki.sub_ca(root, "Sub " + key_type)
    server = pki.server_cert(sub, "localhost", sans=["localhost", "127.0.0.1", "::1"])
    client = pki.client_cert(sub, "client-1")
    assert server.chain == [sub.cert, root.cert]
    ok = verify(tmp_path, root, server, "-purpose", "sslserver")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ok = verify(tmp_path, root, client, "-purpose", "sslclient")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # EKU is enforced: the server certificate is not a TLS client certificate.
    wrong = verify(tmp_path, root, server, "-purpose", "sslclient")
    assert wrong.returncode != 0


def test_server_sans_as_openssl_shows_them(tmp_path: Path, hierarchy) -> None:
    root, sub = hierarchy
    server = Pki().server_cert(sub, "est.test", sans=["est.test", "198.18.0.1", "2001:2::1"])
    paths = server.write(tmp_path, "srv")
    text = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", paths.cert).stdout
    assert "DNS:est.test" in text
    assert "IP Address:198.18.0.1" in text
    assert "IP Address:2001:2:0:0:0:0:0:1" in text
    # The hostname check of an independent verifier, not just the SAN listing.
    ok = openssl(
        "verify",
        "-CAfile",
        root.write(tmp_path, "r").cert,
        "-untrusted",
        paths.chain,
        "-verify_hostname",
        "est.test",
        paths.cert,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    bad = openssl(
        "verify",
        "-CAfile",
        tmp_path / "r.crt",
        "-untrusted",
        paths.chain,
        "-verify_hostname",
        "other.test",
        paths.cert,
        check=False,
    )
    assert bad.returncode != 0


def test_second_root_is_untrusted(tmp_path: Path, pki: Pki, hierarchy) -> None:
    root, _ = hierarchy
    other_root = pki.root_ca("onboardcheck Untrusted Root")
    stranger = pki.client_cert(pki.sub_ca(other_root, "Untrusted CA"), "stranger")
    result = verify(tmp_path, root, stranger)
    assert result.returncode != 0
    # The stranger's chain file ends in its own root, which openssl reports as such.
    assert "self-signed certificate in certificate chain" in result.stdout + result.stderr


def test_expired_and_not_yet_valid(tmp_path: Path, pki: Pki, hierarchy) -> None:
    root, sub = hierarchy
    expired = pki.client_cert(sub, "old", validity=expired_window())
    result = verify(tmp_path, root, expired)
    assert result.returncode != 0
    assert "certificate has expired" in result.stdout + result.stderr
    future = pki.server_cert(sub, "later", validity=future_window())
    result = verify(tmp_path, root, future)
    assert result.returncode != 0
    assert "certificate is not yet valid" in result.stdout + result.stderr


def test_path_length_zero_sub_ca_cannot_issue_ca(tmp_path: Path, pki: Pki, hierarchy) -> None:
    root, sub = hierarchy
    leaf = pki.client_cert(pki.sub_ca(sub, "too deep"), "leaf")
    result = verify(tmp_path, root, leaf)
    assert result.returncode != 0
    assert "path length constraint exceeded" in result.stdout + result.stderr


def test_idevid_is_8021ar_style(tmp_path: Path, pki: Pki, hierarchy) -> None:
    root, sub = hierarchy
    idevid = pki.idevid(sub, "SN-0001", model="Reference")
    paths = idevid.write(tmp_path, "idevid")
    subject = openssl("x509", "-noout", "-subject", "-in", paths.cert).stdout
    assert "serialNumber = SN-0001" in subject
    # 802.1AR's "no expiry" notAfter, as GeneralizedTime 99991231235959Z on the wire.
    dump = openssl("asn1parse", "-in", paths.cert).stdout
    assert "GENERALIZEDTIME   :99991231235959Z" in dump
    assert idevid.cert.not_valid_after_utc == IDEVID_NOT_AFTER
    text = openssl("x509", "-noout", "-text", "-in", paths.cert).stdout
    assert "CA:FALSE" in text
    assert "Digital Signature" in text
    assert verify(tmp_path, root, idevid).returncode == 0
    # `serial=` is the spelling of docs/architecture.md.
    alias = pki.idevid(sub, serial="SN-0002")
    assert alias.cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "SN-0002"


def test_write_files(tmp_path: Path, hierarchy) -> None:
    _, sub = hierarchy
    leaf = Pki().client_cert(sub, "files")
    paths = leaf.write(tmp_path / "out", "leaf")
    assert paths.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert paths.bundle.read_bytes() == paths.cert.read_bytes() + paths.chain.read_bytes()
    assert paths.chain.read_bytes().count(b"BEGIN CERTIFICATE") == 2
    key_pub = openssl("pkey", "-in", paths.key, "-pubout").stdout
    cert_pub = openssl("x509", "-in", paths.cert, "-noout", "-pubkey").stdout
    assert key_pub == cert_pub
    finger = openssl("x509", "-in", paths.cert, "-noout", "-fingerprint", "-sha256").stdout
    assert finger.strip().split("=", 1)[1].replace(":", "").lower() == leaf.fingerprint_sha256()


def test_pki_directory_write(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    paths = pki.write(pki.root_ca("dir root"), "root")
    assert paths.cert.parent == tmp_path and paths.cert.exists()
    with pytest.raises(PkiError):
        Pki.create().write(pki.root_ca("x"), "x")


@pytest.mark.parametrize("password", ["s3cret-Pass", "pässwort; 42 \u2603"])
def test_csr_with_challenge_password(tmp_path: Path, password: str) -> None:
    csr = make_csr(
        generate_key("p256"),
        "device-7",
        challenge_password=password,
        sans=["device-7.test", "198.18.0.7"],
    )
    path = write_pem(tmp_path / "csr.pem", csr.public_bytes(serialization.Encoding.PEM))
    openssl("req", "-verify", "-noout", "-in", path)
    text = openssl("req", "-text", "-noout", "-nameopt", "utf8", "-in", path).stdout
    assert "challengePassword" in text
    dump = openssl("asn1parse", "-in", path).stdout
    # RFC 2985 DirectoryString choice: PrintableString where it fits, else UTF8String.
    if password.isascii() and ";" not in password:
        assert f"PRINTABLESTRING   :{password}" in dump
    else:
        assert "UTF8STRING" in dump
    assert challenge_password(csr) == password.encode("utf-8")


def test_csr_without_password_and_bad_key_type() -> None:
    csr = make_csr(generate_key("p384"), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")]))
    assert challenge_password(csr) is None
    assert csr.is_signature_valid
    with pytest.raises(PkiError):
        generate_key("ed25519")  # type: ignore[arg-type]


def test_issue_from_csr_copies_subject_and_san(tmp_path: Path, pki: Pki, hierarchy) -> None:
    root, sub = hierarchy
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "pledge"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "PID-9"),
        ]
    )
    csr = make_csr(generate_key("p256"), subject, sans=["pledge.test"])
    cert = pki.issue_from_csr(sub, csr, days=30)
    ldevid = pki.ldevid_from_csr(sub, csr)
    cert_path = write_pem(tmp_path / "ee.pem", cert.public_bytes(serialization.Encoding.PEM))
    chain = write_pem(tmp_path / "chain.pem", sub.cert_pem() + sub.chain_pem())
    root_path = root.write(tmp_path, "root").cert
    result = openssl(
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        root_path,
        "-untrusted",
        chain,
        cert_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = openssl("x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", cert_path).stdout
    assert "CN = pledge, serialNumber = PID-9" in shown
    assert "DNS:pledge.test" in shown
    assert ldevid.subject == csr.subject
    assert cert.public_key() == csr.public_key()


def test_issue_from_csr_rejects_bad_signature(pki: Pki, hierarchy) -> None:
    _, sub = hierarchy
    good = make_csr(generate_key("p256"), "tamper").public_bytes(serialization.Encoding.DER)
    # Flip the last byte of the signature: the CSR still parses but no longer verifies.
    tampered = x509.load_der_x509_csr(good[:-1] + bytes([good[-1] ^ 0x01]))
    with pytest.raises(PkiError):
        pki.issue_from_csr(sub, tampered)
