"""The SZTP codec against RFC 8572's own examples (vectors/sztp) and hostile input."""

from __future__ import annotations

import base64
import json

import pytest
from asn1crypto import cms, core

from harness.crypto.pki import Pki
from harness.protocols.sztp import codec
from harness.protocols.sztp.errors import SztpCodecError
from harness.vectors import load_vector, vector_bytes

PLACEHOLDER = "base64encodedvalue=="


def test_rfc8572_redirect_example() -> None:
    vector = load_vector("sztp", "rfc8572_6.2_redirect_information")
    text = vector_bytes("sztp", "rfc8572_6.2_redirect_information", "inputs", "json_ascii")
    info = codec.parse_conveyed_json(text)
    assert isinstance(info, codec.RedirectInformation)
    found = [[s.address, s.port] for s in info.bootstrap_servers]
    assert found == vector["expected"]["bootstrap_servers"]
    anchor = base64.b64decode(vector["expected"]["trust_anchor_b64"])
    assert all(s.trust_anchor == anchor for s in info.bootstrap_servers)
    # the placeholder is not canonical base64 (its padding bits are set): re-encoded, it
    # differs in text but decodes to the same octets
    assert codec.parse_conveyed_json(codec.conveyed_to_json(info)) == info


def test_rfc8572_onboarding_example() -> None:
    name = "rfc8572_6.2_onboarding_information"
    expected = load_vector("sztp", name)["expected"]
    text = vector_bytes("sztp", name, "inputs", "json_ascii")
    info = codec.parse_conveyed_json(text)
    assert isinstance(info, codec.OnboardingInformation) and info.boot_image is not None
    assert info.boot_image.os_name == expected["os_name"]
    assert info.boot_image.os_version == expected["os_version"]
    assert info.boot_image.download_uris == expected["download_uri"]
    assert info.boot_image.image_verification == [
        (expected["hash_algorithm"], vector_bytes("sztp", name, "expected", "hash_value"))]
    assert info.configuration_handling == expected["configuration_handling"]
    placeholder = vector_bytes("sztp", name, "expected", "placeholder_b64")
    assert info.configuration == info.pre_configuration_script == placeholder
    assert info.post_configuration_script == placeholder
    again = codec.conveyed_to_dict(info)["ietf-sztp-conveyed-info:onboarding-information"]
    assert again["boot-image"] == json.loads(text)[
        "ietf-sztp-conveyed-info:onboarding-information"]["boot-image"]
    assert codec.parse_conveyed_json(codec.conveyed_to_json(info)) == info


def test_rfc8572_get_bootstrapping_data_input() -> None:
    name = "rfc8572_7.2_get_bootstrapping_data_input"
    expected = load_vector("sztp", name)["expected"]
    body = {"ietf-sztp-bootstrap-server:input": {
        "hw-model": expected["hw-model"], "os-name": expected["os-name"],
        "os-version": expected["os-version"], "nonce": expected["nonce_b64"]}}
    found = codec.parse_get_input(json.dumps(body))
    assert (found.hw_model, found.os_name, found.os_version) == (
        expected["hw-model"], expected["os-name"], expected["os-version"])
    assert found.nonce == vector_bytes("sztp", name, "expected", "nonce_b64")
    assert not found.signed_data_preferred
    assert codec.parse_get_input(found.to_json()) == found


def test_rfc8572_report_progress_input() -> None:
    name = "rfc8572_7.2_report_progress_input"
    expected = load_vector("sztp", name)["expected"]
    keys = [{"algorithm": a, "key-data": expected["placeholder_b64"]}
            for a in expected["ssh_host_key_algorithms"]]
    body = {"ietf-sztp-bootstrap-server:input": {
        "progress-type": expected["progress-type"], "message": expected["message"],
        "ssh-host-keys": {"ssh-host-key": keys},
        "trust-anchor-certs": {"trust-anchor-cert": [expected["placeholder_b64"]]}}}
    found = codec.parse_progress_input(json.dumps(body))
    assert found.progress_type == "bootstrap-complete"
    assert [a for a, _ in found.ssh_host_keys] == expected["ssh_host_key_algorithms"]
    assert codec.parse_progress_input(found.to_json()) == found


