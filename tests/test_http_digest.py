"""HTTP Digest (RFC 7616) against the §3.9.1 example, and the auth-header parser."""

from __future__ import annotations

import pytest

from harness.protocols.est.http_digest import (
    AuthHeader,
    DigestError,
    check_digest,
    choose_digest,
    digest_authorization,
    digest_challenge,
    digest_response,
    parse_auth,
)
from harness.vectors import load_vector

VECTOR = load_vector("est", "rfc7616_digest")
IN = VECTOR["inputs"]


def _challenge(algorithm: str) -> str:
    # The §3.9.1 WWW-Authenticate, one field per algorithm.
    return (
        f'Digest realm="{IN["realm_ascii"]}", qop="{IN["qop_offered_ascii"]}", '
        f'algorithm={algorithm}, nonce="{IN["nonce_ascii"]}", opaque="{IN["opaque_ascii"]}"'
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_response(algorithm: str) -> None:
    expected = VECTOR["expected"][algorithm]["response_ascii"]
    got = digest_response(algorithm, IN["username_ascii"], IN["realm_ascii"],
                          IN["password_ascii"], IN["method_ascii"], IN["uri_ascii"],
                          IN["nonce_ascii"], IN["nc_ascii"], IN["cnonce_ascii"], IN["qop_ascii"])
    assert got == expected


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_answer_and_check(algorithm: str) -> None:
    [challenge] = parse_auth(_challenge(algorithm))
    assert challenge.params["nonce"] == IN["nonce_ascii"]
    value = digest_authorization(challenge, IN["username_ascii"], IN["password_ascii"],
                                 IN["method_ascii"], IN["uri_ascii"], nc=1,
                                 cnonce=IN["cnonce_ascii"])
    [creds] = parse_auth(value)
    assert creds.params["response"] == VECTOR["expected"][algorithm]["response_ascii"]
    assert creds.params["opaque"] == IN["opaque_ascii"] and creds.params["nc"] == "00000001"
    user = check_digest(creds, "GET", IN["uri_ascii"], {"Mufasa": "Circle of Life"}.get,
                        {IN["nonce_ascii"]}.__contains__, realm=IN["realm_ascii"])
    assert user == "Mufasa"
    for method, uri, password, nonces in [
        ("POST", IN["uri_ascii"], "Circle of Life", {IN["nonce_ascii"]}),
        ("GET", "/other", "Circle of Life", {IN["nonce_ascii"]}),
        ("GET", IN["uri_ascii"], "Circle Of Life", {IN["nonce_ascii"]}),
        ("GET", IN["uri_ascii"], "Circle of Life", set()),
    ]:
        with pytest.raises(DigestError):
            check_digest(creds, method, uri, {"Mufasa": password}.get, nonces.__contains__)


def test_parse_several_challenges_and_basic() -> None:
    value = ", ".join([_challenge("SHA-256"), _challenge("MD5"), 'Basic realm="x, y"'])
    found = parse_auth(value)
    assert [c.scheme for c in found] == ["Digest", "Digest", "Basic"]
    assert found[2].params == {"realm": "x, y"}
    assert choose_digest(found) is found[0]
    assert choose_digest([found[1], found[0]]) is found[0]  # SHA-256 preferred
    assert choose_digest([found[2]]) is None
    [basic] = parse_auth("Basic OmNvcnJlY3Q=")
    assert basic.is_("basic") and basic.token68 == "OmNvcnJlY3Q="
    assert parse_auth(None) == [] and parse_auth("") == []
    assert parse_auth('Digest realm="a\\"b"')[0].params["realm"] == 'a"b'


def test_unsupported_and_odd_input() -> None:
    assert choose_digest(parse_auth('Digest realm="r", nonce="n", algorithm=SHA-512-256, '
                                    'qop="auth"')) is None
    assert choose_digest(parse_auth('Digest realm="r", nonce="n", qop="auth-int"')) is None
    with pytest.raises(DigestError):
        digest_authorization(AuthHeader("Digest", {"realm": "r"}), "u", "p", "GET", "/")
    with pytest.raises(DigestError):
        check_digest(AuthHeader("Basic"), "GET", "/", dict().get, set().__contains__)
    for junk in ("\x00\x01", "=,=,", 'Digest realm="unterminated', ",,,"):
        parse_auth(junk)  # never raises
    # Our own challenge parses back; an empty username is quoted as "".
    [c] = parse_auth(digest_challenge("estrealm", "SHA-256", "abc", opaque="o"))
    value = digest_authorization(c, "", "pw", "POST", "/.well-known/est/simpleenroll")
    assert 'username=""' in value
    assert check_digest(parse_auth(value)[0], "POST", "/.well-known/est/simpleenroll",
                        {"": "pw"}.get, {"abc"}.__contains__) == ""
