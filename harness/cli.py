"""The `onboardcheck` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.backends.preflight import preflight
from harness.campaign import EXIT_GATE, EXIT_OK, EXIT_USAGE, RunOptions, run_campaign
from harness.campaign_state import suite_roles
from harness.errors import BackendError, OnboardcheckError
from harness.peers import add_peer_parser, run_peer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onboardcheck",
        description="Conformance and interoperability tests for IoT onboarding protocols.",
    )
    parser.add_argument("--version", action="version", version=f"onboardcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lst = sub.add_parser("list", help="list protocols, requirements or tests")
    lst.add_argument("what", choices=("protocols", "requirements", "tests"), nargs="?",
                     default="protocols")  # fmt: skip
    lst.add_argument("--protocol", "-p", help="only this protocol")

    run = sub.add_parser("run", help="run a campaign against a DUT (default: the reference DUTs)")
    run.add_argument("--dut", help="DUT profile (YAML) or builtin:PROTOCOL/ROLE[:MUTANT]")
    run.add_argument("--protocol", "-p", action="append", help="only this protocol (repeatable)")
    run.add_argument("--out", "-o", default="reports", type=Path, help="output folder")
    run.add_argument("--capture", choices=("auto", "live", "transcript"), default="auto")
    run.add_argument("--backend", choices=("loopback", "netns", "docker"), default="loopback",
                     help="where tester peers and the DUT run (docs/backends.md)")  # fmt: skip
    run.add_argument("--gate", default="MUST,MUST NOT",
                     help="levels whose failure fails the run (comma list or 'none')")  # fmt: skip
    run.add_argument("--allow-inconclusive", action="store_true",
                     help="inconclusive gated requirements do not fail the gate")  # fmt: skip
    run.add_argument("-k", dest="keyword", help="only tests matching this pytest expression")
    run.add_argument("-r", "--requirement", action="append", default=[], metavar="ID",
                     help="only the tests bound to this requirement (repeatable)")
    run.add_argument("-v", "--verbose", action="store_true", help="pytest's own output")

    rep = sub.add_parser("report", help="re-render the reports of a campaign folder")
    rep.add_argument("folder", type=Path)

    ver = sub.add_parser("verify", help="judge the wire requirements in a capture, offline")
    ver.add_argument("capture", type=Path)
    ver.add_argument("--protocol", "-p", required=True)
    ver.add_argument("--keylog", type=Path, help="TLS key log (NSS format) to decrypt it")
    ver.add_argument(
        "--port", type=int, action="append", help="TCP port of the server (repeatable)"
    )
    ver.add_argument("--out", "-o", default=Path("reports/verify"), type=Path)

    dut = sub.add_parser("dut", help="DUT profiles")
    dut_sub = dut.add_subparsers(dest="dut_command", required=True)
    chk = dut_sub.add_parser("check", help="validate a DUT profile")
    chk.add_argument("file", type=Path)

    cln = sub.add_parser("clean", help="remove test networks left by runs that died")
    cln.add_argument("--force", action="store_true",
                     help="also those of runs still alive")  # fmt: skip
    cln.add_argument("--backend", choices=("netns", "docker", "all"), default="all",
                     help="only this backend's leftovers (default: all)")  # fmt: skip
    add_peer_parser(sub)
    return parser


def _clean(force: bool, backend: str = "all") -> int:
    from harness.backends import DockerBackend, NetnsBackend
    from harness.backends.docker import docker_client

    removed: list[str] = []
    if backend in ("netns", "all"):
        removed += NetnsBackend().clean(force=force)  # BackendError: not root, no netns
    if backend in ("docker", "all"):
        try:
            docker_client().close()
        except BackendError as exc:
            if backend == "docker":
                raise
            print(f"docker: not checked ({exc})")
        else:
            removed += DockerBackend().clean(force=force)
    for item in removed:
        print(f"removed {item}")
    print(f"{len(removed)} item(s) removed" if removed else "nothing to remove")
    return EXIT_OK


def _list(args: argparse.Namespace, console: Console) -> int:
    from harness.requirements import catalogue_for

    roles = suite_roles()
    protocols = [args.protocol] if args.protocol else list(roles)
    for protocol in protocols:
        if protocol not in roles:
            console.print(f"[red]onboardcheck: no suite for protocol {protocol!r}[/]")
            return EXIT_USAGE
    if args.what == "protocols":
        table = Table("protocol", "DUT roles", "requirements", "specs")
        for protocol in protocols:
            cat = catalogue_for(protocol)
            table.add_row(protocol, ", ".join(roles[protocol]), str(len(cat.requirements)),
                          ", ".join(cat.specs))  # fmt: skip
        console.print(table)
    elif args.what == "requirements":
        for protocol in protocols:
            cat = catalogue_for(protocol)
            table = Table("id", "level", "role", "observable", "title", title=protocol)
            for req in cat.requirements:
                table.add_row(req.id, req.level, req.role, req.observable, req.title)
            console.print(table)
    else:
        from harness.listing import collect_tests

        table = Table("test", "DUT role", "requirements", "ICS")
        for test in collect_tests(protocols):
            table.add_row(test.nodeid, test.role, ", ".join(test.requirements), ", ".join(test.ics))
        console.print(table)
    return EXIT_OK


def _report(folder: Path, console: Console) -> int:
    from harness.report import render_all

    targets = (
        [folder]
        if (folder / "campaign.json").exists()
        else sorted(p.parent for p in folder.glob("*/campaign.json"))
    )
    if not targets:
        console.print(f"[red]onboardcheck: no campaign.json in {folder} or its sub-folders[/]")
        return EXIT_USAGE
    code = EXIT_OK
    for target in targets:
        report = render_all(target)  # judged with the gate settings campaign.json records
        result = report.gate
        console.print(f"{target}/report.html  gate: {'passed' if result.passed else 'FAILED'}")
        code = max(code, result.exit_code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)  # messages name paths: never break them
    try:
        if args.command == "list":
            return _list(args, Console())
        if args.command == "run":
            opts = RunOptions(
                dut=args.dut,
                protocols=args.protocol or list(suite_roles()),
                out=args.out,
                capture=args.capture,
                backend=args.backend,
                gate=args.gate,
                keyword=args.keyword,
                requirements=args.requirement,
                allow_inconclusive=args.allow_inconclusive,
                verbose=args.verbose,
            )
            preflight(args.backend)  # a backend this machine cannot run is bad input: exit 2
            code = run_campaign(opts, console)
            if code in (EXIT_OK, EXIT_GATE):
                for protocol in opts.protocols:
                    html = args.out / protocol / "report.html"
                    if html.exists():
                        console.print(f"report: {html}")
                verdict = "passed" if code == EXIT_OK else "FAILED"
                console.print(f"gate ({opts.gate}): {verdict}")
            return code
        if args.command == "report":
            return _report(args.folder, console)
        if args.command == "verify":
            from harness.verify import verify_capture

            return verify_capture(args.capture, args.protocol, args.keylog, args.port, args.out,
                                  console)  # fmt: skip
        if args.command == "dut":
            from harness.dut import check_profile

            print(check_profile(args.file, suite_roles()))
            return EXIT_OK
        if args.command == "clean":
            return _clean(args.force, args.backend)
        if args.command == "peer":
            return run_peer(args, console)
    except OnboardcheckError as exc:
        console.print(f"[red]onboardcheck: {exc}[/]", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print("[yellow]onboardcheck: interrupted[/]")
        return 3
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
