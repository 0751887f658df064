"""Mutants of the reference SZTP device: each breaks named requirements of
suites/sztp/requirements.yaml and nothing else (tests/test_selftest_sztp_device.py)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.protocols.sztp.device import DeviceBehaviour


@dataclass(frozen=True)
class DeviceMutant:
    description: str
    behaviour: DeviceBehaviour
    breaks: tuple[str, ...]


DEVICE_MUTANTS: dict[str, DeviceMutant] = {
    "unlimited-redirects": DeviceMutant(
        "follows redirect information without limit",
        DeviceBehaviour(redirect_limit=None),
        ("RFC8572-5.3-MUST-07", "RFC8572-5.3-SHOULD-01"),
    ),
    "accepts-untrusted-onboarding": DeviceMutant(
        "accepts unsigned onboarding information from a server it did not authenticate",
        DeviceBehaviour(accept_untrusted_unsigned=True),
        ("RFC8572-5.3-MUST-08",),
    ),
    "skips-voucher-serial": DeviceMutant(
        "does not compare the ownership voucher's serial-number with its own",
        DeviceBehaviour(check_serial=False),
        ("RFC8572-5.4-MUST-04",),
    ),
    "ignores-pinned-domain-cert": DeviceMutant(
        "accepts an owner certificate that does not chain to the voucher's pinned-domain-cert",
        DeviceBehaviour(check_pinned=False),
        ("RFC8572-5.4-MUST-05",),
    ),
    "ignores-voucher-expiry": DeviceMutant(
        "accepts an ownership voucher whose expires-on has passed",
        DeviceBehaviour(check_expiry=False),
        ("RFC8572-5.4-MUST-03",),
    ),
    "skips-signature-check": DeviceMutant(
        "takes signed conveyed information without verifying its signature",
        DeviceBehaviour(check_signature=False),
        ("RFC8572-5.4-MUST-01", "RFC8572-5.3-MUST-06"),
    ),
    "omits-intermediates": DeviceMutant(
        "sends its IDevID without the intermediate certificates",
        DeviceBehaviour(send_intermediates=False),
        ("RFC8572-5.3-MUST-05",),
    ),
    "never-prefers-signed-data": DeviceMutant(
        "does not send signed-data-preferred to a server it cannot authenticate",
        DeviceBehaviour(prefer_signed=False),
        ("RFC8572-7.3-SHOULD-01",),
    ),
    "no-loop-back": DeviceMutant(
        "gives up after one pass through its list of bootstrap servers",
        DeviceBehaviour(loop_back=False),
        ("RFC8572-5.2-MUST-01",),
    ),
    "no-decryption": DeviceMutant(
        "does not decrypt encrypted conveyed information (CMS EnvelopedData)",
        DeviceBehaviour(decrypt=False),
        ("RFC8572-5.3-MUST-09",),
    ),
    "requires-signed-onboarding": DeviceMutant(
        "refuses unsigned onboarding information even from a server it authenticated",
        DeviceBehaviour(accept_trusted_unsigned=False),
        # every test that shows its requirement by onboarding from a trusted server
        (
            "RFC8572-5.3-MUST-03",
            "RFC8572-5.3-MUST-05",
            "RFC8572-5.3-MUST-09",
            "RFC8572-5.5-MUST-01",
            "RFC8572-5.2-MUST-01",
        ),
    ),
    "anonymous-first": DeviceMutant(
        "calls without its IDevID and sends it only after the server refused the call",
        DeviceBehaviour(anonymous_first=True),
        ("RFC8572-5.3-MUST-04",),
    ),
    "takes-bare-signed-data": DeviceMutant(
        "takes signed data without owner certificate and voucher, verified by the CMS's own cert",
        DeviceBehaviour(require_owner_artifacts=False),
        ("RFC8572-5.4-MUST-02",),
    ),
    "ignores-redirects": DeviceMutant(
        "does not follow redirect information",
        DeviceBehaviour(follow_redirects=False),
        ("RFC8572-5.5-MUST-01",),
    ),
    "no-progress-reports": DeviceMutant(
        "sends no report-progress to the bootstrap server it onboarded from",
        DeviceBehaviour(report_progress=False),
        ("RFC8572-5.6-SHOULD-01",),
    ),
}


def device_behaviour_of(name: str | None) -> DeviceBehaviour:
    return DEVICE_MUTANTS[name].behaviour if name else DeviceBehaviour()
