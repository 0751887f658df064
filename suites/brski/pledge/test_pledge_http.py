"""BRSKI pledge DUT: 202 with Retry-After and redirections of the voucher request
(RFC 8995 §5.6). Only for a pledge claiming BRSKI-PLEDGE-RETRY-AFTER or
BRSKI-PLEDGE-REDIRECT.

The Retry-After limit is judged on the waits the DUT records (state `retry_waits`) when
its profile keeps that record, else on the wire: the repeat must come within the
test's wait of 60 s and some slack."""

from __future__ import annotations

import pytest

from harness.protocols.brski.common import REQUESTVOUCHER
from harness.protocols.brski.suite_support import (
    PledgeDutBed,
    accepted_later,
    is_voucher_request,
    numbers,
    received,
)
from harness.protocols.voucher.cms import verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import parse_voucher_request_json
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("brski", "pledge")

RETRY_AFTER = 120  # seconds: over the 60 s a pledge may wait
LIMIT = 60
SLACK = 5  # seconds of scheduling and handshake time granted beyond the limit


@pytest.mark.requirement("RFC8995-5.6-MUST-02")
def test_retry_after_limited_to_60s(pledge_bed: PledgeDutBed) -> None:
    """The pledge MUST limit the 'Retry-After' time to 60 seconds."""
    req = "RFC8995-5.6-MUST-02"
    # Step 1: the registrar answers the first voucher request 202, Retry-After: 120.
    pledge_bed.serve(script=[accepted_later(RETRY_AFTER)])
    # Step 2: the pledge is given time for one retry at the limit.
    pledge_bed.onboard(timeout=LIMIT + 3 * SLACK)
    assert pledge_bed.registrar is not None
    asks = received(pledge_bed.registrar, REQUESTVOUCHER)
    waits = pledge_bed.scheduled_waits()
    frames = numbers(pledge_bed.wire().all(is_voucher_request))
    if not asks:
        inconclusive("the pledge sent no voucher request")
    if waits is not None:  # the DUT records its schedule: judge that, not the clock
        if not waits:
            inconclusive("the DUT recorded no wait after the 202")
        check(waits[0] <= LIMIT, f"after a 202 with Retry-After: {RETRY_AFTER} the pledge "
              f"scheduled a wait of {waits[0]:g} s", req, frames=frames)  # fmt: skip
    if len(asks) < 2:
        fail(f"no repeat of the voucher request within {LIMIT} s of a 202 with "
             f"Retry-After: {RETRY_AFTER}", req, frames=frames)  # fmt: skip
    if waits is None:
        waited = asks[1].time - asks[0].time
        check(waited <= LIMIT + SLACK, f"the pledge repeated its request after {waited:.0f} s",
              req, frames=frames)  # fmt: skip


@pytest.mark.requirement("RFC8995-5.6-MUST-03")
def test_retry_resends_same_nonce(pledge_bed: PledgeDutBed) -> None:
    """After a 202 the pledge MUST resend the same voucher-request and MUST NOT change
    the nonce."""
    req = "RFC8995-5.6-MUST-03"
    pledge_bed.serve(script=[accepted_later(1)])
    pledge_bed.onboard(timeout=LIMIT)
    assert pledge_bed.registrar is not None
    asks = received(pledge_bed.registrar, REQUESTVOUCHER)
    frames = numbers(pledge_bed.wire().all(is_voucher_request))
    if len(asks) < 2:
        inconclusive(f"the pledge sent {len(asks)} voucher requests: no retry to judge")
    try:
        nonces = [parse_voucher_request_json(verify_cms(a.request_body).content).nonce
                  for a in asks[:2]]  # fmt: skip
    except VoucherError as exc:
        inconclusive(f"a pledge voucher-request does not parse: {exc}")
    check(nonces[0] == nonces[1], "the repeated voucher-request has another nonce", req,
          frames=frames)


@pytest.mark.requirement("RFC8995-5.6-MUST-NOT-01")
def test_one_cross_origin_redirect_at_most(pledge_bed: PledgeDutBed) -> None:
    """The pledge MUST NOT follow more than one redirection (3xx code) to another web
    origin."""
    req = "RFC8995-5.6-MUST-NOT-01"
    # Step 1: origin A redirects to origin B, which redirects to origin C.
    pledge_bed.serve(hops=2)
    pledge_bed.onboard()
    second, third = pledge_bed.hops
    at_b = received(second, REQUESTVOUCHER)
    at_c = received(third, REQUESTVOUCHER)
    frames = numbers(pledge_bed.wire().all(is_voucher_request))
    if not at_b:
        inconclusive("the pledge followed no redirection at all: nothing to judge")
    check(not at_c, "the pledge followed a second redirection to another origin", req,
          frames=frames)
