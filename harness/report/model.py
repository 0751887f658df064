"""The one result model every renderer and the gate read.

``load_campaign`` reads a protocol's output folder (``campaign.json`` and
``results.jsonl``, written by the pytest plugin), joins it with the requirement
catalogue and the protocol's seed model, and returns a ``CampaignReport``. The
renderers never look at the input files themselves, so JSON, HTML and JUnit
cannot disagree about a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import InputError
from harness.report.inputs import (
    TEST_VERDICTS,
    CampaignInfo,
    EvidenceRef,
    KnowledgeClaim,
    TestResult,
    locate,
    read_campaign,
    read_model,
    read_results,
)
from harness.verdicts import Verdict

# Re-exported: callers see one model module.
__all__ = [
    "CampaignInfo",
    "CampaignReport",
    "EvidenceRef",
    "KnowledgeClaim",
    "KnowledgeRow",
    "PhaseGroup",
    "RequirementRow",
    "Summary",
    "TestLink",
    "TestResult",
    "load_campaign",
]

# Row verdicts beyond the five test verdicts: a catalogued requirement no test
# covered in this run, and one the catalogue itself says cannot be observed.
UNTESTED = "untested"
NOT_TESTABLE = "not-testable"
# Display and summary order: outcomes first, then what the run did not judge.
ROW_VERDICTS: tuple[str, ...] = (
    "pass",
    "fail",
    "error",
    "inconclusive",
    "not_applicable",
    UNTESTED,
    NOT_TESTABLE,
)
LEVELS: tuple[str, ...] = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
# Level shown for rows whose requirement is not in a catalogue.
NO_LEVEL = "uncatalogued"
# The seed's common processes (section 3.4), in the order a device lives them.
SEED_PHASES: tuple[str, ...] = (
    "manufacture",
    "discovery",
    "authentication",
    "credential-provisioning",
    "operation",
)
NO_PHASE = "unassigned"


class RequirementLike(Protocol):
    """What the model reads from ``harness.requirements.Requirement``."""

    id: str
    spec: str
    section: str
    level: str
    title: str


class CatalogueLike(Protocol):
    """What the model reads from ``harness.requirements.Catalogue``."""

    protocol: str
    requirements: Sequence[Any]
    specs: Mapping[str, Mapping[str, Any]]

    def get(self, req_id: str) -> Any: ...


@dataclass
class TestLink:
    """A requirement row's pointer to one test that covers it."""

    nodeid: str
    name: str
    verdict: str
    capture: str | None = None
    keylog: str | None = None


@dataclass
class RequirementRow:
    id: str
    verdict: str  # one of ROW_VERDICTS
    catalogued: bool
    level: str = NO_LEVEL
    spec: str = ""
    section: str = ""
    title: str = ""
    quote: str = ""
    paraphrase: bool = False
    role: str = ""
    observable: str = ""
    phase: str = NO_PHASE
    why: str = ""
    ics: list[str] = field(default_factory=list)
    spec_url: str | None = None
    reason: str = ""
    tests: list[TestLink] = field(default_factory=list)


@dataclass
class Summary:
    """Requirement rows counted by level x verdict, and tests by verdict."""

    levels: list[str]
    verdicts: list[str]
    matrix: dict[str, dict[str, int]]
    totals: dict[str, int]
    tests: dict[str, int]


@dataclass
class PhaseGroup:
    id: str
    description: str
    requirements: list[str]
    counts: dict[str, int]
    verdict: str | None  # worst row verdict among the judged ones, None if none judged


@dataclass
class KnowledgeRow:
    id: str
    verdict: str  # worst test verdict, or "untested" for model items no test reported
    description: str = ""
    claims: list[tuple[str, str, str]] = field(default_factory=list)  # (test, verdict, detail)


@dataclass
class CampaignReport:
    protocol_dir: Path
    campaign: CampaignInfo
    tests: list[TestResult]
    requirements: list[RequirementRow]
    summary: Summary
    phases: list[PhaseGroup]
    knowledge: list[KnowledgeRow]
    model: Any = None  # the seed model as loaded, rendered generically
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    has_catalogue: bool = True
    gate: Any = None  # a harness.report.gate.GateResult once render_all has judged it

    @property
    def interrupted(self) -> bool:
        return self.campaign.interrupted


def worst(verdicts: Iterable[str]) -> str | None:
    """Worst of test verdict strings: error > fail > inconclusive > pass > not_applicable."""
    return found.value if (found := Verdict.worst(Verdict(v) for v in verdicts)) else None


# ---------------------------------------------------------------- loading


