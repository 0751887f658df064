"""DPP crypto and Connectors against published vectors and a real wpa_supplicant.

Expected values come from vectors/dpp/*.json (DPP spec Appendix B via iwd/hostap,
RFC 5297 Appendix A) or from wpa_supplicant's own output; none is computed here with
the code under test.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from harness.protocols.dpp import connector as conn
from harness.protocols.dpp import crypto as dc
from harness.vectors import load_vector

P256 = dc.CURVES["P-256"]


def _hex(vector: dict, section: str, name: str) -> bytes:
    return bytes.fromhex(vector[section][name])


# --- DPP Appendix B.1: P-256 mutual authentication ----------------------------------------

@pytest.fixture(scope="module")
def b1() -> dict:
    return load_vector("dpp", "auth_p256_mutual_B1")


@pytest.fixture(scope="module")
def b1_keys(b1: dict) -> dict[str, ec.EllipticCurvePrivateKey]:
    inputs = b1["inputs"]
    return {name: dc.private_from_hex(P256, inputs[f"{name}_private"])
            for name in ("R_proto", "R_boot", "I_proto", "I_boot")}


@pytest.mark.parametrize("name", ["R_proto", "R_boot", "I_proto", "I_boot"])
def test_b1_public_keys_match_private_keys(b1, b1_keys, name):
    assert dc.point_xy(b1_keys[name]) == _hex(b1, "inputs", f"{name}_public_xy")
    assert dc.point_xy(dc.point_from_xy(P256, _hex(b1, "inputs", f"{name}_public_xy"))) \
        == _hex(b1, "inputs", f"{name}_public_xy")


@pytest.mark.parametrize("name", ["R_boot", "I_boot"])
def test_b1_spki_der_matches(b1, b1_keys, name):
    der = _hex(b1, "inputs", f"{name}_asn1_spki")
    assert dc.spki_der(b1_keys[name]) == der
    assert dc.point_xy(dc.public_from_spki(der)) == _hex(b1, "inputs", f"{name}_public_xy")


def test_b1_m_n_l(b1, b1_keys):
    k = b1_keys
    assert dc.ecdh_x(k["R_boot"], k["I_proto"].public_key()) == _hex(b1, "expected", "Mx")
    assert dc.ecdh_x(k["R_proto"], k["I_proto"].public_key()) == _hex(b1, "expected", "Nx")
    lx = _hex(b1, "expected", "Lx")
    assert dc.lx_responder(k["R_boot"], k["R_proto"], k["I_boot"].public_key()) == lx
    assert dc.lx_initiator(k["I_boot"], k["R_boot"].public_key(),
                           k["R_proto"].public_key()) == lx


def test_b1_m_from_initiator_side(b1, b1_keys):
    # the initiator computes M = pI * BR: same x as bR * PI
    k = b1_keys
    assert dc.ecdh_x(k["I_proto"], k["R_boot"].public_key()) == _hex(b1, "expected", "Mx")


def test_b1_key_schedule(b1):
    mx, nx, lx = (_hex(b1, "expected", n) for n in ("Mx", "Nx", "Lx"))
    i_nonce, r_nonce = _hex(b1, "inputs", "I_nonce"), _hex(b1, "inputs", "R_nonce")
    assert dc.k1(P256, mx) == _hex(b1, "expected", "k1")
    assert dc.k2(P256, nx) == _hex(b1, "expected", "k2")
    assert dc.ke(P256, i_nonce, r_nonce, mx, nx, lx) == _hex(b1, "expected", "ke")


def test_b1_auth_tags(b1):
    x = {n: _hex(b1, "inputs", f"{n}_public_xy")[:32]
         for n in ("I_proto", "R_proto", "I_boot", "R_boot")}
    i_nonce, r_nonce = _hex(b1, "inputs", "I_nonce"), _hex(b1, "inputs", "R_nonce")
    assert dc.r_auth(P256, i_nonce, r_nonce, x["I_proto"], x["R_proto"], x["I_boot"],
                     x["R_boot"]) == _hex(b1, "expected", "R_auth")
    assert dc.i_auth(P256, r_nonce, i_nonce, x["R_proto"], x["I_proto"], x["R_boot"],
                     x["I_boot"]) == _hex(b1, "expected", "I_auth")


# --- DPP Appendix B.2: P-256 responder-only authentication ------------------------------

def test_b2_responder_only():
    v = load_vector("dpp", "auth_p256_responder_only_B2")
    r_proto = dc.private_from_hex(P256, v["inputs"]["R_proto_private"])
    r_boot = dc.private_from_hex(P256, v["inputs"]["R_boot_private"])
    assert dc.point_xy(r_proto) == _hex(v, "inputs", "R_proto_public_xy")
    assert dc.point_xy(r_boot) == _hex(v, "inputs", "R_boot_public_xy")
    assert dc.spki_der(r_boot) == _hex(v, "inputs", "R_boot_asn1_spki")
    p_i = dc.point_from_xy(P256, _hex(v, "inputs", "I_proto_public_xy"))
    mx, nx = dc.ecdh_x(r_boot, p_i), dc.ecdh_x(r_proto, p_i)
    assert mx == _hex(v, "expected", "Mx")
    assert nx == _hex(v, "expected", "Nx")
    assert dc.k1(P256, mx) == _hex(v, "expected", "k1")
    assert dc.k2(P256, nx) == _hex(v, "expected", "k2")
    i_nonce, r_nonce = _hex(v, "inputs", "I_nonce"), _hex(v, "inputs", "R_nonce")
    assert dc.ke(P256, i_nonce, r_nonce, mx, nx, None) == _hex(v, "expected", "ke")
    pi_x, pr_x, br_x = dc.point_x(p_i), dc.point_x(r_proto), dc.point_x(r_boot)
    assert dc.r_auth(P256, i_nonce, r_nonce, pi_x, pr_x, None, br_x) \
        == _hex(v, "expected", "R_auth")
    assert dc.i_auth(P256, r_nonce, i_nonce, pr_x, pi_x, br_x, None) \
        == _hex(v, "expected", "I_auth")


# --- AES-SIV: RFC 5297 Appendix A ---------------------------------------------------------

def _siv_case(name: str) -> tuple[bytes, list[bytes], bytes, dict]:
    v = load_vector("dpp", name)
    ad = [_hex(v, "inputs", n) for n in ("ad", "ad1", "ad2", "nonce") if n in v["inputs"]]
    return _hex(v, "inputs", "key"), ad, _hex(v, "inputs", "plaintext"), v


@pytest.mark.parametrize("name", ["rfc5297_a1_aes_siv", "rfc5297_a2_aes_siv"])
def test_aes_siv_rfc5297(name):
    key, ad, plaintext, v = _siv_case(name)
    wrapped = dc.wrap(key, plaintext, ad)
    assert wrapped == _hex(v, "expected", "output")
    # the SIV leads, the ciphertext follows (RFC 5297 "IV || C")
    assert wrapped[:16] == _hex(v, "expected", "cmac_final")
    assert wrapped[16:] == _hex(v, "expected", "ciphertext")
    assert dc.unwrap(key, wrapped, ad) == plaintext


@pytest.fixture
def a1() -> tuple[bytes, list[bytes], bytes, bytes]:
    key, ad, plaintext, v = _siv_case("rfc5297_a1_aes_siv")
    return key, ad, plaintext, _hex(v, "expected", "output")


@pytest.mark.parametrize("bit", [0, 7, 8 * 15 + 3, 8 * 16, 8 * 29 + 7])
def test_unwrap_rejects_flipped_bit(a1, bit):
    key, ad, _, wrapped = a1
    altered = bytearray(wrapped)
    altered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(dc.UnwrapError):
        dc.unwrap(key, bytes(altered), ad)


def test_unwrap_rejects_wrong_ad(a1):
    key, ad, _, wrapped = a1
    with pytest.raises(dc.UnwrapError):
        dc.unwrap(key, wrapped, [ad[0][:-1] + b"\x00"])
    with pytest.raises(dc.UnwrapError):
        dc.unwrap(key, wrapped, [])
    with pytest.raises(dc.UnwrapError):
        dc.unwrap(key, wrapped, [*ad, b""])


def test_unwrap_rejects_swapped_ad_order():
    key, ad, _, v = _siv_case("rfc5297_a2_aes_siv")
    with pytest.raises(dc.UnwrapError):
        dc.unwrap(key, _hex(v, "expected", "output"), [ad[1], ad[0], ad[2]])


def test_unwrap_rejects_wrong_key(a1):
    key, ad, _, wrapped = a1
    with pytest.raises(dc.UnwrapError):
        dc.unwrap(bytes([key[0] ^ 0x80]) + key[1:], wrapped, ad)


def test_unwrap_rejects_short_data_and_bad_key_length(a1):
    key, ad, _, wrapped = a1
    with pytest.raises(dc.UnwrapError, match="shorter than the SIV"):
        dc.unwrap(key, wrapped[:15], ad)
    with pytest.raises(dc.DppCryptoError, match="32, 48 or 64"):
        dc.unwrap(key[:16], wrapped, ad)
    with pytest.raises(dc.DppCryptoError, match="32, 48 or 64"):
        dc.wrap(b"", b"x", [])


@pytest.mark.parametrize("key_len", [32, 48, 64])
def test_wrap_roundtrip_key_sizes(key_len):
    key = bytes(range(key_len))
    ad = [b"\x50\x6f\x9a\x1a\x01\x01", b"\x00\x10\x01\x00\x00"]
    wrapped = dc.wrap(key, b"clear attributes", ad)
    assert len(wrapped) == 16 + len(b"clear attributes")
    assert dc.unwrap(key, wrapped, ad) == b"clear attributes"


# --- points, keys, curves -------------------------------------------------------------------

def test_point_from_xy_rejects_point_off_curve(b1):
    xy = bytearray(_hex(b1, "inputs", "R_proto_public_xy"))
    xy[-1] ^= 0x01
    with pytest.raises(dc.DppCryptoError, match="not a point on P-256"):
        dc.point_from_xy(P256, bytes(xy))
    with pytest.raises(dc.DppCryptoError):
        dc.point_from_xy(P256, b"\x00" * 64)


@pytest.mark.parametrize("length", [0, 32, 63, 65, 96])
def test_point_from_xy_rejects_wrong_length(b1, length):
    xy = (_hex(b1, "inputs", "R_proto_public_xy") * 2)[:length]
    with pytest.raises(dc.DppCryptoError, match="must be 64 octets"):
        dc.point_from_xy(P256, xy)


def test_point_from_xy_rejects_p384_point_as_p256():
    xy = dc.point_xy(dc.generate_key(dc.CURVES["P-384"]))
    with pytest.raises(dc.DppCryptoError):
        dc.point_from_xy(P256, xy)


def test_curves_table():
    assert [(c.name, c.group, c.nonce_len, c.prime_len, c.hash_len, c.jws_alg)
            for c in dc.CURVES.values()] == [
        ("P-256", 19, 16, 32, 32, "ES256"), ("P-384", 20, 24, 48, 48, "ES384"),
        ("P-521", 21, 32, 66, 64, "ES512"), ("BP-256", 28, 16, 32, 32, "BS256"),
        ("BP-384", 29, 24, 48, 48, "BS384"), ("BP-512", 30, 32, 64, 64, "BS512")]
    assert dc.curve_by_group(21).name == "P-521"
    assert dc.curve_by_name("prime256v1") is P256
    assert dc.curve_by_name("brainpoolP384r1").name == "BP-384"
    with pytest.raises(dc.DppCryptoError):
        dc.curve_by_group(25)
    with pytest.raises(dc.DppCryptoError):
        dc.curve_by_name("secp256k1")


@pytest.mark.parametrize("curve", list(dc.CURVES.values()), ids=list(dc.CURVES))
def test_curve_order_and_prime(curve):
    # order: the largest scalar OpenSSL accepts; prime: point sums agree with scalar sums
    dc._private_from_int(curve, curve.order - 1)
    with pytest.raises(dc.DppCryptoError):
        dc._private_from_int(curve, curve.order)
    a, b, c = (dc.generate_key(curve) for _ in range(3))
    via_sum = dc.lx_initiator(c, a.public_key(), b.public_key())
    total = (a.private_numbers().private_value + b.private_numbers().private_value)
    via_scalar = dc.ecdh_x(c, dc._private_from_int(curve, total % curve.order).public_key())
    assert via_sum == via_scalar
    assert len(via_sum) == curve.prime_len
    assert dc.lx_responder(a, b, c.public_key()) == via_sum


def test_lx_initiator_when_boot_and_protocol_keys_coincide():
    b_r, b_i = dc.generate_key(P256), dc.generate_key(P256)
    assert dc.lx_initiator(b_i, b_r.public_key(), b_r.public_key()) \
        == dc.lx_responder(b_r, b_r, b_i.public_key())
    minus = ec.EllipticCurvePublicNumbers(
        b_r.public_key().public_numbers().x, P256.p - b_r.public_key().public_numbers().y,
        P256.ec).public_key()
    with pytest.raises(dc.DppCryptoError, match="infinity"):
        dc.lx_initiator(b_i, b_r.public_key(), minus)


def test_private_from_hex_rejects_bad_input():
    with pytest.raises(dc.DppCryptoError, match="not hex"):
        dc.private_from_hex(P256, "zz" * 32)
    with pytest.raises(dc.DppCryptoError, match="32 octets"):
        dc.private_from_hex(P256, "01" * 31)
    with pytest.raises(dc.DppCryptoError, match="out of range"):
        dc.private_from_hex(P256, "00" * 32)
    with pytest.raises(dc.DppCryptoError, match="out of range"):
        dc.private_from_hex(P256, "ff" * 32)


def test_keys_on_other_curves_and_types_are_refused():
    k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(dc.DppCryptoError, match="not a DPP curve"):
        dc.curve_of(k1)
    spki = k1.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(dc.DppCryptoError, match="not a DPP curve"):
        dc.public_from_spki(spki)
    rsa_spki = rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(dc.DppCryptoError, match="not EC"):
        dc.public_from_spki(rsa_spki)
    for junk in (b"", b"\x30\x03\x02\x01\x00", bytes(59)):
        with pytest.raises(dc.DppCryptoError, match="does not parse"):
            dc.public_from_spki(junk)
    with pytest.raises(dc.DppCryptoError, match="different curves"):
        dc.ecdh_x(dc.generate_key(P256), dc.generate_key(dc.CURVES["P-384"]).public_key())
    with pytest.raises(dc.DppCryptoError, match="not an EC key"):
        dc.curve_of(b"key")


@pytest.mark.parametrize("curve", list(dc.CURVES.values()), ids=list(dc.CURVES))
def test_spki_der_is_compressed_and_parses(curve):
    key = dc.generate_key(curve)
    der = dc.spki_der(key)
    assert der[-(curve.prime_len + 1)] in (2, 3)  # compressed point prefix
    assert dc.point_xy(dc.public_from_spki(der)) == dc.point_xy(key)
    assert dc.private_from_der(dc.private_der(key)).private_numbers() == key.private_numbers()


# --- JWK, configuration objects ------------------------------------------------------------

@pytest.mark.parametrize("curve", list(dc.CURVES.values()), ids=list(dc.CURVES))
def test_jwk_roundtrip(curve):
    pub = dc.generate_key(curve).public_key()
    jwk = conn.jwk_of(pub, kid="k1")
    assert jwk["crv"] == curve.name and jwk["kid"] == "k1"
    assert len(conn.b64url_decode(jwk["x"])) == curve.prime_len
    assert dc.point_xy(conn.public_from_jwk(jwk)) == dc.point_xy(pub)


def test_public_from_jwk_rejects(b1):
    good = conn.jwk_of(dc.point_from_xy(P256, _hex(b1, "inputs", "R_boot_public_xy")))
    bad_y = conn.b64url(bytes([conn.b64url_decode(good["y"])[0] ^ 1])
                        + conn.b64url_decode(good["y"])[1:])
    for jwk, why in [({**good, "kty": "RSA"}, "kty"), ({**good, "crv": "P-192"}, "crv"),
                     ({**good, "x": good["x"][:-3]}, "32 octets"), ({**good, "y": bad_y},
                                                                   "not a point"),
                     ({k: v for k, v in good.items() if k != "y"}, "missing 'y'"),
                     ({**good, "x": "***"}, "base64url"), ({**good, "x": 5}, "must be str"),
                     ([], "JSON object")]:
        with pytest.raises(dc.DppCryptoError, match=why):
            conn.public_from_jwk(jwk)  # type: ignore[arg-type]


def test_config_object_roundtrip():
    csign = conn.jwk_of(dc.generate_key(P256).public_key(), kid="abc")
    obj = conn.ConfigObject(ssid="test net", akm="dpp+psk+sae", passphrase="secret passphrase",
                            connector="a.b.c", csign=csign)
    data = conn.config_object_json(obj)
    root = json.loads(data)
    assert root["wi-fi_tech"] == "infra" and root["discovery"] == {"ssid": "test net"}
    assert root["cred"] == {"akm": "dpp+psk+sae", "pass": "secret passphrase",
                            "signedConnector": "a.b.c", "csign": csign}
    parsed = conn.parse_config_object(data)
    assert (parsed.ssid, parsed.akm, parsed.passphrase, parsed.connector, parsed.csign) == \
        ("test net", "dpp+psk+sae", "secret passphrase", "a.b.c", csign)
    assert parsed.raw == root


def test_config_object_ssid64():
    data = b'{"wi-fi_tech":"infra","discovery":{"ssid64":"dGVzdA"},"cred":{"akm":"psk"}}'
    assert conn.parse_config_object(data).ssid == "test"


@pytest.mark.parametrize("data, why", [
    (b"", "not JSON"), (b"\xff", "not JSON"), (b"[1]", "JSON object"), (b"{", "not JSON"),
    (b'{"discovery":{"ssid":"a"},"cred":{"akm":"dpp"}}', "wi-fi_tech"),
    (b'{"wi-fi_tech":"infra","discovery":{},"cred":{"akm":"dpp"}}', "ssid"),
    (b'{"wi-fi_tech":"infra","discovery":{"ssid":"a"},"cred":{}}', "akm"),
    (b'{"wi-fi_tech":"infra","discovery":{"ssid":"a"},"cred":{"akm":"dpp","csign":"x"}}',
     "csign"),
    (b'{"wi-fi_tech":"infra","discovery":{"ssid":1},"cred":{"akm":"dpp"}}', "ssid"),
    (b"[" * 100000 + b"]" * 100000, "not JSON"),
])
def test_parse_config_object_rejects(data, why):
    with pytest.raises(dc.DppCryptoError, match=why):
        conn.parse_config_object(data)


def test_config_request():
    data = conn.config_request_json("Enrollee", "sta", bandSupport=[81, 115])
    assert json.loads(data) == {"name": "Enrollee", "wi-fi_tech": "infra", "netRole": "sta",
                                "bandSupport": [81, 115]}
    assert conn.parse_config_request(data)["netRole"] == "sta"
    for bad in (b'{"name":"x","wi-fi_tech":"infra"}', b'{"name":"x","wi-fi_tech":"infra",'
                b'"netRole":"sta","bandSupport":["81"]}', b"null"):
        with pytest.raises(dc.DppCryptoError):
            conn.parse_config_request(bad)


# --- Connectors ---------------------------------------------------------------------------

def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _check_signature_independently(connector: str, pub: ec.EllipticCurvePublicKey,
                                   hash_alg: hashes.HashAlgorithm) -> None:
    """RFC 7515 A.3: raw r | s over ASCII(header.payload), checked with `cryptography`."""
    signing_input, _, sig = connector.rpartition(".")
    raw = _b64d(sig)
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"),
                               int.from_bytes(raw[half:], "big"))
    pub.verify(der, signing_input.encode("ascii"), ec.ECDSA(hash_alg))


@pytest.mark.parametrize("name, hash_alg", [
    ("P-256", hashes.SHA256), ("P-384", hashes.SHA384), ("P-521", hashes.SHA512),
    ("BP-256", hashes.SHA256), ("BP-384", hashes.SHA384), ("BP-512", hashes.SHA512)])
def test_connector_roundtrip(name, hash_alg):
    curve = dc.CURVES[name]
    csign, nak = dc.generate_key(curve), dc.generate_key(curve).public_key()
    token = conn.make_connector(csign, nak, net_role="ap", expiry="2030-01-02T03:04:05Z")
    header = json.loads(_b64d(token.split(".")[0]))
    assert header == {"typ": "dppCon", "kid": conn.csign_kid(csign), "alg": curve.jws_alg}
    assert len(_b64d(token.split(".")[2])) == 2 * curve.prime_len
    _check_signature_independently(token, csign.public_key(), hash_alg())
    payload = conn.verify_connector(token, csign.public_key())
    assert payload["groups"] == [{"groupId": "*", "netRole": "ap"}]
    assert payload["expiry"] == "2030-01-02T03:04:05Z"
    assert dc.point_xy(conn.public_from_jwk(payload["netAccessKey"])) == dc.point_xy(nak)


@pytest.fixture
def signed() -> tuple[ec.EllipticCurvePrivateKey, str]:
    csign = dc.generate_key(P256)
    return csign, conn.make_connector(csign, dc.generate_key(P256).public_key())


def _reason(connector: str, pub: ec.EllipticCurvePublicKey, **kw) -> str:
    with pytest.raises(conn.ConnectorError) as info:
        conn.verify_connector(connector, pub, **kw)
    assert isinstance(info.value, dc.DppCryptoError)
    return info.value.reason


def test_connector_rejected_with_wrong_key(signed):
    _, token = signed
    other = dc.generate_key(P256).public_key()
    assert _reason(token, other) == "kid"
    assert _reason(token, other, check_kid=False) == "signature"


def test_connector_rejected_when_payload_tampered(signed):
    csign, token = signed
    header, payload, sig = token.split(".")
    body = json.loads(_b64d(payload))
    body["groups"][0]["netRole"] = "ap"
    forged = ".".join([header, conn.b64url(json.dumps(body).encode()), sig])
    assert _reason(forged, csign.public_key()) == "signature"
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert _reason(".".join([header, payload, flipped]), csign.public_key()) == "signature"
    assert _reason(".".join([header, payload, sig[:20]]), csign.public_key()) == "signature"


def test_connector_rejected_on_alg_mismatch():
    csign = dc.generate_key(P256)
    nak = dc.generate_key(P256).public_key()
    for alg in ("ES384", "ES512", "BS256", "HS256", "none"):
        assert _reason(conn.make_connector(csign, nak, alg=alg), csign.public_key()) == "alg"
    p384 = dc.generate_key(dc.CURVES["P-384"])
    token = conn.make_connector(p384, nak)  # ES384 header, checked against a P-256 key
    assert _reason(token, csign.public_key()) == "alg"


def test_connector_rejected_when_typ_not_dppcon():
    csign = dc.generate_key(P256)
    nak = dc.generate_key(P256).public_key()
    for typ in ("JWT", "dppcon", ""):
        assert _reason(conn.make_connector(csign, nak, typ=typ), csign.public_key()) == "typ"


def _sign_raw(csign: ec.EllipticCurvePrivateKey, header: bytes, payload: bytes) -> str:
    """A JWS over arbitrary header/payload bytes, signed here with `cryptography`."""
    signing_input = f"{conn.b64url(header)}.{conn.b64url(payload)}"
    der = csign.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{conn.b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_connector_rejected_when_malformed(signed):
    csign, _ = signed
    pub = csign.public_key()
    header = json.dumps({"typ": "dppCon", "kid": conn.csign_kid(pub), "alg": "ES256"}).encode()
    nak = conn.jwk_of(dc.generate_key(P256).public_key())
    for bad in ("", "abc", "a.b", "a.b.c.d", "!!!.e30.AA", "e30.e30.AA", "bnVsbA.e30.AA",
                f"{conn.b64url(b'[1]')}.e30.AA", "é.é.é"):
        assert _reason(bad, pub) in ("format", "typ")
    cases = [b"not json", b"[]", b'{"groups":[]}', b'{"netAccessKey":{}}',
             json.dumps({"groups": [{"groupId": "*"}], "netAccessKey": nak}).encode(),
             json.dumps({"groups": [{"groupId": "*", "netRole": "sta"}],
                         "netAccessKey": {**nak, "crv": "P-384"}}).encode(),
             json.dumps({"groups": [{"groupId": "*", "netRole": "sta"}], "netAccessKey": nak,
                         "expiry": 2030}).encode()]
    for payload in cases:
        assert _reason(_sign_raw(csign, header, payload), pub) == "payload", payload
    good = json.dumps({"groups": [{"groupId": "*", "netRole": "sta"}],
                       "netAccessKey": nak}).encode()
    assert conn.verify_connector(_sign_raw(csign, header, good), pub)["netAccessKey"] == nak


def test_connector_wrong_kid_is_a_choice(signed):
    csign, _ = signed
    token = conn.make_connector(csign, dc.generate_key(P256).public_key(), kid="other")
    assert _reason(token, csign.public_key()) == "kid"
    assert conn.verify_connector(token, csign.public_key(), check_kid=False)


# --- a real third party: wpa_supplicant 2.10 as Configurator ------------------------------

def _wpa_supplicant() -> str | None:
    return shutil.which("wpa_supplicant") or next(
        (p for p in ("/usr/sbin/wpa_supplicant", "/sbin/wpa_supplicant") if os.access(p, os.X_OK)),
        None)


class _Ctrl:
    """wpa_supplicant's control interface (a Unix datagram socket), attached for events."""

    def __init__(self, server: Path, client: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(client))
        self.sock.connect(str(server))
        self.sock.settimeout(10)
        self.events: list[str] = []

    def request(self, cmd: str) -> str:
        self.sock.send(cmd.encode())
        while True:
            msg = self.sock.recv(65536).decode(errors="replace")
            if msg.startswith("<"):  # an unsolicited event: "<level>TEXT"
                self.events.append(msg[msg.index(">") + 1:])
                continue
            return msg.strip()

    def event(self, prefix: str) -> str:
        while True:
            for line in self.events:
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
            msg = self.sock.recv(65536).decode(errors="replace")
            if msg.startswith("<"):
                self.events.append(msg[msg.index(">") + 1:])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def wpas() -> Iterator[_Ctrl]:
    binary = _wpa_supplicant()
    if binary is None:
        pytest.skip("wpa_supplicant is not installed")
    with tempfile.TemporaryDirectory(prefix="oc-dpp-") as tmp:
        work = Path(tmp)
        (work / "wpas.conf").write_text(f"ctrl_interface={work / 'ctrl'}\n")
        proc = subprocess.Popen([binary, "-Dnone", "-i", "lo", "-c", str(work / "wpas.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ctrl = None
        try:
            server = work / "ctrl" / "lo"
            for _ in range(100):  # wait for the control socket (bounded, not a timed check)
                if server.exists() or proc.poll() is not None:
                    break
                time.sleep(0.05)
            if not server.exists():
                proc.kill()
                err = proc.communicate(timeout=5)[1].decode(errors="replace")
                pytest.skip(f"wpa_supplicant did not start: {err.strip()[:200]}")
            ctrl = _Ctrl(server, work / "client")
            if ctrl.request("ATTACH") != "OK":
                pytest.skip("wpa_supplicant refused ATTACH")
            yield ctrl
        finally:
            if ctrl is not None:
                ctrl.close()
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _configurator(wpas: _Ctrl, curve: str) -> str:
    conf_id = wpas.request(f"DPP_CONFIGURATOR_ADD curve={curve}")
    if not conf_id.isdigit():
        pytest.skip(f"wpa_supplicant has no DPP configurator for {curve}: {conf_id}")
    return conf_id


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521", "BP-256"])
def test_wpa_supplicant_connector_verifies(wpas, curve):
    conf_id = _configurator(wpas, curve)
    wpas.events.clear()
    ssid = b"onboardcheck".hex()
    reply = wpas.request(f"DPP_CONFIGURATOR_SIGN conf=sta-dpp ssid={ssid} configurator={conf_id}")
    assert reply == "OK"
    connector = wpas.event("DPP-CONNECTOR ")
    csign_spki = bytes.fromhex(wpas.event("DPP-C-SIGN-KEY "))
    net_access = dc.private_from_der(bytes.fromhex(wpas.event("DPP-NET-ACCESS-KEY ").split()[0]))
    csign_pub = dc.public_from_spki(csign_spki)
    assert dc.curve_of(csign_pub).name == curve

    payload = conn.verify_connector(connector, csign_pub)
    assert payload["groups"] == [{"groupId": "*", "netRole": "sta"}]
    assert dc.point_xy(conn.public_from_jwk(payload["netAccessKey"])) \
        == dc.point_xy(net_access)
    # the kid wpa_supplicant put in its header is csign_kid's
    assert conn.connector_header(connector)["kid"] == conn.csign_kid(csign_pub)
    # and wpa_supplicant's C-sign private key gives the same public key and kid
    csign = dc.private_from_der(bytes.fromhex(wpas.request(f"DPP_CONFIGURATOR_GET_KEY {conf_id}")))
    assert dc.point_xy(csign) == dc.point_xy(csign_pub)
    ours = conn.make_connector(csign, net_access.public_key())
    assert conn.connector_header(ours)["kid"] == conn.connector_header(connector)["kid"]
    # a connector from wpa_supplicant does not verify under another C-sign-key
    with pytest.raises(conn.ConnectorError):
        conn.verify_connector(connector, dc.generate_key(dc.curve_of(csign_pub)).public_key())


def test_wpa_supplicant_bootstrap_uri_and_hash(wpas, b1, b1_keys):
    # hostap's hwsim test passes the B.1 responder key as this ECPrivateKey DER
    priv = b1["inputs"]["R_boot_private"]
    boot_id = wpas.request(
        f"DPP_BOOTSTRAP_GEN type=qrcode key=30310201010420{priv}a00a06082a8648ce3d030107")
    if not boot_id.isdigit():
        pytest.skip(f"wpa_supplicant has no DPP bootstrapping: {boot_id}")
    uri = wpas.request(f"DPP_BOOTSTRAP_GET_URI {boot_id}")
    key_b64 = next(t[2:] for t in uri.removeprefix("DPP:").split(";") if t.startswith("K:"))
    assert dc.spki_der(b1_keys["R_boot"]) == base64.b64decode(key_b64)
    info = dict(line.split("=", 1) for line in
                wpas.request(f"DPP_BOOTSTRAP_INFO {boot_id}").splitlines() if "=" in line)
    assert dc.bootstrap_key_hash(b1_keys["R_boot"]).hex() == info["pkhash"]


def test_independent_signature_check_can_fail(signed):
    _, token = signed
    with pytest.raises(InvalidSignature):
        _check_signature_independently(token, dc.generate_key(P256).public_key(),
                                       hashes.SHA256())
