"""EST client DUT: TLS, server authentication and server authorization (RFC 7030 §3.3,
§3.6, §3.2.3).

Negative tests serve a certificate the DUT must not accept; the wire must then show no
HTTP request at all, and the DUT must hold nothing it could only have got from that
server.
"""

from __future__ import annotations

import pytest

from harness.capture import Frame
from harness.control import ActionResult
from harness.protocols.est.server_ops import ServerBehaviour
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail

pytestmark = pytest.mark.dut_role("est", "client")

TLS_1_1 = 0x0302


def _held(bed: ClientDutBed) -> list[str]:
    """Names of the state items an unauthorized server must not have given the DUT."""
    state = bed.state()
    return [k for k in ("explicit_ta", "client_certificate", "client_key") if state.get(k)]


def _enroll_against(bed: ClientDutBed, credential: str, **kw: object) -> list[ActionResult]:
    bed.serve(ServerBehaviour(**kw), credential=credential)  # type: ignore[arg-type]
    return [bed.run("cacerts"), bed.run("enroll")]


def _outcomes(results: list[ActionResult]) -> str:
    return "; ".join(r.describe() for r in results)


@pytest.mark.requirement("RFC7030-3.3.1-MUST-01")
def test_untrusted_server_refused(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.3.1: Certificate validation MUST be performed as per [RFC5280]."""
    req = "RFC7030-3.3.1-MUST-01"
    # Step 1: the server presents a certificate from a CA outside the DUT's explicit TA.
    results = _enroll_against(client_bed, "untrusted")
    wire = client_bed.wire()
    # Step 2: "the client aborts each handshake and sends no HTTP request".
    wire.expect_none("http.request", requirement=req,
                     what="an HTTP request to a server whose certificate does not validate")
    # Step 3: and it installed nothing.
    held = _held(client_bed)
    check(not held, f"the DUT holds {held} after talking to an untrusted server "
          f"({_outcomes(results)})", req)


@pytest.mark.requirement("RFC7030-3.6.1-MUST-01")
def test_wrong_host_refused(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.6.1: the client MUST check either the configured URI or the most
    recent HTTP redirection URI against the server's identity according to [RFC6125]
    Section 6.4, or the EST server certificate MUST contain id-kp-cmcRA."""
    req = "RFC7030-3.6.1-MUST-01"
    # Step 1: the server's certificate chains to the explicit TA but names est.invalid,
    # not the URL's host, and has no id-kp-cmcRA.
    results = _enroll_against(client_bed, "wrong-host")
    wire = client_bed.wire()
    # Step 2: "makes the client abort": no HTTP request on any connection.
    wire.expect_none("http.request", requirement=req,
                     what=f"an HTTP request to a server the URL does not name "
                          f"({_outcomes(results)})")


@pytest.mark.requirement("RFC7030-3.6-MUST-01")
def test_unauthorized_server_gets_nothing(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.6: The client MUST check EST server authorization before accepting any
    server responses or responding to HTTP authentication requests."""
    req = "RFC7030-3.6-MUST-01"
    # Step 1: a validating certificate that fails the §3.6.1 identity check; the server
    # demands HTTP Basic, so a DUT that goes on would show its credentials.
    results = _enroll_against(client_bed, "wrong-host", require_basic=True)
    wire = client_bed.wire()
    # Step 2: "the client sends no Authorization header and no CSR".
    wire.expect_none("http.authorization", requirement=req,
                     what="an Authorization header to an unauthorized server")
    wire.expect_none({"http.request.method": "POST"}, requirement=req,
                     what="a CSR POST to an unauthorized server")
    # Step 3: "and afterwards holds no new certificate or TA".
    held = _held(client_bed)
    check(not held, f"the DUT accepted {held} from an unauthorized server "
          f"({_outcomes(results)})", req)


@pytest.mark.requirement("RFC7030-3.2.3-MUST-NOT-01")
def test_no_credentials_to_unauthorized_server(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.2.3: The client MUST NOT respond to the server's HTTP authentication
    request unless the client has authorized the EST server."""
    req = "RFC7030-3.2.3-MUST-NOT-01"
    # Step 1: an untrusted server that challenges every enrollment with 401 Basic.
    client_bed.serve(ServerBehaviour(require_basic=True), credential="untrusted")
    result = client_bed.run("enroll")
    wire = client_bed.wire()
    # Step 2: "no client request carrying an Authorization header follows".
    wire.expect_none("http.authorization", requirement=req,
                     what=f"HTTP credentials sent to an unauthorized server ({result.describe()})")


def _offers_tls_1_1(hello: Frame) -> bool:
    # TLS 1.3 ClientHellos carry 1.2 as legacy version and the real ones in
    # supported_versions; older ones carry their highest version in the hello itself.
    offered = hello.values("tls.handshake.extensions.supported_version") or hello.values(
        "tls.handshake.version"
    )
    return any(int(v, 16) >= TLS_1_1 for v in offered if v.startswith("0x"))


def _inside_tls(frame: Frame) -> bool:
    return frame.has("tls")


@pytest.mark.requirement("RFC7030-3.3-MUST-01")
def test_tls_1_1_or_later(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.3: HTTPS MUST be used. TLS 1.1 [RFC4346] (or a later version) MUST be
    used for all EST communications."""
    req = "RFC7030-3.3-MUST-01"
    # Step 1: a spec-exact server; the DUT fetches CA certificates and enrolls.
    client_bed.serve()
    results = [client_bed.run("cacerts"), client_bed.run("enroll")]
    wire = client_bed.wire()
    # Step 2: every ClientHello offers TLS 1.1 or later.
    hellos = wire.all({"tls.handshake.type": "1"})
    if not hellos:
        fail(f"the DUT sent no TLS ClientHello at all ({_outcomes(results)})", req)
    old = [h for h in hellos if not _offers_tls_1_1(h)]
    check(not old, "ClientHello offering nothing newer than TLS 1.0", req,
          frames=[h.line() for h in old])
    # Step 3: every EST request travels inside TLS.
    plain = [f for f in wire.all("http.request") if not _inside_tls(f)]
    check(not plain, "EST request outside TLS", req, frames=[f.line() for f in plain])