def test_signed_data_preferred_is_empty_leaf() -> None:
    text = b'{"ietf-sztp-bootstrap-server:input": {"signed-data-preferred": [null]}}'
    assert codec.parse_get_input(text).signed_data_preferred
    with pytest.raises(SztpCodecError, match="signed-data-preferred"):
        codec.parse_get_input(b'{"ietf-sztp-bootstrap-server:input": '
                              b'{"signed-data-preferred": true}}')


@pytest.mark.parametrize("octets", [0, 15, 33, 64])
def test_nonce_length_outside_16_32(octets: int) -> None:
    nonce = base64.b64encode(bytes(octets)).decode()
    with pytest.raises(SztpCodecError, match="nonce"):
        codec.parse_get_input(json.dumps({"ietf-sztp-bootstrap-server:input": {"nonce": nonce}}))


HOSTILE = [b"", b"\xff\xfe", b"[]", b"null", b'{"a": 1}', b"{" * 5000,
           b'{"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": []}}',
           b'{"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": [{}]}}',
           b'{"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": '
           b'[{"address": "a", "port": "443"}]}}',
           b'{"ietf-sztp-conveyed-info:onboarding-information": {"configuration": "AA=="}}',
           b'{"ietf-sztp-conveyed-info:onboarding-information": {"boot-image": '
           b'{"image-verification": [{"hash-algorithm": "x", "hash-value": "zz"}]}}}',
           b'{"ietf-sztp-conveyed-info:onboarding-information": {}, "x": 1}',
           b'{"ietf-sztp-conveyed-info:redirect-information": 1, '
           b'"ietf-sztp-conveyed-info:redirect-information": 2}']  # fmt: skip


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_json_gives_typed_errors(data: bytes) -> None:
    for parse in (codec.parse_conveyed_json, codec.parse_get_input, codec.parse_get_output,
                  codec.parse_progress_input, codec.restconf_errors):
        with pytest.raises(SztpCodecError):
            parse(data)


@pytest.mark.parametrize("der", [b"", b"\x30\x00", b"\x30\x03\x06\x01\x00", bytes(range(64)),
                                 b"\x30\x80" + b"\x00" * 10])
def test_hostile_cms_gives_typed_errors(der: bytes) -> None:
    for parse in (codec.unwrap_conveyed, codec.certs_from_cms):
        with pytest.raises(SztpCodecError):
            parse(der)


def test_unsigned_wrapper_read_by_asn1crypto() -> None:
    """The unsigned wrapper as sztpd writes it: ContentInfo id-ct-sztpConveyedInfoJSON
    with the JSON in an OCTET STRING (read back with asn1crypto, not the codec)."""
    der = codec.wrap_unsigned(b'{"x": 1}')
    info = cms.ContentInfo.load(der)
    assert info["content_type"].dotted == "1.2.840.113549.1.9.16.1.43"
    assert info["content"].parse(core.OctetString).native == b'{"x": 1}'


def test_certs_only_round_trip_and_chain() -> None:
    pki = Pki.create()
    root = pki.root_ca("r")
    sub = pki.sub_ca(root, "s")
    other = pki.root_ca("o")
    certs = codec.certs_from_cms(codec.certs_only([sub.cert, root.cert]))
    assert sorted(c.subject.rfc4514_string() for c in certs) == ["CN=r", "CN=s"]
    assert codec.is_single_chain(certs) and codec.leaf_of(certs) == sub.cert
    assert codec.self_signed_roots(certs) == [root.cert]
    assert not codec.is_single_chain([sub.cert, root.cert, other.cert])
