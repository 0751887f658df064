"""EST server DUT: the optional CA label path segment (RFC 7030 §3.2.2).

The label comes from the DUT's ICS (EST-SERVER-LABEL); it sits between the registered
application name and the operation: /.well-known/est/<label>/<operation>.
"""

from __future__ import annotations

import pytest

from harness.campaign_state import Campaign
from harness.crypto.certs import cert_for_key
from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.frames import wire_certs
from harness.protocols.est.probes import post_waiting
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

SUBJECT = "onboardcheck label probe"


def _claimed_label(campaign: Campaign, req: str) -> str:
    label = str(campaign.ics("est").get("EST-SERVER-LABEL") or "")
    try:
        codec.operation_path(codec.CACERTS, label)
    except codec.CodecError:
        fail(f"the ICS CA label {label!r} is not one URI path segment", req)
    return label


def _answer_to(path: str) -> dict[str, object]:
    return {
        "http.response.code": lambda code: bool(code),
        "http.response_for.uri": lambda uri: uri.endswith(path),
    }


@pytest.mark.requirement("RFC7030-3.2.2-MAY-01")
@pytest.mark.ics("EST-SERVER-LABEL")
def test_label_served(server_bed: ServerDutBed, campaign: Campaign) -> None:
    """RFC 7030 §3.2.2: An EST server MAY provide service for multiple CAs as indicated
    by an optional additional path segment between the registered application name and
    the operation path."""
    req = "RFC7030-3.2.2-MAY-01"
    label = _claimed_label(campaign, req)
    cacerts = codec.operation_path(codec.CACERTS, label)
    enroll = codec.operation_path(codec.SIMPLEENROLL, label)
    # Step 1: GET /.well-known/est/<label>/cacerts, then enroll a fresh key under the label.
    server_bed.start()
    peer = server_bed.client(auth="cert")
    peer.request("GET", cacerts)
    key = generate_key()
    post_waiting(peer, enroll, make_csr(key, SUBJECT))
    wire = server_bed.wire()
    # Step 2: the labelled /cacerts is answered with success and a certificate bag.
    answer = wire.expect_next(_answer_to(cacerts), req, f"the answer to GET {cacerts}")
    code = answer.get("http.response.code") or ""
    check(code.startswith("2"), f"frame {answer.number}: GET {cacerts} answered {code}", req,
          frames=[answer.line()])
    bag = wire_certs(answer, req, strict=False)  # its form is RFC7030-4.1.3-MUST-03's
    # Step 3: the labelled /simpleenroll is answered with a certificate for the CSR's key.
    issued = wire.expect_next(
        {"http.response.code": lambda c: c != "202",
         "http.response_for.uri": lambda uri: uri.endswith(enroll)},
        req, f"the final answer to POST {enroll}",
    )  # fmt: skip
    code = issued.get("http.response.code") or ""
    check(code.startswith("2"), f"frame {issued.number}: POST {enroll} answered {code}", req,
          frames=[issued.line()])
    cert = cert_for_key(wire_certs(issued, req, strict=False), key)
    check(cert is not None, f"frame {issued.number}: the answer to POST {enroll} holds no "
          "certificate for the CSR's key", req, frames=[issued.line()])
    if not bag:
        inconclusive(f"frame {answer.number}: the labelled /cacerts bag is empty")


@pytest.mark.requirement("RFC7030-3.2.2-MUST-02")
@pytest.mark.ics("EST-SERVER-LABEL")
def test_label_not_an_operation(server_bed: ServerDutBed, campaign: Campaign) -> None:
    """RFC 7030 §3.2.2: To avoid conflict, the CA label MUST NOT be the same as any
    previously defined path segment."""
    req = "RFC7030-3.2.2-MUST-02"
    label = _claimed_label(campaign, req)
    # Step 1: the label the DUT declares is none of the operation path segments.
    check(label not in codec.OPERATIONS,
          f"the ICS CA label {label!r} is the operation path segment {label!r}", req)
    # Step 2: GET .../<label>/cacerts, then .../<operation>/cacerts for every operation.
    server_bed.start()
    peer = server_bed.client(auth="cert")
    own = codec.operation_path(codec.CACERTS, label)
    peer.request("GET", own)
    posing = [codec.operation_path(codec.CACERTS, op) for op in codec.OPERATIONS]
    for path in posing:
        peer.request("GET", path)
    wire = server_bed.wire()
    # Step 3: precondition: the DUT serves its own label (else nothing tells labels apart).
    answer = wire.expect_next(_answer_to(own), req, f"the answer to GET {own}")
    if not (answer.get("http.response.code") or "").startswith("2"):
        inconclusive(f"frame {answer.number}: GET {own} answered "
                     f"{answer.get('http.response.code')}: the DUT does not serve its label")
    # Step 4: no operation name is taken as a CA label: none of those GETs succeeds.
    for path in posing:
        reply = wire.expect_next(_answer_to(path), req, f"the answer to GET {path}")
        code = reply.get("http.response.code") or ""
        check(not code.startswith("2"), f"frame {reply.number}: GET {path} answered {code}: "
              f"the operation name {path.split('/')[-2]!r} serves as a CA label", req,
              frames=[reply.line()])
