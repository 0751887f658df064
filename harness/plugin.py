"""The pytest plugin: binds suite tests to requirements, turns outcomes into
verdicts and writes each result the moment its test ends.

Loaded by the top-level conftest.py. It only acts on tests under suites/;
the harness's own tests (tests/) run as plain pytest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import TestNetwork
from harness.campaign_state import Campaign, KnowledgeLog, ResultRecord
from harness.errors import ControlError, OnboardcheckError
from harness.evidence import EvidenceDir
from harness.requirements import suites_root
from harness.verdicts import Inconclusive, NotApplicable, Outcome, Verdict, VerdictSignal

CAMPAIGN = pytest.StashKey[Campaign]()
PHASES = pytest.StashKey[dict[str, Outcome]]()
KNOWLEDGE = pytest.StashKey[KnowledgeLog]()
EVIDENCE = pytest.StashKey[EvidenceDir]()
STARTED = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("onboardcheck")
    group.addoption(
        "--dut",
        default=None,
        help="DUT profile (YAML), or builtin:PROTOCOL/ROLE[:MUTANT]; default: the reference DUTs",
    )
    group.addoption("--out", default="reports", help="campaign output folder (default: reports)")
    group.addoption(
        "--capture-mode",
        choices=("auto", "live", "transcript"),
        default="auto",
        help="live capture with dumpcap, or transcripts written by the tester peers",
    )
    group.addoption(
        "--backend",
        choices=("loopback", "netns", "docker"),
        default="loopback",
        help="where tester peers and DUTs run: loopback (default), netns or docker "
        "(docs/backends.md)",
    )
    group.addoption(
        "--requirement",
        action="append",
        default=[],
        metavar="ID",
        help="only the tests bound to this requirement id (repeatable)",
    )
    group.addoption(
        "--allow-inconclusive",
        action="store_true",
        help="let inconclusive gated requirements pass the gate (default: they fail it)",
    )
    group.addoption(
        "--gate",
        default="MUST,MUST NOT",
        help="requirement levels whose failure fails the run (comma list, or 'none')",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "requirement(*ids): the requirement(s) a test case checks",
        "ics(*options, **values): ICS options the DUT must claim for the test to apply",
        "dut_role(protocol, role): the DUT role a suite module tests",
    ):
        config.addinivalue_line("markers", line)


def _suite_protocol(item: pytest.Item) -> str | None:
    """The protocol of a suite test (suites/<protocol>/...), None for other tests."""
    try:
        rel = Path(item.path).resolve().relative_to(suites_root())
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 else None


def _requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return ids


def _dut_role(item: pytest.Item) -> tuple[str, str] | None:
    mark = item.get_closest_marker("dut_role")
    if mark is None or len(mark.args) != 2:
        return None
    return str(mark.args[0]), str(mark.args[1])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    suite_items = [i for i in items if _suite_protocol(i)]
    if not suite_items:
        return
    try:
        campaign = Campaign.from_options(config)
    except OnboardcheckError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[CAMPAIGN] = campaign

    problems = []
    for item in suite_items:
        protocol = _suite_protocol(item)
        assert protocol is not None  # filtered above
        ids = _requirement_ids(item)
        role = _dut_role(item)
        catalogue = campaign.catalogue(protocol)
        if not ids:
            problems.append(f"{item.nodeid}: no @pytest.mark.requirement(...) marker")
        for req_id in ids:
            if req_id in catalogue.withdrawn:
                problems.append(f"{item.nodeid}: requirement {req_id} is withdrawn: "
                                f"{catalogue.withdrawn[req_id]}")
            elif req_id not in catalogue:
                problems.append(f"{item.nodeid}: requirement {req_id} is not in {catalogue.path}")
        if role is None:
            problems.append(f"{item.nodeid}: no dut_role(protocol, role) marker on its module")
        elif role[0] != protocol:
            problems.append(
                f"{item.nodeid}: dut_role names {role[0]} but lives in suites/{protocol}"
            )
    if problems:
        raise pytest.UsageError(
            "suite tests must be bound to requirements:\n  " + "\n  ".join(problems)
        )

    wanted = set(config.getoption("--requirement") or ())
    keep, drop = [], []
    for item in items:
        role = _dut_role(item) if _suite_protocol(item) else None
        chosen = not wanted or not _suite_protocol(item) or wanted & set(_requirement_ids(item))
        if chosen and (role is None or campaign.dut_has_role(*role)):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    campaign.begin({_suite_protocol(i) for i in keep} - {None})  # type: ignore[arg-type]


def _campaign(item: pytest.Item) -> Campaign | None:
    if _suite_protocol(item) is None:
        return None
    return item.config.stash.get(CAMPAIGN, None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    campaign = _campaign(item)
    if campaign is None:
        return
    item.stash[PHASES] = {}
    item.stash[KNOWLEDGE] = KnowledgeLog()
    item.stash[STARTED] = time.time()
    protocol = _suite_protocol(item)
    assert protocol is not None
    _allure_labels(item)
    # ICS: a test (or a requirement it checks) that needs an option the DUT does not claim
    # is not applicable. Reported, never silently skipped.
    needed: dict[str, Any] = {}
    for mark in item.iter_markers("ics"):
        needed.update({opt: True for opt in mark.args})
        needed.update(mark.kwargs)
    for req_id in _requirement_ids(item):
        req = campaign.catalogue(protocol).get(req_id)
        needed.update({opt: True for opt in (req.ics if req else ())})
    answers = campaign.ics(protocol)
    for option, wanted in needed.items():
        value = answers.get(option)
        if (wanted is True and not value) or (wanted is not True and value != wanted):
            raise NotApplicable(
                f"ICS {option} = {value!r} (needs {wanted!r}): the DUT does not claim it",
                requirement=_requirement_ids(item),
            )


MAX_OUTPUT_LINE = 300  # of a DUT's output quoted in a reason


def _classify(call: pytest.CallInfo[None]) -> Outcome:
    if call.excinfo is None:
        return Outcome(Verdict.PASS)
    exc = call.excinfo.value
    if isinstance(exc, VerdictSignal):
        return Outcome(exc.verdict, exc.reason, exc.requirements, exc.frames, exc.evidence)
    if isinstance(exc, pytest.skip.Exception):
        # a bare pytest.skip would hide a requirement: report it as inconclusive
        return Outcome(Verdict.INCONCLUSIVE, f"skipped: {exc.msg}")
    if isinstance(exc, ControlError) and exc.output.strip():
        # the DUT's own last words (e.g. why `start` gave up) belong in the reason too
        last = exc.output.strip().splitlines()[-1][:MAX_OUTPUT_LINE]
        return Outcome(Verdict.ERROR, f"harness error: {exc}; the DUT said: {last}")
    if isinstance(exc, OnboardcheckError):
        return Outcome(Verdict.ERROR, f"harness error: {exc}")
    if isinstance(exc, AssertionError):
        return Outcome(Verdict.ERROR, f"bare assertion in a suite test (harness defect): {exc}")
    return Outcome(Verdict.ERROR, f"harness error: {type(exc).__name__}: {exc}")


def _final(phases: dict[str, Outcome]) -> Outcome:
    setup = phases.get("setup", Outcome(Verdict.PASS))
    if setup.verdict != Verdict.PASS:
        return setup
    result = phases.get("call", Outcome(Verdict.PASS))
    teardown = phases.get("teardown", Outcome(Verdict.PASS))
    if teardown.verdict == Verdict.ERROR and result.verdict == Verdict.PASS:
        return teardown
    return result


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = (yield).get_result()
    campaign = _campaign(item)
    if campaign is None or PHASES not in item.stash:
        return
    protocol = _suite_protocol(item)
    assert protocol is not None
    outcome = _classify(call)
    item.stash[PHASES][call.when] = outcome
    catalogue = campaign.catalogue(protocol)
    if outcome.verdict in (Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE):
        report.outcome = "skipped"
        report.longrepr = (
            str(item.path),
            item.location[1] or 0,
            f"{outcome.verdict}: {outcome.reason}",
        )
    elif outcome.verdict == Verdict.FAIL:
        report.outcome = "failed"
        quoted = "\n".join("  " + catalogue.quote(r) for r in outcome.requirements)
        frames = "\n".join(outcome.frames)
        report.longrepr = f"FAIL {outcome.reason}\n{quoted}" + (f"\n{frames}" if frames else "")
    elif outcome.verdict == Verdict.ERROR and isinstance(
        call.excinfo.value if call.excinfo else None, OnboardcheckError
    ):
        report.longrepr = f"ERROR {outcome.reason}"
    if call.when != "teardown":
        return
    final = _final(item.stash[PHASES])
    evidence = item.stash.get(EVIDENCE, None)
    role = _dut_role(item)
    record = ResultRecord(
        nodeid=item.nodeid,
        name=item.name,
        doc=(getattr(item, "function", None).__doc__ or "").strip()  # type: ignore[union-attr]
        if hasattr(item, "function")
        else "",
        dut_role=role[1] if role else "",
        requirements=final.requirements or _requirement_ids(item),
        verdict=final.verdict,
        reason=final.reason,
        frames=final.frames,
        evidence=[
            *final.evidence,
            *(evidence.collect(campaign.protocol_dir(protocol)) if evidence else []),
        ],
        knowledge=item.stash[KNOWLEDGE].items,
        started=item.stash[STARTED],
        duration=time.time() - item.stash[STARTED],
    )
    campaign.record(protocol, record)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    campaign = session.config.stash.get(CAMPAIGN, None)
    if campaign is None:
        return
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    code = campaign.finish(interrupted=interrupted)
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = code


def _allure_labels(item: pytest.Item) -> None:
    if not item.config.pluginmanager.hasplugin("allure_pytest"):
        return
    import allure

    for req_id in _requirement_ids(item):
        allure.dynamic.tag(req_id)
        allure.dynamic.label("requirement", req_id)


# -- fixtures ---------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120]


@pytest.fixture(scope="session")
def campaign(request: pytest.FixtureRequest) -> Campaign:
    found = request.config.stash.get(CAMPAIGN, None)
    if found is None:
        raise Inconclusive("no campaign: suite fixtures are only available to tests under suites/")
    return found


@pytest.fixture(scope="session")
def test_network(campaign: Campaign) -> Iterator[TestNetwork]:
    """The campaign's test network on its backend: nodes `peer` and `dut`."""
    try:
        network = campaign.open_network()
    except OnboardcheckError as exc:  # no test can run: a usage error, not N errored tests
        pytest.exit(f"onboardcheck: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    try:
        yield network
    finally:
        campaign.close_network(network)


@pytest.fixture
def evidence(request: pytest.FixtureRequest, campaign: Campaign) -> EvidenceDir:
    """The test's evidence folder: captures, key logs, peer logs, DUT output."""
    item = request.node
    protocol = _suite_protocol(item) or "misc"
    folder = campaign.protocol_dir(protocol) / "evidence" / _safe_name(item.name)
    found = EvidenceDir(folder)
    item.stash[EVIDENCE] = found
    yield found
    if item.config.pluginmanager.hasplugin("allure_pytest"):
        found.attach_to_allure()


@pytest.fixture
def knowledge(request: pytest.FixtureRequest) -> KnowledgeLog:
    """Record what the DUT learnt (knowledge imparted), checked at the end of a test."""
    return request.node.stash[KNOWLEDGE]


@pytest.fixture
def quote(campaign: Campaign, request: pytest.FixtureRequest) -> Any:
    protocol = _suite_protocol(request.node) or ""
    return campaign.catalogue(protocol).quote

