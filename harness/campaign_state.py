"""State of one campaign while pytest runs it: the DUT, catalogues, ICS answers,
and the results written as each test ends (an interrupted run loses nothing)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import __version__
from harness.backends import TestNetwork
from harness.dut import DutProfile, builtin_profile, load_profile
from harness.errors import InputError, ProfileError, UsageError
from harness.ics import IcsOption, load_ics, resolve_answers
from harness.requirements import Catalogue, catalogue_for, suites_root
from harness.verdicts import Evidence, Verdict

BUILTIN = "builtin:"


def iso(ts: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(ts, dt.UTC) if ts else dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="seconds")


def suite_roles(root: Path | None = None) -> dict[str, list[str]]:
    """Protocol -> DUT roles that have a suite (suites/<protocol>/<role>/test_*.py)."""
    root = root or suites_root()
    found: dict[str, list[str]] = {}
    for catalogue in sorted(root.glob("*/requirements.yaml")):
        folder = catalogue.parent
        found[folder.name] = sorted(
            d.name for d in folder.iterdir() if d.is_dir() and any(d.glob("test_*.py"))
        )
    return found


def reference_claims(protocol: str, roles: list[str]) -> dict[str, Any]:
    """The ICS the reference implementation of `protocol` answers for these roles."""
    try:
        module = importlib.import_module(f"harness.protocols.{protocol}.reference")
    except ModuleNotFoundError:
        return {}
    return dict(module.reference_ics(roles))


def reference_profile(roles: dict[str, list[str]]) -> DutProfile:
    """The harness's own reference implementation of every role: the demo DUT."""
    first = next(iter(roles))
    profile = builtin_profile(first, roles[first][0] if roles[first] else "reference")
    for protocol, names in roles.items():
        ics = reference_claims(protocol, names)
        section = builtin_profile(protocol, names[0], ics=ics).protocols[protocol]
        section.roles = list(names)
        profile.protocols[protocol] = section
    profile.identity.model = "reference implementations"
    return profile


def resolve_dut(spec: str | None, roles: dict[str, list[str]]) -> DutProfile:
    """--dut: a profile file, builtin:PROTOCOL/ROLE[:MUTANT], or None for the reference DUTs."""
    if not spec:
        return reference_profile(roles)
    if spec.startswith(BUILTIN):
        body = spec[len(BUILTIN) :]
        target, _, mutant = body.partition(":")
        protocol, _, role = target.partition("/")
        if protocol not in roles or role not in roles[protocol]:
            known = ", ".join(f"{p}/{r}" for p, rs in roles.items() for r in rs)
            raise ProfileError(spec, "--dut", f"no builtin DUT {target!r}; known: {known}")
        ics = reference_claims(protocol, [role])
        return builtin_profile(protocol, role, mutant or None, ics=ics)
    return load_profile(spec, roles)


@dataclass
class KnowledgeLog:
    """Knowledge imparted to the DUT, as checked by a test."""

    items: list[dict[str, str]] = field(default_factory=list)

    def record(self, item_id: str, verdict: Verdict | str, detail: str) -> None:
        self.items.append({"id": item_id, "verdict": str(Verdict(verdict)), "detail": detail})


@dataclass
class ResultRecord:
    nodeid: str
    name: str
    doc: str
    dut_role: str
    requirements: list[str]
    verdict: Verdict
    reason: str
    frames: list[str]
    evidence: list[Evidence]
    knowledge: list[dict[str, str]]
    started: float
    duration: float

    def to_json(self) -> str:
        data = asdict(self)
        data["verdict"] = str(self.verdict)
        data["evidence"] = [e.to_dict() for e in self.evidence]
        data["started"] = iso(self.started)
        data["duration"] = round(self.duration, 3)
        return json.dumps(data, ensure_ascii=False)


