"""`onboardcheck verify`: judge the wire-observable requirements in a capture, offline.

The capture is of two implementations the harness did not drive, so there is no
tester peer and no DUT: the frames are all the evidence. The flow is
protocol-independent: decode the capture (finding the server ports when none are
given), let the protocol's checker rebuild its messages and run one check per
wire-observable requirement, then write ``<out>/<protocol>/results.jsonl`` and
``campaign.json`` as a campaign does, so the same reports and gate apply.

A protocol plugs in through ``CHECKERS``: a module exposing ``load(frames, ports,
keylog) -> view`` (raising ``NoTrafficError`` when the capture holds none of its
traffic) and ``CHECKS: {requirement id: view -> CheckResult}``.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.campaign_state import ResultRecord, iso
from harness.capture import Frame, decode
from harness.errors import OnboardcheckError
from harness.requirements import Catalogue, catalogue_for, suites_root
from harness.verdicts import Evidence, Verdict

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EVIDENCE = "evidence/verify"  # relative to <out>/<protocol>/
GATE = ["MUST", "MUST NOT"]

# protocol -> module with load() and CHECKS; imported only when that protocol is verified.
CHECKERS: dict[str, str] = {"est": "harness.protocols.est.wire_checks"}


@dataclass
class CheckResult:
    """One requirement's verdict from a capture, with the frames that decided it."""

    verdict: Verdict
    reason: str
    frames: list[str] = field(default_factory=list)


class NoTrafficError(OnboardcheckError):
    """The capture holds none of the protocol's traffic."""


class VerifyError(OnboardcheckError):
    """Bad input to verify: unknown protocol, missing key log, no server port."""


class Checker(Protocol):
    CHECKS: Mapping[str, Callable[[Any], CheckResult]]

    def load(self, frames: Sequence[Frame], ports: Sequence[int], keylog: bool) -> Any: ...


# -- ports --------------------------------------------------------------------------------


def server_ports(frames: Sequence[Frame]) -> list[int]:
    """TCP ports that accepted connections: SYN-ACK senders, else ServerHello/response senders.

    A capture that starts mid-connection has no SYN-ACK, hence the fallbacks.
    """
    found = {f.sport for f in frames
             if f.get("tcp.flags.syn") == "1" and f.get("tcp.flags.ack") == "1"}  # fmt: skip
    if not found:
        found = {f.sport for f in frames
                 if "2" in f.values("tls.handshake.type") or f.get("http.response.code")}
    return sorted(p for p in found if p is not None)


def tls_ports(frames: Sequence[Frame], ports: Sequence[int]) -> tuple[list[int], list[int]]:
    """(TLS ports, plain HTTP ports) among ``ports``, from a first decode without options.

    tshark finds TLS on any port by heuristics; a port where it saw none is decoded as
    HTTP, so EST over plain HTTP is judged (and fails) rather than ignored.
    """
    tls = {p for f in frames if f.has("tls") for p in (f.sport, f.dport) if p in ports}
    return sorted(tls), sorted(set(ports) - tls)


# -- output -------------------------------------------------------------------------------


