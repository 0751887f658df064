"""EST client DUT: the HTTP layer, redirects (RFC 7030 §3.2.1) and HTTP-based client
authentication (§3.2.3, Basic per RFC 7617, Digest per RFC 7616).

Every verdict is read off the decrypted capture: where the DUT repeated a redirected
request, the Authorization headers it sent and the TLS version of their connection,
and which side closed a connection after a 401.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl

import pytest

from harness.capture import Frame, PacketCursor
from harness.control import ActionResult
from harness.protocols.est import codec
from harness.protocols.est.frames import op_uri
from harness.protocols.est.http_digest import DigestError, check_digest, parse_auth
from harness.protocols.est.server_ops import REALM, REDIRECT_PREFIX, ServerBehaviour
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

TLS_1_1 = 0x0302
CLOSE_WITHIN = 5.0  # seconds from the 401 to the DUT closing the connection
ENROLL_POST = {"http.request.method": "POST", "http.request.uri": op_uri(codec.SIMPLEENROLL)}
# The 401 of these tests goes to /simpleenroll; only its answer matters.
CHALLENGE = {"http.response.code": "401"}


def _stream(frame: Frame) -> str | None:
    return frame.get("tcp.stream")


def _flag(frame: Frame, name: str) -> bool:
    return (frame.get(name) or "").lower() in ("1", "true")


def _installed(bed: ClientDutBed, item: str) -> bool:
    return bool(bed.state().get(item))


# -- RFC 7030 §3.2.1 ------------------------------------------------------------------------

REDIRECTS = [
    # (action, operation, method, status, state item the action leaves behind)
    ("cacerts", codec.CACERTS, "GET", 302, "explicit_ta"),
    ("enroll", codec.SIMPLEENROLL, "POST", 307, "client_certificate"),
]


@pytest.mark.requirement("RFC7030-3.2.1-SHOULD-01")
@pytest.mark.parametrize(("action", "op", "method", "status", "item"), REDIRECTS,
                         ids=[f"{a}-{s}" for a, _, _, s, _ in REDIRECTS])
def test_same_origin_redirect_followed(client_bed: ClientDutBed, action: str, op: str,
                                       method: str, status: int, item: str) -> None:
    """RFC 7030 §3.2.1: HTTP redirections (3xx status codes) to the same web origin (see
    [RFC6454]) SHOULD be handled by the client without user input so long as all
    applicable security checks (Sections 3.3 and 3.6) have been enforced on the initial
    connection."""
    req = "RFC7030-3.2.1-SHOULD-01"
    # Step 1: the server answers `op` at its .well-known path with `status` and a Location
    # naming the same operation under another path of the same origin (scheme, host,
    # port: RFC 6454 §4).
    client_bed.serve(ServerBehaviour(redirect={op: status}))
    result = client_bed.run(action)
    wire = client_bed.wire()
    first = wire.peek_next({"http.request.method": method, "http.request.uri": op_uri(op)})
    if first is None:
        inconclusive(f"the DUT never sent {method} .../{op} ({result.describe()})")
    wire.expect_next({"http.request.method": method, "http.request.uri": op_uri(op)},
                     requirement=req, what=f"the DUT's {method} .../{op}")
    moved = wire.expect_next({"http.response.code": str(status)}, requirement=req,
                             what=f"the {status} answer")
    location = moved.get("http.location") or ""
    # Step 2: the same request arrives at the new location, with no operator involved.
    again = wire.expect_next(
        {"http.request.method": method,
         "http.request.uri": re.compile(rf"^{re.escape(REDIRECT_PREFIX)}/(?:[^/]+/)?{op}$")},
        requirement=req, what=f"the {method} repeated at the Location {location}")
    # Step 3: it is served there and the action completes.
    if wire.peek_next({"http.response.code": "200"}) is None:
        inconclusive(f"the request at {again.get('http.request.uri')} was not answered 200 "
                     f"({result.describe()})")
    check(_installed(client_bed, item), f"the DUT followed the {status} but does not hold "
          f"its {item} afterwards ({result.describe()})", req, frames=[again.line()])


# -- RFC 7030 §3.2.3 ------------------------------------------------------------------------


def _negotiated(wire: PacketCursor) -> dict[str, int]:
    """TLS version each TCP stream negotiated, from its ServerHello."""
    found: dict[str, int] = {}
    for hello in wire.all({"tls.handshake.type": "2"}):
        offered = hello.values("tls.handshake.extensions.supported_version") or hello.values(
            "tls.handshake.version")  # fmt: skip
        stream = _stream(hello)
        if stream is not None and offered and offered[0].startswith("0x"):
            found[stream] = int(offered[0], 16)
    return found


def _version_of(frame: Frame, versions: dict[str, int]) -> int | None:
    stream = _stream(frame)
    if stream in versions:
        return versions[stream]
    record = frame.get("tls.record.version") or ""
    return int(record, 16) if record.startswith("0x") else None


@pytest.mark.requirement("RFC7030-3.2.3-MUST-01")
@pytest.mark.ics("EST-CLIENT-HTTP-AUTH")
def test_no_credentials_over_tls_1_0(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.2.3: Basic and Digest authentication MUST only be performed over TLS
    1.1 [RFC4346] or later versions."""
    req = "RFC7030-3.2.3-MUST-01"
    # Step 1: a server that negotiates TLS 1.0 and nothing else (OpenSSL security level
    # 0, so the handshake can complete) and challenges enrollment with 401 Basic.
    client_bed.serve(ServerBehaviour(min_tls=ssl.TLSVersion.TLSv1, max_tls=ssl.TLSVersion.TLSv1,
                                     ciphers="DEFAULT:@SECLEVEL=0", require_basic=True))
    result = client_bed.run("enroll")
    wire = client_bed.wire()
    # Step 2: no request carrying an Authorization header travels in a TLS 1.0 session;
    # refusing the handshake (no request at all) is the expected outcome.
    versions = _negotiated(wire)
    sent = wire.all("http.authorization")
    old = [f for f in sent if (_version_of(f, versions) or 0) < TLS_1_1]
    check(not old, f"Authorization header sent in a TLS 1.0 session ({result.describe()})",
          req, frames=[f.line() for f in old])


