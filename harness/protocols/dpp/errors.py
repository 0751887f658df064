"""Typed errors of the DPP codec."""

from __future__ import annotations

from harness.errors import OnboardcheckError


class DppCodecError(OnboardcheckError):
    """Malformed DPP input (frame, attribute, GAS frame, TCP PDU, URI); says what and where."""
