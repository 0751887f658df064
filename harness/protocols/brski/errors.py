"""Typed errors of the BRSKI roles (RFC 8995).

Each names where the flow stopped (`stage`) and, for a rejected voucher, which check
of RFC 8995 §5.6.1 / §5.6.2 failed (`check`), so a test can tell one failure from another.
"""

from __future__ import annotations

from harness.errors import OnboardcheckError


class BrskiError(OnboardcheckError):
    """A BRSKI exchange that did not complete; `stage` names the step."""

    def __init__(self, stage: str, message: str):
        self.stage = stage
        self.reason = message
        super().__init__(f"{stage}: {message}")


class RequestRefused(BrskiError):
    """A server answered a request with an error (or not at all: `status` 0)."""

    def __init__(self, stage: str, status: int, message: str, by: str):
        self.status = status
        self.by = by
        super().__init__(stage, f"{by} answered {status or 'nothing'}: {message}")


class VoucherRejected(BrskiError):
    """The pledge refused the voucher; `check` is "format", "signature", "trust-anchor",
    "serial-number", "nonce", "idevid-issuer" or "pinned-domain-cert"."""

    def __init__(self, check: str, message: str):
        self.check = check
        super().__init__("voucher", f"{check}: {message}")


class EnrollmentError(BrskiError):
    """The EST part after the voucher (RFC 8995 §5.9) failed."""


class Refusal(BrskiError):
    """Raised inside the registrar or the MASA: the request is answered with `status`."""

    def __init__(self, status: int, message: str, stage: str = "request"):
        self.status = status
        super().__init__(stage, message)