def _campaign(protocol: str, capture: Path, catalogue: Catalogue, started: str,
              finished: str | None) -> dict[str, Any]:  # fmt: skip
    """campaign.json in the campaign's format; the "DUT" is the captured pair."""
    return {
        "harness": {"name": "onboardcheck", "version": __version__},
        "protocol": protocol,
        "started": started,
        "finished": finished,
        "dut": {
            "profile": f"capture {capture.name}",
            "identity": {"vendor": "", "model": f"capture {capture.name}", "firmware": "",
                         "serial": ""},
            "roles": sorted({r.role for r in catalogue.requirements}),
            "adapter": "verify",
            "mutant": None,
        },
        "ics": {},
        "catalogue": str(catalogue.path),
        "model": str(suites_root() / protocol / "model.yaml"),
        "capture_mode": "offline",
        "command": " ".join(sys.argv),
        "gate": GATE,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def _copy_evidence(folder: Path, capture: Path, keylog: Path | None) -> list[Evidence]:
    target = folder / EVIDENCE
    target.mkdir(parents=True, exist_ok=True)
    items = []
    for kind, source in (("capture", capture), ("keylog", keylog)):
        if source is not None:
            shutil.copyfile(source, target / source.name)
            items.append(Evidence(kind, f"{EVIDENCE}/{source.name}"))
    return items


# -- the command --------------------------------------------------------------------------


def _checker(protocol: str) -> Checker:
    if protocol not in CHECKERS:
        known = ", ".join(sorted(CHECKERS))
        raise VerifyError(f"no offline checks for protocol {protocol!r} (known: {known})")
    module: Checker = importlib.import_module(CHECKERS[protocol])  # type: ignore[assignment]
    return module


def judge(capture: Path, protocol: str, keylog: Path | None, ports: list[int] | None
          ) -> tuple[Catalogue, list[tuple[str, CheckResult]], list[int]]:  # fmt: skip
    """Decode and judge; raises VerifyError, NoTrafficError, DecodeError on bad input."""
    checker = _checker(protocol)
    catalogue = catalogue_for(protocol)
    if keylog is not None and not keylog.is_file():
        raise VerifyError(f"{keylog}: no such key log file")
    plain_frames = decode(capture)  # raises DecodeError for missing or garbage files
    found = sorted(set(ports)) if ports else server_ports(plain_frames)
    if not found:
        raise NoTrafficError(f"{capture}: no TCP server found in the capture (no SYN-ACK, "
                             "TLS ServerHello or HTTP response); name it with --port")
    tls, http = tls_ports(plain_frames, found)
    frames = decode(capture, keylog=keylog, tls_ports=tls, http_ports=http)
    view = checker.load(frames, found, keylog is not None)
    results = []
    for req_id, check in checker.CHECKS.items():
        req = catalogue.get(req_id)
        if req is None or req.observable != "wire":
            continue  # the catalogue is the authority on what the wire can show
        results.append((req_id, check(view)))
    return catalogue, results, found


def verify_capture(capture: Path, protocol: str, keylog: Path | None, ports: list[int] | None,
                   out: Path, console: Console) -> int:  # fmt: skip
    """Judge ``capture``; write results and reports under ``out/<protocol>``.

    Returns 0 when the gate passed, 1 when it failed, 2 for bad input (one message).
    """
    started, clock = iso(), time.monotonic()
    try:
        catalogue, results, found = judge(Path(capture), protocol, keylog, ports)
    except OnboardcheckError as exc:
        console.print(f"[red]onboardcheck verify: {exc}[/]", highlight=False)
        return EXIT_BAD_INPUT
    folder = Path(out) / protocol
    try:
        if folder.exists():
            shutil.rmtree(folder)  # one verify run per folder, as a campaign
        folder.mkdir(parents=True)
        evidence = _copy_evidence(folder, Path(capture), keylog)
        _write_json(folder / "campaign.json",
                    _campaign(protocol, Path(capture), catalogue, started, None))
        duration = (time.monotonic() - clock) / max(len(results), 1)
        with (folder / "results.jsonl").open("w", encoding="utf-8") as fh:
            for req_id, result in results:
                fh.write(_record(catalogue, req_id, result, evidence, duration).to_json() + "\n")
        _write_json(folder / "campaign.json",
                    _campaign(protocol, Path(capture), catalogue, started, iso()))
    except OSError as exc:
        console.print(f"[red]onboardcheck verify: cannot write {folder}: {exc}[/]")
        return EXIT_BAD_INPUT
    from harness.report import gate, render_all

    try:
        report = render_all(folder, catalogue=catalogue)
    except (OnboardcheckError, OSError, ValueError) as exc:
        console.print(f"[red]onboardcheck verify: cannot render the report: {exc}[/]")
        return EXIT_BAD_INPUT
    gate_result = gate(report, levels=tuple(GATE))
    _print_table(console, catalogue, results, found)
    console.print(f"report: {folder / 'report.html'}  gate ({', '.join(GATE)}): "
                  f"{'passed' if gate_result.passed else 'FAILED'}", highlight=False)
    return EXIT_PASSED if gate_result.passed else EXIT_FAILED


def _record(catalogue: Catalogue, req_id: str, result: CheckResult, evidence: list[Evidence],
            duration: float) -> ResultRecord:  # fmt: skip
    req = catalogue.get(req_id)
    return ResultRecord(
        nodeid=f"verify::{req_id}",
        name=req_id,
        doc=req.check if req else "",
        dut_role=req.role if req else "",
        requirements=[req_id],
        verdict=result.verdict,
        reason=result.reason,
        frames=result.frames,
        evidence=list(evidence),
        knowledge=[],
        started=time.time(),
        duration=duration,
    )


_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow", "error": "magenta"}


def _print_table(console: Console, catalogue: Catalogue, results: list[tuple[str, CheckResult]],
                 ports: list[int]) -> None:  # fmt: skip
    table = Table(title=f"{catalogue.protocol}: server port(s) {', '.join(map(str, ports))}")
    for name in ("requirement", "level", "role", "verdict"):
        table.add_column(name, no_wrap=True)  # ids must stay greppable in narrow terminals
    table.add_column("reason")
    for req_id, result in results:
        req = catalogue.get(req_id)
        style = _STYLE.get(str(result.verdict), "")
        reason = result.reason if len(result.reason) <= 160 else result.reason[:157] + "..."
        table.add_row(req_id, req.level if req else "", req.role if req else "",
                      f"[{style}]{result.verdict}[/]" if style else str(result.verdict), reason)
    console.print(table)
