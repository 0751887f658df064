"""Standalone tester peers: `onboardcheck peer <name>` runs one in the foreground.

For plugfests and manual testing: a peer listens for third-party devices until it is
told to stop, and writes what the devices need (trust anchors, credentials) and the
evidence (TLS key log, peer log) into a folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

EST_SERVER = "est-server"


def add_peer_parser(sub: Any) -> None:
    """Register `peer` and its sub-commands on the CLI's sub-parsers (`sub`)."""
    peer = sub.add_parser("peer", help="run a tester peer in the foreground (plugfests)")
    kinds = peer.add_subparsers(dest="peer", required=True)
    est = kinds.add_parser(
        EST_SERVER,
        help="EST server (RFC 7030) for EST client devices",
        description="Serve EST until SIGINT/SIGTERM or --duration; writes the trust anchor, "
        "HTTP credentials, TLS key log and peer log into --out.",
    )
    est.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="IPv4/IPv6 address to listen on (default 127.0.0.1)",
    )
    est.add_argument(
        "--port",
        type=int,
        default=8443,
        metavar="N",
        help="TCP port (default 8443; 0 picks a free one)",
    )
    est.add_argument(
        "--out",
        "-o",
        type=Path,
        default=Path("reports/peers/est-server"),
        metavar="DIR",
        help="folder for the files devices need and the evidence",
    )
    est.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (default: run until SIGINT/SIGTERM)",
    )
    est.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="extra DNS name or IP address in the server certificate (repeatable)",
    )
    est.add_argument(
        "--client-ca",
        action="append",
        type=Path,
        default=[],
        metavar="PEM",
        help="also trust client certificates (IDevIDs) from these CAs (repeatable)",
    )
    est.add_argument("--username", default="estuser", help="HTTP Basic user (default estuser)")
    est.add_argument(
        "--password", help="HTTP Basic password (default: generated once, kept in DIR)"
    )
    est.add_argument(
        "--new-pki",
        action="store_true",
        help="make a new PKI even if DIR holds one from an earlier run",
    )


def run_peer(args: argparse.Namespace, console: Console) -> int:
    """Run the peer `args.peer` names; returns the exit code."""
    from harness.peers.est_server import EstServerOptions, serve_est

    options = EstServerOptions(
        listen=args.listen,
        port=args.port,
        out=args.out,
        duration=args.duration,
        sans=list(args.san),
        client_cas=list(args.client_ca),
        username=args.username,
        password=args.password,
        new_pki=args.new_pki,
    )
    return serve_est(options, Console(soft_wrap=True), console)
