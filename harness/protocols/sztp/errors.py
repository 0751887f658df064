"""Typed errors of the SZTP package."""

from __future__ import annotations

from harness.errors import OnboardcheckError


class SztpError(OnboardcheckError):
    """Anything SZTP-specific that went wrong."""


class SztpCodecError(SztpError):
    """Conveyed information, a CMS wrapper or an RPC body that does not decode.

    `field` names the leaf or structure at fault (e.g. "nonce", "bootstrap-server").
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
