"""What a suite holds, read without running it: tests with their requirements and ICS."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import pytest

from harness.campaign import suite_paths
from harness.errors import CatalogueError
from harness.requirements import suites_root


@dataclass
class TestInfo:
    nodeid: str
    role: str
    requirements: list[str] = field(default_factory=list)
    ics: list[str] = field(default_factory=list)
    doc: str = ""


class _Collector:
    def __init__(self) -> None:
        self.tests: list[TestInfo] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            role = item.get_closest_marker("dut_role")
            reqs = [str(a) for m in item.iter_markers("requirement") for a in m.args]
            ics = [str(a) for m in item.iter_markers("ics") for a in (*m.args, *m.kwargs)]
            func = getattr(item, "function", None)
            self.tests.append(
                TestInfo(
                    nodeid=item.nodeid,
                    role=str(role.args[1]) if role and len(role.args) > 1 else "",
                    requirements=reqs,
                    ics=ics,
                    doc=(func.__doc__ or "").strip().splitlines()[0]
                    if func and func.__doc__
                    else "",
                )
            )


def collect_tests(protocols: list[str]) -> list[TestInfo]:
    collector = _Collector()
    args = [
        *suite_paths(protocols),
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(suites_root().parent),
    ]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        code = pytest.main(args, plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise CatalogueError("suites", "(collection)", sink.getvalue().strip()[-2000:])
    return collector.tests
