"""Redirects and HTTP authentication of the reference EST client (client_http.py)."""

from __future__ import annotations

import base64

import pytest

from harness.protocols.est.client import EstResponse
from harness.protocols.est.client_http import MAX_REDIRECTS, HttpAuth, redirect_path
from harness.protocols.est.client_support import Refused
from harness.protocols.est.http_digest import check_digest, digest_challenge, parse_auth

BASE = "https://127.0.0.1:8443/.well-known/est"


def _resp(status: int, **headers: str) -> EstResponse:
    return EstResponse(status, headers={k.lower().replace("_", "-"): v for k, v in headers.items()})


def test_same_origin_redirects() -> None:
    assert redirect_path(BASE, "cacerts", _resp(200)) is None
    assert redirect_path(BASE, "cacerts", _resp(302, location="/est-moved/cacerts")) == (
        "/est-moved/cacerts")
    absolute = _resp(307, location="https://127.0.0.1:8443/x/simpleenroll?a=1")
    assert redirect_path(BASE, "simpleenroll", absolute) == "/x/simpleenroll?a=1"
    relative = _resp(301, location="moved/cacerts")
    assert redirect_path(BASE, "cacerts", relative) == "/.well-known/est/moved/cacerts"
    assert redirect_path(BASE, "/a/b", _resp(308, location="c")) == "/a/c"
    assert MAX_REDIRECTS >= 1


@pytest.mark.parametrize("location", [
    "https://127.0.0.1:9443/.well-known/est/cacerts",  # other port
    "http://127.0.0.1:8443/.well-known/est/cacerts",  # other scheme
    "https://localhost:8443/.well-known/est/cacerts",  # other host
    "https://127.0.0.1:bad/x",
    "",
])
def test_cross_origin_or_broken_redirect_refused(location: str) -> None:
    with pytest.raises(Refused):
        redirect_path(BASE, "cacerts", _resp(302, location=location))


def test_basic_and_digest_answers() -> None:
    auth = HttpAuth("", "secret")
    assert auth.take_challenge(_resp(401, www_authenticate='Basic realm="r"')) == "Basic"
    value = auth.header("POST", "/p")
    assert base64.b64decode(value.split()[1]) == b":secret"
    digest = ", ".join([digest_challenge("r", "SHA-256", "n1"), digest_challenge("r", "MD5", "n2"),
                        'Basic realm="r"'])
    auth = HttpAuth("u", "pw")
    assert auth.take_challenge(_resp(401, www_authenticate=digest)) == "Digest"
    first, second = auth.header("POST", "/p"), auth.header("POST", "/p")
    assert "algorithm=SHA-256" in first and "nc=00000002" in second
    assert check_digest(parse_auth(second)[0], "POST", "/p", {"u": "pw"}.get,
                        {"n1"}.__contains__) == "u"
    assert HttpAuth("u", "pw", digest=False).take_challenge(
        _resp(401, www_authenticate=digest)) == "Basic"


@pytest.mark.parametrize(("auth", "challenge"), [
    (HttpAuth("", ""), 'Basic realm="r"'),  # no credentials
    (HttpAuth("", "pw", with_empty_username=False), 'Basic realm="r"'),
    (HttpAuth("u", "pw", digest=False), 'Digest realm="r", nonce="n", qop="auth"'),
    (HttpAuth("u", "pw"), 'Bearer realm="r"'),
    (HttpAuth("u", "pw"), ""),
])
def test_unanswerable_challenges_refused(auth: HttpAuth, challenge: str) -> None:
    with pytest.raises(Refused):
        auth.take_challenge(_resp(401, www_authenticate=challenge))
