"""EST client DUT: Root CA Key Update certificates in /cacerts (RFC 7030 §4.1.3).

The harness serves /cacerts in the middle of a root key update (RFC 4210 §4.4): the
EST root the DUT trusts (OldWithOld), the new root (NewWithNew) and the link
certificates OldWithNew and NewWithOld. The DUT must take the bag and go on enrolling.
"""

from __future__ import annotations

import re

import pytest

from harness.crypto.certs import pem_certs, self_signed, spki
from harness.crypto.pki import Pki
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")

CACERTS_URI = re.compile(r"/\.well-known/est/(?:[^/]+/)?cacerts(?:\?.*)?$")
ENROLL_URI = re.compile(r"/\.well-known/est/(?:[^/]+/)?simpleenroll$")


@pytest.mark.requirement("RFC7030-4.1.3-MUST-06")
def test_root_key_update_handled(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.1.3: The EST server SHOULD include the three "Root CA Key Update"
    certificates OldWithOld, OldWithNew, and NewWithOld in the response chain. [...]
    The EST client MUST be able to handle these certificates in the response."""
    req = "RFC7030-4.1.3-MUST-06"
    rollover = Pki.create().root_rollover(client_bed.pki.root)
    new_root = rollover.new_with_new.cert
    # Step 1: /cacerts serves the EST CA and root plus NewWithNew, OldWithNew and
    # NewWithOld; the DUT's explicit TA is the old root. It fetches them, then enrolls.
    client_bed.serve(extra_cacerts=[new_root, *rollover.links()])
    fetched = client_bed.run("cacerts")
    enrolled = client_bed.run("enroll")
    held = pem_certs(client_bed.state().get("explicit_ta"))
    wire = client_bed.wire()
    # Step 2: precondition: the DUT asked for /cacerts and got the key update bag.
    if wire.peek_next({"http.request.uri": CACERTS_URI}) is None:
        inconclusive(f"the DUT sent no /cacerts request ({fetched.describe()})")
    answer = wire.expect_next(
        {"http.response.code": "200", "http.response_for.uri": CACERTS_URI},
        req, "the 200 answer carrying the key update certificates",
    )  # fmt: skip
    frames = [answer.line()]
    # Step 3: the cacerts action completes with the bag.
    check(fetched.ok, "the DUT's cacerts action failed on a /cacerts bag with the Root CA "
          f"Key Update certificates ({fetched.describe()}; {fetched.stderr.strip()[-200:]})",
          req, frames=frames)
    # Step 4: its explicit-ta state holds the current root, NewWithNew (by key).
    if held:
        check(any(spki(c) == spki(new_root) and self_signed(c) for c in held),
              f"after /cacerts the DUT's explicit-ta state ({len(held)} certificate(s)) "
              "lacks the new root NewWithNew", req, frames=frames)
    # Step 5: the DUT still authenticates the server with what it now holds: its enroll
    # action reaches the server with a simpleenroll request (whether that enrollment
    # succeeds is judged by the enrollment requirements, not here).
    post = wire.peek_next({"http.request.uri": ENROLL_URI})
    check(post is not None,
          "after the key update /cacerts the DUT sent no simpleenroll request: it no longer "
          f"accepts the server ({enrolled.describe()}; {enrolled.stderr.strip()[-200:]})",
          req, frames=frames)
