"""The exit-code gate a CI job reads, and ``render_all`` which writes every report.

Exit codes (documented in docs/report-format.md): 0 the gate passed; 1 the gate
failed; 2 bad input or usage (the CLI's); 3 the campaign was interrupted and
nothing else failed the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.model import NO_LEVEL, CampaignReport, CatalogueLike, load_campaign

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2  # used by the CLI for bad input or usage; the gate never returns it
EXIT_INTERRUPTED = 3

DEFAULT_LEVELS: tuple[str, ...] = ("MUST", "MUST NOT")


@dataclass
class GateResult:
    passed: bool
    exit_code: int
    reasons: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    fail_on_error: bool = True
    fail_on_inconclusive: bool = False
    fail_on_interrupted: bool = True


def gate(
    report: CampaignReport,
    levels: Sequence[str] = DEFAULT_LEVELS,
    fail_on_error: bool = True,
    fail_on_inconclusive: bool = False,
    fail_on_interrupted: bool = True,
) -> GateResult:
    """Judge a campaign: 0 only if no gated requirement failed and nothing errored.

    A found failure outranks an interruption (exit 1, not 3): whatever else the
    run would have shown, the device already did not conform.
    """
    gated = set(levels)
    reasons: list[str] = []
    for row in report.requirements:
        # Without a level (no catalogue, or an id it lacks) a fail cannot be shown
        # harmless, so it counts against the gate.
        in_scope = row.level in gated or row.level == NO_LEVEL
        if row.verdict == "fail" and in_scope:
            reasons.append(f"{row.id} ({row.level}) failed: {_first_line(row.reason)}")
        elif row.verdict == "inconclusive" and in_scope and fail_on_inconclusive:
            reasons.append(f"{row.id} ({row.level}) inconclusive: {_first_line(row.reason)}")
        elif (
            row.verdict == "error" and fail_on_error and not row.catalogued and report.has_catalogue
        ):
            # An id the catalogue lacks: the suite and its catalogue disagree.
            reasons.append(f"{row.id}: {_first_line(row.reason)}")
    if fail_on_error:
        # Errors are per test: a harness break says nothing about any level.
        reasons += [
            f"{t.name} errored: {_first_line(t.reason)}"
            for t in report.tests
            if t.verdict == "error"
        ]
    code = EXIT_GATE_FAILED if reasons else EXIT_PASSED
    if report.interrupted and fail_on_interrupted:
        reasons.append("campaign interrupted: not every test ran")
        if code == EXIT_PASSED:
            code = EXIT_INTERRUPTED
    return GateResult(
        passed=code == EXIT_PASSED,
        exit_code=code,
        reasons=reasons,
        levels=list(levels),
        fail_on_error=fail_on_error,
        fail_on_inconclusive=fail_on_inconclusive,
        fail_on_interrupted=fail_on_interrupted,
    )


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "(no reason given)"
    return line if len(line) <= 200 else line[:197] + "..."


def render_all(
    protocol_dir: Path,
    catalogue_path: Path | None = None,
    model_path: Path | None = None,
    levels: Sequence[str] | None = None,
    fail_on_error: bool = True,
    fail_on_inconclusive: bool | None = None,
    catalogue: CatalogueLike | None = None,
) -> CampaignReport:
    """Load a protocol folder, judge it, and write report.json, report.html, junit.xml into it.

    ``levels`` defaults to the levels campaign.json names under ``gate``, and
    ``fail_on_inconclusive`` to its ``gate_fails_on_inconclusive`` (false when absent).
    The gate's result is on ``report.gate``.
    """
    # Imported here: the renderers import this module for the gate.
    from harness.report.render_html import write_html
    from harness.report.render_json import write_json
    from harness.report.render_junit import write_junit

    protocol_dir = Path(protocol_dir)
    report = load_campaign(protocol_dir, catalogue_path, model_path, catalogue=catalogue)
    report.gate = gate(
        report,
        levels=tuple(levels) if levels is not None else tuple(report.campaign.gate_levels),
        fail_on_error=fail_on_error,
        fail_on_inconclusive=bool(report.campaign.get("gate_fails_on_inconclusive", False))
        if fail_on_inconclusive is None
        else fail_on_inconclusive,
    )
    write_json(report, protocol_dir / "report.json")
    write_html(report, protocol_dir / "report.html")
    write_junit(report, protocol_dir / "junit.xml")
    return report


def gate_of(report: CampaignReport) -> GateResult:
    """The report's gate result, judged with the campaign's own levels if not yet judged."""
    if isinstance(report.gate, GateResult):
        return report.gate
    return gate(report, levels=tuple(report.campaign.gate_levels))
