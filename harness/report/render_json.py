"""report.json: the stable, documented form of a campaign report.

The layout is fixed by ``report.schema.json`` and described in
docs/report-format.md; ``FORMAT_VERSION`` changes whenever a field changes
meaning or goes away (adding an optional field does not change it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report.gate import gate_of
from harness.report.model import CampaignReport, EvidenceRef, RequirementRow, TestResult

FORMAT = "onboardcheck-report"
FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def _evidence(e: EvidenceRef) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": e.kind}
    if e.path:
        d["path"] = e.path
        d["exists"] = bool(e.exists)
    if e.text:
        d["text"] = e.text
    return d


def _test(t: TestResult) -> dict[str, Any]:
    return {
        "nodeid": t.nodeid,
        "name": t.name,
        "module": t.module,
        "doc": t.doc,
        "dut_role": t.dut_role,
        "requirements": t.requirements,
        "unknown_requirements": t.unknown_requirements,
        "verdict": t.verdict,
        "reason": t.reason,
        "frames": t.frames,
        "evidence": [_evidence(e) for e in t.evidence],
        "knowledge": [{"id": k.id, "verdict": k.verdict, "detail": k.detail} for k in t.knowledge],
        "started": t.started,
        "duration": t.duration,
    }


def _row(r: RequirementRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "catalogued": r.catalogued,
        "level": r.level,
        "spec": r.spec,
        "spec_url": r.spec_url,
        "section": r.section,
        "title": r.title,
        "quote": r.quote,
        "paraphrase": r.paraphrase,
        "role": r.role,
        "observable": r.observable,
        "phase": r.phase,
        "why": r.why,
        "ics": r.ics,
        "verdict": r.verdict,
        "reason": r.reason,
        "tests": [
            {
                "nodeid": x.nodeid,
                "name": x.name,
                "verdict": x.verdict,
                "capture": x.capture,
                "keylog": x.keylog,
            }
            for x in r.tests
        ],
    }


def to_dict(report: CampaignReport) -> dict[str, Any]:
    """The report as plain JSON data, in the documented layout."""
    c = report.campaign
    g = gate_of(report)
    s = report.summary
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "harness": {"name": c.harness_name, "version": c.harness_version},
        "protocol": c.protocol,
        "campaign": {
            "started": c.started,
            "finished": c.finished,
            "interrupted": c.interrupted,
            "duration": c.duration,
            "dut": {
                "profile": c.dut_profile,
                "identity": c.dut_identity,
                "roles": c.dut_roles,
                "adapter": c.dut_adapter,
                "extra": c.dut_extra,
            },
            "ics": c.ics,
            "catalogue": c.catalogue,
            "model": c.model,
            "capture_mode": c.capture_mode,
            "backend": c.backend,
            "command": c.command,
            "gate_levels": c.gate_levels,
            "extra": c.extra,
        },
        "gate": {
            "passed": g.passed,
            "exit_code": g.exit_code,
            "reasons": g.reasons,
            "levels": g.levels,
            "fail_on_error": g.fail_on_error,
            "fail_on_inconclusive": g.fail_on_inconclusive,
            "fail_on_interrupted": g.fail_on_interrupted,
        },
        "summary": {
            "levels": s.levels,
            "verdicts": s.verdicts,
            "matrix": s.matrix,
            "totals": s.totals,
            "tests": s.tests,
        },
        "requirements": [_row(r) for r in report.requirements],
        "tests": [_test(t) for t in report.tests],
        "phases": [
            {
                "id": p.id,
                "description": p.description,
                "requirements": p.requirements,
                "counts": p.counts,
                "verdict": p.verdict,
            }
            for p in report.phases
        ],
        "knowledge": [
            {
                "id": k.id,
                "verdict": k.verdict,
                "description": k.description,
                "claims": [{"test": t, "verdict": v, "detail": d} for t, v, d in k.claims],
            }
            for k in report.knowledge
        ],
        "model": report.model,
        "specs": report.specs,
        "warnings": report.warnings,
    }


def write_json(report: CampaignReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # default=str: the free-form seed model may hold YAML dates; keep them as text.
    text = json.dumps(to_dict(report), indent=2, ensure_ascii=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    return path
