"""EST server DUT: client authentication and authorization (RFC 7030 §3.2.3, §3.3.2,
§3.7)."""

from __future__ import annotations

import pytest

from harness.capture import Frame
from harness.crypto.pki import CertifiedKey, generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.frames import carries_certificate, header, response_to
from harness.protocols.est.probes import issued_for, post_waiting
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

CERTIFICATE_REQUEST = "13"  # TLS HandshakeType certificate_request (RFC 8446 §4)


def refusals(frames: list[Frame]) -> tuple[list[str], list[Frame]]:
    """(status codes, answers that handed out a certificate) of enrollment answers."""
    return [f.get("http.response.code") or "" for f in frames], [
        f for f in frames if f.get("http.response.code") == "200" and carries_certificate(f)
    ]


@pytest.mark.requirement("RFC7030-3.3.2-MUST-01")
def test_certificate_client_auth(server_bed: ServerDutBed) -> None:
    """The EST server MUST support certificate-based client authentication."""
    req = "RFC7030-3.3.2-MUST-01"
    # Step 1: a tester client authenticated only by its certificate (no HTTP credentials).
    server_bed.start()
    post_waiting(
        server_bed.client(auth="cert"),
        codec.SIMPLEENROLL,
        make_csr(generate_key(), "onboardcheck cert-auth probe"),
    )
    # Step 2: the DUT asked for a certificate in the handshake and served the enrollment.
    wire = server_bed.wire()
    wire.expect_next(
        {"tls.handshake.type": CERTIFICATE_REQUEST}, req, "the server's CertificateRequest"
    )
    wire.expect_next(
        {
            "http.response.code": "200",
            "http.response_for.uri": lambda u: u.endswith(codec.SIMPLEENROLL),
        },
        req,
        "a 200 answer to /simpleenroll for the certificate-authenticated client",
    )


@pytest.mark.requirement("RFC7030-3.3.2-MUST-02")
def test_unauthenticated_enroll_refused(server_bed: ServerDutBed) -> None:
    """The EST server MUST perform authorization checks as specified in Section
    3.7. (A client that authenticated in no way is not authorized to enroll.)"""
    req = "RFC7030-3.3.2-MUST-02"
    # Step 1: a tester client with no certificate and no HTTP credentials enrolls.
    server_bed.start()
    server_bed.client(auth="none").simpleenroll(make_csr(generate_key(), "anonymous"))
    # Step 2: the DUT refuses with 401 or 403 and hands out no certificate.
    wire = server_bed.wire()
    answer = wire.expect_next(response_to(codec.SIMPLEENROLL), req, "the answer to /simpleenroll")
    code = answer.get("http.response.code")
    check(
        code in ("401", "403") and not carries_certificate(answer),
        f"frame {answer.number}: unauthenticated /simpleenroll answered {code}",
        req,
    )


@pytest.mark.requirement("RFC7030-3.3.2-MUST-02")
def test_unknown_ca_client_refused(server_bed: ServerDutBed) -> None:
    """The EST server MUST perform authorization checks as specified in Section
    3.7. (A certificate from a CA the server does not trust authorizes nothing.)"""
    req = "RFC7030-3.3.2-MUST-02"
    # Step 1: a tester client with a certificate from a root unknown to the DUT enrolls.
    server_bed.start()
    rogue_root = server_bed.pki.root_ca("onboardcheck Unknown Client Root")
    rogue = server_bed.pki.client_cert(rogue_root, "onboardcheck rogue client")
    peer = EstClientPeer(
        server_bed.url, server_bed.trust_anchors(), client=rogue, keylog=server_bed.keylog,
        connect=server_bed.connect,
    )
    peer.simpleenroll(make_csr(generate_key(), "onboardcheck rogue client"))
    # Step 2: the handshake fails, or the enrollment is refused without a certificate.
    wire = server_bed.wire()
    codes, issued = refusals(wire.all(response_to(codec.SIMPLEENROLL)))
    check(
        not issued and all(c.startswith(("4", "5")) for c in codes),
        f"/simpleenroll for a client of an unknown CA answered {codes}",
        req,
    )


@pytest.mark.requirement("RFC7030-3.3.2-MUST-02")
def test_reenroll_other_subject_refused(server_bed: ServerDutBed) -> None:
    """The EST server MUST perform authorization checks as specified in Section
    3.7. (Re-enrollment renews the identity of the certificate presented, §4.2.2.)"""
    req = "RFC7030-3.3.2-MUST-02"
    server_bed.start()
    # Step 1: enroll a fresh key as "onboardcheck device A".
    key = generate_key()
    first = post_waiting(
        server_bed.client(auth="cert"), codec.SIMPLEENROLL, make_csr(key, "onboardcheck device A")
    )
    cert = issued_for(key, first)
    # Step 2: with that certificate, re-enroll asking for "onboardcheck device B".
    renew = EstClientPeer(
        server_bed.url,
        server_bed.trust_anchors(),
        client=CertifiedKey(cert, key, []),
        keylog=server_bed.keylog,
        connect=server_bed.connect,
    )
    post_waiting(renew, codec.SIMPLEREENROLL, make_csr(generate_key(), "onboardcheck device B"))
    # Step 3: the DUT refuses the change of subject (4xx/5xx, no certificate).
    wire = server_bed.wire()
    codes, issued = refusals(wire.all(response_to(codec.SIMPLEREENROLL)))
    check(
        codes and not issued and all(c.startswith(("4", "5")) for c in codes),
        f"/simplereenroll to another subject answered {codes or 'nothing'}",
        req,
    )


@pytest.mark.requirement("RFC7030-3.2.3-MAY-01")
def test_http_auth_challenge(server_bed: ServerDutBed) -> None:
    """RFC 7030 §3.2.3: The EST server MAY request HTTP-based client authentication, as
    specified in [RFC2617]."""
    req = "RFC7030-3.2.3-MAY-01"
    server_bed.start()
    # Step 1: a tester client with no certificate and no HTTP credentials enrolls.
    server_bed.client(auth="none").simpleenroll(make_csr(generate_key(), "anonymous"))
    # Step 2: the same request with the profile's HTTP Basic credentials (no certificate).
    basic = server_bed.client(auth="basic")
    post_waiting(basic, codec.SIMPLEENROLL, make_csr(generate_key(), "onboardcheck basic"))
    wire = server_bed.wire()
    # Step 3: the anonymous request is challenged: 401 with a WWW-Authenticate header
    # naming Basic or Digest.
    answer = wire.expect_next(response_to(codec.SIMPLEENROLL), req,
                              "the answer to the anonymous /simpleenroll")
    code, challenge = answer.get("http.response.code"), header(answer, "WWW-Authenticate")
    scheme = (challenge or "").split(" ", 1)[0].lower()
    check(code == "401" and scheme in ("basic", "digest"),
          f"frame {answer.number}: anonymous /simpleenroll answered {code} with "
          f"WWW-Authenticate {challenge!r}", req, frames=[answer.line()])
    # Step 4: the request carrying valid credentials is served (200; the form of the
    # certificate in the body is RFC8951-3-MUST-01's and RFC7030-4.2.3's verdict).
    codes = [f.get("http.response.code") for f in wire.all(response_to(codec.SIMPLEENROLL))[1:]]
    if not codes:
        inconclusive("the answer to the request with HTTP Basic credentials is not on the wire")
    check("200" in codes, f"/simpleenroll with valid HTTP Basic credentials answered {codes}",
          req)
