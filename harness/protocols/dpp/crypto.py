"""DPP cryptographic primitives: curves, keys, the authentication key schedule, AES-SIV.

References: Wi-Fi Easy Connect (DPP) specification section 6.3 (authentication: M, N, L,
k1, k2, ke, R-auth, I-auth) and Appendix B (test vectors); hostap src/common/dpp_crypto.c
(`dpp_curves`, `dpp_derive_k1/k2`, `dpp_derive_bk_ke`, `dpp_gen_r_auth/i_auth`,
`dpp_auth_derive_l_responder/initiator`); RFC 5297 (AES-SIV).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from harness.errors import OnboardcheckError

EcKey = ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey

SIV_LEN = 16  # the synthetic IV that leads every AES-SIV output


class DppCryptoError(OnboardcheckError):
    """A DPP crypto input that cannot be used: bad point, bad key, unsupported curve..."""


class UnwrapError(DppCryptoError):
    """AES-SIV unwrap failed: wrong key, wrong AD, or altered wrapped data."""


@dataclass(frozen=True)
class Curve:
    """One DPP curve, with the parameters hostap's `dpp_curves` table gives it.

    `name` is the JWK "crv" value hostap uses (P-256 ... BP-512); `p` and `order` are
    the field prime and group order (SEC 2 / RFC 5639), needed for L = bI * (BR + PR).
    """

    name: str
    group: int
    hash: type[hashes.HashAlgorithm]
    nonce_len: int
    prime_len: int
    jws_alg: str
    ec: ec.EllipticCurve
    p: int
    order: int

    @property
    def hash_len(self) -> int:
        return self.hash.digest_size

    def new_hash(self) -> hashes.HashAlgorithm:
        return self.hash()


_P256 = Curve("P-256", 19, hashes.SHA256, 16, 32, "ES256", ec.SECP256R1(),
              0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
              0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551)
_P384 = Curve("P-384", 20, hashes.SHA384, 24, 48, "ES384", ec.SECP384R1(),
              2**384 - 2**128 - 2**96 + 2**32 - 1,
              int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                  "581a0db248b0a77aecec196accc52973", 16))
_P521 = Curve("P-521", 21, hashes.SHA512, 32, 66, "ES512", ec.SECP521R1(),
              2**521 - 1,
              int("01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                  "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
                  16))
_BP256 = Curve("BP-256", 28, hashes.SHA256, 16, 32, "BS256", ec.BrainpoolP256R1(),
               0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
               0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7)
_BP384 = Curve("BP-384", 29, hashes.SHA384, 24, 48, "BS384", ec.BrainpoolP384R1(),
               int("8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b412b1da197fb71123"
                   "acd3a729901d1a71874700133107ec53", 16),
               int("8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f166e6cac0425a7"
                   "cf3ab6af6b7fc3103b883202e9046565", 16))
_BP512 = Curve("BP-512", 30, hashes.SHA512, 32, 64, "BS512", ec.BrainpoolP512R1(),
               int("aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330871"
                   "7d4d9b009bc66842aecda12ae6a380e62881ff2f2d82c68528aa6056583a48f3", 16),
               int("aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330870"
                   "553e5c414ca92619418661197fac10471db1d381085ddaddb58796829ca90069", 16))

CURVES: dict[str, Curve] = {c.name: c for c in (_P256, _P384, _P521, _BP256, _BP384, _BP512)}
_BY_EC_NAME = {c.ec.name: c for c in CURVES.values()}  # "secp256r1", "brainpoolP256r1"...
_ALIASES = {"prime256v1": _P256, "brainpoolP256r1": _BP256, "brainpoolP384r1": _BP384,
            "brainpoolP512r1": _BP512, **_BY_EC_NAME}


def curve_by_name(name: str) -> Curve:
    """A curve by its JWK name (P-256, BP-256...) or its OpenSSL name (prime256v1...)."""
    curve = CURVES.get(name) or _ALIASES.get(name)
    if curve is None:
        raise DppCryptoError(f"curve {name!r} is not a DPP curve")
    return curve


def curve_by_group(group: int) -> Curve:
    """A curve by its IKE group number (Finite Cyclic Group attribute)."""
    for curve in CURVES.values():
        if curve.group == group:
            return curve
    raise DppCryptoError(f"IKE group {group} is not a DPP curve")


def curve_of(key: object) -> Curve:
    """The DPP curve of an EC key (public or private)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        raise DppCryptoError(f"not an EC key: {type(key).__name__}")
    curve = _BY_EC_NAME.get(key.curve.name)
    if curve is None:
        raise DppCryptoError(f"curve {key.curve.name} is not a DPP curve")
    return curve


