"""Typed errors of the voucher codec (RFC 8366, RFC 8995, constrained vouchers)."""

from __future__ import annotations

from harness.errors import OnboardcheckError


class VoucherError(OnboardcheckError):
    """A voucher, voucher-request or its signature that does not decode or verify.

    `field` names the leaf or structure at fault (for example "nonce" or
    "SignerInfo.signature") when one is known.
    """

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)
