"""EST server DUT: linking identity and proof-of-possession via tls-unique (RFC 7030 §3.5)."""

from __future__ import annotations

import base64
import ssl

import pytest

from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.frames import response_to
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")


def pop_peer(bed: ServerDutBed) -> EstClientPeer:
    """The DUT with its POP-linking policy on, and a TLS 1.2 client (tls-unique, RFC 5929)."""
    # `pop` reaches a process DUT's start command; it switches the policy on.
    bed.start(pop="1")
    return bed.client(auth="cert", tls_max=ssl.TLSVersion.TLSv1_2)


def enroll_with_password(peer: EstClientPeer, password: str | None, wrong: bool) -> None:
    """One connection: a CSR whose challengePassword is this connection's tls-unique
    (`wrong`: with one bit flipped), or `password` as given."""
    with peer.session() as session:
        if session.tls_unique is None:
            inconclusive(f"no tls-unique on this connection ({session.error or 'TLS 1.3?'})")
        unique = bytearray(session.tls_unique)
        if wrong:
            unique[0] ^= 0x01
        value = password if password is not None else base64.b64encode(unique).decode()
        session.simpleenroll(
            make_csr(generate_key(), "onboardcheck pop probe", challenge_password=value or None)
        )


@pytest.mark.requirement("RFC7030-3.5-MUST-01")
@pytest.mark.ics("EST-SERVER-REQUIRES-POP")
def test_wrong_tls_unique_refused(server_bed: ServerDutBed) -> None:
    """If tls-unique information is included by the client, the server MUST verify it."""
    req = "RFC7030-3.5-MUST-01"
    # Step 1: over TLS 1.2, a CSR whose challengePassword is not this connection's tls-unique.
    enroll_with_password(pop_peer(server_bed), None, wrong=True)
    # Step 2: the DUT refuses it (4xx) and issues nothing.
    wire = server_bed.wire()
    answer = wire.expect_next(response_to(codec.SIMPLEENROLL), req, "the answer to the CSR")
    code = answer.get("http.response.code") or ""
    check(code.startswith("4"), f"frame {answer.number}: a wrong tls-unique got {code}", req)


@pytest.mark.requirement("RFC7030-3.5-MAY-01")
def test_missing_tls_unique_refused(server_bed: ServerDutBed) -> None:
    """The EST server MAY reject requests without tls-unique information as indicated by
    server policy."""
    req = "RFC7030-3.5-MAY-01"
    peer = pop_peer(server_bed)
    # Step 1: a CSR without challengePassword, then one with this connection's tls-unique.
    enroll_with_password(peer, "", wrong=False)
    enroll_with_password(peer, None, wrong=False)
    # Step 2: the first is refused (4xx), the second served (200).
    wire = server_bed.wire()
    codes = [f.get("http.response.code") or "" for f in wire.all(response_to(codec.SIMPLEENROLL))]
    check(
        len(codes) == 2 and codes[0].startswith("4") and codes[1] == "200",
        f"/simpleenroll answered {codes} to [no tls-unique, correct tls-unique]",
        req,
    )
