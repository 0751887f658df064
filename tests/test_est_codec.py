"""EST codec against the EST-coaps draft-18 Appendix A vectors and the openssl CLI."""

from __future__ import annotations

import re
import shutil
import subprocess

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_der_private_key, pkcs7
from cryptography.x509.oid import AttributeOID

from harness.crypto.pki import Pki, generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.codec import CodecError, CsrAttr
from harness.vectors import vector_bytes

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not found")


def openssl(*args: str, data: bytes | None = None) -> bytes:
    result = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def openssl_certs(pkcs7_der: bytes) -> list[x509.Certificate]:
    """The certificates `openssl pkcs7 -print_certs` finds in a DER PKCS#7."""
    pem = openssl("pkcs7", "-inform", "DER", "-print_certs", data=pkcs7_der)
    return x509.load_pem_x509_certificates(pem)


# -- A.4 csrattrs ----------------------------------------------------------------------------

_LINE = re.compile(r"d=(\d+)\s+hl=\d+\s+l=\s*\d+\s+(?:prim|cons):\s+(\S+)\s*(?::(.*))?$")


def asn1parse(der: bytes) -> list[tuple[int, str, str]]:
    """(depth, type, value) per line of `openssl asn1parse -inform DER`."""
    out = openssl("asn1parse", "-inform", "DER", data=der).decode()
    rows = []
    for line in out.splitlines():
        match = _LINE.search(line)
        assert match, line
        rows.append((int(match.group(1)), match.group(2), (match.group(3) or "").strip()))
    return rows


def openssl_oid_name(dotted: str) -> str:
    """How openssl prints an OID (its short name if it knows one, else dotted)."""
    (row,) = asn1parse(
        openssl("asn1parse", "-genstr", f"OID:{dotted}", "-out", "/dev/stdout", "-noout")
    )
    return row[2]


def openssl_view_of_vector(der: bytes) -> list[tuple]:
    """The CsrAttrs items as openssl's asn1parse shows them."""
    rows = asn1parse(der)
    assert rows[0][:2] == (0, "SEQUENCE")
    items: list[tuple] = []
    for depth, kind, value in rows[1:]:
        if depth == 1 and kind == "OBJECT":
            items.append(("OBJECT", value))
        elif depth == 1 and kind == "SEQUENCE":
            items.append(("ATTRIBUTE", None, []))
        elif depth == 2 and kind == "OBJECT":
            items[-1] = ("ATTRIBUTE", value, items[-1][2])
        elif depth == 3:
            items[-1][2].append((kind, value))
    return items


def openssl_view_of_items(items: list[CsrAttr]) -> list[tuple]:
    """Our parsed items, each OID and value rendered by openssl for comparison."""
    view: list[tuple] = []
    for item in items:
        if not item.is_attribute:
            view.append(("OBJECT", openssl_oid_name(item.oid)))
            continue
        values = []
        for der in item.values or ():
            ((_, kind, value),) = asn1parse(der)
            values.append((kind, value))
        view.append(("ATTRIBUTE", openssl_oid_name(item.oid), values))
    return view


# Read off `openssl asn1parse -inform DER -i` of vectors/est/a4_csrattrs.json (the
# draft says this is RFC 7030 Appendix A.2's content); test_a4_openssl_reading re-runs it.
A4_AS_OPENSSL_READS_IT = [
    ("OBJECT", "1.3.6.1.1.1.1.22"),
    ("ATTRIBUTE", "2.999.1", [("PRINTABLESTRING", "Parse SET as 2.999.1 data")]),
    ("OBJECT", "challengePassword"),
    (
        "ATTRIBUTE",
        "2.999.2",
        [
            ("OBJECT", "2.999.3"),
            ("OBJECT", "2.999.4"),
            ("PRINTABLESTRING", "Parse SET as 2.999.2 data"),
        ],
    ),
    ("OBJECT", "brainpoolP384r1"),
    ("OBJECT", "sha384"),
]


def a4() -> bytes:
    return vector_bytes("est", "a4_csrattrs", "expected", "payload")


def test_a4_openssl_reading() -> None:
    assert openssl_view_of_vector(a4()) == A4_AS_OPENSSL_READS_IT


