"""BRSKI pledge DUT: the voucher checks and pinning (RFC 8995 §5.6.1, §5.6.2; RFC 8366
§5.3). The tester MASA sends the bad vouchers; a conforming pledge refuses each: it
reports no voucher success and never asks to enroll."""

from __future__ import annotations

import pytest

from harness.protocols.brski.masa import MasaBehaviour, MasaPeer
from harness.protocols.brski.suite_support import (
    PledgeDutBed,
    is_voucher_request,
    numbers,
    refused_voucher,
)
from harness.protocols.est.server import Exchange
from harness.protocols.voucher.cms import verify_cms
from harness.protocols.voucher.errors import VoucherError
from harness.protocols.voucher.model import Voucher, VoucherRequest, parse_voucher_request_json
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("brski", "pledge")


@pytest.mark.requirement("RFC8995-5.6.1-MUST-01")
def test_rejects_broken_signature(pledge_bed: PledgeDutBed) -> None:
    """The pledge MUST verify the voucher signature."""
    pledge_bed.serve(MasaBehaviour(wrong_signing_key=True))
    pledge_bed.onboard()
    refused_voucher(pledge_bed, "RFC8995-5.6.1-MUST-01", "a signature that does not verify")


@pytest.mark.requirement("RFC8995-5.6.1-MUST-02")
def test_rejects_other_serial(pledge_bed: PledgeDutBed) -> None:
    """The pledge MUST verify that the serial-number field of the voucher matches its own."""
    pledge_bed.serve(MasaBehaviour(other_serial="ONBC-NOT-THIS-PLEDGE"))
    pledge_bed.onboard()
    refused_voucher(pledge_bed, "RFC8995-5.6.1-MUST-02", "another serial-number")


@pytest.mark.requirement("RFC8995-5.6.1-MUST-03")
def test_rejects_stale_nonce(pledge_bed: PledgeDutBed) -> None:
    """The pledge MUST verify the nonce information in the voucher."""
    req = "RFC8995-5.6.1-MUST-03"
    # Step 1: one good onboarding: the MASA learns this pledge's nonce.
    pledge_bed.serve()
    pledge_bed.onboard()
    assert pledge_bed.masa is not None and pledge_bed.registrar is not None
    if not pledge_bed.registrar.vouchers:
        inconclusive("the first onboarding got no voucher: nothing is stale yet")
    first = len(pledge_bed.voucher_status())
    enrolled = len(pledge_bed.enrolled())
    asked = len(pledge_bed.pvr_bodies())
    # Step 2: a second attempt; its voucher carries the first attempt's nonce.
    pledge_bed.masa.masa_behaviour.stale_nonce = True
    pledge_bed.reset()
    pledge_bed.onboard()
    reports = pledge_bed.voucher_status()[first:]
    enrolls = pledge_bed.enrolled()[enrolled:]
    frames = numbers(pledge_bed.wire().all(is_voucher_request))
    bodies = pledge_bed.pvr_bodies()
    # A pledge that asks with the first attempt's nonce again gets a voucher that is not
    # stale for its request: accepting it is no failure of the nonce check.
    if _nonces(bodies[:asked]) & _nonces(bodies[asked:]):
        inconclusive("the second attempt reused the first attempt's nonce, so the voucher "
                     "matches its request: RFC8995-5.2-MUST-03 judges the reuse")  # fmt: skip
    check(not enrolls, "the pledge enrolled after a voucher with a stale nonce", req, frames=frames)
    check(
        not any(r.status for r in reports),
        "the pledge reported success for a voucher with a stale nonce",
        req,
        frames=frames,
    )


def _nonces(exchanges: list[Exchange]) -> set[bytes]:
    """The nonces of the pledge voucher-requests that parse."""
    found: set[bytes] = set()
    for exchange in exchanges:
        try:
            nonce = parse_voucher_request_json(verify_cms(exchange.request_body).content).nonce
        except VoucherError:
            continue
        if nonce is not None:
            found.add(nonce)
    return found


@pytest.mark.requirement("RFC8366-5.3-MUST-NOT-01")
def test_does_not_process_other_nonce(pledge_bed: PledgeDutBed) -> None:
    """If the nonce values do not match, the pledge MUST NOT process the voucher."""
    pledge_bed.serve(MasaBehaviour(stale_nonce=True))  # a nonce the pledge never sent
    pledge_bed.onboard()
    refused_voucher(pledge_bed, "RFC8366-5.3-MUST-NOT-01", "a nonce it never sent")


@pytest.mark.requirement("RFC8995-5.6.2-MUST-01")
def test_rejects_pin_the_registrar_does_not_chain_to(pledge_bed: PledgeDutBed) -> None:
    """The registrar's TLS certificate MUST chain to the pinned-domain-cert."""
    pledge_bed.serve(MasaBehaviour(pin_cert=pledge_bed.pki.other_domain.cert))
    pledge_bed.onboard()
    refused_voucher(
        pledge_bed, "RFC8995-5.6.2-MUST-01", "a pinned-domain-cert the registrar does not chain to"
    )


class _ExtraLeafMasa(MasaPeer):
    """The tester MASA adding a leaf no pledge can know to every voucher."""

    def _voucher(self, rvr: VoucherRequest, domain_ca: object, nonce: bytes | None,
                 assertion: str) -> Voucher:  # fmt: skip
        voucher = super()._voucher(rvr, domain_ca, nonce, assertion)  # type: ignore[arg-type]
        voucher.extra["onboardcheck-future-leaf"] = "to be ignored"
        return voucher


@pytest.mark.requirement("RFC8995-5.6.1-MUST-04")
def test_ignores_unknown_voucher_fields(pledge_bed: PledgeDutBed) -> None:
    """The pledge MUST be prepared to ignore additional fields."""
    req = "RFC8995-5.6.1-MUST-04"
    pledge_bed.serve(masa_cls=_ExtraLeafMasa)
    result = pledge_bed.onboard()
    assert pledge_bed.registrar is not None
    vouchers = len(pledge_bed.registrar.vouchers)
    enrolls = pledge_bed.enrolled()
    frames = numbers(pledge_bed.wire().all(is_voucher_request))
    if not vouchers:
        inconclusive("the pledge never received the voucher")
    check(
        enrolls,
        f"the pledge did not enroll after a voucher with an extra leaf "
        f"({result.describe()}: {result.stderr.strip()[:200]})",
        req,
        frames=frames,
    )
