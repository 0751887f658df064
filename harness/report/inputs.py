"""Reading a protocol's output folder: campaign.json and results.jsonl.

These are the records the pytest plugin writes; everything here is about
tolerating what a killed run leaves behind while refusing real corruption.
The derived model (rows, summary, phases) lives in ``harness.report.model``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError
from harness.verdicts import Verdict

TEST_VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)


@dataclass
class EvidenceRef:
    kind: str
    path: str | None = None  # relative to the protocol folder, as the plugin wrote it
    text: str | None = None
    exists: bool | None = None  # None when the item is a note without a file


@dataclass
class KnowledgeClaim:
    """One knowledge item as one test reported it."""

    id: str
    verdict: str
    detail: str = ""


@dataclass
class TestResult:
    nodeid: str
    name: str
    module: str  # the nodeid's file part, e.g. suites/est/client/test_cacerts.py
    verdict: str
    requirements: list[str]
    reason: str = ""
    doc: str = ""
    dut_role: str = ""
    frames: list[str] = field(default_factory=list)
    evidence: list[EvidenceRef] = field(default_factory=list)
    knowledge: list[KnowledgeClaim] = field(default_factory=list)
    started: str | None = None
    duration: float | None = None
    unknown_requirements: list[str] = field(default_factory=list)

    def evidence_path(self, kind: str) -> str | None:
        return next((e.path for e in self.evidence if e.kind == kind and e.path), None)

    @property
    def capture(self) -> str | None:
        return self.evidence_path("capture")

    @property
    def keylog(self) -> str | None:
        return self.evidence_path("keylog")


@dataclass
class CampaignInfo:
    protocol: str
    harness_name: str = "onboardcheck"
    harness_version: str = ""
    started: str | None = None
    finished: str | None = None
    dut_profile: str = ""
    dut_identity: dict[str, str] = field(default_factory=dict)
    dut_roles: list[str] = field(default_factory=list)
    dut_adapter: str = ""
    ics: dict[str, Any] = field(default_factory=dict)
    catalogue: str | None = None
    model: str | None = None
    capture_mode: str = ""
    backend: str = "loopback"  # where peers and DUT ran (older campaigns: loopback)
    command: str = ""
    gate_levels: list[str] = field(default_factory=lambda: ["MUST", "MUST NOT"])
    dut_extra: dict[str, Any] = field(default_factory=dict)  # dut keys beyond the known four
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # campaign.json as read

    def get(self, key: str, default: Any = None) -> Any:
        """A campaign.json field by its own name, for callers that think in the file's terms."""
        return self.raw.get(key, default)

    @property
    def interrupted(self) -> bool:
        return self.finished is None

    @property
    def duration(self) -> float | None:
        try:
            start = datetime.fromisoformat(self.started or "")
            end = datetime.fromisoformat(self.finished or "")
        except ValueError:
            return None
        return (end - start).total_seconds()


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, "file", str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, "json", exc.msg, exc.lineno) from exc
    if not isinstance(data, dict):
        raise InputError(path, "json", "expected an object")
    return data


def read_campaign(protocol_dir: Path, warnings: list[str]) -> CampaignInfo:
    path = protocol_dir / "campaign.json"
    if not path.exists():
        # The plugin writes it first; without it the run died very early.
        warnings.append("campaign.json is missing: campaign metadata unknown")
        return CampaignInfo(protocol=protocol_dir.name)
    d = _read_json_object(path)
    harness = d.get("harness") or {}
    dut = d.get("dut") or {}
    known = {
        "harness",
        "protocol",
        "started",
        "finished",
        "dut",
        "ics",
        "catalogue",
        "model",
        "capture_mode",
        "backend",
        "command",
        "gate",
    }
    gate = d.get("gate")
    return CampaignInfo(
        protocol=str(d.get("protocol") or protocol_dir.name),
        harness_name=str(harness.get("name", "onboardcheck")),
        harness_version=str(harness.get("version", "")),
        started=d.get("started"),
        finished=d.get("finished"),
        dut_profile=str(dut.get("profile") or ""),
        dut_identity={str(k): str(v) for k, v in (dut.get("identity") or {}).items()},
        dut_roles=[str(r) for r in dut.get("roles") or []],
        dut_adapter=str(dut.get("adapter") or ""),
        ics=dict(d.get("ics") or {}),
        catalogue=d.get("catalogue"),
        model=d.get("model"),
        capture_mode=str(d.get("capture_mode") or ""),
        backend=str(d.get("backend") or "loopback"),
        command=str(d.get("command") or ""),
        gate_levels=[str(x) for x in gate] if isinstance(gate, list) else ["MUST", "MUST NOT"],
        dut_extra={
            k: v
            for k, v in dut.items()
            if k not in ("profile", "identity", "roles", "adapter") and v is not None
        },
        extra={k: v for k, v in d.items() if k not in known},
        raw=d,
    )


