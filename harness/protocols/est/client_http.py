"""HTTP-level behaviour of the reference EST client: same-origin redirects (RFC 7030
§3.2.1, origins per RFC 6454) and answering 401 challenges (§3.2.3) with Basic
(RFC 7617) or Digest (RFC 7616). Kept apart from `reference_client.py`, which asks:

    target = redirect_path(base_url, current_path, resp)   # None: not a redirect
    auth = HttpAuth(username, password)
    auth.take_challenge(resp)  -> "Basic" | "Digest" ; raises Refused if it cannot answer
    headers["Authorization"] = auth.header("POST", "/.well-known/est/simpleenroll")
"""

from __future__ import annotations

import base64
from urllib.parse import urljoin, urlsplit

from harness.protocols.est.client import EstResponse
from harness.protocols.est.client_support import Refused
from harness.protocols.est.http_digest import (
    AuthHeader,
    DigestError,
    choose_digest,
    digest_authorization,
    parse_auth,
)

MAX_REDIRECTS = 5  # RFC 9110 §15.4 leaves the bound to the client; loops end here
# Method and body are kept: EST's POSTs carry the CSR (307/308 say so; 301/302 allow it).
FOLLOWED = frozenset({301, 302, 307, 308})
DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int | None]:
    """RFC 6454 §4 origin of a URL: (scheme, host, port), port defaulted by scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None  # unparsable port: an origin no other URL shares
    return scheme, (parts.hostname or "").lower(), port


def redirect_path(base_url: str, current_path: str, resp: EstResponse) -> str | None:
    """The path to repeat the request at when `resp` redirects within the origin of
    `base_url`; None when it is no redirect. Refused for another origin (§3.2.1: a new
    origin needs its own TLS connection and checks; this client does not go there)."""
    if resp.error is not None or resp.status not in FOLLOWED:
        return None
    location = (resp.header("location") or "").strip()
    if not location:
        raise Refused(f"HTTP {resp.status} without a Location")
    # `current_path` is an operation (relative to the base URL) or an absolute path.
    current = urljoin(base_url.rstrip("/") + "/", current_path)
    target = urljoin(current, location)
    if _origin(target) != _origin(base_url):
        raise Refused(f"HTTP {resp.status} to another origin ({target}); not followed")
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class HttpAuth:
    """Credentials of the client and the challenge it answers with them.

    `with_empty_username` (the reference: True): a password with username "" is a
    credential (§3.2.3 MAY); `digest` (the reference: True): Digest challenges are
    answered, not only Basic.
    """

    def __init__(
        self, username: str, password: str, with_empty_username: bool = True, digest: bool = True
    ):
        self.username = username
        self.password = password
        self.digest = digest
        self.usable = bool(username) or (with_empty_username and bool(password))
        self.scheme: str | None = None
        self._challenge: AuthHeader | None = None
        self._count = 0

    def take_challenge(self, resp: EstResponse) -> str:
        """Pick the scheme to answer a 401 with; Refused when there is none."""
        offered = parse_auth(resp.header("www-authenticate"))
        names = ", ".join(c.scheme for c in offered) or "no WWW-Authenticate"
        if not self.usable:
            raise Refused(f"HTTP 401 ({names}) and no credentials configured")
        digest = choose_digest(offered) if self.digest else None
        if digest is not None:
            self.scheme, self._challenge, self._count = "Digest", digest, 0
        elif any(c.is_("Basic") for c in offered):
            self.scheme = "Basic"
        else:
            raise Refused(f"HTTP 401 offers {names}; this client answers Basic"
                          + (" or Digest" if self.digest else ""))  # fmt: skip
        return self.scheme

    def basic(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def header(self, method: str, path: str) -> str:
        """The Authorization value for one request, after take_challenge()."""
        if self.scheme == "Digest" and self._challenge is not None:
            self._count += 1
            try:
                return digest_authorization(self._challenge, self.username, self.password,
                                            method, path, nc=self._count)  # fmt: skip
            except DigestError as exc:
                raise Refused(f"cannot answer the Digest challenge: {exc}") from exc
        return self.basic()
