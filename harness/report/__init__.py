"""Campaign reports: one result model, rendered as JSON, HTML and JUnit XML, and the gate.

Typical use, after a campaign wrote ``<out>/<protocol>/``::

    report = render_all(out / "est")          # writes report.json, report.html, junit.xml
    sys.exit(report.gate.exit_code)
"""

from harness.report.gate import (
    EXIT_GATE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    GateResult,
    gate,
    render_all,
)
from harness.report.model import (
    CampaignInfo,
    CampaignReport,
    KnowledgeRow,
    PhaseGroup,
    RequirementRow,
    Summary,
    TestResult,
    load_campaign,
)
from harness.report.render_html import render_html, write_html
from harness.report.render_json import SCHEMA_PATH, to_dict, write_json
from harness.report.render_junit import build_junit, write_junit

__all__ = [
    "EXIT_GATE_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_PASSED",
    "EXIT_USAGE",
    "SCHEMA_PATH",
    "CampaignInfo",
    "CampaignReport",
    "GateResult",
    "KnowledgeRow",
    "PhaseGroup",
    "RequirementRow",
    "Summary",
    "TestResult",
    "build_junit",
    "gate",
    "load_campaign",
    "render_all",
    "render_html",
    "to_dict",
    "write_html",
    "write_json",
    "write_junit",
]