def read_results(path: Path, warnings: list[str]) -> list[TestResult]:
    if not path.exists():
        warnings.append("results.jsonl is missing: no test ended")
        return []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(path, "file", str(exc)) from exc
    by_nodeid: dict[str, TestResult] = {}
    last = max((i for i, s in enumerate(lines) if s.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == last:
                # A killed run leaves a half-written last line; the rest is sound.
                warnings.append(f"results.jsonl:{i + 1}: truncated last line ignored")
                continue
            raise InputError(path, "json", exc.msg, i + 1) from exc
        result = _test_result(record, path, i + 1)
        if result.nodeid in by_nodeid:
            warnings.append(
                f"results.jsonl:{i + 1}: {result.nodeid} reported again; the later result is kept"
            )
            del by_nodeid[result.nodeid]
        by_nodeid[result.nodeid] = result
    return list(by_nodeid.values())


def _test_result(r: Any, path: Path, line: int) -> TestResult:
    if not isinstance(r, dict):
        raise InputError(path, "record", "expected an object", line)
    nodeid = r.get("nodeid")
    if not isinstance(nodeid, str) or not nodeid:
        raise InputError(path, "nodeid", "missing", line)
    verdict = r.get("verdict")
    if verdict not in TEST_VERDICTS:
        raise InputError(path, "verdict", f"{verdict!r} is not one of {TEST_VERDICTS}", line)
    reqs = r.get("requirements") or []
    if not isinstance(reqs, list):
        raise InputError(path, "requirements", "expected a list", line)
    evidence = [
        EvidenceRef(kind=str(e.get("kind", "note")), path=e.get("path"), text=e.get("text"))
        for e in r.get("evidence") or []
        if isinstance(e, dict)
    ]
    knowledge = []
    for k in r.get("knowledge") or []:
        if not isinstance(k, dict) or "id" not in k:
            continue
        kv = k.get("verdict", "pass")
        if kv not in TEST_VERDICTS:
            raise InputError(path, "knowledge.verdict", f"{kv!r} is not a verdict", line)
        knowledge.append(KnowledgeClaim(str(k["id"]), kv, str(k.get("detail") or "")))
    duration = r.get("duration")
    return TestResult(
        nodeid=nodeid,
        name=str(r.get("name") or nodeid.rsplit("::", 1)[-1]),
        module=nodeid.split("::", 1)[0],
        verdict=verdict,
        requirements=[str(x) for x in reqs],
        reason=str(r.get("reason") or ""),
        doc=str(r.get("doc") or ""),
        dut_role=str(r.get("dut_role") or ""),
        frames=[str(f) for f in r.get("frames") or []],
        evidence=evidence,
        knowledge=knowledge,
        started=r.get("started"),
        duration=float(duration) if isinstance(duration, int | float) else None,
    )


def locate(named: str | None, protocol_dir: Path) -> Path | None:
    """Find a file campaign.json names: as given, then beside the results, then in the tree."""
    if not named:
        return None
    p = Path(named)
    candidates = (
        [p]
        if p.is_absolute()
        else [
            Path.cwd() / p,
            protocol_dir / p,
            Path(__file__).resolve().parents[2] / p,
        ]
    )
    return next((c for c in candidates if c.is_file()), None)


def read_model(path: Path | None, named: str | None, warnings: list[str]) -> Any:
    if path is None:
        if named:
            warnings.append(f"seed model {named} not found: process model section left out")
        return None
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        # The model only explains; a broken one must not cost the verdicts.
        warnings.append(f"seed model {path} unreadable: {exc}")
        return None
