"""HTTP authentication headers (RFC 9110 §11) and the Digest scheme (RFC 7616, qop=auth).

Both EST roles use it: the tester server peer challenges and verifies, the reference
client answers. Only what EST needs: algorithms MD5 and SHA-256 (not the -sess forms,
not userhash), qop "auth" (not auth-int).

    challenges = parse_auth(resp.header("www-authenticate"))      # [AuthHeader, ...]
    value = digest_authorization(challenges[0], "user", "pw", "POST", "/.well-known/est/x")
    user = check_digest(parse_auth(value)[0], "POST", "/.well-known/est/x", passwords.get,
                        nonces.__contains__)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import OnboardcheckError

# RFC 7616 §3.2: the hash of each algorithm; the first is preferred (§3.7: SHA-256 first).
ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "SHA-256": hashlib.sha256,
    "MD5": hashlib.md5,
}
QOP = "auth"

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*')
_SCHEME = re.compile(rf"[\s,]*({_TOKEN})")
_TOKEN68 = re.compile(r"\s*([A-Za-z0-9\-._~+/]+=*)\s*(?:,|$)")


class DigestError(OnboardcheckError):
    """A Digest challenge the client cannot answer, or credentials that do not verify."""


@dataclass
class AuthHeader:
    """One challenge (WWW-Authenticate) or one credentials value (Authorization)."""

    scheme: str  # as sent; compare with .is_()
    params: dict[str, str] = field(default_factory=dict)  # names lower case, values unquoted
    token68: str | None = None  # Basic credentials

    def is_(self, scheme: str) -> bool:
        return self.scheme.lower() == scheme.lower()


def parse_auth(value: str | None) -> list[AuthHeader]:
    """Every challenge of a WWW-Authenticate value (several fields joined by ", " too),
    or the credentials of an Authorization value. Junk ends the list, never raises."""
    found: list[AuthHeader] = []
    text = value or ""
    pos = 0
    while pos < len(text):
        scheme = _SCHEME.match(text, pos)
        if scheme is None:
            break
        current = AuthHeader(scheme.group(1))
        found.append(current)
        pos = scheme.end()
        token68 = _TOKEN68.match(text, pos)
        if token68 is not None:  # "abc=" ending the item is a token68, not a parameter
            current.token68 = token68.group(1)
            pos = token68.end()
            continue
        while (param := _PARAM.match(text, pos)) is not None:
            current.params[param.group(1).lower()] = _unquote(param.group(2))
            pos = param.end()
            if not text.startswith(",", pos):
                break
            pos += 1
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_response(
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str = QOP,
) -> str:
    """RFC 7616 §3.4.1 `response` for qop=auth: KD(H(A1), nonce:nc:cnonce:qop:H(A2))."""
    hash_fn = ALGORITHMS.get(algorithm.upper())
    if hash_fn is None:
        raise DigestError(f"Digest algorithm {algorithm!r} is not supported")

    def h(text: str) -> str:
        return hash_fn(text.encode("utf-8")).hexdigest()

    ha1 = h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def digest_challenge(realm: str, algorithm: str, nonce: str, opaque: str | None = None) -> str:
    """A WWW-Authenticate value offering Digest with `algorithm` and qop=auth."""
    value = f'Digest realm={_quote(realm)}, qop="{QOP}", algorithm={algorithm}, '
    value += f"nonce={_quote(nonce)}"
    if opaque is not None:
        value += f", opaque={_quote(opaque)}"
    return value


def choose_digest(challenges: list[AuthHeader]) -> AuthHeader | None:
    """The Digest challenge to answer: qop=auth offered and the strongest algorithm."""
    usable = [
        c
        for c in challenges
        if c.is_("Digest")
        and c.params.get("algorithm", "MD5").upper() in ALGORITHMS
        and QOP in [q.strip() for q in c.params.get("qop", "").split(",")]
        and "nonce" in c.params
    ]
    order = list(ALGORITHMS)
    usable.sort(key=lambda c: order.index(c.params.get("algorithm", "MD5").upper()))
    return usable[0] if usable else None


def digest_authorization(
    challenge: AuthHeader,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization value answering `challenge` (RFC 7616 §3.4)."""
    params = challenge.params
    algorithm = params.get("algorithm", "MD5")
    realm, nonce = params.get("realm", ""), params.get("nonce")
    if nonce is None:
        raise DigestError("the Digest challenge has no nonce")
    cnonce = cnonce if cnonce is not None else secrets.token_urlsafe(16)
    count = f"{nc:08x}"
    response = digest_response(algorithm, username, realm, password, method, uri, nonce,
                               count, cnonce)  # fmt: skip
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(realm)}",
        f"uri={_quote(uri)}",
        f"algorithm={algorithm}",
        f"nonce={_quote(nonce)}",
        f"nc={count}",
        f"cnonce={_quote(cnonce)}",
        f"qop={QOP}",
        f"response={_quote(response)}",
    ]
    if "opaque" in params:
        parts.append(f"opaque={_quote(params['opaque'])}")
    return "Digest " + ", ".join(parts)


def check_digest(
    credentials: AuthHeader,
    method: str,
    target: str,
    password_of: Callable[[str], str | None],
    nonce_issued: Callable[[str], bool],
    realm: str | None = None,
) -> str:
    """The username of valid Digest credentials for `method target`; DigestError says
    what is wrong otherwise."""
    p = credentials.params
    if not credentials.is_("Digest"):
        raise DigestError(f"credentials use {credentials.scheme}, not Digest")
    missing = [k for k in ("username", "nonce", "uri", "response", "nc", "cnonce") if k not in p]
    if missing:
        raise DigestError(f"Digest credentials lack {', '.join(missing)}")
    if p.get("qop") != QOP:
        raise DigestError(f"Digest qop {p.get('qop')!r}, not {QOP}")
    if realm is not None and p.get("realm") != realm:
        raise DigestError(f"Digest realm {p.get('realm')!r}, not {realm!r}")
    if p["uri"] != target:
        raise DigestError(f"Digest uri {p['uri']!r} is not the request target {target!r}")
    if not nonce_issued(p["nonce"]):
        raise DigestError("Digest nonce was not issued by this server")
    password = password_of(p["username"])
    if password is None:
        raise DigestError(f"unknown user {p['username']!r}")
    algorithm, realm_sent = p.get("algorithm", "MD5"), p.get("realm", "")
    expected = digest_response(algorithm, p["username"], realm_sent, password, method,
                               p["uri"], p["nonce"], p["nc"], p["cnonce"])  # fmt: skip
    if not secrets.compare_digest(expected, p["response"].lower()):
        raise DigestError("Digest response does not match the password")
    return p["username"]
