"""report.html: one self-contained page (inline CSS, no scripts, no external assets).

Everything reaching the page passes Jinja's autoescaping: reasons, frames and
DUT output are whatever a device sent, so they are data, never markup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from harness.report.gate import gate_of
from harness.report.model import ROW_VERDICTS, CampaignReport, TestResult, model_note

TEMPLATES = Path(__file__).with_name("templates")
# Model sections shown in their own tables; the rest of the seed model is
# rendered generically so a change in its layout never breaks the page.
_MODEL_OWN_SECTIONS = ("phases", "processes", "process", "knowledge", "knowledge_imparted")
VERDICT_LABELS = {
    "pass": "pass",
    "fail": "fail",
    "error": "error",
    "inconclusive": "inconclusive",
    "not_applicable": "n/a",
    "untested": "untested",
    "not-testable": "not testable",
}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _is_records(value: Any) -> bool:
    """A list of mappings whose values are scalars or short lists of scalars reads as a table."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(x, Mapping) for x in value)
        and all(
            _is_scalar(v) or (isinstance(v, list) and all(_is_scalar(i) for i in v))
            for x in value
            for v in x.values()
        )
    )


def _record_keys(value: list[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for item in value:
        keys += [str(k) for k in item if str(k) not in keys]
    return keys


def _humanize(key: Any) -> str:
    return str(key).replace("_", " ")


class _Links:
    """Turns paths relative to the protocol folder into hrefs relative to the page."""

    def __init__(self, protocol_dir: Path, page_dir: Path):
        self.protocol_dir = protocol_dir
        self.page_dir = page_dir

    def __call__(self, path: str | None) -> str:
        if not path:
            return ""
        target = Path(path)
        if not target.is_absolute():
            target = self.protocol_dir / target
        rel = os.path.relpath(target, self.page_dir)
        return quote(Path(rel).as_posix())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["slug"] = _slug
    env.filters["humanize"] = _humanize
    env.filters["record_keys"] = _record_keys
    env.tests["records"] = _is_records
    return env


def render_html(report: CampaignReport, page_dir: Path | None = None) -> str:
    """The page as text; links are made relative to ``page_dir`` (default: the protocol folder)."""
    links = _Links(report.protocol_dir, Path(page_dir or report.protocol_dir).resolve())
    model = report.model if isinstance(report.model, Mapping) else None
    model_rest = (
        {k: v for k, v in model.items() if k not in _MODEL_OWN_SECTIONS}
        if model
        else ({"model": report.model} if report.model is not None else {})
    )
    ics_users: dict[str, list[str]] = {}
    for row in report.requirements:
        for opt in row.ics:
            ics_users.setdefault(opt, []).append(row.id)
    tests_by_id: dict[str, TestResult] = {t.nodeid: t for t in report.tests}
    c = report.campaign
    identity = c.dut_identity
    dut_name = " ".join(identity.get(k, "") for k in ("vendor", "model")).strip() or "unnamed DUT"
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            c=c,
            g=gate_of(report),
            dut_name=dut_name,
            verdicts=ROW_VERDICTS,
            labels=VERDICT_LABELS,
            link=links,
            model_rest=model_rest,
            ics_users=ics_users,
            ics_options=sorted(set(c.ics) | set(ics_users)),
            tests_by_id=tests_by_id,
            knowledge_note=model_note(report.model, "knowledge", "knowledge_imparted"),
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )


def write_html(report: CampaignReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, path.parent), encoding="utf-8")
    return path
