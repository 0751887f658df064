"""Verdicts with TTCN-3 meaning, and the signals a test case raises to give one.

A test case never asserts: it returns (pass) or raises one of the signals
below. The pytest plugin turns them into verdicts; any other exception is an
``error`` verdict, because then the harness itself broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not_applicable"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Order for combining verdicts of one requirement: the worst wins."""
        return _RANK[self]

    @staticmethod
    def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
        found = list(verdicts)
        return max(found, key=lambda v: v.rank) if found else None


_RANK = {
    Verdict.NOT_APPLICABLE: 0,
    Verdict.PASS: 1,
    Verdict.INCONCLUSIVE: 2,
    Verdict.FAIL: 3,
    Verdict.ERROR: 4,
}


@dataclass
class Evidence:
    """One piece of evidence: a file (capture, key log, peer log, DUT output) or a note."""

    kind: str  # "capture", "keylog", "peer-log", "dut-output", "dut-state", "frames", "note"
    path: str | None = None  # relative to the campaign's output folder when written
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        items = (("kind", self.kind), ("path", self.path), ("text", self.text))
        return {k: v for k, v in items if v}


class VerdictSignal(Exception):
    """Raised by a test case to end it with a verdict other than pass."""

    verdict: Verdict = Verdict.ERROR

    def __init__(
        self,
        reason: str,
        requirement: str | Sequence[str] | None = None,
        frames: Sequence[str] = (),
        evidence: Sequence[Evidence] = (),
    ):
        self.reason = reason
        if requirement is None:
            self.requirements: list[str] = []
        elif isinstance(requirement, str):
            self.requirements = [requirement]
        else:
            self.requirements = list(requirement)
        self.frames = list(frames)  # one-line summaries of the decoded frames that decided it
        self.evidence = list(evidence)
        super().__init__(reason)

    def __str__(self) -> str:
        head = f"[{', '.join(self.requirements)}] " if self.requirements else ""
        body = f"{head}{self.reason}"
        if self.frames:
            body += "\n" + "\n".join(self.frames)
        return body


class RequirementFailed(VerdictSignal, AssertionError):
    """The DUT violated the named requirement(s).

    Also an AssertionError so that tools reading pytest outcomes (Allure) file
    it as a failure rather than as a broken test.
    """

    verdict = Verdict.FAIL

    def __init__(self, reason: str, requirement: str | Sequence[str], **kw: Any):
        super().__init__(reason, requirement, **kw)
        if not self.requirements:
            raise ValueError("a fail must name the requirement it is about")


class Inconclusive(VerdictSignal):
    """A precondition of the test did not hold (DUT unreachable, manual step in CI, ...)."""

    verdict = Verdict.INCONCLUSIVE


class NotApplicable(VerdictSignal):
    """The DUT's ICS excludes the test."""

    verdict = Verdict.NOT_APPLICABLE


def fail(reason: str, requirement: str | Sequence[str], **kw: Any) -> NoReturn:
    raise RequirementFailed(reason, requirement, **kw)


def inconclusive(reason: str, **kw: Any) -> NoReturn:
    raise Inconclusive(reason, **kw)


def check(condition: object, reason: str, requirement: str | Sequence[str], **kw: Any) -> None:
    """Fail the requirement unless ``condition`` holds: the one readable line of a check."""
    if not condition:
        fail(reason, requirement, **kw)


@dataclass
class Outcome:
    """What the plugin records for one test case."""

    verdict: Verdict
    reason: str = ""
    requirements: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
