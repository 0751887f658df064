"""EST server DUT: CSR attributes, /csrattrs (RFC 7030 §4.5)."""

from __future__ import annotations

import pytest

from harness.capture import PacketCursor
from harness.protocols.est import codec
from harness.protocols.est.frames import response_to
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"


def csrattrs_exchange(bed: ServerDutBed, **dut_params: str) -> PacketCursor:
    bed.start(**dut_params)
    bed.client(auth="cert").csrattrs()
    return bed.wire()


@pytest.mark.requirement("RFC7030-4.5.2-MUST-01")
def test_csrattrs_status(server_bed: ServerDutBed) -> None:
    """If locally configured policy for an authenticated EST client indicates a CSR
    Attributes Response is to be provided, the server response MUST include an HTTP 200
    response code. An HTTP response code of 204 or 404 indicates that a CSR Attributes
    Response is not available."""
    req = "RFC7030-4.5.2-MUST-01"
    # Step 1: an authenticated tester client sends GET .../csrattrs.
    answer = csrattrs_exchange(server_bed).expect_next(
        response_to(codec.CSRATTRS_OPERATION), req, "the answer to GET .../csrattrs"
    )
    # Step 2: 200 with a body, or 204/404 without attributes; no other 2xx.
    code = answer.get("http.response.code")
    has_body = bool((answer.get("http.file_data") or "").strip())
    check(
        (code == "200" and has_body) or code in ("204", "404"),
        f"frame {answer.number}: /csrattrs answered {code} "
        f"({'with' if has_body else 'without'} a body)",
        req,
    )


@pytest.mark.requirement("RFC7030-4.5.2-MUST-02")
def test_csrattrs_encoding(server_bed: ServerDutBed) -> None:
    """Responses to attribute request messages MUST be encoded as the content-type of
    "application/csrattrs", and are to be "base64" [RFC2045] encoded."""
    req = "RFC7030-4.5.2-MUST-02"
    # Step 1: GET .../csrattrs.
    answer = csrattrs_exchange(server_bed).expect_next(
        response_to(codec.CSRATTRS_OPERATION), req, "the answer to GET .../csrattrs"
    )
    if answer.get("http.response.code") != "200":
        inconclusive(
            f"frame {answer.number}: no CSR attributes (status "
            f"{answer.get('http.response.code')}), no encoding to judge"
        )
    # Step 2: application/csrattrs, base64 of a DER SEQUENCE OF AttrOrOID.
    media = (answer.get("http.content_type") or "").split(";", 1)[0].strip().lower()
    check(
        media == codec.CSRATTRS,
        f"frame {answer.number}: Content-Type {answer.get('http.content_type')!r}",
        req,
    )
    try:
        codec.parse_csrattrs(codec.b64_decode(answer.get("http.file_data") or ""))
    except codec.CodecError as exc:
        fail(f"frame {answer.number}: body is not base64 of a CsrAttrs: {exc}", req)


@pytest.mark.requirement("RFC7030-4.5.2-MUST-04")
def test_pop_server_asks_challenge_password(server_bed: ServerDutBed) -> None:
    """If an EST server requires the linking of identity and POP information (see Section
    3.5), it MUST include the challengePassword OID in the CSR Attributes Response."""
    req = "RFC7030-4.5.2-MUST-04"
    # Step 1: with the POP-linking policy on, GET .../csrattrs.
    answer = csrattrs_exchange(server_bed, pop="1").expect_next(
        response_to(codec.CSRATTRS_OPERATION), req, "the answer to GET .../csrattrs"
    )
    check(
        answer.get("http.response.code") == "200",
        f"frame {answer.number}: /csrattrs answered {answer.get('http.response.code')}",
        req,
    )
    # Step 2: the attributes name challengePassword.
    try:
        items = codec.parse_csrattrs(codec.b64_decode(answer.get("http.file_data") or ""))
    except codec.CodecError as exc:
        fail(f"frame {answer.number}: body is not base64 of a CsrAttrs: {exc}", req)
    oids = [item.oid for item in items]
    check(CHALLENGE_PASSWORD in oids, f"frame {answer.number}: csrattrs {oids}", req)
