"""The requirement catalogue of a protocol: suites/<protocol>/requirements.yaml."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import CatalogueError
from harness.yamlsrc import FieldPath, YamlSource, dotted, load_yaml

LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
OBSERVABLE = ("wire", "state", "not-testable")
PHASES = ("manufacture", "discovery", "authentication", "credential-provisioning", "operation")
ID_PATTERN = re.compile(r"^[A-Za-z0-9]+-[A-Za-z0-9.]+-[A-Z-]+-\d{2,}$")
_FIELDS = {
    "id", "spec", "section", "level", "role", "title", "quote", "paraphrase",
    "observable", "why", "phase", "check", "ics", "withdrawn",
}  # fmt: skip


@dataclass(frozen=True)
class Requirement:
    id: str
    spec: str
    section: str
    level: str
    role: str
    title: str
    quote: str
    paraphrase: bool = False
    observable: str = "wire"
    why: str = ""
    phase: str = "operation"
    check: str = ""
    ics: tuple[str, ...] = ()

    @property
    def citation(self) -> str:
        return f"{self.spec} §{self.section}"

    def quoted(self) -> str:
        """The line a failing verdict shows: id, level, citation and the spec's words."""
        mark = " (paraphrase)" if self.paraphrase else ""
        return f'{self.id} [{self.level}, {self.citation}]: "{self.quote}"{mark}'


@dataclass
class Catalogue:
    protocol: str
    path: Path
    specs: dict[str, dict[str, Any]]
    requirements: list[Requirement] = field(default_factory=list)
    # Ids of entries found not to be normative statements of their spec: reserved so
    # they are never reused, but no test may bind to them and reports leave them out.
    withdrawn: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_id = {r.id: r for r in self.requirements}

    def get(self, req_id: str) -> Requirement | None:
        return self._by_id.get(req_id)

    def __contains__(self, req_id: object) -> bool:
        return req_id in self._by_id

    def quote(self, req_id: str) -> str:
        req = self.get(req_id)
        return req.quoted() if req else f"{req_id} (not in the {self.protocol} catalogue)"


def _err(src: YamlSource, at: FieldPath, message: str) -> CatalogueError:
    return CatalogueError(src.path, dotted(at) or "(document)", message, src.line(at))


def _text(
    src: YamlSource, entry: dict[str, Any], where: FieldPath, key: str, required: bool
) -> str:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            raise _err(src, (*where, key) if key in entry else where, f"'{key}' is missing")
        return ""
    if not isinstance(value, str | int | float):
        raise _err(src, (*where, key), f"'{key}' must be text, not {type(value).__name__}")
    return str(value).strip()


def _requirement(
    src: YamlSource, entry: Any, where: FieldPath, specs: dict[str, Any]
) -> Requirement:
    if not isinstance(entry, dict):
        raise _err(src, where, "each requirement must be a mapping")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise _err(src, (*where, unknown[0]), f"unknown field '{unknown[0]}'")
    req_id = _text(src, entry, where, "id", True)
    if not ID_PATTERN.match(req_id):
        raise _err(src, (*where, "id"), f"'{req_id}' is not of the form SPEC-SECTION-LEVEL-NN")
    spec = _text(src, entry, where, "spec", True)
    if spec not in specs:
        raise _err(src, (*where, "spec"), f"spec '{spec}' is not listed under 'specs'")
    level = _text(src, entry, where, "level", True).upper()
    if level not in LEVELS:
        raise _err(src, (*where, "level"), f"level '{level}' is not one of {', '.join(LEVELS)}")
    observable = _text(src, entry, where, "observable", True)
    if observable not in OBSERVABLE:
        raise _err(src, (*where, "observable"), f"'{observable}' is not one of {OBSERVABLE}")
    why = _text(src, entry, where, "why", False)
    if observable == "not-testable" and not why:
        raise _err(src, where, "a not-testable requirement needs 'why'")
    phase = _text(src, entry, where, "phase", True)
    if phase not in PHASES:
        raise _err(src, (*where, "phase"), f"phase '{phase}' is not one of {', '.join(PHASES)}")
    ics = entry.get("ics") or []
    if not isinstance(ics, list) or not all(isinstance(i, str) for i in ics):
        raise _err(src, (*where, "ics"), "'ics' must be a list of ICS option ids")
    paraphrase = entry.get("paraphrase", False)
    if not isinstance(paraphrase, bool):
        raise _err(src, (*where, "paraphrase"), "'paraphrase' must be true or false")
    return Requirement(
        id=req_id,
        spec=spec,
        section=_text(src, entry, where, "section", True),
        level=level,
        role=_text(src, entry, where, "role", True),
        title=_text(src, entry, where, "title", True),
        quote=_text(src, entry, where, "quote", True),
        paraphrase=paraphrase,
        observable=observable,
        why=why,
        phase=phase,
        check=_text(src, entry, where, "check", False),
        ics=tuple(ics),
    )


def load_catalogue(path: Path | str) -> Catalogue:
    """Load and validate a catalogue; any problem is a CatalogueError naming file, line, field."""
    src = load_yaml(path, CatalogueError, "requirement catalogue", 4 * 1024 * 1024)
    data = src.data
    if not isinstance(data, dict):
        raise _err(src, (), "must be a mapping of 'protocol', 'specs', 'requirements'")
    protocol = data.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise _err(src, ("protocol",), "'protocol' is missing")
    specs = data.get("specs")
    if not isinstance(specs, dict) or not specs:
        raise _err(src, ("specs",), "'specs' must map spec names to their title and url")
    entries = data.get("requirements")
    if not isinstance(entries, list) or not entries:
        raise _err(src, ("requirements",), "'requirements' must be a non-empty list")
    seen: dict[str, int] = {}
    requirements = []
    withdrawn: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where: FieldPath = ("requirements", index)
        req = _requirement(src, entry, where, specs)
        if req.id in seen:
            first = seen[req.id]
            raise _err(src, (*where, "id"), f"duplicate id '{req.id}' (see entry {first})")
        seen[req.id] = index
        reason = _text(src, entry, where, "withdrawn", False)
        if reason:
            withdrawn[req.id] = reason
        else:
            requirements.append(req)
    return Catalogue(
        protocol=protocol, path=Path(path), specs=specs, requirements=requirements,
        withdrawn=withdrawn,
    )


SUITES = Path(__file__).resolve().parent.parent / "suites"


def suites_root() -> Path:
    """suites/ of this checkout; ONBOARDCHECK_SUITES points elsewhere (the harness's tests)."""
    override = os.environ.get("ONBOARDCHECK_SUITES")
    return Path(override).resolve() if override else SUITES


def known_protocols(root: Path | None = None) -> list[str]:
    """Protocols with a suite: folders of suites/ holding a requirements.yaml."""
    root = root or suites_root()
    return sorted(p.parent.name for p in root.glob("*/requirements.yaml"))


def catalogue_for(protocol: str, root: Path | None = None) -> Catalogue:
    return load_catalogue((root or suites_root()) / protocol / "requirements.yaml")