class Campaign:
    """One run: a DUT profile x the selected suites -> results and reports."""

    def __init__(self, dut: DutProfile, dut_spec: str | None, out: Path, capture: str, gate: str):
        self.dut = dut
        self.dut_spec = dut_spec
        self.out = out
        self.capture_mode = capture
        self.gate_levels = tuple(
            level.strip().upper() for level in gate.split(",") if level.strip().lower() != "none"
        )
        self._catalogues: dict[str, Catalogue] = {}
        self._ics: dict[str, dict[str, Any]] = {}
        self.protocols: list[str] = []
        self.work = out / ".work"
        self.backend = "loopback"
        self.gate_inconclusive = True
        self.started = iso()

    @classmethod
    def from_options(cls, config: pytest.Config) -> Campaign:
        spec = config.getoption("--dut")
        dut = resolve_dut(spec, suite_roles())
        out = Path(config.getoption("--out")).resolve()
        mode, gate = config.getoption("--capture-mode"), config.getoption("--gate")
        campaign = cls(dut, spec, out, mode, gate)
        campaign.backend = config.getoption("--backend", "loopback")
        if campaign.backend != "loopback" and mode == "transcript":
            raise UsageError(f"--capture transcript works on the loopback backend only: "
                             f"{campaign.backend} captures live on its bridge")  # fmt: skip
        # an inconclusive MUST shows no conformance: by default it fails the gate
        campaign.gate_inconclusive = not config.getoption("--allow-inconclusive")
        return campaign

    # -- lookups -----------------------------------------------------------------------------

    def catalogue(self, protocol: str) -> Catalogue:
        if protocol not in self._catalogues:
            self._catalogues[protocol] = catalogue_for(protocol)
        return self._catalogues[protocol]

    def ics_options(self, protocol: str) -> dict[str, IcsOption]:
        path = suites_root() / protocol / "ics.yaml"
        return load_ics(path) if path.exists() else {}

    def ics(self, protocol: str) -> dict[str, Any]:
        if protocol not in self._ics:
            section = self.dut.protocols.get(protocol)
            answers = section.ics if section else {}
            where = f"protocols.{protocol}.ics"
            path = self.dut.path or self.dut_spec or "(builtin)"
            self._ics[protocol] = resolve_answers(self.ics_options(protocol), answers, path, where)
        return self._ics[protocol]

    @property
    def effective_adapter(self) -> str:
        """The adapter in use: a profile's `control.container` takes over under docker."""
        if self.backend == "docker" and self.dut.control.container is not None:
            return "container"
        return self.dut.control.adapter

    def dut_has_role(self, protocol: str, role: str) -> bool:
        section = self.dut.protocols.get(protocol)
        return section is not None and role in section.roles

    def protocol_dir(self, protocol: str) -> Path:
        return self.out / protocol

    def work_dir(self, name: str) -> Path:
        path = self.work / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    # -- the test network ----------------------------------------------------------------------

    def open_network(self) -> TestNetwork:
        """This process's test network on the campaign's backend (nodes `peer`, `dut`)."""
        from harness.network_plan import open_campaign_network

        return open_campaign_network(self)

    def close_network(self, network: TestNetwork) -> None:
        from harness.network_plan import close_campaign_network

        close_campaign_network(self, network)

    # -- writing -----------------------------------------------------------------------------

    def begin(self, protocols: set[str]) -> None:
        self.protocols = sorted(protocols)
        for protocol in self.protocols:
            self.ics(protocol)  # bad answers stop the run before any test
            folder = self.protocol_dir(protocol)
            if folder.exists():
                shutil.rmtree(folder)  # a campaign folder holds one run, not a mix
            folder.mkdir(parents=True)
            (folder / "results.jsonl").touch()
            self._write_campaign(protocol, finished=None)

    def _campaign_json(self, protocol: str, finished: str | None) -> dict[str, Any]:
        section = self.dut.protocols.get(protocol)
        ident = self.dut.identity
        return {
            "harness": {"name": "onboardcheck", "version": __version__},
            "protocol": protocol,
            "started": self.started,
            "finished": finished,
            "dut": {
                "profile": str(self.dut.path) if self.dut.path else (self.dut_spec or "builtin"),
                "identity": {
                    "vendor": ident.vendor,
                    "model": ident.model,
                    "firmware": ident.firmware,
                    "serial": ident.serial,
                },
                "roles": list(section.roles) if section else [],
                "adapter": self.effective_adapter,
                "mutant": self.dut.control.builtin.mutant if self.dut.control.builtin else None,
            },
            "ics": self.ics(protocol),
            "catalogue": str(self.catalogue(protocol).path),
            "model": str(suites_root() / protocol / "model.yaml"),
            "capture_mode": self.capture_mode,
            "backend": self.backend,
            "command": " ".join(sys.argv),
            "gate": list(self.gate_levels),
            "gate_fails_on_inconclusive": self.gate_inconclusive,
        }

    def _write_campaign(self, protocol: str, finished: str | None) -> None:
        data = self._campaign_json(protocol, finished)
        target = self.protocol_dir(protocol) / "campaign.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(target)

    def record(self, protocol: str, record: ResultRecord) -> None:
        path = self.protocol_dir(protocol) / "results.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(record.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def finish(self, interrupted: bool) -> int:
        """Close the campaign, render the reports; return the gate's exit code."""
        from harness.report import render_all

        code = 0
        for protocol in self.protocols:
            self._write_campaign(protocol, finished=None if interrupted else iso())
            try:
                report = render_all(self.protocol_dir(protocol))  # judged as campaign.json says
            except (InputError, OSError, ValueError) as exc:
                print(f"onboardcheck: cannot render the {protocol} report: {exc}", file=sys.stderr)
                code = max(code, 1)
                continue
            code = max(code, report.gate.exit_code)
        shutil.rmtree(self.work, ignore_errors=True)
        return code
