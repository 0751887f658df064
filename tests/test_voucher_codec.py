"""Voucher codec: RFC 8995 App. C CMS examples, cBRSKI-29 App. C COSE examples, hostile input.

Expected values come from the vectors (their eContent JSON, descriptions, notes and
certificates) or from openssl, never from the code under test.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.crypto.pki import Pki
from harness.protocols.voucher.cms import (
    ID_CT_ANIMA_JSON_VOUCHER,
    ID_DATA,
    chains_to,
    sign_cms,
    verify_cms,
)
from harness.protocols.voucher.constrained import (
    constrained_voucher_request_to_cbor,
    constrained_voucher_to_cbor,
    parse_constrained_voucher,
    parse_constrained_voucher_request,
    sign_cose,
    verify_cose,
)
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import (
    Voucher,
    VoucherRequest,
    compare_request,
    parse_voucher_json,
    parse_voucher_request_json,
    voucher_request_to_json,
    voucher_to_json,
)
from harness.vectors import load_vector, vector_bytes

BRSKI = "brski"
CV = "constrained_voucher"
BRSKI_NAMES = ("pledge_voucher_request", "registrar_voucher_request", "voucher")
# Which C.1 certificate signs each example (RFC 8995 App. C.2.1-C.2.3).
BRSKI_SIGNERS = {
    "pledge_voucher_request": "pledge_idevid_00-D0-E5-F2-00-02_pem",
    "registrar_voucher_request": "registrar_jrc_prime256v1_pem",
    "voucher": "masa_pem",
}
COSE_SIGNERS = {
    "cose_pvr": "pledge_idevid_der",
    "cose_rvr": "registrar_der",
    "cose_voucher": "masa_der",
}


def brski_certs() -> dict[str, x509.Certificate]:
    certs = load_vector(BRSKI, "pledge_voucher_request")["inputs"]["certificates"]
    return {name: x509.load_pem_x509_certificate(pem.encode()) for name, pem in certs.items()}


def c2_cert(name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(vector_bytes(CV, "certificates_C2", "expected", name))


def cose_bytes(name: str) -> bytes:
    return vector_bytes(CV, name, "inputs", "cose_sign1")


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def b64any(text: str) -> bytes:
    """Base64 of either alphabet, padding optional (stdlib, for expected values)."""
    padded = text + "=" * (-len(text) % 4)
    return (
        base64.urlsafe_b64decode(padded) if "-" in text or "_" in text else base64.b64decode(padded)
    )


def econtent(name: str) -> dict:
    tree = load_vector(BRSKI, name)["expected"]["cms_econtent_json"]
    return next(iter(tree.values()))


def decode_brski(name: str, content: bytes) -> Voucher | VoucherRequest:
    return parse_voucher_json(content) if name == "voucher" else parse_voucher_request_json(content)


# --- RFC 8995 Appendix C: CMS ---------------------------------------------------------


@pytest.mark.parametrize("name", BRSKI_NAMES)
def test_brski_example_verifies_and_decodes(name: str) -> None:
    der = vector_bytes(BRSKI, name, "inputs", "cms_der")
    signed = verify_cms(der)
    expected_signer = brski_certs()[BRSKI_SIGNERS[name]]
    # The C.1 pledge IDevID is a later issue (same key) of the one in the PVR's bag.
    assert spki(signed.signer) == spki(expected_signer)
    if name != "pledge_voucher_request":
        assert signed.signer == expected_signer
    assert signed.content_type == ID_DATA  # what the RFC's examples carry
    tree = load_vector(BRSKI, name)["expected"]["cms_econtent_json"]
    assert json.loads(signed.content) == tree

    leaves = econtent(name)
    artifact = decode_brski(name, signed.content)
    assert artifact.assertion == leaves["assertion"]
    assert artifact.serial_number == leaves["serial-number"]
    assert artifact.serial_number == load_vector(BRSKI, name)["expected"]["serial_number"]
    assert artifact.created_on == dt.datetime.fromisoformat(leaves["created-on"])
    assert artifact.nonce == b64any(leaves["nonce"])
    assert artifact.extra == {}
    if name == "voucher":
        assert artifact.pinned_domain_cert == base64.b64decode(leaves["pinned-domain-cert"])
    elif name == "pledge_voucher_request":
        assert artifact.proximity_registrar_cert == base64.b64decode(
            leaves["proximity-registrar-cert"]
        )
        registrar = brski_certs()["registrar_jrc_prime256v1_pem"]
        assert artifact.proximity_registrar_cert == registrar.public_bytes(
            serialization.Encoding.DER
        )
    else:
        prior = base64.b64decode(leaves["prior-signed-voucher-request"])
        assert artifact.prior_signed_voucher_request == prior
        assert prior == vector_bytes(BRSKI, "pledge_voucher_request", "inputs", "cms_der")


@pytest.mark.parametrize("name", BRSKI_NAMES)
def test_brski_example_with_given_signer_and_wrong_signer(name: str) -> None:
    der = vector_bytes(BRSKI, name, "inputs", "cms_der")
    certs = brski_certs()
    assert verify_cms(der, signer=certs[BRSKI_SIGNERS[name]]).content
    wrong = "masa_pem" if name != "voucher" else "pledge_idevid_00-D0-E5-F2-00-02_pem"
    with pytest.raises(VoucherError, match="signature"):
        verify_cms(der, signer=certs[wrong])


def test_brski_certificates_chain_to_the_vendor_ca() -> None:
    certs = brski_certs()
    vendor = certs["manufacturer_ca_vendor_pem"]
    assert chains_to(certs["masa_pem"], vendor)
    assert chains_to(certs["pledge_idevid_00-D0-E5-F2-00-02_pem"], vendor)
    assert not chains_to(certs["registrar_jrc_prime256v1_pem"], vendor)


def test_brski_tampered_content_and_signature() -> None:
    der = vector_bytes(BRSKI, "voucher", "inputs", "cms_der")
    at = der.index(b'"logged"')
    tampered = der[:at] + b'"LOGGED"' + der[at + 8 :]
    with pytest.raises(VoucherError, match="message-digest"):
        verify_cms(tampered)
    # The SignerInfo's signature ends the DER; a changed last byte changes s.
    with pytest.raises(VoucherError):
        verify_cms(der[:-1] + bytes([der[-1] ^ 0x01]))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x82\xff\xff", b"not DER at all", b"\x06\x03\x55\x04\x03", "text"],
)
def test_cms_hostile_input(data: object) -> None:
    with pytest.raises(VoucherError):
        verify_cms(data)  # type: ignore[arg-type]


def test_cms_truncated() -> None:
    der = vector_bytes(BRSKI, "pledge_voucher_request", "inputs", "cms_der")
    for cut in (10, 100, len(der) // 2, len(der) - 1):
        with pytest.raises(VoucherError):
            verify_cms(der[:cut])


def test_brski_pairing_has_no_mismatch() -> None:
    """RFC 8995 App. C: the voucher answers both voucher-requests (same nonce, serial)."""
    voucher = parse_voucher_json(
        verify_cms(vector_bytes(BRSKI, "voucher", "inputs", "cms_der")).content
    )
    for name in ("pledge_voucher_request", "registrar_voucher_request"):
        der = vector_bytes(BRSKI, name, "inputs", "cms_der")
        request = parse_voucher_request_json(verify_cms(der).content)
        assert compare_request(request, voucher) == []
    assert voucher.nonce == b64any(load_vector(BRSKI, "voucher")["expected"]["nonce"])


# --- JSON codec -----------------------------------------------------------------------

GOOD = {
    "assertion": "logged",
    "created-on": "2021-04-13T17:43:24.589-04:00",
    "serial-number": "00-D0-E5-F2-00-02",
    "nonce": "AAEC",
}


def voucher_json(**changes: object) -> bytes:
    leaves = {**GOOD, **changes}
    return json.dumps(
        {"ietf-voucher:voucher": {k: v for k, v in leaves.items() if v is not None}}
    ).encode()


@pytest.mark.parametrize(
    ("leaf", "value"),
    [
        ("assertion", 1),
        ("assertion", "trusted"),
        ("created-on", "yesterday"),
        ("created-on", "2021-04-13"),
        ("created-on", 1618350204),
        ("serial-number", 42),
        ("nonce", 123),
        ("nonce", "not base64!"),
        ("pinned-domain-cert", ["AAEC"]),
        ("domain-cert-revocation-checks", "true"),
        ("domain-cert-revocation-checks", 1),
    ],
)
def test_json_wrong_leaf_type_names_the_leaf(leaf: str, value: object) -> None:
    with pytest.raises(VoucherError) as info:
        parse_voucher_json(voucher_json(**{leaf: value}))
    assert info.value.field == leaf


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b"[]",
        b'{"ietf-voucher-request:voucher": {}}',
        b'{"ietf-voucher:voucher": []}',
        b'{"ietf-voucher:voucher": {}, "x": 1}',
        b'{"ietf-voucher:voucher": {"nonce": "AA==", "nonce": "AQ=="}}',
        b"[" * 100000,
    ],
)
def test_json_hostile_input(data: bytes) -> None:
    with pytest.raises(VoucherError):
        parse_voucher_json(data)


def test_json_missing_mandatory_leaf() -> None:
    with pytest.raises(VoucherError) as info:
        parse_voucher_json(voucher_json(**{"serial-number": None}))
    assert info.value.field == "serial-number"


def test_json_unknown_leaves_are_kept_and_ignored() -> None:
    voucher = parse_voucher_json(
        voucher_json(**{"est-domain": "example.com", "x-vendor": {"a": 1}})
    )
    assert voucher.extra == {"est-domain": "example.com", "x-vendor": {"a": 1}}
    assert voucher.nonce == b"\x00\x01\x02"
    assert json.loads(voucher_to_json(voucher))["ietf-voucher:voucher"]["x-vendor"] == {"a": 1}


# --- cBRSKI-29 Appendix C: COSE -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COSE_SIGNERS))
def test_cose_example_verifies(name: str) -> None:
    vector = load_vector(CV, name)
    assert vector["expected"]["signature_valid_with"] == COSE_SIGNERS[name]
    signed = verify_cose(cose_bytes(name), signer=c2_cert(COSE_SIGNERS[name]))
    assert signed.algorithm == -7  # protected a10126 = {1: -7}, ES256
    assert cose_bytes(name)[:6].hex() == "d28443" + vector["expected"]["protected"][:6]
    assert cbor2.loads(cose_bytes(name)).tag == vector["expected"]["cbor_tag"]


def test_cose_pvr_decodes() -> None:
    request = parse_constrained_voucher_request(
        verify_cose(cose_bytes("cose_pvr"), signer=c2_cert("pledge_idevid_der")).payload
    )
    # Description: {2501:{1:2 (proximity),7:nonce,12:proximity-registrar-pubk,13:serial}}
    assert request.assertion == "proximity"
    assert request.nonce == bytes.fromhex("23bfbbc9c2bcf213")  # from cose_voucher.json notes
    assert request.proximity_registrar_pubk == spki(c2_cert("registrar_der"))
    pledge = c2_cert("pledge_idevid_der")
    serial = pledge.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value
    assert request.serial_number == serial == "JADA123456789"
    assert request.created_on is None and request.extra == {}


def test_cose_rvr_decodes_and_finds_its_signer_in_the_x5bag() -> None:
    signed = verify_cose(cose_bytes("cose_rvr"))  # no signer given: one of the x5bag
    assert spki(signed.signer) == spki(c2_cert("registrar_der"))
    assert [spki(c) for c in signed.x5bag] == [
        spki(c2_cert("registrar_der")),
        spki(c2_cert("domain_ca_der")),
    ]
    request = parse_constrained_voucher_request(signed.payload)
    assert request.prior_signed_voucher_request == cose_bytes("cose_pvr")  # "embeds the signed PVR"
    assert request.nonce == bytes.fromhex("23bfbbc9c2bcf213")
    assert request.serial_number == "JADA123456789"
    aki = c2_cert("pledge_idevid_der").extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    )
    assert request.idevid_issuer is not None
    assert request.idevid_issuer.endswith(aki.value.public_bytes())


def test_cose_voucher_decodes() -> None:
    voucher = parse_constrained_voucher(
        verify_cose(cose_bytes("cose_voucher"), signer=c2_cert("masa_der")).payload
    )
    # Description: {2451:{1:2,2:created-on,3:false,7:nonce,8:pinned-domain-cert,...}}
    assert voucher.assertion == "proximity"
    assert voucher.domain_cert_revocation_checks is False
    assert voucher.nonce == bytes.fromhex("57eed786ad404907")
    assert voucher.serial_number == "JADA123456789"
    assert voucher.created_on is not None
    assert voucher.pinned_domain_cert is not None
    pinned = x509.load_der_x509_certificate(voucher.pinned_domain_cert)
    domain_ca = c2_cert("domain_ca_der")
    assert spki(pinned) == spki(domain_ca) and pinned.serial_number == domain_ca.serial_number


def test_cose_example_pairing_reports_exactly_the_nonce() -> None:
    voucher = parse_constrained_voucher(
        verify_cose(cose_bytes("cose_voucher"), signer=c2_cert("masa_der")).payload
    )
    for name in ("cose_pvr", "cose_rvr"):
        request = parse_constrained_voucher_request(
            verify_cose(cose_bytes(name), signer=c2_cert(COSE_SIGNERS[name])).payload
        )
        problems = compare_request(request, voucher)
        assert len(problems) == 1
        assert problems[0].startswith("nonce:")
        assert "57eed786ad404907" in problems[0] and "23bfbbc9c2bcf213" in problems[0]


def rebuild(
    name: str,
    *,
    protected: dict | None = None,
    payload: bytes | None = None,
    signature: bytes | None = None,
    unprotected: dict | None = None,
) -> bytes:
    prot, unprot, pay, sig = cbor2.loads(cose_bytes(name)).value
    return cbor2.dumps(
        cbor2.CBORTag(
            18,
            [
                cbor2.dumps(protected) if protected is not None else prot,
                unprotected if unprotected is not None else dict(unprot),
                payload if payload is not None else pay,
                signature if signature is not None else sig,
            ],
        )
    )


def test_cose_tampered_and_wrong_signer() -> None:
    masa = c2_cert("masa_der")
    payload = cbor2.loads(cose_bytes("cose_voucher")).value[2]
    signature = cbor2.loads(cose_bytes("cose_voucher")).value[3]
    assert verify_cose(rebuild("cose_voucher"), signer=masa)  # rebuilding alone changes nothing
    with pytest.raises(VoucherError, match="signature"):
        verify_cose(rebuild("cose_voucher", payload=payload[:-1] + b"8"), signer=masa)
    with pytest.raises(VoucherError, match="signature"):
        verify_cose(
            rebuild("cose_voucher", signature=bytes([signature[0] ^ 1]) + signature[1:]),
            signer=masa,
        )
    with pytest.raises(VoucherError, match="signature"):
        verify_cose(cose_bytes("cose_voucher"), signer=c2_cert("pledge_idevid_der"))
    with pytest.raises(VoucherError, match="signer"):
        verify_cose(cose_bytes("cose_voucher"))  # no x5bag and no signer


@pytest.mark.parametrize("protected", [{1: -35}, {1: 5}, {1: -8}, {}, {1: "ES256"}, {4: b"k"}])
def test_cose_wrong_alg(protected: dict) -> None:
    with pytest.raises(VoucherError):
        verify_cose(rebuild("cose_voucher", protected=protected), signer=c2_cert("masa_der"))


def test_cose_alg_only_unprotected_is_refused() -> None:
    with pytest.raises(VoucherError, match="alg"):
        verify_cose(
            rebuild("cose_voucher", protected={}, unprotected={1: -7}), signer=c2_cert("masa_der")
        )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"\x1f\x00",
        bytes.fromhex("d2"),
        bytes.fromhex("d28443a10126a0"),
        cbor2.dumps([1, 2, 3, 4]),
        cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa1\x01\x26", {32: [b"not a cert"]}, b"", b"x" * 64])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa1\x01\x26", {32: 7}, b"", b"x" * 64])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa1\x01\x26", {}, None, b"x" * 64])),
        b"\x81" * 100000,
    ],
)
def test_cose_garbage(data: bytes) -> None:
    with pytest.raises(VoucherError):
        verify_cose(data, signer=c2_cert("masa_der"))


@pytest.mark.parametrize(
    "tree",
    [
        [],
        {2452: {}},
        {2451: []},
        {2451: {1: "proximity", 2: "2022-12-06T20:23:30Z", 11: "X"}},
        {2451: {1: 9, 2: "2022-12-06T20:23:30Z", 11: "X"}},
        {2451: {1: 2, 2: 1670358210, 11: "X"}},
        {2451: {1: 2, 2: "2022-12-06T20:23:30Z", 11: b"X"}},
        {2451: {1: 2, 2: "2022-12-06T20:23:30Z", 11: "X", 7: "nonce"}},
        {2451: {1: 2, 2: "2022-12-06T20:23:30Z", 11: "X", 3: 0}},
        {2451: {1: 2, 2: "2022-12-06T20:23:30Z", 11: "X", 1.5: 0}},
        {2451: {1: 2, 2: "2022-12-06T20:23:30Z"}},
    ],
)
def test_cbor_wrong_types(tree: object) -> None:
    with pytest.raises(VoucherError):
        parse_constrained_voucher(cbor2.dumps(tree))


@pytest.mark.parametrize("data", [b"", b"\xff", b"\x5f\x41", b"\xa1\x19\x09\x93"])
def test_cbor_garbage(data: bytes) -> None:
    with pytest.raises(VoucherError):
        parse_constrained_voucher(data)


def test_cbor_name_keys_and_unknown_sids() -> None:
    """cBRSKI-29 §9.1.2 allows name keys; unknown SIDs are kept by absolute SID."""
    by_name = {
        "ietf-voucher:voucher": {
            "assertion": 2,
            "created-on": "2022-12-05T19:19:23Z",
            "serial-number": "JADA123456789",
        }
    }
    voucher = parse_constrained_voucher(cbor2.dumps(by_name))
    assert voucher.assertion == "proximity" and voucher.serial_number == "JADA123456789"
    tree = {2451: {1: 2, 2: "2022-12-05T19:19:23Z", 11: "JADA123456789", 13: "https://x"}}
    voucher = parse_constrained_voucher(cbor2.dumps(tree))
    assert voucher.extra == {2464: "https://x"}
    assert cbor2.loads(constrained_voucher_to_cbor(voucher)) == tree


# --- fresh artifacts ------------------------------------------------------------------


def fresh_voucher(masa_ca: x509.Certificate) -> Voucher:
    return Voucher(
        created_on=dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        assertion="logged",
        serial_number="SN-0001",
        nonce=b"\x01\x02\x03\x04\x05\x06\x07\x08",
        pinned_domain_cert=masa_ca.public_bytes(serialization.Encoding.DER),
        domain_cert_revocation_checks=False,
        extra={"est-domain": "est.example"},
    )


@pytest.mark.parametrize("key_type", ["p256", "p384", "rsa2048"])
def test_cms_round_trip_with_pki_keys(key_type: str) -> None:
    pki = Pki.create(key_type=key_type)  # type: ignore[arg-type]
    root = pki.root_ca("Voucher Test MASA CA")
    masa = pki.client_cert(root, "masa.example")
    voucher = fresh_voucher(root.cert)
    der = sign_cms(
        voucher_to_json(voucher), ID_CT_ANIMA_JSON_VOUCHER, masa.key, masa.cert, [root.cert]
    )
    signed = verify_cms(der)
    assert signed.content_type == ID_CT_ANIMA_JSON_VOUCHER
    assert signed.signer == masa.cert
    assert set(signed.certificates) == {masa.cert, root.cert}  # a SET OF: DER sorts it
    assert signed.signing_time is not None
    assert parse_voucher_json(signed.content) == voucher
    assert chains_to(signed.signer, root.cert, signed.certificates)
    other = Pki.create().root_ca("Other CA")
    assert not chains_to(signed.signer, other.cert, signed.certificates)


def self_signed_p521() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "p521 masa")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA512())
    )
    return key, cert


def test_cms_and_cose_round_trip_p521() -> None:
    key, cert = self_signed_p521()
    voucher = fresh_voucher(cert)
    signed = verify_cms(sign_cms(voucher_to_json(voucher), ID_CT_ANIMA_JSON_VOUCHER, key, cert))
    assert parse_voucher_json(signed.content) == voucher
    cose = verify_cose(sign_cose(b"payload", key, x5bag=[cert]))
    assert cose.algorithm == -36 and cose.payload == b"payload"


@pytest.mark.parametrize("key_type", ["p256", "p384", "rsa2048"])
def test_cose_round_trip_with_pki_keys(key_type: str) -> None:
    pki = Pki.create(key_type=key_type)  # type: ignore[arg-type]
    root = pki.root_ca("Voucher Test Registrar CA")
    registrar = pki.client_cert(root, "registrar.example")
    request = VoucherRequest(
        assertion="proximity",
        created_on=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        serial_number="SN-0001",
        nonce=b"\x00" * 8,
        idevid_issuer=b"\x04\x02\x30\x00",
        prior_signed_voucher_request=b"\xd2\x84",
        proximity_registrar_pubk=spki(registrar.cert),
    )
    signed_bytes = sign_cose(
        constrained_voucher_request_to_cbor(request),
        registrar.key,
        x5bag=[registrar.cert, root.cert],
        kid=b"reg-1",
    )
    signed = verify_cose(signed_bytes)
    assert signed.signer == registrar.cert and signed.kid == b"reg-1"
    assert signed.x5bag == [registrar.cert, root.cert]
    assert parse_constrained_voucher_request(signed.payload) == request
    assert parse_voucher_request_json(voucher_request_to_json(request)) == request
    with pytest.raises(VoucherError):
        verify_cose(signed_bytes, signer=root.cert)


def test_encoding_refuses_bad_values() -> None:
    with pytest.raises(VoucherError):
        voucher_to_json(
            Voucher(created_on=dt.datetime(2026, 1, 1), assertion="logged", serial_number="x")
        )
    with pytest.raises(VoucherError):
        voucher_to_json(
            Voucher(created_on=dt.datetime.now(dt.UTC), assertion="maybe", serial_number="x")
        )
    with pytest.raises(VoucherError):
        constrained_voucher_to_cbor(Voucher(serial_number=7))  # type: ignore[arg-type]
    with pytest.raises(VoucherError):
        constrained_voucher_to_cbor(Voucher(pinned_domain_subject_public_key_info=b"\x30\x00"))


# --- independent implementation: openssl ----------------------------------------------

openssl = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(openssl is None, reason="openssl CLI not installed")


@needs_openssl
def test_openssl_accepts_our_cms(tmp_path: Path) -> None:
    pki = Pki.create()
    root = pki.root_ca("Voucher Test MASA CA")
    masa = pki.client_cert(root, "masa.example")
    content = voucher_to_json(fresh_voucher(root.cert))
    (tmp_path / "v.der").write_bytes(
        sign_cms(content, ID_CT_ANIMA_JSON_VOUCHER, masa.key, masa.cert, [root.cert])
    )
    result = subprocess.run(
        [
            openssl,
            "cms",
            "-verify",
            "-noverify",
            "-inform",
            "DER",
            "-binary",
            "-in",
            str(tmp_path / "v.der"),
            "-out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "out").read_bytes() == content
    printed = subprocess.run(
        [openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "v.der")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "1.2.840.113549.1.9.16.1.40" in printed or "animaJSONVoucher" in printed


@needs_openssl
def test_we_accept_openssl_cms(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    root = pki.root_ca("Voucher Test MASA CA")
    masa = pki.client_cert(root, "masa.example")
    paths = pki.write(masa, "masa")
    content = voucher_to_json(fresh_voucher(root.cert))
    (tmp_path / "in.json").write_bytes(content)
    subprocess.run(
        [
            openssl,
            "cms",
            "-sign",
            "-nodetach",
            "-binary",
            "-outform",
            "DER",
            "-econtent_type",
            ID_CT_ANIMA_JSON_VOUCHER,
            "-signer",
            str(paths.cert),
            "-inkey",
            str(paths.key),
            "-in",
            str(tmp_path / "in.json"),
            "-out",
            str(tmp_path / "v.der"),
        ],
        capture_output=True,
        check=True,
    )
    signed = verify_cms((tmp_path / "v.der").read_bytes())
    assert signed.content == content
    assert signed.content_type == ID_CT_ANIMA_JSON_VOUCHER
    assert signed.signer == masa.cert
