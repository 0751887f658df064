"""Typed errors of the harness itself (not verdicts: see harness.verdicts)."""

from __future__ import annotations

from pathlib import Path


class OnboardcheckError(Exception):
    """Base of every error the harness raises on purpose."""


class InputError(OnboardcheckError):
    """Bad input from a file: names the file, the line (if known) and the field."""

    def __init__(self, path: Path | str, field: str, message: str, line: int | None = None):
        self.path = str(path)
        self.field = field
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {field}: {message}")


class CatalogueError(InputError):
    """A requirements.yaml or ics.yaml that does not validate."""


class ProfileError(InputError):
    """A DUT profile that does not validate."""


class CaptureError(OnboardcheckError):
    """Capturing or writing a capture failed."""


class DecodeError(OnboardcheckError):
    """tshark could not decode a capture."""


class ControlError(OnboardcheckError):
    """A DUT control action could not be carried out (command failed, timed out)."""

    def __init__(self, action: str, message: str, output: str = ""):
        self.action = action
        self.output = output
        super().__init__(f"DUT action {action!r}: {message}")


class PeerError(OnboardcheckError):
    """A tester peer could not start or broke."""


class BackendError(OnboardcheckError):
    """A test network could not be built, entered or torn down (privilege, kernel, names)."""


class UsageError(OnboardcheckError):
    """A command-line value that cannot be used (bad address, folder not writable)."""
