"""junit.xml: the campaign in the JUnit XML dialect CI servers read.

One <testsuite> per protocol, one <testcase> per test case. Verdicts map as:
fail -> <failure>, error -> <error>, inconclusive and not_applicable ->
<skipped>. Conditions that fail the gate without being a test verdict (a
requirement id missing from the catalogue, an interrupted campaign) become
extra testcases with <error>, so a CI view shows why the job failed.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.gate import gate_of
from harness.report.model import CampaignReport, TestResult

# XML 1.0 forbids most control characters; DUT output and frame summaries can
# carry them, and one would make the whole file unparseable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CAMPAIGN_CLASS = "onboardcheck.campaign"


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _classname(module: str) -> str:
    """suites/est/client/test_cacerts.py -> suites.est.client.test_cacerts (pytest's form)."""
    return module.removesuffix(".py").replace("/", ".").replace("\\", ".")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text:
        el.text = _clean(text)
    return el


def _verdict_text(t: TestResult) -> str:
    parts = []
    if t.requirements:
        parts.append("requirements: " + ", ".join(t.requirements))
    if t.unknown_requirements:
        parts.append("not in the catalogue: " + ", ".join(t.unknown_requirements))
    if t.reason:
        parts.append(t.reason)
    if t.frames:
        parts.append("frames:\n" + "\n".join(t.frames))
    return "\n\n".join(parts)


def _testcase(suite: ET.Element, t: TestResult) -> dict[str, int]:
    case = _sub(
        suite,
        "testcase",
        classname=_classname(t.module),
        name=t.name,
        time=f"{t.duration or 0.0:.3f}",
    )
    props = _sub(case, "properties")
    for rid in t.requirements:
        _sub(props, "property", name="requirement", value=rid)
    _sub(props, "property", name="verdict", value=t.verdict)
    if t.dut_role:
        _sub(props, "property", name="dut_role", value=t.dut_role)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    message = t.reason.strip().splitlines()[0] if t.reason.strip() else t.verdict
    if t.verdict == "fail":
        _sub(
            case,
            "failure",
            _verdict_text(t),
            message=message,
            type=", ".join(t.requirements) or "fail",
        )
        counts["failures"] = 1
    elif t.verdict == "error":
        _sub(case, "error", _verdict_text(t), message=message, type="error")
        counts["errors"] = 1
    elif t.verdict in ("inconclusive", "not_applicable"):
        _sub(case, "skipped", _verdict_text(t), message=f"{t.verdict}: {message}")
        counts["skipped"] = 1
    out = [f"{e.kind}: {e.path}" + ("" if e.exists else " (missing)") for e in t.evidence if e.path]
    if out:
        _sub(case, "system-out", "\n".join(out))
    return counts


def build_junit(report: CampaignReport) -> ET.ElementTree:
    c = report.campaign
    root = ET.Element("testsuites", {"name": c.harness_name})
    suite = _sub(
        root, "testsuite", name=c.protocol, timestamp=c.started or "", hostname=socket.gethostname()
    )
    props = _sub(suite, "properties")
    g = gate_of(report)
    meta = [
        ("harness.version", c.harness_version),
        ("dut.profile", c.dut_profile),
        *((f"dut.{k}", v) for k, v in c.dut_identity.items()),
        ("dut.roles", ", ".join(c.dut_roles)),
        ("capture_mode", c.capture_mode),
        ("backend", c.backend),
        ("interrupted", str(c.interrupted).lower()),
        ("gate.passed", str(g.passed).lower()),
        ("gate.exit_code", str(g.exit_code)),
        ("gate.levels", ", ".join(g.levels)),
    ]
    for name, value in meta:
        _sub(props, "property", name=name, value=value)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for t in report.tests:
        totals["tests"] += 1
        for k, v in _testcase(suite, t).items():
            totals[k] += v
    extra = [
        (f"uncatalogued {r.id}", r.reason)
        for r in report.requirements
        if not r.catalogued and report.has_catalogue
    ]
    if c.interrupted:
        extra.append(
            (
                "campaign interrupted",
                "campaign.json has no end time: the run stopped before every test ran",
            )
        )
    for name, reason in extra:
        case = _sub(suite, "testcase", classname=CAMPAIGN_CLASS, name=name, time="0.000")
        _sub(case, "error", reason, message=reason, type="campaign")
        totals["tests"] += 1
        totals["errors"] += 1
    for k, v in totals.items():
        suite.set(k, str(v))
    duration = c.duration if c.duration is not None else sum(t.duration or 0 for t in report.tests)
    suite.set("time", f"{duration:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: CampaignReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_junit(report).write(path, encoding="utf-8", xml_declaration=True)
    return path