def load_campaign(
    protocol_dir: Path,
    catalogue_path: Path | None = None,
    model_path: Path | None = None,
    catalogue: CatalogueLike | None = None,
) -> CampaignReport:
    """Read ``<out>/<protocol>/`` into a report.

    ``catalogue`` lets a caller that already holds a loaded catalogue skip the
    file; otherwise ``catalogue_path`` or the path ``campaign.json`` names is
    loaded with ``harness.requirements.load_catalogue``.
    """
    protocol_dir = Path(protocol_dir)
    if not protocol_dir.is_dir():
        raise InputError(protocol_dir, "protocol_dir", "not a folder")
    warnings: list[str] = []
    info = read_campaign(protocol_dir, warnings)
    tests = read_results(protocol_dir / "results.jsonl", warnings)
    if catalogue is None:
        cat_file = catalogue_path or locate(info.catalogue, protocol_dir)
        if catalogue_path is None and info.catalogue and cat_file is None:
            raise InputError(
                protocol_dir / "campaign.json",
                "catalogue",
                f"catalogue {info.catalogue} not found; pass its path",
            )
        if cat_file is not None:
            # Imported here so the report renders where the catalogue module changes.
            from harness.requirements import load_catalogue

            catalogue = load_catalogue(Path(cat_file))
    if catalogue is None:
        warnings.append("no requirement catalogue: levels are unknown, rows come from the tests")
    model = read_model(model_path or locate(info.model, protocol_dir), info.model, warnings)
    for t in tests:
        for ev in t.evidence:
            if ev.path:
                p = Path(ev.path)
                ev.exists = (p if p.is_absolute() else protocol_dir / p).exists()
    rows = _requirement_rows(catalogue, tests, warnings)
    specs = {k: dict(v) for k, v in (getattr(catalogue, "specs", None) or {}).items()}
    return CampaignReport(
        protocol_dir=protocol_dir.resolve(),
        campaign=info,
        tests=tests,
        requirements=rows,
        summary=_summary(rows, tests),
        phases=_phases(rows, model),
        knowledge=_knowledge(tests, model),
        model=model,
        specs=specs,
        warnings=warnings,
        has_catalogue=catalogue is not None,
    )


# ---------------------------------------------------------------- combining


def _spec_url(specs: Mapping[str, Any], spec: str, section: str) -> str | None:
    entry = specs.get(spec) if specs else None
    url = entry.get("url") if isinstance(entry, Mapping) else None
    if not url:
        return None
    # RFC renderings anchor sections as #section-N; other specs get the document.
    if section and "rfc" in str(url).lower() and "#" not in str(url):
        return f"{url}#section-{section}"
    return str(url)


def _requirement_rows(
    catalogue: CatalogueLike | None, tests: list[TestResult], warnings: list[str]
) -> list[RequirementRow]:
    covering: dict[str, list[TestResult]] = {}
    for t in tests:
        if not t.requirements:
            warnings.append(f"{t.nodeid} names no requirement: it counts in no row")
        for rid in t.requirements:
            covering.setdefault(rid, []).append(t)
    rows: list[RequirementRow] = []
    specs = getattr(catalogue, "specs", None) or {}
    for req in catalogue.requirements if catalogue is not None else []:
        row = RequirementRow(
            id=req.id,
            verdict=UNTESTED,
            catalogued=True,
            level=str(getattr(req, "level", "") or NO_LEVEL),
            spec=str(getattr(req, "spec", "") or ""),
            section=str(getattr(req, "section", "") or ""),
            title=str(getattr(req, "title", "") or ""),
            quote=str(getattr(req, "quote", "") or ""),
            paraphrase=bool(getattr(req, "paraphrase", False)),
            role=str(getattr(req, "role", "") or ""),
            observable=str(getattr(req, "observable", "") or ""),
            phase=str(getattr(req, "phase", "") or NO_PHASE),
            why=str(getattr(req, "why", "") or ""),
            ics=[str(x) for x in getattr(req, "ics", None) or []],
        )
        row.spec_url = _spec_url(specs, row.spec, row.section)
        _judge(row, covering.pop(req.id, []))
        if row.observable == NOT_TESTABLE:
            if row.tests:
                warnings.append(f"{row.id} is catalogued not-testable but tests name it")
            else:
                row.verdict, row.reason = NOT_TESTABLE, row.why or "catalogued as not testable"
        rows.append(row)
    # What is left names ids the catalogue lacks: kept as rows, never dropped.
    for rid, its_tests in covering.items():
        row = RequirementRow(id=rid, verdict="error", catalogued=False)
        _judge(row, its_tests)
        if catalogue is not None:
            row.verdict = "error"
            row.reason = (
                f"requirement {rid} is not in the catalogue; "
                f"named by {', '.join(t.name for t in its_tests)}"
            )
            for t in its_tests:
                t.unknown_requirements.append(rid)
        rows.append(row)
    return rows


