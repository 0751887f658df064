"""Tests of harness/report: the result model, the three renderers and the gate.

The fixture folder holds a small EST campaign: one requirement per level, each
test verdict, a not-testable and an untested requirement, a test naming an id
the catalogue lacks, and a results.jsonl whose last line a kill cut short.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.report import (
    EXIT_GATE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    SCHEMA_PATH,
    CampaignReport,
    gate,
    load_campaign,
    render_all,
    render_html,
    to_dict,
    write_json,
    write_junit,
)

FIXTURES = Path(__file__).parent / "fixtures" / "report"


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out" / "est"
    out.mkdir(parents=True)
    for name in ("campaign.json", "results.jsonl", "requirements.yaml", "model.yaml"):
        shutil.copy(FIXTURES / name, out / name)
    # Only one test's evidence exists on disk: the others must show as missing.
    ev = out / "evidence" / "test_cacerts_get"
    ev.mkdir(parents=True)
    (ev / "capture.pcapng").write_bytes(b"")
    (ev / "tls.keylog").write_text("")
    return out


@pytest.fixture
def report(campaign_dir: Path) -> CampaignReport:
    return load_campaign(campaign_dir)


def _row(report: CampaignReport, rid: str):
    return next(r for r in report.requirements if r.id == rid)


def _edit_campaign(campaign_dir: Path, **changes: object) -> None:
    path = campaign_dir / "campaign.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# ---------------------------------------------------------------- model


def test_one_row_per_catalogued_requirement_in_order(report: CampaignReport) -> None:
    ids = [r.id for r in report.requirements]
    assert ids == [
        "RFC7030-3.3-MUST-01",
        "RFC7030-4.1-MUST-01",
        "RFC7030-4.1.3-MUST-01",
        "RFC7030-4.1.2-SHOULD-NOT-01",
        "RFC7030-4.4-MAY-01",
        "RFC7030-4.2.1-MUST-01",
        "RFC7030-3.6.1-MUST-01",
        "RFC7030-9.9-MUST-99",
    ]


def test_combined_verdict_is_the_worst_and_reason_comes_from_it(report: CampaignReport) -> None:
    row = _row(report, "RFC7030-4.1-MUST-01")  # one fail and one pass
    assert row.verdict == "fail"
    assert "never sent GET" in row.reason
    assert [t.verdict for t in row.tests] == ["fail", "pass"]
    assert row.tests[0].capture == "evidence/test_cacerts_get/capture.pcapng"
    assert row.tests[0].keylog == "evidence/test_cacerts_get/tls.keylog"
    assert _row(report, "RFC7030-3.3-MUST-01").verdict == "pass"
    assert _row(report, "RFC7030-4.1.3-MUST-01").verdict == "error"
    assert _row(report, "RFC7030-4.1.2-SHOULD-NOT-01").verdict == "inconclusive"
    assert _row(report, "RFC7030-4.4-MAY-01").verdict == "not_applicable"


def test_untested_and_not_testable_rows(report: CampaignReport) -> None:
    untested = _row(report, "RFC7030-4.2.1-MUST-01")
    assert (untested.verdict, untested.tests) == ("untested", [])
    nt = _row(report, "RFC7030-3.6.1-MUST-01")
    assert nt.verdict == "not-testable"
    assert nt.reason == "happens at manufacture; no message on the wire shows it"


def test_unknown_requirement_is_an_error_row_not_dropped(report: CampaignReport) -> None:
    row = _row(report, "RFC7030-9.9-MUST-99")
    assert (row.catalogued, row.verdict, row.level) == (False, "error", "uncatalogued")
    assert "not in the catalogue" in row.reason and "test_legacy_id" in row.reason
    legacy = next(t for t in report.tests if t.name == "test_legacy_id")
    assert legacy.unknown_requirements == ["RFC7030-9.9-MUST-99"]


def test_truncated_last_line_is_ignored_with_a_warning(report: CampaignReport) -> None:
    assert len(report.tests) == 7
    assert any("truncated last line" in w for w in report.warnings)


def test_broken_line_in_the_middle_is_an_input_error(campaign_dir: Path) -> None:
    path = campaign_dir / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(InputError) as info:
        load_campaign(campaign_dir)
    assert info.value.line == 2


def test_unknown_verdict_is_an_input_error(campaign_dir: Path) -> None:
    (campaign_dir / "results.jsonl").write_text(
        json.dumps({"nodeid": "a.py::t", "verdict": "passed", "requirements": []}) + "\n"
    )
    with pytest.raises(InputError, match="verdict"):
        load_campaign(campaign_dir)


def test_missing_catalogue_named_by_campaign_is_an_input_error(campaign_dir: Path) -> None:
    (campaign_dir / "requirements.yaml").unlink()
    with pytest.raises(InputError, match="catalogue"):
        load_campaign(campaign_dir)


def test_summary_counts_level_by_verdict(report: CampaignReport) -> None:
    m = report.summary.matrix
    assert {v: n for v, n in m["MUST"].items() if n} == {
        "pass": 1,
        "fail": 1,
        "error": 1,
        "untested": 1,
        "not-testable": 1,
    }
    assert {v: n for v, n in m["SHOULD NOT"].items() if n} == {"inconclusive": 1}
    assert {v: n for v, n in m["MAY"].items() if n} == {"not_applicable": 1}
    assert {v: n for v, n in m["uncatalogued"].items() if n} == {"error": 1}
    assert sum(report.summary.totals.values()) == len(report.requirements)
    assert report.summary.tests == {
        "pass": 3,
        "fail": 1,
        "inconclusive": 1,
        "not_applicable": 1,
        "error": 1,
    }


def test_phases_and_knowledge(report: CampaignReport) -> None:
    phases = {p.id: p for p in report.phases}
    assert [p.id for p in report.phases][:5] == [
        "manufacture",
        "discovery",
        "authentication",
        "credential-provisioning",
        "operation",
    ]
    cp = phases["credential-provisioning"]
    assert cp.description.startswith("/cacerts")
    assert cp.verdict == "error" and cp.counts["untested"] == 1
    assert phases["manufacture"].requirements == ["RFC7030-3.6.1-MUST-01"]
    know = {k.id: k for k in report.knowledge}
    assert know["explicit-ta"].verdict == "fail"  # worst of pass and fail
    assert len(know["explicit-ta"].claims) == 2
    assert know["explicit-ta"].description.startswith("The DUT holds the EST CA")
    assert know["ldevid"].verdict == "untested"


def test_evidence_existence_is_recorded(report: CampaignReport) -> None:
    get = next(t for t in report.tests if t.name == "test_cacerts_get")
    assert all(e.exists for e in get.evidence if e.path)
    tls = next(t for t in report.tests if t.name == "test_tls_version")
    assert not any(e.exists for e in tls.evidence)


# ---------------------------------------------------------------- gate


def test_gate_default_fails_on_must_fail_and_errors(report: CampaignReport) -> None:
    g = gate(report)
    assert (g.passed, g.exit_code) == (False, EXIT_GATE_FAILED)
    text = "\n".join(g.reasons)
    assert "RFC7030-4.1-MUST-01" in text
    assert "test_cacerts_status errored" in text
    assert "RFC7030-9.9-MUST-99" in text


def test_gate_ignores_levels_not_gated_and_errors_when_told(report: CampaignReport) -> None:
    g = gate(report, levels=("MAY",), fail_on_error=False)
    assert (g.passed, g.exit_code, g.reasons) == (True, EXIT_PASSED, [])


def test_gate_inconclusive_counts_only_when_asked(report: CampaignReport) -> None:
    assert gate(report, levels=("SHOULD NOT",), fail_on_error=False).passed
    g = gate(report, levels=("SHOULD NOT",), fail_on_error=False, fail_on_inconclusive=True)
    assert g.exit_code == EXIT_GATE_FAILED
    assert "RFC7030-4.1.2-SHOULD-NOT-01" in g.reasons[0]


def test_gate_errors_alone_fail(report: CampaignReport) -> None:
    g = gate(report, levels=(), fail_on_error=True)
    assert g.exit_code == EXIT_GATE_FAILED
    assert len(g.reasons) == 2  # the errored test and the uncatalogued id


def test_interrupted_campaign_is_flagged_and_exits_3(campaign_dir: Path) -> None:
    _edit_campaign(campaign_dir, finished=None)
    report = load_campaign(campaign_dir)
    assert report.interrupted
    assert gate(report, levels=(), fail_on_error=False).exit_code == EXIT_INTERRUPTED
    assert gate(report).exit_code == EXIT_GATE_FAILED  # a found failure outranks it
    page = render_html(report)
    assert "campaign was interrupted" in page and "GATE INTERRUPTED" not in page
    junit = ET.fromstring(write_junit(report, campaign_dir / "j.xml").read_bytes())
    assert junit.find(".//testcase[@name='campaign interrupted']/error") is not None


# ---------------------------------------------------------------- renderers


def test_json_validates_against_schema(campaign_dir: Path, report: CampaignReport) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    path = write_json(report, campaign_dir / "report.json")
    data = json.loads(path.read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["gate"]["exit_code"] == 1
    assert data["campaign"]["dut"]["identity"]["serial"] == "SN-0001"
    assert data["model"]["terms"]["enrollment"].startswith("obtaining")


def test_json_of_interrupted_campaign_without_model_validates(campaign_dir: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    _edit_campaign(campaign_dir, finished=None, model=None)
    data = to_dict(load_campaign(campaign_dir))
    jsonschema.validate(
        data, json.loads(SCHEMA_PATH.read_text()), cls=jsonschema.Draft202012Validator
    )
    assert data["campaign"]["interrupted"] is True and data["model"] is None


class _Page(HTMLParser):
    """Collects what the checks need and that start and end tags balance."""

    VOID = {"meta", "br", "link", "img", "input", "hr", "col", "area", "base", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.urls.append((tag, name, value))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_well_formed_and_escaped(campaign_dir: Path) -> None:
    report = render_all(campaign_dir)
    page_text = (campaign_dir / "report.html").read_text()
    page = _Page()
    page.feed(page_text)
    page.close()
    assert page.stack == []
    assert page.scripts == 0  # the "<script>" in a reason must arrive as text
    assert '<script>alert("x")</script>' in "".join(page.text)
    assert "&lt;script&gt;" in page_text
    external = [u for u in page.urls if u[2].startswith(("http://", "https://"))]
    spec_urls = {r.spec_url for r in report.requirements if r.spec_url}
    assert external and all(tag == "a" and url in spec_urls for tag, _, url in external)
    assert "@import" not in page_text and "url(" not in page_text
    hrefs = {u[2] for u in page.urls}
    assert "evidence/test_cacerts_get/capture.pcapng" in hrefs
    assert "evidence/test_cacerts_get/tls.keylog" in hrefs
    for needle in (
        "Acme",
        "SN-0001",
        "GATE FAILED",
        "0.1.0",
        "EST-SERVERKEYGEN",
        "explicit-ta",
        "credential-provisioning",
        "EST client",
    ):
        assert needle in page_text


def test_html_links_are_relative_to_the_page(report: CampaignReport, campaign_dir: Path) -> None:
    page = render_html(report, campaign_dir.parent / "site")
    assert 'href="../est/evidence/test_cacerts_get/capture.pcapng"' in page


def test_junit_counts_and_mapping(campaign_dir: Path) -> None:
    render_all(campaign_dir)
    root = ET.parse(campaign_dir / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["est"]
    suite = suites[0]
    cases = suite.findall("testcase")
    # 7 tests + 1 synthetic error for the uncatalogued requirement id
    assert len(cases) == 8 and suite.get("tests") == "8"
    assert len(suite.findall("testcase/failure")) == 1 == int(suite.get("failures", "-1"))
    assert len(suite.findall("testcase/error")) == 2 == int(suite.get("errors", "-1"))
    assert len(suite.findall("testcase/skipped")) == 2 == int(suite.get("skipped", "-1"))
    get = suite.find("testcase[@name='test_cacerts_get']")
    assert get is not None and get.get("classname") == "suites.est.client.test_cacerts"
    failure = get.find("failure")
    assert failure is not None and "<script>" in (failure.get("message") or "")
    assert "RFC7030-4.1-MUST-01" in (failure.text or "") and "> 13 0.140" in (failure.text or "")
    props = [p.get("value") for p in get.findall("properties/property[@name='requirement']")]
    assert props == ["RFC7030-4.1-MUST-01"]
    assert "evidence/test_cacerts_get/capture.pcapng" in (get.findtext("system-out") or "")
    skipped = suite.find("testcase[@name='test_serverkeygen']/skipped")
    assert skipped is not None and skipped.get("message", "").startswith("not_applicable")


def test_junit_survives_control_characters(campaign_dir: Path) -> None:
    path = campaign_dir / "results.jsonl"
    path.write_text(
        json.dumps(
            {
                "nodeid": "suites/est/client/test_x.py::test_x",
                "verdict": "fail",
                "requirements": ["RFC7030-3.3-MUST-01"],
                "reason": "DUT sent \x00\x1b[31m garbage",
                "frames": ["\x07bell"],
            }
        )
        + "\n"
    )
    ET.parse(write_junit(load_campaign(campaign_dir), campaign_dir / "junit.xml"))


def test_render_all_writes_three_files_and_sets_gate(campaign_dir: Path) -> None:
    report = render_all(campaign_dir, levels=("MAY",), fail_on_error=False)
    assert report.gate.exit_code == EXIT_PASSED
    for name in ("report.json", "report.html", "junit.xml"):
        assert (campaign_dir / name).stat().st_size > 0
    assert json.loads((campaign_dir / "report.json").read_text())["gate"]["passed"] is True
    # Callers may read campaign.json fields by their own names.
    assert report.campaign.get("gate") == ["MUST", "MUST NOT"]


def test_campaign_without_results_or_metadata_still_renders(tmp_path: Path) -> None:
    empty = tmp_path / "est"
    empty.mkdir()
    report = render_all(empty)
    assert report.tests == [] and report.interrupted
    assert report.gate.exit_code == EXIT_INTERRUPTED
    assert any("campaign.json is missing" in w for w in report.warnings)


def test_real_est_catalogue_and_model_render(tmp_path: Path) -> None:
    """The shipped EST catalogue and seed model go through every renderer."""
    suite = Path(__file__).resolve().parents[1] / "suites" / "est"
    assert (suite / "requirements.yaml").exists() and (suite / "model.yaml").exists()
    from harness.requirements import load_catalogue

    catalogue = load_catalogue(suite / "requirements.yaml")
    out = tmp_path / "est"
    out.mkdir()
    campaign = json.loads((FIXTURES / "campaign.json").read_text())
    campaign.update(catalogue=str(suite / "requirements.yaml"), model=str(suite / "model.yaml"))
    (out / "campaign.json").write_text(json.dumps(campaign))
    first = catalogue.requirements[0].id
    record = {
        "nodeid": "suites/est/client/test_x.py::test_x",
        "verdict": "fail",
        "requirements": [first],
        "reason": "r",
        "knowledge": [{"id": "explicit-ta", "verdict": "pass", "detail": "held"}],
    }
    (out / "results.jsonl").write_text(json.dumps(record) + "\n")
    report = render_all(out)
    assert len(report.requirements) == len(catalogue.requirements)
    assert report.requirements[0].verdict == "fail"
    know = {k.id: k for k in report.knowledge}
    assert know["explicit-ta"].description and know["explicit-ta"].verdict == "pass"
    assert all(p.description for p in report.phases if p.id != "unassigned")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(
        json.loads((out / "report.json").read_text()),
        json.loads(SCHEMA_PATH.read_text()),
        cls=jsonschema.Draft202012Validator,
    )
