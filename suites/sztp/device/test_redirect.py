"""Device DUT: redirect information and the list of bootstrapping sources (RFC 8572
§5.2, §5.3, §5.5). Redirect chains run through a second tester server that redirects
to itself; its count restarts whenever the device comes back to the first."""

from __future__ import annotations

import pytest

from harness.protocols.sztp.device_bed import GUARD, DeviceDutBed
from harness.protocols.sztp.server import ServerBehaviour
from harness.verdicts import check

pytestmark = pytest.mark.dut_role("sztp", "device")


def _longest_chain(device_bed: DeviceDutBed) -> int:
    """Redirects followed to reach the deepest call of the second server."""
    hop = device_bed.hop
    assert hop is not None
    return max((1 + c.chain for c in hop.calls), default=0)


@pytest.mark.requirement("RFC8572-5.5-MUST-01")
def test_redirect_followed(device_bed: DeviceDutBed) -> None:
    req = "RFC8572-5.5-MUST-01"
    device_bed.serve(hops=1)
    outcome = device_bed.bootstrap()
    assert device_bed.hop is not None
    check(any(c.serial == device_bed.serial for c in device_bed.hop.calls),
          "the device never called the server its trusted redirect information named", req)
    check(outcome.result == "onboarded",
          f"the device did not onboard from the redirect target: {outcome.steps}", req)


@pytest.mark.requirement("RFC8572-5.3-MUST-07")
def test_redirect_loop_bounded(device_bed: DeviceDutBed) -> None:
    req = "RFC8572-5.3-MUST-07"
    device_bed.serve(hops=None)
    device_bed.bootstrap()
    longest = _longest_chain(device_bed)
    check(longest < GUARD, f"the device followed {longest} redirects in a row: no limit", req)


@pytest.mark.requirement("RFC8572-5.3-SHOULD-01")
def test_at_most_ten_redirects(device_bed: DeviceDutBed) -> None:
    req = "RFC8572-5.3-SHOULD-01"
    device_bed.serve(hops=11)
    outcome = device_bed.bootstrap()
    longest = _longest_chain(device_bed)
    check(longest <= 10, f"the device followed {longest} redirects in a row", req)
    check(outcome.result != "onboarded",
          "the device accepted onboarding information at the end of eleven redirects", req)


@pytest.mark.requirement("RFC8572-5.2-MUST-01")
def test_loops_back_through_list(device_bed: DeviceDutBed) -> None:
    req = "RFC8572-5.2-MUST-01"
    device_bed.serve(behaviour=ServerBehaviour(fail_first=1))
    outcome = device_bed.bootstrap()
    calls = device_bed.calls
    check(len(calls) >= 2,
          f"the device called its only bootstrap server {len(calls)} time(s) after a 503", req)
    check(outcome.result == "onboarded", f"the device did not onboard: {outcome.steps}", req)