def _judge(row: RequirementRow, tests: list[TestResult]) -> None:
    row.tests = [TestLink(t.nodeid, t.name, t.verdict, t.capture, t.keylog) for t in tests]
    combined = worst(t.verdict for t in tests)
    if combined is not None:
        row.verdict = combined
        row.reason = next(t.reason for t in tests if t.verdict == combined)


def _summary(rows: list[RequirementRow], tests: list[TestResult]) -> Summary:
    levels = list(LEVELS)
    levels += sorted({r.level for r in rows} - set(levels) - {NO_LEVEL})
    if any(r.level == NO_LEVEL for r in rows):
        levels.append(NO_LEVEL)
    matrix = {lv: dict.fromkeys(ROW_VERDICTS, 0) for lv in levels}
    totals = dict.fromkeys(ROW_VERDICTS, 0)
    for r in rows:
        matrix[r.level][r.verdict] += 1
        totals[r.verdict] += 1
    by_test = dict.fromkeys(TEST_VERDICTS, 0)
    for t in tests:
        by_test[t.verdict] += 1
    return Summary(levels, list(ROW_VERDICTS), matrix, totals, by_test)


def described(section: Any, *, keys: Sequence[str] = ("id", "name")) -> dict[str, str]:
    """Map id -> description from a free-form model section (mapping or list of items).

    The seed model's layout is owned elsewhere; this accepts ``{id: text}``,
    ``{id: {description: ...}}`` and ``[{id: ..., description: ...}]``.
    """
    out: dict[str, str] = {}

    def text_of(v: Any) -> str:
        if isinstance(v, Mapping):
            for k in ("description", "summary", "detail", "text", "title"):
                if isinstance(v.get(k), str):
                    return v[k]
            return ""
        return "" if v is None else str(v)

    if isinstance(section, Mapping) and isinstance(section.get("items"), list):
        # {comparison: ..., items: [...]}: the items are the entries, the rest is prose.
        return described(section["items"], keys=keys)
    if isinstance(section, Mapping):
        for k, v in section.items():
            out[str(k)] = text_of(v)
    elif isinstance(section, list):
        for item in section:
            if isinstance(item, Mapping):
                ident = next((item[k] for k in keys if item.get(k)), None)
                if ident is not None:
                    out[str(ident)] = text_of(item)
            elif isinstance(item, str):
                out[item] = ""
    return out


def model_note(model: Any, *names: str) -> str:
    """The prose of a model section (its comparison or summary), if it has one."""
    section = _model_section(model, *names)
    if isinstance(section, Mapping):
        for key in ("comparison", "summary", "description"):
            if isinstance(section.get(key), str):
                return section[key]
    return ""


def _model_section(model: Any, *names: str) -> Any:
    if not isinstance(model, Mapping):
        return None
    return next((model[n] for n in names if n in model), None)


def _phases(rows: list[RequirementRow], model: Any) -> list[PhaseGroup]:
    known = described(_model_section(model, "phases", "processes", "process"))
    # The seed's lifecycle order reads best; phases only the model names follow.
    order = list(SEED_PHASES) + [p for p in known if p not in SEED_PHASES]
    order += sorted({r.phase for r in rows} - set(order) - {NO_PHASE})
    if any(r.phase == NO_PHASE for r in rows):
        order.append(NO_PHASE)
    groups = []
    for ph in order:
        members = [r for r in rows if r.phase == ph]
        counts = dict.fromkeys(ROW_VERDICTS, 0)
        for r in members:
            counts[r.verdict] += 1
        judged = [r.verdict for r in members if r.verdict in TEST_VERDICTS]
        groups.append(
            PhaseGroup(ph, known.get(ph, ""), [r.id for r in members], counts, worst(judged))
        )
    return groups


def _knowledge(tests: list[TestResult], model: Any) -> list[KnowledgeRow]:
    known = described(_model_section(model, "knowledge", "knowledge_imparted"))
    rows: dict[str, KnowledgeRow] = {}
    for t in tests:
        for k in t.knowledge:
            row = rows.setdefault(k.id, KnowledgeRow(k.id, k.verdict, known.get(k.id, "")))
            row.claims.append((t.name, k.verdict, k.detail))
            row.verdict = worst([row.verdict, k.verdict]) or row.verdict
    ordered = [rows.pop(k) if k in rows else KnowledgeRow(k, UNTESTED, d) for k, d in known.items()]
    return ordered + list(rows.values())
