"""Running a campaign: pytest over the selected suites, with a progress display."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.requirements import suites_root

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 3

_COLOURS = {
    "pass": "green",
    "fail": "red",
    "inconclusive": "yellow",
    "not_applicable": "bright_black",
    "error": "magenta",
}


class ProgressPlugin:
    """Shows one line per test case and a bar; replaces pytest's terminal output."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.start()
        self.task = self.progress.add_task("campaign", total=len(session.items))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        self.progress.advance(self.task)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.task is not None:
            self.progress.stop()


class VerdictEcho:
    """Prints each test's verdict as recorded by the harness plugin."""

    def __init__(self, console: Console):
        self.console = console

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest.exit() from a fixture (e.g. a test network that cannot be built) ends
        # the run; with pytest's terminal output off, its reason is said here.
        if isinstance(excinfo.value, pytest.exit.Exception):
            self.console.print(f"[red]{excinfo.value.msg}[/]")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            return
        if report.when == "setup" and report.passed:
            return
        verdict = _verdict_of(report)
        if report.when == "call" or not report.passed:
            colour = _COLOURS.get(verdict, "white")
            self.console.print(f"[{colour}]{verdict:>14}[/] {report.nodeid}")


def _verdict_of(report: pytest.TestReport) -> str:
    if report.passed:
        return "pass"
    if report.skipped:
        text = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        return "not_applicable" if text.startswith("not_applicable") else "inconclusive"
    text = str(report.longrepr)
    return "fail" if text.startswith("FAIL") else "error"


@dataclass
class RunOptions:
    dut: str | None = None
    protocols: list[str] = field(default_factory=list)
    out: Path = Path("reports")
    capture: str = "auto"
    backend: str = "loopback"
    gate: str = "MUST,MUST NOT"
    keyword: str | None = None
    requirements: list[str] = field(default_factory=list)  # only their tests
    allow_inconclusive: bool = False
    verbose: bool = False


def suite_paths(protocols: list[str]) -> list[str]:
    root = suites_root()
    return [str(root / p) for p in protocols]


def run_campaign(opts: RunOptions, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    args = [
        *suite_paths(opts.protocols),
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(suites_root().parent),
        "-c",
        str(suites_root().parent / "pyproject.toml"),
        "--out",
        str(opts.out),
        "--capture-mode",
        opts.capture,
        "--backend",
        opts.backend,
        "--gate",
        opts.gate,
        "--alluredir",
        str(Path(opts.out) / "allure-results"),
        "--clean-alluredir",
    ]
    if opts.dut:
        args += ["--dut", opts.dut]
    if opts.allow_inconclusive:
        args.append("--allow-inconclusive")
    if opts.keyword:
        args += ["-k", opts.keyword]
    for req in opts.requirements:
        args += ["--requirement", req]
    plugins: list[Any] = [VerdictEcho(console)]
    if not opts.verbose:
        args += ["-p", "no:terminal"]
        plugins.append(ProgressPlugin(console))
    else:
        args += ["-v"]
    try:
        code = pytest.main(args, plugins=plugins)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    code = int(code)
    if code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INTERRUPTED
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            console.print("onboardcheck: no test applies to this DUT (check its roles)")
        return EXIT_USAGE
    if code == pytest.ExitCode.INTERNAL_ERROR:
        return EXIT_USAGE
    return code
