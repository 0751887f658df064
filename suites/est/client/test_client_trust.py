"""EST client DUT: its trust anchor databases (RFC 7030 §3.1, §3.3.1, §3.6.2, §4.1.3).

The harness cannot install roots in a device's system store, so the DUT's Implicit TA
database is a parameter: ONBOARDCHECK_IMPLICIT_TAS names a PEM file (a root standing for
a public CA) and ONBOARDCHECK_USE_IMPLICIT_TA says whether it is enabled. Tests that
contrast two designations run two actions against one tester server and tell them apart
by the requests the server received between them; the refused action comes first, so
nothing the DUT installs in the accepted one can explain the refusal.
"""

from __future__ import annotations

import pytest

from harness.control import ActionResult
from harness.protocols.est.server import EstServerPeer
from harness.protocols.est.testbed import ClientDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "client")


def _implicit(bed: ClientDutBed, enabled: bool) -> dict[str, str]:
    """Action parameters giving the DUT the test's public root as Implicit TA database."""
    return {
        "implicit_tas": str(bed.pki.files["implicit_root"].cert),
        "use_implicit_ta": "1" if enabled else "0",
    }


def _server(bed: ClientDutBed) -> EstServerPeer:
    assert bed.server is not None  # serve() came first
    return bed.server


def _received(bed: ClientDutBed, since: int = 0) -> list[str]:
    """The requests the tester server received (from index `since`), as 'METHOD path'."""
    return [f"{e.method} {e.path}" for e in _server(bed).exchanges[since:]]


def _outcomes(results: list[ActionResult]) -> str:
    return "; ".join(r.describe() for r in results)


