"""What every DUT control adapter offers, and the helpers they share.

A controller drives one DUT through named actions (`enroll`, `cacerts`, ...). Actions
never raise for a misbehaving DUT: a hang, a crash or garbage output is an
`ActionResult` the test case judges. `ControlError` is kept for what makes the DUT
uncontrollable (an action the profile does not define, a template naming an unknown
parameter, a failed reset).
"""

from __future__ import annotations

import abc
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ControlError

if TYPE_CHECKING:
    from harness.backends import Node

# A DUT's state files are certificates and keys; anything bigger is not one.
MAX_STATE_BYTES = 10 * 1024 * 1024


@dataclass
class ActionResult:
    """Outcome of one DUT action.

    `returncode` is None when the action did not complete: it timed out, or it needed an
    operator and none was there (`manual_unavailable`, which a test turns into
    *inconclusive*, never *fail*).
    """

    action: str
    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    manual_unavailable: bool = False
    truncated: bool = False  # stdout or stderr was cut at the adapter's output cap

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.manual_unavailable

    def describe(self) -> str:
        """One line for logs and evidence notes."""
        if self.manual_unavailable:
            outcome = "no operator available"
        elif self.timed_out:
            outcome = "timed out"
        else:
            outcome = f"exit {self.returncode}"
        return f"{self.action}: {outcome} after {self.duration:.2f} s"


class Controller(abc.ABC):
    """Drives one DUT. Subclasses: ProcessController, ManualController, the builtin one."""

    def __init__(
        self, state_templates: Mapping[str, str] | None = None, base_dir: Path | None = None
    ):
        self.state_templates = dict(state_templates or {})
        self.base_dir = base_dir or Path.cwd()
        # Where the DUT runs on the test network (None: the harness's own host, loopback).
        self.node: Node | None = None

    @abc.abstractmethod
    def start(self, params: dict[str, str]) -> dict[str, str]:
        """Bring the DUT up; returns facts about it (e.g. `url` of a server DUT)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Bring the DUT down; safe to call twice or without start()."""

    @abc.abstractmethod
    def reset(self, params: dict[str, str]) -> None:
        """Return the DUT to its factory state; raises ControlError when that fails."""

    @abc.abstractmethod
    def action(
        self, name: str, params: dict[str, str], timeout: float | None = None
    ) -> ActionResult:
        """Run one named action; raises ControlError only for an undefined action."""

    @abc.abstractmethod
    def supports(self, action: str) -> bool:
        """Whether the profile defines this action."""

    def oob(self) -> dict[str, str]:
        """Out-of-band data the DUT itself gives once started (none by default)."""
        return {}

    def state(self, params: dict[str, str]) -> dict[str, bytes | None]:
        """Knowledge imparted to the DUT, read from the files named by `control.state`."""
        return read_state(self.state_templates, params, self.base_dir)

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Fields(dict[str, str]):
    """Template fields that name the parameter a template asks for and does not get."""

    def __init__(self, action: str, params: Mapping[str, str]):
        super().__init__(params)
        self.action = action

    def __missing__(self, key: str) -> str:
        known = ", ".join(sorted(self)) or "(none)"
        raise ControlError(
            self.action,
            f"template field {{{key}}} is not a parameter of this action (known: {known}); "
            "write a literal brace as {{ or }}",
        )


def fill_template(
    action: str, template: str, params: Mapping[str, str], quote: bool = False
) -> str:
    """`str.format_map` over params; `quote` shell-quotes each value for /bin/sh."""
    values = {k: shlex.quote(str(v)) if quote else str(v) for k, v in params.items()}
    try:
        return template.format_map(_Fields(action, values))
    except (ValueError, IndexError, AttributeError) as exc:
        raise ControlError(action, f"bad template {template!r}: {exc}") from None


def read_state(
    templates: Mapping[str, str], params: Mapping[str, str], base_dir: Path
) -> dict[str, bytes | None]:
    """Read each named state file (templates filled from params); missing file -> None."""
    out: dict[str, bytes | None] = {}
    for name, template in templates.items():
        path = base_dir / fill_template(f"state.{name}", template, params)
        try:
            with path.open("rb") as stream:
                data = stream.read(MAX_STATE_BYTES + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            out[name] = None
            continue
        except OSError as exc:
            raise ControlError(f"state.{name}", f"cannot read {path}: {exc}") from None
        if len(data) > MAX_STATE_BYTES:
            raise ControlError(f"state.{name}", f"{path} is larger than {MAX_STATE_BYTES} bytes")
        out[name] = data
    return out