def _public(key: EcKey) -> ec.EllipticCurvePublicKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key
    raise DppCryptoError(f"not an EC key: {type(key).__name__}")


# --- keys ------------------------------------------------------------------------------

def generate_key(curve: Curve) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve.ec)


def private_from_hex(curve: Curve, hex_or_bytes: str | bytes) -> ec.EllipticCurvePrivateKey:
    """A private key from its scalar, prime_len octets (hex text or bytes)."""
    try:
        raw = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
    except ValueError as exc:
        raise DppCryptoError(f"private key is not hex: {exc}") from exc
    if len(raw) != curve.prime_len:
        raise DppCryptoError(
            f"{curve.name} private key must be {curve.prime_len} octets, got {len(raw)}")
    return _private_from_int(curve, int.from_bytes(raw, "big"))


def _private_from_int(curve: Curve, value: int) -> ec.EllipticCurvePrivateKey:
    if not 0 < value < curve.order:
        raise DppCryptoError(f"{curve.name} private scalar out of range [1, n-1]")
    return ec.derive_private_key(value, curve.ec)


def private_from_der(der: bytes) -> ec.EllipticCurvePrivateKey:
    """A private key from DER: ECPrivateKey (RFC 5915, as hostap prints keys) or PKCS#8."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DppCryptoError(f"private key DER does not parse: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DppCryptoError(f"private key is not EC: {type(key).__name__}")
    curve_of(key)
    return key


def private_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    """ECPrivateKey DER (RFC 5915), the form hostap takes in `key=` and prints."""
    return key.private_bytes(serialization.Encoding.DER,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _der_len(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _tlv_span(data: bytes, offset: int) -> tuple[int, int]:
    """(value start, value end) of the DER TLV at `offset` (input made by `cryptography`)."""
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return start, start + length


def spki_der(key: EcKey) -> bytes:
    """SubjectPublicKeyInfo DER with the *compressed* point, as DPP URIs carry it (K:)."""
    pub = _public(key)
    curve_of(pub)
    full = pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    inner_start, _ = _tlv_span(full, 0)
    _, alg_end = _tlv_span(full, inner_start)
    algorithm = full[inner_start:alg_end]  # AlgorithmIdentifier: ecPublicKey + named curve
    point = pub.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.CompressedPoint)
    bit_string = b"\x03" + _der_len(len(point) + 1) + b"\x00" + point
    body = algorithm + bit_string
    return b"\x30" + _der_len(len(body)) + body


def public_from_spki(der: bytes) -> ec.EllipticCurvePublicKey:
    """The EC public key of an SPKI DER (compressed or not), on a DPP curve."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DppCryptoError(f"SubjectPublicKeyInfo does not parse: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise DppCryptoError(f"SubjectPublicKeyInfo is not EC: {type(key).__name__}")
    curve_of(key)
    return key


def bootstrap_key_hash(key: EcKey) -> bytes:
    """SHA-256 of the compressed SPKI DER (R2: hostap `dpp_bi_pubkey_hash`)."""
    return hashlib.sha256(spki_der(key)).digest()


def uncompressed_point(key: EcKey) -> bytes:
    """0x04 | x | y (ANSI X9.63), the input of the C-sign-key `kid` hash."""
    return _public(key).public_bytes(serialization.Encoding.X962,
                                     serialization.PublicFormat.UncompressedPoint)