@pytest.mark.requirement("RFC7030-3.1-MUST-02")
def test_explicit_ta_designation_decides(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.1: Implementations conforming to this standard MUST provide the ability
    to designate Explicit TAs."""
    req = "RFC7030-3.1-MUST-02"
    pki = client_bed.pki
    # Step 1: a server whose certificate chains to a root made for this test only (its
    # /cacerts bag carries that root too, so the DUT can install it).
    client_bed.serve(credential="designated", extra_cacerts=[pki.designated_root.cert])
    # Step 2: designated another root (the EST domain root), the DUT must refuse it.
    other = client_bed.run("cacerts", trust_anchors=str(pki.files["root"].cert))
    refused = _received(client_bed)
    # Step 3: designated the test's root, the DUT must accept the same server.
    designated = client_bed.run("cacerts", trust_anchors=str(pki.files["designated_root"].cert))
    accepted = _received(client_bed, len(refused))
    client_bed.wire()  # the capture, for the evidence
    check(bool(accepted), "with the test's root designated as Explicit TA the DUT sent no "
          f"request to a server chaining to it ({designated.describe()})", req)
    check(not refused, f"designated another root, the DUT still sent {refused} to a server "
          f"chaining only to the test's root: the designation did not decide "
          f"({other.describe()})", req)


@pytest.mark.requirement("RFC7030-3.1-MUST-03")
@pytest.mark.ics("EST-CLIENT-IMPLICIT-TA")
def test_implicit_ta_database_can_be_disabled(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.1: Implementations conforming to this standard MUST provide the ability
    to disable use of any Implicit TA database."""
    req = "RFC7030-3.1-MUST-03"
    # Step 1: a server whose certificate chains only to the public root of the DUT's
    # Implicit TA database, not to its Explicit TA.
    client_bed.serve(credential="implicit")
    # Step 2: with the Implicit TA database disabled, the DUT must refuse it.
    disabled = client_bed.run("cacerts", **_implicit(client_bed, False))
    refused = _received(client_bed)
    # Step 3 (precondition): enabled, the DUT accepts it, so the database is in use.
    enabled = client_bed.run("cacerts", **_implicit(client_bed, True))
    accepted = _received(client_bed, len(refused))
    client_bed.wire()
    if not accepted and not refused:
        inconclusive("precondition: with its Implicit TA database enabled the DUT did not "
                      f"accept a server chaining to it either ({enabled.describe()})")
    check(not refused, f"with the Implicit TA database disabled the DUT sent {refused} to a "
          f"server chaining only to an Implicit TA ({disabled.describe()})", req)


@pytest.mark.requirement("RFC7030-3.6.2-MUST-01")
@pytest.mark.ics("EST-CLIENT-IMPLICIT-TA")
def test_implicit_ta_checks_uri(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.6.2: When the EST client Implicit TA database is used to validate the
    EST server certificate, the client MUST check the configured URI and each HTTP
    redirection URI according to the rules specified in [RFC6125], Section 6.4."""
    req = "RFC7030-3.6.2-MUST-01"
    # Step 1: the DUT has only its Implicit TA database; the server's certificate chains
    # to it but names est.invalid, not the URL's host.
    client_bed.serve(credential="implicit-wrong-host")
    result = client_bed.run("cacerts", trust_anchors="", **_implicit(client_bed, True))
    wire = client_bed.wire()
    # Step 2: the client aborts before any HTTP request.
    wire.expect_none("http.request", requirement=req,
                     what=f"an HTTP request to a server (Implicit TA) the URL does not name "
                          f"({result.describe()})")


@pytest.mark.requirement("RFC7030-3.3.1-MUST-03")
@pytest.mark.ics("EST-CLIENT-IMPLICIT-TA")
def test_explicit_and_implicit_kept_distinct(client_bed: ClientDutBed) -> None:
    """RFC 7030 §3.3.1: The client MUST maintain a distinction between the use of Explicit
    and Implicit TA databases during authentication in order to support proper
    authorization. (§3.6.1: id-kp-cmcRA authorizes a server under an Explicit TA only.)"""
    req = "RFC7030-3.3.1-MUST-03"
    pki = client_bed.pki
    # Step 1: one server certificate, from the public root, naming another host but
    # carrying id-kp-cmcRA.
    client_bed.serve(credential="implicit-cmcra", extra_cacerts=[pki.implicit_root.cert])
    # Step 2: that root in the Implicit TA database (the DUT's only one): refused.
    implicit = client_bed.run("cacerts", trust_anchors="", **_implicit(client_bed, True))
    refused = _received(client_bed)
    # Step 3 (contrast): the same root designated as Explicit TA: id-kp-cmcRA authorizes.
    explicit = client_bed.run("cacerts", trust_anchors=str(pki.files["implicit_root"].cert))
    accepted = _received(client_bed, len(refused))
    client_bed.wire()
    if not accepted and not refused:
        inconclusive("precondition: the DUT did not accept an id-kp-cmcRA server certificate "
                     f"under its Explicit TA either ({explicit.describe()})")
    check(not refused, f"under its Implicit TA database the DUT sent {refused} to a server "
          "whose certificate names another host and has id-kp-cmcRA: it took the Explicit "
          f"TA authorization for an Implicit TA ({implicit.describe()})", req)


@pytest.mark.requirement("RFC7030-4.1.3-SHOULD-02")
@pytest.mark.ics("EST-CLIENT-IMPLICIT-TA")
def test_implicit_ta_dropped_after_cacerts(client_bed: ClientDutBed) -> None:
    """RFC 7030 §4.1.3: The EST client SHOULD disable use of Implicit TA database entries
    for this EST server now that an Explicit TA database entry is available."""
    req = "RFC7030-4.1.3-SHOULD-02"
    # Step 1 (precondition): the DUT has only its Implicit TA database; it authenticates a
    # server chaining to the public root and installs the /cacerts answer as Explicit TA.
    client_bed.serve(credential="implicit")
    params = {"trust_anchors": "", **_implicit(client_bed, True)}
    first = client_bed.run("cacerts", **params)
    before = _received(client_bed)
    if not first.ok or not before or not client_bed.state().get("explicit_ta"):
        inconclusive("precondition: the DUT did not install /cacerts from a server it "
                     f"authenticated with its Implicit TA database ({first.describe()})")
    # Step 2: the same server again; it chains only to the Implicit TA, which the DUT
    # should no longer use for this server.
    second = client_bed.run("cacerts", **params)
    after = _received(client_bed, len(before))
    client_bed.wire()
    if after:
        fail(f"after /cacerts gave it an Explicit TA the DUT still authenticated the server "
             f"with its Implicit TA database and sent {after} ({_outcomes([first, second])})",
             req)
