"""Constrained vouchers and voucher-requests: SID-keyed CBOR in COSE_Sign1 (cBRSKI).

draft-ietf-anima-constrained-voucher-29 §9 takes the CBOR serialisation and the SID
values from draft-ietf-anima-rfc8366bis, whose SID files ietf-voucher@2023-01-10.sid
(range 2450-2499) and ietf-voucher-request@2023-01-10.sid (range 2500-2549) give the
numbers below; §9.1 shows them in use. Inside the container each key is the delta of
the leaf's SID from the container's SID (RFC 9254 §3.2): 2451 + 1 = 2452 assertion.
Enumerations travel as their integer value (RFC 9254 §6.6). §9.1.2 also allows the
same data keyed by names, which decoding accepts.

The signature is a COSE_Sign1 (RFC 9052 §4.2, tag 18) made and checked with pycose;
certificates ride in the x5bag (label 32) or x5chain (label 33) header of RFC 9360.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pycose import algorithms, headers
from pycose.keys import CoseKey
from pycose.messages import Sign1Message

from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import (
    ASSERTIONS,
    REQUEST_JSON_NAME,
    VOUCHER_JSON_NAME,
    Artifact,
    Leaf,
    Voucher,
    VoucherRequest,
    check_value,
    format_datetime,
    from_leaves,
    parse_datetime,
    to_leaves,
)

VOUCHER_SID = 2451  # /ietf-voucher:voucher/voucher
REQUEST_SID = 2501  # /ietf-voucher-request:voucher-request

# Leaf name -> SID, from the SID files named above.
VOUCHER_SIDS: dict[str, int] = {
    "assertion": 2452,
    "created-on": 2453,
    "domain-cert-revocation-checks": 2454,
    "expires-on": 2455,
    "idevid-issuer": 2456,
    "last-renewal-date": 2457,
    "nonce": 2458,
    "pinned-domain-cert": 2459,
    "pinned-domain-pubk": 2460,
    "pinned-domain-pubk-sha256": 2461,
    "serial-number": 2462,
}
REQUEST_SIDS: dict[str, int] = {
    "assertion": 2502,
    "created-on": 2503,
    "domain-cert-revocation-checks": 2504,
    "expires-on": 2505,
    "idevid-issuer": 2506,
    "last-renewal-date": 2507,
    "nonce": 2508,
    "pinned-domain-cert": 2509,
    "prior-signed-voucher-request": 2510,
    "proximity-registrar-cert": 2511,
    "proximity-registrar-pubk-sha256": 2512,
    "proximity-registrar-pubk": 2513,
    "serial-number": 2514,
    "pinned-domain-pubk": 2518,
    "pinned-domain-pubk-sha256": 2519,
}

# application/voucher+cose, CoAP Content-Format 836 (cBRSKI-29 §15.3).
CONTENT_FORMAT_VOUCHER_COSE = 836
X5BAG = 32  # RFC 9360 §2
X5CHAIN = 33

# COSE algorithm -> the EC curve its key must be on (RFC 9053 §2.1), or "rsa".
_ALGORITHMS: dict[int, tuple[type[algorithms.CoseAlgorithm], str]] = {
    -7: (algorithms.Es256, "secp256r1"),
    -35: (algorithms.Es384, "secp384r1"),
    -36: (algorithms.Es512, "secp521r1"),
    -37: (algorithms.Ps256, "rsa"),
}
_CURVE_ALG = {curve: alg for alg, (_, curve) in _ALGORITHMS.items() if curve != "rsa"}


def _cbor_in(leaf: Leaf, value: Any) -> Any:
    name = leaf.name
    if leaf.kind == "datetime":
        return parse_datetime(value, name)
    if leaf.kind == "assertion":
        if type(value) is not int or not 0 <= value < len(ASSERTIONS):
            raise VoucherError(f"expected an assertion enum value, found {value!r:.40}", field=name)
        return ASSERTIONS[value]
    expected = {"binary": bytes, "string": str, "boolean": bool}[leaf.kind]
    if type(value) is not expected:
        raise VoucherError(
            f"expected a {expected.__name__}, found {type(value).__name__}", field=name
        )
    return value


def _cbor_out(leaf: Leaf, value: Any) -> Any:
    check_value(leaf, value)
    if leaf.kind == "datetime":
        return format_datetime(value, leaf.name)
    if leaf.kind == "assertion":
        return ASSERTIONS.index(value)
    if leaf.kind == "binary":
        return bytes(value)
    return value


def _loads(data: bytes) -> Any:
    if not isinstance(data, bytes | bytearray):
        raise VoucherError(f"expected bytes, found {type(data).__name__}")
    try:
        return cbor2.loads(bytes(data))
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise VoucherError(f"not CBOR: {exc}") from exc


def _parse(cls: type[Artifact], data: bytes, top_sid: int, top_name: str) -> Artifact:
    sids = VOUCHER_SIDS if cls is Voucher else REQUEST_SIDS
    names = {sid - top_sid: name for name, sid in sids.items()}
    tree = _loads(data)
    if not isinstance(tree, Mapping) or len(tree) != 1:
        raise VoucherError("expected a map with one member, the voucher container", field=top_name)
    ((key, container),) = tree.items()
    if key not in (top_sid, top_name) or type(key) is bool:
        raise VoucherError(f"expected key {top_sid} or {top_name!r}, found {key!r:.40}")
    if not isinstance(container, Mapping):
        raise VoucherError(f"expected a map, found {type(container).__name__}", field=top_name)
    items: dict[str | int, Any] = {}
    for delta, value in container.items():
        if type(delta) is int:
            # Unknown deltas are kept under their absolute SID.
            items[names.get(delta, top_sid + delta)] = value
        elif isinstance(delta, str):
            items[delta] = value
        else:
            raise VoucherError(f"a key must be a SID delta or a name, found {delta!r:.40}")
    return from_leaves(cls, items, _cbor_in)


def _encode(artifact: Voucher | VoucherRequest, top_sid: int, sids: Mapping[str, int]) -> bytes:
    container: dict[int | str, Any] = {}
    for name, value in to_leaves(artifact, _cbor_out).items():
        if isinstance(name, int):
            container[name - top_sid] = value  # an extra leaf kept by its SID
        elif name in sids:
            container[sids[name] - top_sid] = value
        elif name in artifact.extra:
            container[name] = value
        else:
            raise VoucherError("this leaf has no SID in the constrained voucher", field=name)
    # Deterministic encoding (RFC 8949 §4.2.1): keys sorted, shortest forms.
    return cbor2.dumps({top_sid: container}, canonical=True)


def parse_constrained_voucher(data: bytes) -> Voucher:
    """A voucher from its CBOR (the payload of a COSE-signed constrained voucher)."""
    return _parse(Voucher, data, VOUCHER_SID, VOUCHER_JSON_NAME)


def constrained_voucher_to_cbor(voucher: Voucher) -> bytes:
    return _encode(voucher, VOUCHER_SID, VOUCHER_SIDS)


def parse_constrained_voucher_request(data: bytes) -> VoucherRequest:
    return _parse(VoucherRequest, data, REQUEST_SID, REQUEST_JSON_NAME)


def constrained_voucher_request_to_cbor(request: VoucherRequest) -> bytes:
    return _encode(request, REQUEST_SID, REQUEST_SIDS)


@dataclass
class CoseSignedContent:
    """What `verify_cose` found: the verified payload and the headers that matter."""

    payload: bytes
    algorithm: int
    signer: x509.Certificate
    kid: bytes | None = None
    x5bag: list[x509.Certificate] = field(default_factory=list)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def sign_cose(
    payload: bytes,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    x5bag: Iterable[x509.Certificate] = (),
    kid: bytes | None = None,
) -> bytes:
    """A tagged COSE_Sign1 over `payload`: alg in the protected header, x5bag and kid
    (when given) in the unprotected one, as in cBRSKI-29 §9.2.1."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg_id = _CURVE_ALG.get(key.curve.name)
        if alg_id is None:
            raise VoucherError(f"unsupported curve {key.curve.name}", field="key")
    elif isinstance(key, rsa.RSAPrivateKey):
        alg_id = -37
    else:
        raise VoucherError(f"unsupported key type {type(key).__name__}", field="key")
    unprotected: dict[Any, Any] = {}
    bag = [_der(c) for c in x5bag]
    if bag:
        unprotected[headers.X5bag] = bag
    if kid is not None:
        unprotected[headers.KID] = kid
    message = Sign1Message(
        phdr={headers.Algorithm: _ALGORITHMS[alg_id][0]}, uhdr=unprotected, payload=payload
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    message.key = CoseKey.from_pem_private_key(pem.decode("ascii"))
    return message.encode(tag=True)


def _certificates(value: Any, label: str) -> list[x509.Certificate]:
    # RFC 9360 §2: one certificate as a bstr, several as an array of bstr.
    items = [value] if isinstance(value, bytes) else value
    if not isinstance(items, list | tuple) or not items:
        raise VoucherError("expected a bstr or an array of bstr", field=label)
    out = []
    for item in items:
        if not isinstance(item, bytes):
            raise VoucherError(f"expected a bstr, found {type(item).__name__}", field=label)
        try:
            out.append(x509.load_der_x509_certificate(item))
        except ValueError as exc:
            raise VoucherError(f"bad certificate: {exc}", field=label) from exc
    return out


def _header(message: Sign1Message, attr: type[headers.CoseHeaderAttribute]) -> Any:
    # pycose keys decoded headers by attribute class when it knows the label.
    for where in (message.phdr, message.uhdr):
        for key in (attr, attr.identifier):
            if key in where:
                return where[key]
    return None


def _fits(alg_id: int, cert: x509.Certificate) -> bool:
    """Whether the certificate's key is of the type and curve `alg_id` demands."""
    public_key = cert.public_key()
    curve = _ALGORITHMS[alg_id][1]
    if curve == "rsa":
        return isinstance(public_key, rsa.RSAPublicKey)
    return isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == curve


def _signature_ok(message: Sign1Message, cert: x509.Certificate) -> bool:
    pem = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    message.key = CoseKey.from_pem_public_key(pem.decode("ascii"))
    try:
        return bool(message.verify_signature())
    except Exception:
        # pycose reports a bad signature as False or as one of several exceptions
        # (InvalidSignature, ValueError for a signature of the wrong length...).
        return False


def _verify(data: bytes, signer: x509.Certificate | None) -> CoseSignedContent:
    tree = _loads(data)
    if not isinstance(tree, cbor2.CBORTag) or tree.tag != 18:
        raise VoucherError("expected a COSE_Sign1 with tag 18", field="COSE_Sign1")
    if not isinstance(tree.value, list | tuple) or len(tree.value) != 4:
        raise VoucherError("COSE_Sign1 must be an array of four", field="COSE_Sign1")
    protected, unprotected, payload, signature = tree.value
    if not isinstance(protected, bytes) or not isinstance(unprotected, Mapping):
        raise VoucherError("bad header buckets", field="COSE_Sign1")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise VoucherError("payload and signature must be bstr (no detached payload)")
    protected_map = _loads(protected) if protected else {}
    if not isinstance(protected_map, Mapping):
        raise VoucherError("protected header is not a map", field="protected")
    # RFC 9052 §3.1: alg belongs in the protected bucket so it is signed.
    alg_id = protected_map.get(1)
    if type(alg_id) is not int or alg_id not in _ALGORITHMS:
        raise VoucherError(f"unsupported or missing protected alg {alg_id!r:.40}", field="alg")
    try:
        # From the decoded array rather than Sign1Message.decode: cbor2 6 decodes a
        # tag's content as a tuple, which pycose 1.1's decode rejects.
        message = Sign1Message.from_cose_obj(
            [protected, dict(unprotected), payload, signature], allow_unknown_attributes=True
        )
    except Exception as exc:
        # pycose raises AttributeError, KeyError, TypeError, ValueError or its own
        # CoseException on a message it cannot take.
        raise VoucherError(f"malformed COSE_Sign1: {exc}", field="COSE_Sign1") from exc
    bag_value = _header(message, headers.X5bag)
    bag = _certificates(bag_value, "x5bag") if bag_value is not None else []
    chain_value = _header(message, headers.X5chain)
    chain = _certificates(chain_value, "x5chain") if chain_value is not None else []
    kid = _header(message, headers.KID)
    if kid is not None and not isinstance(kid, bytes):
        raise VoucherError("kid must be a bstr", field="kid")
    # x5chain names its signer first; an x5bag does not say which one signed.
    candidates = [signer] if signer is not None else chain[:1] or bag
    if not candidates:
        raise VoucherError("no signer certificate given or carried", field="signer")
    for cert in candidates:
        if signer is not None and not _fits(alg_id, cert):
            raise VoucherError(f"algorithm {alg_id} does not fit the signer's key", field="alg")
        # A bag may hold CA certificates of other key types: those are skipped.
        if _fits(alg_id, cert) and _signature_ok(message, cert):
            return CoseSignedContent(
                payload=payload, algorithm=alg_id, signer=cert, kid=kid, x5bag=bag
            )
    raise VoucherError("signature does not verify", field="signature")


def verify_cose(data: bytes, *, signer: x509.Certificate | None = None) -> CoseSignedContent:
    """Verify a COSE_Sign1 with `signer`, else with the x5chain's first certificate
    or whichever x5bag certificate the signature verifies with."""
    return _verify(data, signer)