def test_a4_parse_csrattrs_matches_openssl() -> None:
    items = codec.parse_csrattrs(a4())
    assert openssl_view_of_items(items) == A4_AS_OPENSSL_READS_IT
    # The bare challengePassword OID is the one cryptography knows by that name.
    assert items[2] == CsrAttr(AttributeOID.CHALLENGE_PASSWORD.dotted_string)
    assert items[3].value_oids() == ["2.999.3", "2.999.4"]


def test_a4_round_trip_is_byte_exact() -> None:
    assert codec.encode_csrattrs(codec.parse_csrattrs(a4())) == a4()


def test_csrattrs_empty_and_malformed() -> None:
    empty = codec.encode_csrattrs([])
    assert openssl_view_of_vector(empty) == []
    assert codec.parse_csrattrs(empty) == []
    for bad in (b"", b"\x04\x00", a4()[:-1], a4() + b"\x00", b"\x30\x03\x02\x01\x01"):
        with pytest.raises(CodecError):
            codec.parse_csrattrs(bad)


# -- A.1 / A.2 certs-only ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a1_cacerts", "a2_simpleenroll"])
def test_parse_certs_only_vectors(name: str) -> None:
    der = vector_bytes("est", name, "expected", "payload")
    certs = codec.parse_certs_only(der)
    assert certs == openssl_certs(der)
    assert len(certs) == 1


def test_a1_is_the_root_ca() -> None:
    der = vector_bytes("est", "a1_cacerts", "expected", "payload")
    (cert,) = codec.parse_certs_only(der)
    printed = openssl("pkcs7", "-inform", "DER", "-print_certs", "-noout", data=der).decode()
    assert "CN = Root CA" in printed
    assert cert.subject.rfc4514_string().startswith("CN=Root CA,")


def test_a2_csr_and_issued_certificate() -> None:
    csr_der = vector_bytes("est", "a2_simpleenroll", "inputs", "payload_csr")
    csr = codec.csr_from_body(codec.b64_encode(csr_der))
    assert csr.is_signature_valid
    openssl("req", "-inform", "DER", "-verify", "-noout", data=csr_der)
    text = openssl("req", "-inform", "DER", "-noout", "-text", data=csr_der)
    printed = re.search(rb"challengePassword\s*:(.*)\n", text)
    assert printed is not None
    assert codec.challenge_password(csr) == printed.group(1)
    (cert,) = codec.parse_certs_only(vector_bytes("est", "a2_simpleenroll", "expected", "payload"))
    # The enrolled certificate is for the CSR's key and subject.
    assert cert.public_key() == csr.public_key()
    assert cert.subject == csr.subject


# -- A.3 serverkeygen (EST-coaps multipart-core) ----------------------------------------------


def test_a3_multipart_core() -> None:
    payload = vector_bytes("est", "a3_serverkeygen", "expected", "payload_multipart_core_cbor")
    decoded = cbor2.loads(payload)
    assert [type(x) for x in decoded] == [int, bytes, int, bytes]
    pairs = codec.parse_multipart_core(payload)
    assert pairs == [(decoded[0], decoded[1]), (decoded[2], decoded[3])]
    assert [fmt for fmt, _ in pairs] == [codec.CF_PKCS8, codec.CF_PKCS7_CERTS_ONLY]
    key = load_der_private_key(pairs[0][1], None)
    openssl("pkey", "-inform", "DER", "-noout", data=pairs[0][1])
    certs = codec.parse_certs_only(pairs[1][1])
    assert certs == openssl_certs(pairs[1][1])
    assert certs[0].public_key() == key.public_key()
    assert codec.encode_multipart_core(pairs) == payload
    csr = x509.load_der_x509_csr(vector_bytes("est", "a3_serverkeygen", "inputs", "payload_csr"))
    assert csr.is_signature_valid


def test_multipart_core_malformed() -> None:
    payload = vector_bytes("est", "a3_serverkeygen", "expected", "payload_multipart_core_cbor")
    for bad in (
        payload + b"\x00",
        payload[:-1],
        cbor2.dumps([284]),
        cbor2.dumps({1: 2}),
        cbor2.dumps([284, "text"]),
        cbor2.dumps([-1, b""]),
        b"\xff",
    ):
        with pytest.raises(CodecError):
            codec.parse_multipart_core(bad)