def point_xy(key: EcKey) -> bytes:
    """x | y, each prime_len octets: the value of a Protocol Key attribute."""
    return uncompressed_point(key)[1:]


def point_x(key: EcKey) -> bytes:
    """x alone, prime_len octets (PI.x, BR.x... in R-auth / I-auth)."""
    return point_xy(key)[: curve_of(key).prime_len]


def point_from_xy(curve: Curve, xy: bytes) -> ec.EllipticCurvePublicKey:
    """The public key with coordinates x | y; DppCryptoError if off the curve or bad length."""
    if len(xy) != 2 * curve.prime_len:
        raise DppCryptoError(
            f"{curve.name} point must be {2 * curve.prime_len} octets, got {len(xy)}")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.ec, b"\x04" + bytes(xy))
    except ValueError as exc:
        raise DppCryptoError(f"not a point on {curve.name}: {exc}") from exc


# --- key agreement -----------------------------------------------------------------------

def _same_curve(*keys: EcKey) -> Curve:
    curves = {curve_of(k).name for k in keys}
    if len(curves) != 1:
        raise DppCryptoError(f"keys on different curves: {sorted(curves)}")
    return curve_of(keys[0])


def ecdh_x(priv: ec.EllipticCurvePrivateKey, pub: ec.EllipticCurvePublicKey) -> bytes:
    """x coordinate of priv * pub, prime_len octets."""
    curve = _same_curve(priv, pub)
    try:
        secret = priv.exchange(ec.ECDH(), pub)
    except ValueError as exc:
        raise DppCryptoError(f"ECDH failed: {exc}") from exc
    return secret.rjust(curve.prime_len, b"\x00")


def _add_points(curve: Curve, a: ec.EllipticCurvePublicKey,
                b: ec.EllipticCurvePublicKey) -> ec.EllipticCurvePublicKey | None:
    """a + b for a != +-b (chord rule, needs only p); None when a == b (doubling)."""
    na, nb = a.public_numbers(), b.public_numbers()
    p = curve.p
    if na.x == nb.x:
        if (na.y + nb.y) % p == 0:
            raise DppCryptoError("point sum is the point at infinity")
        return None
    lam = (nb.y - na.y) * pow(nb.x - na.x, -1, p) % p
    x3 = (lam * lam - na.x - nb.x) % p
    y3 = (lam * (na.x - x3) - na.y) % p
    return ec.EllipticCurvePublicNumbers(x3, y3, curve.ec).public_key()


def lx_responder(b_r: ec.EllipticCurvePrivateKey, p_r: ec.EllipticCurvePrivateKey,
                 b_i: ec.EllipticCurvePublicKey) -> bytes:
    """L.x with L = ((bR + pR) mod q) * BI (mutual authentication, responder side)."""
    curve = _same_curve(b_r, p_r, b_i)
    total = (b_r.private_numbers().private_value + p_r.private_numbers().private_value)
    return ecdh_x(_private_from_int(curve, total % curve.order), b_i)


def lx_initiator(b_i: ec.EllipticCurvePrivateKey, b_r: ec.EllipticCurvePublicKey,
                 p_r: ec.EllipticCurvePublicKey) -> bytes:
    """L.x with L = bI * (BR + PR) (mutual authentication, initiator side)."""
    curve = _same_curve(b_i, b_r, p_r)
    total = _add_points(curve, b_r, p_r)
    if total is None:  # BR == PR: bI * 2BR, without the curve's `a` for a doubling
        doubled = 2 * b_i.private_numbers().private_value % curve.order
        return ecdh_x(_private_from_int(curve, doubled), b_r)
    return ecdh_x(b_i, total)


# --- key schedule (DPP 6.3.3/6.3.4; hostap dpp_crypto.c) ---------------------------------

def _hkdf(curve: Curve, ikm: bytes, info: bytes) -> bytes:
    # HKDF with an empty salt: RFC 5869 uses HashLen zero octets, as hostap does
    return HKDF(curve.new_hash(), curve.hash_len, salt=None, info=info).derive(ikm)


