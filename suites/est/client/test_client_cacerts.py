"""EST client DUT: Distribution of CA Certificates (RFC 7030 §4.1, RFC 8951 §3.1).

The harness serves /cacerts; the DUT's `cacerts` action fetches them. Verdicts come
from the decoded capture and from the DUT's explicit-ta state.
"""

from __future__ import annotations

import re

import pytest

from harness.campaign_state import KnowledgeLog
from harness.capture import Frame
from harness.crypto.certs import has_issuer_in, pem_certs
from harness.protocols.est.server_ops import ServerBehaviour
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

# Operation paths may carry a CA label segment (RFC 7030 §3.2.2).
CACERTS_URI = re.compile(r"^/\.well-known/est/(?:[^/]+/)?cacerts(?:\?.*)?$")
ENROLL_URI = re.compile(
    r"/\.well-known/est/(?:[^/]+/)?(?:simpleenroll|simplereenroll|serverkeygen)"
)
# The white space RFC 8951 §3.1 says receivers SHOULD tolerate inside base64.
BLANKS = " \t\r\n"


def _no_body(frame: Frame) -> bool:
    # A GET without a body has no Content-Length or one of 0, and no entity data.
    return frame.get("http.content_length_header", "0") == "0" and not frame.get("http.file_data")


@pytest.mark.requirement("RFC7030-4.1.2-MUST-01")
def test_cacerts_get(client_bed: ClientDutBed, knowledge: KnowledgeLog) -> None:
    """RFC 7030 §4.1.2: EST clients and servers MUST support the /cacerts function."""
    req = "RFC7030-4.1.2-MUST-01"
    # Step 1: the harness serves a spec-exact EST server; the DUT fetches CA certificates.
    client_bed.serve()
    client_bed.run("cacerts")
    wire = client_bed.wire()
    # Step 2: "the client sends GET .../cacerts with no body".
    get = wire.expect_next(
        {"http.request.method": "GET", "http.request.uri": CACERTS_URI},
        requirement=req,
        what="the DUT's GET of /.well-known/est/cacerts",
    )
    check(_no_body(get), f"frame {get.number}: the /cacerts GET carries a body", req,
          frames=[get.line()])
    held = pem_certs(client_bed.state().get("explicit_ta"))
    if held:
        knowledge.record("explicit-ta", "pass", f"{len(held)} CA certificate(s) from /cacerts")


@pytest.mark.requirement("RFC7030-4.1.3-MUST-02")
def test_cacerts_error_aborts(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.1.3: Any other response code indicates an error and the client MUST
    abort the protocol."""
    req = "RFC7030-4.1.3-MUST-02"
    # Step 1: /cacerts answers 500; the DUT is asked for CA certificates, then to enroll.
    client_bed.serve(ServerBehaviour(status={"cacerts": 500}))
    client_bed.run("cacerts")
    wire = client_bed.wire()
    # Step 2: precondition: the DUT did ask and did get the 500.
    if wire.peek_next({"http.response.code": "500"}) is None:
        inconclusive("the DUT sent no /cacerts request, so the 500 was never delivered")
    # Step 3: "its TA state is unchanged": no explicit TA was installed from the error.
    held = client_bed.state().get("explicit_ta")
    check(held is None, "after a 500 on /cacerts the DUT holds an explicit TA "
          f"({len(pem_certs(held))} certificate(s))", req)
    # Step 4: "the client sends no enrollment request afterwards" (same action).
    wire.expect_next({"http.response.code": "500"}, requirement=req, what="the 500 answer")
    wire.expect_none({"http.request.uri": ENROLL_URI}, requirement=req,
                     what="an enrollment request after the failed /cacerts")


@pytest.mark.requirement("RFC7030-4.1.3-MUST-07")
def test_cacerts_explicit_ta_validated(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.1.3: After out-of-band validation occurs, all the other certificates
    MUST be validated using normal [RFC5280] certificate path validation (using the most
    recent CA certificate as the TA) before they can be used to build certificate paths."""
    req = "RFC7030-4.1.3-MUST-07"
    root = client_bed.pki.root.cert
    # A self-signed CA outside the EST PKI: no path from it to the DUT's explicit TA.
    stray = client_bed.pki.manufacturer.cert
    # Step 1: /cacerts serves the EST CA and root plus the stray CA; the DUT fetches it.
    client_bed.serve(extra_cacerts=[stray])
    result = client_bed.run("cacerts")
    if not result.ok:
        inconclusive(f"the DUT's cacerts action did not complete ({result.describe()})")
    held = pem_certs(client_bed.state().get("explicit_ta"))
    if not held:
        inconclusive("the DUT reports no explicit-ta state after a successful cacerts action")
    # Step 2: "the DUT's explicit-ta state does not contain it" ...
    check(stray not in held, f"explicit-ta holds {stray.subject.rfc4514_string()}, which "
          "does not chain to the EST root", req)
    # Step 3: ... and holds the EST root, every other certificate issued by one it holds.
    check(any(c == root for c in held),
          f"explicit-ta does not hold the EST root {root.subject.rfc4514_string()}", req)
    unchained = [
        c.subject.rfc4514_string() for c in held if c != root and not has_issuer_in(c, held)
    ]
    check(not unchained, f"explicit-ta holds certificates that do not chain: {unchained}", req)


@pytest.mark.requirement("RFC8951-3.1-SHOULD-02")
def test_cacerts_wrapped_base64(client_bed: ClientDutBed) -> None:
    """RFC 8951 §3.1: white space including CR, LF, spaces (ASCII 32), and tabs (ASCII 9)
    SHOULD be tolerated by receivers."""
    req = "RFC8951-3.1-SHOULD-02"
    # Step 1: the server's /cacerts body is base64 with spaces, tabs, CR and LF mixed in.
    client_bed.serve(wrap_base64=BLANKS)
    result = client_bed.run("cacerts")
    wire = client_bed.wire()
    answer = wire.peek_next({"http.response.code": "200"})
    body = (answer.get("http.file_data") or "") if answer else ""
    if not all(blank in body.strip() for blank in BLANKS):
        inconclusive("no /cacerts answer with spaces, tabs, CR and LF in its base64 reached "
                     "the DUT")
    # Step 2: the DUT processes the blank-strewn body as it would an unwrapped one.
    check(result.ok and pem_certs(client_bed.state().get("explicit_ta")),
          f"the DUT did not install the /cacerts answer with blanks in its base64 "
          f"({result.describe()}; {result.stderr.strip()[-200:]})", req,
          frames=[answer.line()] if answer else [])


@pytest.mark.requirement("RFC7030-3.1-MUST-01")
def test_cacerts_parsed_bag(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.1: The client MUST also be able to request CA certificates from the EST
    server and parse the returned "bag" of certificates."""
    req = "RFC7030-3.1-MUST-01"
    served = {client_bed.pki.ca.cert, *client_bed.pki.ca.chain}
    # Step 1: the DUT fetches the bag (EST CA and root) from a spec-exact server.
    client_bed.serve()
    result = client_bed.run("cacerts")
    wire = client_bed.wire()
    if wire.peek_next({"http.response.code": "200"}) is None:
        fail("the DUT got no 200 /cacerts answer from a spec-exact server "
             f"({result.describe()})", req)
    # Step 2: every certificate of the bag is what the DUT now holds.
    held = set(pem_certs(client_bed.state().get("explicit_ta")))
    missing = [c.subject.rfc4514_string() for c in served - held]
    check(result.ok and not missing, f"after /cacerts the DUT lacks {missing or 'its state'} "
          f"({result.describe()})", req)
