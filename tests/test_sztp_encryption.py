"""Encrypted conveyed information (RFC 8572 §3.1, §3.4) against the openssl CLI: what
`openssl cms -encrypt` makes decrypts here, what is made here `openssl cms -decrypt`
opens; RSA and P-256 recipients; hostile and mismatched input gives typed errors."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from harness.crypto.pki import CertifiedKey, Pki
from harness.protocols.sztp import codec
from harness.protocols.sztp.encryption import (
    DecryptionFailedError,
    EncryptionError,
    EnvelopeFormatError,
    UnsupportedAlgorithmError,
    WrongKeyError,
    decrypt_conveyed,
    decrypt_enveloped,
    encrypt_conveyed,
    is_enveloped,
)
from harness.protocols.voucher.cms import (
    ID_CT_SZTP_CONVEYED_INFO_JSON,
    ID_DATA,
    sign_cms,
    verify_cms,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl CLI is not installed")
CONTENT = b'{"ietf-sztp-conveyed-info:onboarding-information":{"configuration-handling":"merge"}}'


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertifiedKey]:
    found = {}
    for key_type in ("rsa2048", "p256"):
        pki = Pki.create(tmp_path_factory.mktemp(key_type), key_type=key_type)  # type: ignore[arg-type]
        root = pki.root_ca("onboardcheck encryption test CA")
        found[key_type] = pki.idevid(root, f"ONBC-ENC-{key_type}", model="enc")
    return found


def _files(cred: CertifiedKey, folder: Path) -> tuple[Path, Path]:
    paths = cred.write(folder, "recipient")
    return paths.cert, paths.key


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, "cms", *args], input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@needs_openssl
@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
@pytest.mark.parametrize("cipher", ["-aes128", "-aes256"])
@pytest.mark.parametrize("keyopt", [None, "oaep-or-sha256"])
def test_openssl_encrypts_we_decrypt(
    creds: dict[str, CertifiedKey], tmp_path: Path, key_type: str, cipher: str, keyopt: str | None
) -> None:
    cert, _ = _files(creds[key_type], tmp_path)
    args = ["-encrypt", "-binary", "-outform", "DER", cipher, "-recip", str(cert)]
    if keyopt:  # openssl's defaults are PKCS #1 v1.5 and a SHA-1 KDF; also the stronger ones
        args += ["-keyopt", "rsa_padding_mode:oaep" if key_type == "rsa2048"
                 else "ecdh_kdf_md:sha256"]  # fmt: skip
    der = _openssl(*args, data=CONTENT)
    assert is_enveloped(der)
    opened = decrypt_enveloped(der, creds[key_type].key)
    assert (opened.content_type, opened.content) == (ID_DATA, CONTENT)
    # id-data is allowed inside EnvelopedData (§3.1); the artifact parses as conveyed info
    unwrapped = codec.unwrap_conveyed(decrypt_conveyed(der, creds[key_type].key))
    assert unwrapped.content == CONTENT
    assert codec.parse_conveyed_json(unwrapped.content)


@needs_openssl
# RSA padding applies to RSA recipients only: one P-256 row per cipher
@pytest.mark.parametrize(("key_type", "rsa_pad"),
                         [("rsa2048", "oaep"), ("rsa2048", "pkcs1v15"), ("p256", "oaep")])
@pytest.mark.parametrize("cipher", ["aes128_cbc", "aes256_cbc"])
def test_we_encrypt_openssl_decrypts(creds: dict[str, CertifiedKey], tmp_path: Path,
                                     key_type: str, rsa_pad: str, cipher: str) -> None:  # fmt: skip
    cert, key = _files(creds[key_type], tmp_path)
    der = encrypt_conveyed(codec.wrap_unsigned(CONTENT), creds[key_type].cert,
                           rsa_pad=rsa_pad, cipher=cipher)  # fmt: skip
    (tmp_path / "enc.der").write_bytes(der)
    plain = _openssl("-decrypt", "-inform", "DER", "-in", str(tmp_path / "enc.der"),
                     "-inkey", str(key), "-recip", str(cert))  # fmt: skip
    assert plain == CONTENT
    printed = _openssl("-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "enc.der"))
    # §3.1: the encryptedContentInfo's content type is id-ct-sztpConveyedInfoJSON
    assert b"contentType: undefined (1.2.840.113549.1.9.16.1.43)" in printed, printed.decode()


@needs_openssl
def test_signed_then_encrypted_openssl_sees_the_signed_data(
        creds: dict[str, CertifiedKey], tmp_path: Path) -> None:  # fmt: skip
    """§3.4: signed, then encrypted; openssl's plaintext is the SignedData, which verifies."""
    signer = creds["p256"]
    signed = sign_cms(CONTENT, ID_CT_SZTP_CONVEYED_INFO_JSON, signer.key, signer.cert)
    der = encrypt_conveyed(signed, creds["p256"].cert)
    cert, key = _files(creds["p256"], tmp_path)
    (tmp_path / "enc.der").write_bytes(der)
    inner = _openssl("-decrypt", "-inform", "DER", "-in", str(tmp_path / "enc.der"),
                     "-inkey", str(key), "-recip", str(cert))  # fmt: skip
    printed = _openssl("-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "enc.der"))
    assert b"contentType: pkcs7-signedData" in printed, printed.decode()
    from asn1crypto import cms

    assert cms.SignedData.load(inner)["encap_content_info"]["content"].native == CONTENT
    artifact = decrypt_conveyed(der, signer.key)
    found = verify_cms(artifact, signer=signer.cert)
    assert (found.content_type, found.content) == (ID_CT_SZTP_CONVEYED_INFO_JSON, CONTENT)


# -- negative cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
def test_wrong_key(creds: dict[str, CertifiedKey], key_type: str) -> None:
    der = encrypt_conveyed(codec.wrap_unsigned(CONTENT), creds[key_type].cert)
    other = ec.generate_private_key(ec.SECP256R1()) if key_type == "p256" else None
    if other is None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        other = rsa.generate_private_key(65537, 2048)  # type: ignore[assignment]
    with pytest.raises(WrongKeyError):
        decrypt_conveyed(der, other)
    with pytest.raises(WrongKeyError, match="no recipient"):  # an RSA key for an EC recipient
        decrypt_conveyed(der, creds["p256" if key_type == "rsa2048" else "rsa2048"].key)


def _mutate(der: bytes, path: list[str], offset: int) -> bytes:
    from asn1crypto import cms

    info = cms.ContentInfo.load(der)
    node = info["content"]
    for name in path[:-1]:
        node = node[name]
    value = bytearray(node[path[-1]].native)
    value[offset] ^= 0xFF
    node[path[-1]] = bytes(value)
    return info.dump(force=True)


@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
def test_tampered_content(creds: dict[str, CertifiedKey], key_type: str) -> None:
    # 100 octets: the pad octet is 12 and sits in the last block; flipping the matching
    # octet of the block before makes it 0xF3, never valid padding
    der = encrypt_conveyed(b"x" * 100, creds[key_type].cert, content_type=ID_DATA)
    body_len = 112
    tampered = _mutate(der, ["encrypted_content_info", "encrypted_content"], body_len - 17)
    with pytest.raises(DecryptionFailedError, match="padding"):
        decrypt_enveloped(tampered, creds[key_type].key)


def test_tampered_wrapped_key_p256(creds: dict[str, CertifiedKey]) -> None:
    from asn1crypto import cms

    der = encrypt_conveyed(codec.wrap_unsigned(CONTENT), creds["p256"].cert)
    info = cms.ContentInfo.load(der)
    kari = info["content"]["recipient_infos"][0].chosen
    rek = kari["recipient_encrypted_keys"][0]
    rek["encrypted_key"] = bytes(b ^ 1 for b in rek["encrypted_key"].native)
    with pytest.raises(WrongKeyError):  # AES key unwrap's integrity check (RFC 3394)
        decrypt_conveyed(info.dump(force=True), creds["p256"].key)


def test_tampered_encrypted_key_rsa_oaep(creds: dict[str, CertifiedKey]) -> None:
    der = encrypt_conveyed(codec.wrap_unsigned(CONTENT), creds["rsa2048"].cert)
    from asn1crypto import cms

    info = cms.ContentInfo.load(der)
    ktri = info["content"]["recipient_infos"][0].chosen
    value = bytearray(ktri["encrypted_key"].native)
    value[5] ^= 0x55
    ktri["encrypted_key"] = bytes(value)
    with pytest.raises(WrongKeyError):
        decrypt_conveyed(info.dump(force=True), creds["rsa2048"].key)


@needs_openssl
def test_auth_enveloped_data_unsupported(creds: dict[str, CertifiedKey], tmp_path: Path) -> None:
    cert, _ = _files(creds["p256"], tmp_path)
    der = _openssl("-encrypt", "-binary", "-outform", "DER", "-aes-128-gcm", "-recip", str(cert),
                   data=CONTENT)  # fmt: skip
    with pytest.raises(UnsupportedAlgorithmError, match="AuthEnvelopedData"):
        decrypt_conveyed(der, creds["p256"].key)


@needs_openssl
def test_unsupported_content_cipher(creds: dict[str, CertifiedKey], tmp_path: Path) -> None:
    for key_type, what in (("rsa2048", "content encryption"), ("p256", "key wrap")):
        cert, _ = _files(creds[key_type], tmp_path)  # EC: openssl wraps with 3DES as well
        der = _openssl("-encrypt", "-binary", "-outform", "DER", "-des3", "-recip", str(cert),
                       data=CONTENT)  # fmt: skip
        with pytest.raises(UnsupportedAlgorithmError, match=what):
            decrypt_conveyed(der, creds[key_type].key)


def test_unsupported_choices(creds: dict[str, CertifiedKey]) -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        encrypt_conveyed(CONTENT, creds["p256"].cert, content_type=ID_DATA, cipher="des3")
    with pytest.raises(UnsupportedAlgorithmError):
        encrypt_conveyed(CONTENT, creds["rsa2048"].cert, content_type=ID_DATA, rsa_pad="none")


def test_not_conveyed_content_type(creds: dict[str, CertifiedKey]) -> None:
    der = encrypt_conveyed(CONTENT, creds["p256"].cert, content_type="1.2.3.4")
    with pytest.raises(EnvelopeFormatError, match="not conveyed information"):
        decrypt_conveyed(der, creds["p256"].key)


@pytest.mark.parametrize("garbage", [
    b"", b"\x00", b"garbage", b"\x30\x03\x02\x01\x00", b"\x30\x80",
    codec.wrap_unsigned(CONTENT),  # unencrypted: not an EnvelopedData
    codec.certs_only([]),
])  # fmt: skip
def test_garbage(creds: dict[str, CertifiedKey], garbage: bytes) -> None:
    assert not is_enveloped(garbage)
    with pytest.raises(EnvelopeFormatError):
        decrypt_conveyed(garbage, creds["p256"].key)


def test_truncated_and_flipped_everywhere(creds: dict[str, CertifiedKey]) -> None:
    """Every truncation and every single flipped octet: an EncryptionError or, when the
    flip lands where nothing is checked (CBC plaintext, unused fields), content back."""
    der = encrypt_conveyed(codec.wrap_unsigned(CONTENT), creds["p256"].cert)
    for cut in range(0, len(der), 7):
        with pytest.raises(EncryptionError):
            decrypt_conveyed(der[:cut], creds["p256"].key)
    for at in range(len(der)):
        broken = bytearray(der)
        broken[at] ^= 0x80
        with contextlib.suppress(EncryptionError):
            decrypt_conveyed(bytes(broken), creds["p256"].key)


def test_bad_key_object(creds: dict[str, CertifiedKey]) -> None:
    der = encrypt_conveyed(codec.wrap_unsigned(CONTENT), creds["p256"].cert)
    with pytest.raises(UnsupportedAlgorithmError):
        decrypt_conveyed(der, "not a key")