# -- certs-only encoding -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hierarchy():
    pki = Pki()
    root = pki.root_ca("codec root")
    sub = pki.sub_ca(root, "codec sub")
    return root, sub, pki.client_cert(sub, "codec leaf")


def test_certs_only_round_trip_with_openssl(hierarchy) -> None:
    _, _, leaf = hierarchy
    certs = [leaf.cert, *leaf.chain]
    der = codec.certs_only(certs)
    # certificates is a DER SET OF, so the encoder may reorder; compare as sets, and
    # our parse must list them in the order openssl finds them in the message.
    parsed = codec.parse_certs_only(der)
    assert parsed == openssl_certs(der)
    assert set(parsed) == set(certs) and len(parsed) == len(certs)
    with pytest.raises(CodecError):
        codec.certs_only([])


def test_parse_certs_only_of_openssl_output(hierarchy, tmp_path) -> None:
    root, sub, _ = hierarchy
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(sub.cert_pem() + root.cert_pem())
    der = openssl("crl2pkcs7", "-nocrl", "-certfile", str(bundle), "-outform", "DER")
    assert codec.parse_certs_only(der) == [sub.cert, root.cert]


def test_parse_certs_only_rejects_other_content(hierarchy) -> None:
    root, _, leaf = hierarchy
    signed = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"hello")
        .add_signer(leaf.cert, leaf.key, pkcs7.hashes.SHA256())  # type: ignore[arg-type]
        .sign(serialization.Encoding.DER, [])
    )
    good = codec.certs_only([root.cert])
    cert_der = root.cert.public_bytes(serialization.Encoding.DER)
    for bad in (signed, cert_der, b"", b"garbage", good + b"\x00", good[:-2]):
        with pytest.raises(CodecError):
            codec.parse_certs_only(bad)


# -- base64 (RFC 8951) ---------------------------------------------------------------------------


def test_b64_against_openssl(hierarchy) -> None:
    root, _, _ = hierarchy
    der = root.cert.public_bytes(serialization.Encoding.DER)
    ours = codec.b64_encode(der)
    assert all(len(line) <= 64 for line in ours.split(b"\r\n"))
    assert openssl("base64", "-d", data=ours.replace(b"\r\n", b"\n") + b"\n") == der
    theirs = openssl("base64", data=der)  # 64-column LF lines
    assert codec.b64_decode(theirs) == der
    assert codec.b64_decode(theirs.replace(b"\n", b"\r\n")) == der
    assert codec.b64_decode(codec.b64_encode(der, line_length=0)) == der
    assert codec.b64_decode(b"  " + theirs.replace(b"\n", b" \t\n ")) == der


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\r\n",
        b"QQ=",
        b"QQ===",
        b"QQ==QQ==",
        b"=QQ=",
        b"QUJD*",
        b"QU-J",
        "QUJ\u00e9".encode(),
        b"QUJD\x00",
    ],
)
def test_b64_rejects(bad: bytes) -> None:
    with pytest.raises(CodecError):
        codec.b64_decode(bad)


# -- PKCS#10 bodies --------------------------------------------------------------------------------


def test_csr_body_round_trip_with_openssl() -> None:
    csr = make_csr(generate_key("p256"), "body", challenge_password="pw")
    body = codec.csr_to_body(csr)
    der = openssl("base64", "-d", data=body.replace(b"\r\n", b"\n") + b"\n")
    openssl("req", "-inform", "DER", "-verify", "-noout", data=der)
    assert codec.csr_from_body(body) == csr
    assert codec.challenge_password(codec.csr_from_body(body)) == b"pw"
    for bad in (b"not base64!", codec.b64_encode(b"\x30\x00"), codec.b64_encode(b"hello")):
        with pytest.raises(CodecError):
            codec.csr_from_body(bad)


# -- serverkeygen multipart/mixed (RFC 7030 §4.4.2) ------------------------------------------------


def a3_parts() -> tuple[bytes, bytes]:
    payload = vector_bytes("est", "a3_serverkeygen", "expected", "payload_multipart_core_cbor")
    (_, key), (_, certs) = codec.parse_multipart_core(payload)
    assert key is not None and certs is not None
    return key, certs


