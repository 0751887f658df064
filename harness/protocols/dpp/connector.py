"""DPP configuration objects, configuration requests, JWKs and signed Connectors.

JSON layouts follow hostap src/common/dpp.c (`dpp_build_conf_start`,
`dpp_build_conf_obj_dpp`, `dpp_build_jwk`, `dpp_conf_req_rx`) and the DPP specification
sections 4.3-4.5 (Connector, configuration object, C-sign-key). A Connector is a JWS
compact serialization: header {"typ":"dppCon","kid":...,"alg":...}, payload
{"groups":[{"groupId":..,"netRole":..}],"netAccessKey":JWK[,"expiry":..]}, and an ECDSA
signature as raw r | s (RFC 7515 A.3), hashed with the C-sign-key curve's hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm

from harness.protocols.dpp.crypto import (
    CURVES,
    Curve,
    DppCryptoError,
    EcKey,
    curve_of,
    point_from_xy,
    point_xy,
    uncompressed_point,
)

CONNECTOR_TYP = "dppCon"


class ConnectorError(DppCryptoError):
    """A Connector that does not verify; `reason` names the check that failed.

    reasons: "format" (not three base64url parts / header not JSON), "typ", "alg",
    "kid", "signature", "payload" (payload not the Connector JSON).
    """

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(f"Connector rejected ({reason}): {message}")


# --- base64url and JSON --------------------------------------------------------------------

def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2), as hostap `base64_url_encode`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of b64url; padding optional; DppCryptoError on any other character."""
    if not isinstance(text, str):
        raise DppCryptoError(f"base64url value must be a string, got {type(text).__name__}")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise DppCryptoError(f"base64url value has an impossible length: {text[:40]!r}")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_",
                                validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DppCryptoError(f"not base64url: {text[:40]!r}") from exc


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load_object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        obj = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, TypeError) as exc:
        raise DppCryptoError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DppCryptoError(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def _member(obj: dict[str, Any], key: str, kind: type, what: str, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None:
        if required:
            raise DppCryptoError(f"{what}: missing {key!r}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DppCryptoError(f"{what}: {key!r} must be {kind.__name__}, "
                             f"got {type(value).__name__}")
    return value


# --- JWK (RFC 7517/7518 section 6.2; hostap dpp_build_jwk / dpp_parse_jwk) ---------------

def jwk_of(pub: EcKey, kid: str | None = None) -> dict[str, str]:
    """{"kty":"EC","crv":..,"x":..,"y":..[,"kid":..]}; x and y are prime_len octets."""
    curve = curve_of(pub)
    xy = point_xy(pub)
    jwk = {"kty": "EC", "crv": curve.name, "x": b64url(xy[: curve.prime_len]),
           "y": b64url(xy[curve.prime_len:])}
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def public_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """The public key of an EC JWK on a DPP curve; DppCryptoError says what is wrong."""
    if not isinstance(jwk, dict):
        raise DppCryptoError(f"JWK must be a JSON object, got {type(jwk).__name__}")
    if jwk.get("kty") != "EC":
        raise DppCryptoError(f"JWK kty must be 'EC', got {jwk.get('kty')!r}")
    crv = jwk.get("crv")
    curve = CURVES.get(crv) if isinstance(crv, str) else None
    if curve is None:
        raise DppCryptoError(f"JWK crv {crv!r} is not a DPP curve")
    x = b64url_decode(_member(jwk, "x", str, "JWK"))
    y = b64url_decode(_member(jwk, "y", str, "JWK"))
    if len(x) != curve.prime_len or len(y) != curve.prime_len:
        raise DppCryptoError(f"JWK {curve.name} coordinates must be {curve.prime_len} octets, "
                             f"got {len(x)} and {len(y)}")
    return point_from_xy(curve, x + y)


def csign_kid(pub: EcKey) -> str:
    """kid = base64url(SHA-256(0x04 | x | y of the C-sign-key)).

    hostap dpp.c `dpp_configurator_gen_kid`: "kid = SHA256(ANSI X9.63 uncompressed
    C-sign-key)"; `dpp_check_pubkey_match` checks a received kid the same way.
    """
    return b64url(hashlib.sha256(uncompressed_point(pub)).digest())


# --- configuration object and request --------------------------------------------------

@dataclass
class ConfigObject:
    """A DPP Configuration Object (spec 4.5; hostap dpp_build_conf_obj_*)."""

    wifi_tech: str = "infra"
    ssid: str = ""
    akm: str = "dpp"  # "dpp", "psk", "sae", "psk+sae", "dpp+psk+sae", ...
    passphrase: str | None = None
    psk_hex: str | None = None
    connector: str | None = None
    csign: dict[str, Any] | None = None
    pp_key: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def config_object_json(obj: ConfigObject) -> bytes:
    """The object as compact JSON, members in hostap's order."""
    cred: dict[str, Any] = {"akm": obj.akm}
    if obj.passphrase is not None:
        cred["pass"] = obj.passphrase
    if obj.psk_hex is not None:
        cred["psk_hex"] = obj.psk_hex
    if obj.connector is not None:
        cred["signedConnector"] = obj.connector
    if obj.csign is not None:
        cred["csign"] = obj.csign
    if obj.pp_key is not None:
        cred["ppKey"] = obj.pp_key
    return _compact({"wi-fi_tech": obj.wifi_tech, "discovery": {"ssid": obj.ssid},
                     "cred": cred})


def parse_config_object(data: bytes) -> ConfigObject:
    """Parse a Configuration Object; DppCryptoError naming the first bad member."""
    what = "configuration object"
    root = _load_object(data, what)
    wifi_tech = _member(root, "wi-fi_tech", str, what)
    discovery = _member(root, "discovery", dict, what)
    ssid = _member(discovery, "ssid", str, f"{what} discovery", required=False)
    if ssid is None:  # R2 ssid64: base64url of the SSID octets
        ssid64 = _member(discovery, "ssid64", str, f"{what} discovery", required=False)
        if ssid64 is None:
            raise DppCryptoError(f"{what} discovery: missing 'ssid' (or 'ssid64')")
        ssid = b64url_decode(ssid64).decode("utf-8", errors="replace")
    cred = _member(root, "cred", dict, what)
    return ConfigObject(
        wifi_tech=wifi_tech,
        ssid=ssid,
        akm=_member(cred, "akm", str, f"{what} cred"),
        passphrase=_member(cred, "pass", str, f"{what} cred", required=False),
        psk_hex=_member(cred, "psk_hex", str, f"{what} cred", required=False),
        connector=_member(cred, "signedConnector", str, f"{what} cred", required=False),
        csign=_member(cred, "csign", dict, f"{what} cred", required=False),
        pp_key=_member(cred, "ppKey", dict, f"{what} cred", required=False),
        raw=root,
    )


def config_request_json(name: str, net_role: str, wifi_tech: str = "infra",
                        bandSupport: list[int] | None = None) -> bytes:
    """Config Attributes object of a Configuration Request (hostap dpp_build_conf_req_helper)."""
    obj: dict[str, Any] = {"name": name, "wi-fi_tech": wifi_tech, "netRole": net_role}
    if bandSupport is not None:
        obj["bandSupport"] = list(bandSupport)
    return _compact(obj)


def parse_config_request(data: bytes) -> dict[str, Any]:
    """The Config Attributes object, checked for the members hostap requires."""
    what = "config request"
    root = _load_object(data, what)
    for key in ("name", "wi-fi_tech", "netRole"):
        _member(root, key, str, what)
    bands = _member(root, "bandSupport", list, what, required=False)
    if bands is not None and not all(isinstance(b, int) and not isinstance(b, bool)
                                     for b in bands):
        raise DppCryptoError(f"{what}: 'bandSupport' must be a list of operating classes")
    return root


# --- Connector ----------------------------------------------------------------------------
# Signing is done here with `cryptography`, not PyJWT: mutants need a header `alg` that
# does not match the key (PyJWT would refuse or pick another hash), and the header keeps
# hostap's member order. Verification uses PyJWT's JWS with the brainpool algorithms
# (BS256/384/512, hostap's names) registered next to ES256/384/512.

def _jws_hash(alg: str, fallback: Curve) -> hashes.HashAlgorithm:
    table = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
    if alg[:2] in ("ES", "BS") and alg[2:] in table:
        return table[alg[2:]]()
    return fallback.new_hash()  # unknown alg (a deliberate mismatch): the curve's own hash


def make_connector(csign: ec.EllipticCurvePrivateKey,
                   net_access_key: ec.EllipticCurvePublicKey,
                   net_role: str = "sta", groups: list[dict[str, Any]] | None = None,
                   expiry: str | None = None, alg: str | None = None,
                   kid: str | None = None, typ: str = CONNECTOR_TYP) -> str:
    """A signed Connector (JWS compact). `expiry` is "YYYY-MM-DDTHH:MM:SSZ" (hostap form).

    `alg` defaults to the C-sign curve's, `kid` to csign_kid(csign); `alg`, `kid` and `typ`
    can be set to wrong values on purpose: the signature is still made with the C-sign-key.
    """
    curve = curve_of(csign)
    alg = alg or curve.jws_alg
    header = {"typ": typ, "kid": kid if kid is not None else csign_kid(csign),
              "alg": alg}
    payload: dict[str, Any] = {
        "groups": groups if groups is not None else [{"groupId": "*", "netRole": net_role}],
        "netAccessKey": jwk_of(net_access_key),
    }
    if expiry is not None:
        payload["expiry"] = expiry
    signing_input = f"{b64url(_compact(header))}.{b64url(_compact(payload))}"
    der = csign.sign(signing_input.encode("ascii"), ec.ECDSA(_jws_hash(alg, curve)))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(curve.prime_len, "big") + s.to_bytes(curve.prime_len, "big")
    return f"{signing_input}.{b64url(signature)}"


def _jws() -> jwt.PyJWS:
    jws = jwt.PyJWS(algorithms=["ES256", "ES384", "ES512"])
    jws.register_algorithm("BS256", ECAlgorithm(ECAlgorithm.SHA256))
    jws.register_algorithm("BS384", ECAlgorithm(ECAlgorithm.SHA384))
    jws.register_algorithm("BS512", ECAlgorithm(ECAlgorithm.SHA512))
    return jws


_JWS = _jws()


def connector_header(connector: str) -> dict[str, Any]:
    """The JWS protected header, unverified; ConnectorError("format") if unreadable."""
    if not isinstance(connector, str) or connector.count(".") != 2:
        raise ConnectorError("format", "not a JWS compact serialization (three parts)")
    try:
        header = _JWS.get_unverified_header(connector)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError, RecursionError) as exc:
        raise ConnectorError("format", f"protected header unreadable: {exc}") from exc
    return header


def verify_connector(connector: str, csign_pub: ec.EllipticCurvePublicKey,
                     check_kid: bool = True) -> dict[str, Any]:
    """The Connector's payload once every check passes; ConnectorError saying which failed.

    Checks, in hostap's order (dpp_process_signed_connector): typ is "dppCon", alg is the
    C-sign-key curve's, kid is the C-sign-key's hash (unless check_kid is False), the
    signature, then the payload: groups and netAccessKey present and well formed.
    """
    curve = curve_of(csign_pub)
    header = connector_header(connector)
    if header.get("typ") != CONNECTOR_TYP:
        raise ConnectorError("typ", f"typ is {header.get('typ')!r}, not {CONNECTOR_TYP!r}")
    if header.get("alg") != curve.jws_alg:
        raise ConnectorError("alg", f"alg {header.get('alg')!r} does not match the "
                                    f"{curve.name} C-sign-key ({curve.jws_alg})")
    if check_kid and header.get("kid") != csign_kid(csign_pub):
        raise ConnectorError("kid", f"kid {header.get('kid')!r} is not the C-sign-key's "
                                    f"{csign_kid(csign_pub)!r}")
    try:
        decoded = _JWS.decode_complete(connector, key=csign_pub, algorithms=[curve.jws_alg])
    except jwt.InvalidSignatureError as exc:
        raise ConnectorError("signature", "signature does not verify with the C-sign-key") \
            from exc
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError) as exc:
        raise ConnectorError("format", f"JWS does not decode: {exc}") from exc
    try:
        payload = _load_object(decoded["payload"], "Connector payload")
        groups = _member(payload, "groups", list, "Connector payload")
        if not groups or not all(isinstance(g, dict) and isinstance(g.get("groupId"), str)
                                 and isinstance(g.get("netRole"), str) for g in groups):
            raise DppCryptoError("Connector payload: 'groups' must list objects with "
                                 "string groupId and netRole")
        public_from_jwk(_member(payload, "netAccessKey", dict, "Connector payload"))
        _member(payload, "expiry", str, "Connector payload", required=False)
    except ConnectorError:
        raise
    except DppCryptoError as exc:
        raise ConnectorError("payload", str(exc)) from exc
    return payload