def _closed_by(wire: PacketCursor, challenge: Frame) -> tuple[Frame | None, Frame | None]:
    """(first frame of the DUT closing the 401's connection, first of the server doing
    so): TCP FIN or RST, or a TLS close_notify alert, after the 401."""
    stream, client_port = _stream(challenge), challenge.dport
    later = [f for f in wire.frames if f.number > challenge.number and _stream(f) == stream]

    def closing(frame: Frame) -> bool:
        return (_flag(frame, "tcp.flags.fin") or _flag(frame, "tcp.flags.reset")
                or "0" in frame.values("tls.alert_message.desc"))

    dut = next((f for f in later if f.sport == client_port and closing(f)), None)
    server = next((f for f in later if f.dport == client_port and closing(f)), None)
    return dut, server


@pytest.mark.requirement("RFC7030-3.2.3-MUST-02")
def test_unanswerable_401_closes_connection(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.2.3: If the client is not capable of retrying the request or it is not
    capable of Basic or Digest authentication, then the client MUST terminate the
    connection."""
    req = "RFC7030-3.2.3-MUST-02"
    # Step 1: the DUT has no username and no password; the server answers its
    # enrollment with 401 Basic, which it therefore cannot retry.
    client_bed.serve(ServerBehaviour(require_basic=True))
    result = client_bed.run("enroll", username="", password="")
    wire = client_bed.wire()
    challenge = wire.peek_next(CHALLENGE)
    if challenge is None:
        inconclusive(f"no 401 reached the DUT ({result.describe()})")
    wire.expect_next(CHALLENGE, requirement=req, what="the 401 answer")
    stream = _stream(challenge)
    # Step 2: no request without credentials follows on that connection.
    again = [f for f in wire.all("http.request") if f.number > challenge.number
             and _stream(f) == stream and not f.get("http.authorization")]
    check(not again, "the DUT re-sent its request without credentials on the connection "
          "that was answered 401", req, frames=[challenge.line(), *(f.line() for f in again)])
    # Step 3: the DUT itself closes the connection (FIN, RST or close_notify), promptly
    # and before the server gives up on it.
    dut, server = _closed_by(wire, challenge)
    if dut is None or (server is not None and server.number < dut.number):
        fail("the DUT left the connection open after the 401; "
             + (f"the server closed it in frame {server.number}" if server else
                "it was never closed"), req,
             frames=[challenge.line(), *([server.line()] if server else [])])
    waited = dut.time - challenge.time
    check(waited <= CLOSE_WITHIN, f"the DUT closed the connection {waited:.1f} s after the "
          f"401 (limit {CLOSE_WITHIN:g} s)", req, frames=[challenge.line(), dut.line()])


def _enroll_challenged(bed: ClientDutBed, scheme: str, req: str, **run: str) -> tuple[
    ActionResult, PacketCursor, Frame
]:
    """Enroll against a server that offers only `scheme`; the POST whose credentials
    are judged: the first retried after the 401, or (no 401 at all) the first sent."""
    bed.serve(ServerBehaviour(require_basic=True, auth_schemes=(scheme,)),
              users={run.get("username", bed.username): run.get("password", bed.password)})
    result = bed.run("enroll", **run)
    wire = bed.wire()
    with_auth = {**ENROLL_POST, "http.authorization": re.compile(".")}
    if wire.peek_next(CHALLENGE) is None:
        # Credentials sent with the first POST and accepted: no challenge was needed.
        if wire.peek_next(with_auth) is None:
            inconclusive(f"no 401 reached the DUT ({result.describe()})")
        return result, wire, wire.expect_next(with_auth, requirement=req, what="the POST")
    wire.expect_next(CHALLENGE, requirement=req, what=f"the 401 {scheme} challenge")
    post = wire.expect_next(
        with_auth, requirement=req,
        what=f"the simpleenroll POST retried with {scheme} credentials ({result.describe()})")
    return result, wire, post


def _served(wire: PacketCursor, post: Frame, req: str) -> None:
    """The server accepted the credentials of `post`: its answer is no new 401 (a later
    refusal of the CSR itself is another requirement's verdict)."""
    answer = wire.expect_next({"http.response.code": re.compile(r"^\d")}, requirement=req,
                              what="the answer to the POST with credentials")
    check(answer.get("http.response.code") != "401", "the server rejected the DUT's "
          "credentials with another 401", req, frames=[post.line(), answer.line()])


def _digest_ok(bed: ClientDutBed, post: Frame, value: str, users: dict[str, str],
               req: str) -> str:
    """The username of Digest credentials recomputed from the wire; fails `req` if bad."""
    found = parse_auth(value)
    nonce_seen = {c.params.get("nonce") for f in bed.wire().all(CHALLENGE)
                  for c in parse_auth(", ".join(f.values("http.www_authenticate")))}
    try:
        return check_digest(found[0], "POST", post.get("http.request.uri") or "", users.get,
                            nonce_seen.__contains__, realm=REALM)
    except (DigestError, IndexError) as exc:
        fail(f"frame {post.number}: Digest credentials do not verify: {exc}", req,
             frames=[post.line()])


@pytest.mark.requirement("RFC7030-3.2.3-SHOULD-01")
@pytest.mark.ics("EST-CLIENT-HTTP-AUTH")
@pytest.mark.parametrize("scheme", ["Basic", "Digest"])
def test_basic_and_digest_supported(client_bed: ClientDutBed, scheme: str) -> None:
    """RFC 7030 §3.2.3: Clients SHOULD support the Basic and Digest authentication
    mechanism."""
    req = "RFC7030-3.2.3-SHOULD-01"
    # Step 1: the server challenges enrollment with `scheme` alone (Digest: SHA-256 and
    # MD5 challenges, qop=auth, RFC 7616).
    _, wire, post = _enroll_challenged(client_bed, scheme, req)
    # Step 2: the retried POST answers with that scheme ...
    value = post.get("http.authorization") or ""
    check(value.lower().startswith(scheme.lower() + " "), f"frame {post.number}: the DUT "
          f"answered a {scheme}-only challenge with {value.split(' ', 1)[0]!r}", req,
          frames=[post.line()])
    # ... with credentials that verify (recomputed here from the wire for Digest) ...
    if scheme == "Digest":
        _digest_ok(client_bed, post, value, {client_bed.username: client_bed.password}, req)
    # Step 3: ... and the server accepted them.
    _served(wire, post, req)


@pytest.mark.requirement("RFC7030-3.2.3-MAY-02")
@pytest.mark.ics("EST-CLIENT-HTTP-AUTH", "EST-CLIENT-EMPTY-USERNAME")  # judged when claimed
def test_empty_username_with_password(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.2.3: A client MAY set the username to the empty string ("") if it is
    presenting a password that is not associated with a username."""
    req = "RFC7030-3.2.3-MAY-02"
    password = client_bed.password
    # Step 1: the DUT is given a password and the username ""; the server knows that
    # password-only credential and challenges enrollment with 401 Basic.
    _, wire, post = _enroll_challenged(client_bed, "Basic", req, username="")
    # Step 2: the retried POST carries the empty username and the password: Basic
    # base64(":" + password) (RFC 7617 §2), or Digest username="".
    value = post.get("http.authorization") or ""
    if value.lower().startswith("digest "):
        user = _digest_ok(client_bed, post, value, {"": password}, req)
        check(user == "", f"Digest username {user!r}, not the empty string", req,
              frames=[post.line()])
    else:
        try:
            decoded = base64.b64decode(value.split(" ", 1)[-1].strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        check(value.lower().startswith("basic ") and decoded == f":{password}".encode(),
              f"frame {post.number}: Authorization {value[:40]!r} is not Basic of "
              "':<password>'", req, frames=[post.line()])
    # Step 3: the server accepted the password-only credential.
    _served(wire, post, req)