def test_serverkeygen_round_trip() -> None:
    key, certs = a3_parts()
    content_type, body = codec.encode_serverkeygen_response(key, certs, "est-boundary-01")
    assert content_type == "multipart/mixed; boundary=est-boundary-01"
    result = codec.parse_serverkeygen_response(content_type, body)
    assert result.private_key_der == key
    assert result.certs == codec.parse_certs_only(certs)
    assert result.key_media_type == codec.PKCS8
    with pytest.raises(CodecError):
        codec.encode_serverkeygen_response(key, certs, "bad boundary!")


# Laid out by hand after RFC 7030 §4.4.2's response: LF line ends, a preamble, a quoted
# boundary, header names in other case, parameters with spaces, and no
# Content-Transfer-Encoding on the second part (RFC 8951: base64 regardless).
HAND_BODY = """This is a preamble.
--=_kg "x"
content-type: application/pkcs8
content-transfer-encoding: base64

{key}
--=_kg "x"
Content-Type: application/pkcs7-mime ; smime-type=CERTS-ONLY

{certs}
--=_kg "x"--
"""


def test_serverkeygen_hand_checked_body() -> None:
    key, certs = a3_parts()
    body = HAND_BODY.format(
        key=openssl("base64", data=key).decode().strip(),
        certs=openssl("base64", data=certs).decode().strip(),
    ).encode()
    result = codec.parse_serverkeygen_response('Multipart/Mixed; boundary="=_kg \\"x\\""', body)
    assert result.private_key_der == key
    assert result.certs == openssl_certs(certs)


def test_serverkeygen_malformed() -> None:
    key, certs = a3_parts()
    content_type, body = codec.encode_serverkeygen_response(key, certs, "b1")
    one_part = body.split(b"--b1\r\nContent-Type: application/pkcs7")[0] + b"--b1--\r\n"
    cases = [
        ("application/pkcs8", body),
        ("multipart/mixed", body),
        ("multipart/mixed; boundary=other", body),
        (content_type, one_part),
        (content_type, body.replace(b"application/pkcs8", b"text/plain")),
        (content_type, body.replace(b"smime-type=certs-only", b"smime-type=signed-data")),
        (content_type, body.replace(b"MIGHAgEA", b"MIGH*gEA")),
        (content_type + "\r\nX: y", body),
    ]
    for ct, data in cases:
        with pytest.raises(CodecError):
            codec.parse_serverkeygen_response(ct, data)


# -- media types and paths -------------------------------------------------------------------


def test_parse_content_type() -> None:
    assert codec.parse_content_type(codec.PKCS7_CERTS_ONLY) == (
        "application/pkcs7-mime",
        {"smime-type": "certs-only"},
    )
    assert codec.parse_content_type('Multipart/Mixed ; Boundary="a;b"') == (
        "multipart/mixed",
        {"boundary": "a;b"},
    )
    assert codec.is_certs_only("application/PKCS7-mime;smime-type=Certs-Only")
    assert not codec.is_certs_only(codec.PKCS7_MIME)
    for bad in ("", "text", "a/b; c", "a/b; c=d e"):
        with pytest.raises(CodecError):
            codec.parse_content_type(bad)


def test_paths() -> None:
    assert codec.operation_path(codec.CACERTS) == "/.well-known/est/cacerts"
    assert codec.operation_path(codec.SIMPLEENROLL, "arbitraryLabel1") == (
        "/.well-known/est/arbitraryLabel1/simpleenroll"
    )
    assert codec.split_path("/.well-known/est/csrattrs") == (None, "csrattrs")
    assert codec.split_path("/.well-known/est/lbl/serverkeygen?x=1") == ("lbl", "serverkeygen")
    for bad in ("/est/cacerts", "/.well-known/est/nothing", "/.well-known/est/a/b/cacerts"):
        with pytest.raises(CodecError):
            codec.split_path(bad)
    with pytest.raises(CodecError):
        codec.operation_path("enroll")
    with pytest.raises(CodecError):
        codec.operation_path(codec.CACERTS, "a/b")