def k1(curve: Curve, mx: bytes) -> bytes:
    """k1 = HKDF(<>, "first intermediate key", M.x)."""
    return _hkdf(curve, mx, b"first intermediate key")


def k2(curve: Curve, nx: bytes) -> bytes:
    """k2 = HKDF(<>, "second intermediate key", N.x)."""
    return _hkdf(curve, nx, b"second intermediate key")


def ke(curve: Curve, i_nonce: bytes, r_nonce: bytes, mx: bytes, nx: bytes,
       lx: bytes | None) -> bytes:
    """ke = HKDF(I-nonce | R-nonce, "DPP Key", M.x | N.x [| L.x])."""
    mac = hmac.HMAC(i_nonce + r_nonce, curve.new_hash())
    mac.update(mx + nx + (lx or b""))
    bk = mac.finalize()
    return HKDFExpand(curve.new_hash(), curve.hash_len, b"DPP Key").derive(bk)


def _digest(curve: Curve, parts: Sequence[bytes]) -> bytes:
    h = hashes.Hash(curve.new_hash())
    for part in parts:
        h.update(part)
    return h.finalize()


def r_auth(curve: Curve, i_nonce: bytes, r_nonce: bytes, pi_x: bytes, pr_x: bytes,
           bi_x: bytes | None, br_x: bytes) -> bytes:
    """R-auth = H(I-nonce | R-nonce | PI.x | PR.x | [BI.x |] BR.x | 0)."""
    parts = [i_nonce, r_nonce, pi_x, pr_x, *([bi_x] if bi_x else []), br_x, b"\x00"]
    return _digest(curve, parts)


def i_auth(curve: Curve, r_nonce: bytes, i_nonce: bytes, pr_x: bytes, pi_x: bytes,
           br_x: bytes, bi_x: bytes | None) -> bytes:
    """I-auth = H(R-nonce | I-nonce | PR.x | PI.x | BR.x | [BI.x |] 1)."""
    parts = [r_nonce, i_nonce, pr_x, pi_x, br_x, *([bi_x] if bi_x else []), b"\x01"]
    return _digest(curve, parts)


# --- AES-SIV (RFC 5297), as DPP wraps attributes ----------------------------------------
# Output is SIV | ciphertext (RFC 5297 2.6 "IV || C"); hostap aes_siv_encrypt() writes the
# same order. The key is k1/k2/ke, so 32, 48 or 64 octets; `ad` components go to S2V in
# order, before the plaintext.

def _siv(key: bytes) -> AESSIV:
    try:
        return AESSIV(bytes(key))
    except (ValueError, TypeError) as exc:
        raise DppCryptoError(f"AES-SIV key must be 32, 48 or 64 octets, got {len(key)}") from exc


def wrap(key: bytes, plaintext: bytes, ad: Sequence[bytes]) -> bytes:
    """AES-SIV encrypt: SIV (16 octets) | ciphertext."""
    try:
        return _siv(key).encrypt(bytes(plaintext), [bytes(a) for a in ad] or None)
    except (ValueError, OverflowError) as exc:
        raise DppCryptoError(f"AES-SIV wrap failed: {exc}") from exc


def unwrap(key: bytes, wrapped: bytes, ad: Sequence[bytes]) -> bytes:
    """AES-SIV decrypt and check; UnwrapError when the SIV does not verify."""
    siv = _siv(key)
    if len(wrapped) < SIV_LEN:
        raise UnwrapError(f"wrapped data of {len(wrapped)} octets is shorter than the SIV")
    try:
        return siv.decrypt(bytes(wrapped), [bytes(a) for a in ad] or None)
    except InvalidTag as exc:
        raise UnwrapError("AES-SIV check failed: wrong key, wrong AD or altered data") from exc
    except (ValueError, OverflowError) as exc:
        raise UnwrapError(f"AES-SIV unwrap failed: {exc}") from exc
