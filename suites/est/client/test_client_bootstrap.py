"""EST client DUT: Bootstrap Distribution of CA Certificates (RFC 7030 §4.1.1).

The DUT gets no trust anchor for the tester server, only the SHA-256 fingerprint of the
EST root (ONBOARDCHECK_BOOTSTRAP_FINGERPRINT), standing for the one a human verified out
of band. It is asked to enroll: it may complete the TLS handshake provisionally to fetch
/cacerts, and must do nothing else until that answer is accepted and a new TLS session
is established.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from harness.capture import Frame, PacketCursor
from harness.protocols.est import codec
from harness.protocols.est.frames import op_uri, response_to
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = [pytest.mark.dut_role("est", "client"), pytest.mark.ics("EST-CLIENT-BOOTSTRAP")]

WRONG_FINGERPRINT = "00" * 32


def _bootstrap(bed: ClientDutBed, fingerprint: str) -> dict[str, str]:
    return {"trust_anchors": "", "bootstrap_fingerprint": fingerprint}


def _root_fingerprint(bed: ClientDutBed) -> str:
    return hashlib.sha256(bed.pki.root.cert.public_bytes(Encoding.DER)).hexdigest()


def _is_bootstrap_request(frame: Frame) -> bool:
    """GET .../cacerts or POST .../fullcmc: what §4.1.1 allows on the provisional TLS."""
    uri = frame.get("http.request.uri") or ""
    method = frame.get("http.request.method")
    return (method == "GET" and bool(op_uri(codec.CACERTS).match(uri))) or (
        method == "POST" and bool(op_uri(codec.FULLCMC).match(uri))
    )


def _same_stream(wire: PacketCursor, frame: Frame) -> list[Frame]:
    return wire.all({"http.request.method": lambda _v: True,
                     "tcp.stream": frame.get("tcp.stream") or ""})  # fmt: skip


def _describe(frames: list[Frame]) -> str:
    return ", ".join(
        f"{f.get('http.request.method')} {f.get('http.request.uri')} (frame {f.number})"
        for f in frames
    )


@pytest.mark.requirement("RFC7030-4.1.1-MAY-01")
def test_bootstrap_provisional_cacerts(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.1.1: The client MAY provisionally continue the TLS handshake to
    completion for the purposes of accessing the /cacerts or /fullcmc method."""
    req = "RFC7030-4.1.1-MAY-01"
    # Step 1: no TA for the server, the EST root's fingerprint configured; the DUT enrolls.
    client_bed.serve()
    result = client_bed.run("enroll", **_bootstrap(client_bed, _root_fingerprint(client_bed)))
    wire = client_bed.wire()
    # Step 2: the DUT (which claims bootstrap) completes the provisional handshake: its
    # first HTTP request travels on it.
    first = wire.expect_next("http.request", requirement=req,
                             what=f"a request on the provisional TLS connection of a DUT "
                                  f"that claims bootstrap ({result.describe()})")
    # Step 3: that connection carries GET .../cacerts (or POST .../fullcmc) and nothing else.
    on_it = _same_stream(wire, first)
    check(_is_bootstrap_request(first), f"the first request on the provisional connection is "
          f"{_describe([first])}, not GET .../cacerts or POST .../fullcmc", req,
          frames=[first.line()])
    other = [f for f in on_it if not _is_bootstrap_request(f)]
    check(not other, f"the provisional connection also carries {_describe(other)}", req,
          frames=[f.line() for f in other])


@pytest.mark.requirement("RFC7030-4.1.1-MUST-NOT-01")
def test_bootstrap_nothing_else_before_accepted(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.1.1: EST clients MUST NOT engage in any other protocol exchange until
    after the /cacerts response has been accepted and a new TLS session has been
    established (using TLS certificate-based authentication)."""
    req = "RFC7030-4.1.1-MUST-NOT-01"
    client_bed.serve()
    # Step 1: a fingerprint no /cacerts certificate has: the answer is never accepted, so
    # nothing but the bootstrap request may follow.
    wrong = client_bed.run("enroll", **_bootstrap(client_bed, WRONG_FINGERPRINT))
    assert client_bed.server is not None
    n_wrong = len(client_bed.server.exchanges)
    # Step 2: the right fingerprint; the DUT enrolls.
    right = client_bed.run("enroll", **_bootstrap(client_bed, _root_fingerprint(client_bed)))
    wire = client_bed.wire()
    requests = wire.all("http.request")
    if len(requests) != len(client_bed.server.exchanges):
        inconclusive(f"the capture shows {len(requests)} requests, the tester server received "
                     f"{len(client_bed.server.exchanges)}: the two actions cannot be told apart")
    early = [f for f in requests[:n_wrong] if not _is_bootstrap_request(f)]
    check(not early, f"with a fingerprint that matches no /cacerts certificate the DUT still "
          f"sent {_describe(early)} ({wrong.describe()})", req,
          frames=[f.line() for f in early])
    # Step 3: with the right fingerprint, the provisional connection (the one of the
    # action's first request) carries only the bootstrap request, without credentials.
    later = requests[n_wrong:]
    if not later:
        inconclusive(f"precondition: with the right fingerprint the DUT sent no request "
                     f"({right.describe()})")
    provisional = _same_stream(wire, later[0])
    other = [f for f in provisional if not _is_bootstrap_request(f)]
    check(not other, f"on the provisional connection the DUT also sent {_describe(other)}",
          req, frames=[f.line() for f in other])
    auth = [f for f in provisional if f.get("http.authorization")]
    check(not auth, "the DUT sent an Authorization header on the provisional connection", req,
          frames=[f.line() for f in auth])
    # Step 4: the enrollment comes in a new TLS session that starts after the /cacerts
    # answer.
    posts = [f for f in later if f.get("http.request.method") == "POST"
             and op_uri(codec.SIMPLEENROLL).match(f.get("http.request.uri") or "")]  # fmt: skip
    if not posts:
        inconclusive(f"precondition: the DUT did not enroll after the bootstrap "
                     f"({right.describe()})")
    stream = later[0].get("tcp.stream")
    answers = [f for f in wire.all(response_to(codec.CACERTS))
               if f.get("tcp.stream") == stream]  # fmt: skip
    if not answers:
        fail("the provisional /cacerts request got no answer, yet the DUT enrolled", req,
             frames=[posts[0].line()])
    post_stream = posts[0].get("tcp.stream")
    opened = wire.all({"tls.handshake.type": "1", "tcp.stream": post_stream or ""})
    check(post_stream != stream and bool(opened) and opened[0].number > answers[0].number,
          f"the simpleenroll POST (frame {posts[0].number}) does not travel in a new TLS "
          f"session opened after the /cacerts answer (frame {answers[0].number})", req,
          frames=[posts[0].line(), answers[0].line()])
