"""EST client DUT: server-side key generation, /serverkeygen (RFC 7030 §4.4).

The server that would make the DUT's key must first be authenticated (§3.3.1) and
authorized (§3.6): against a server that fails that, the wire must show no HTTP request
and the DUT must hold no server-generated key.
"""

from __future__ import annotations

import pytest

from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check

pytestmark = pytest.mark.dut_role("est", "client")


@pytest.mark.requirement("RFC7030-4.4-MUST-01")
def test_serverkeygen_only_from_authenticated_server(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.4: A client MUST authenticate an EST server, as specified in Section
    3.3.1 if certificate-based authentication is used ..., and check the server's
    authorization as given in Section 3.6."""
    req = "RFC7030-4.4-MUST-01"
    # Step 1: the server presents a certificate from a CA outside the DUT's explicit TA;
    # the DUT is asked for a server-generated key.
    client_bed.serve(credential="untrusted")
    result = client_bed.run("serverkeygen")
    wire = client_bed.wire()
    # Step 2: "the client sends no POST .../serverkeygen": no HTTP request at all.
    wire.expect_none("http.request", requirement=req,
                     what=f"an HTTP request to a server whose certificate does not validate "
                          f"({result.describe()})")
    # Step 3: "and installs no key".
    check(not client_bed.state().get("serverkeygen_key"),
          f"the DUT holds a server-generated key from an untrusted server "
          f"({result.describe()})", req)
