"""Decode a capture with tshark into ``Frame``s.

tshark runs twice, concurrently: ``-T json`` for every field of every frame and
``-T fields`` for the Protocol and Info columns (the JSON output has no columns).
Both write to temporary files, and the JSON is parsed one packet at a time, so a
huge capture costs disk, not memory. ``bench/bench_decode.py`` compares this
with pyshark.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, overload

from harness.capture.frame import Frame
from harness.errors import DecodeError

TSHARK_TIMEOUT = 300.0

# Keys of tshark's JSON that are field names; the others are text labels of subtrees.
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

_DAMAGE = re.compile(r"cut short|damaged|corrupt|isn't a capture file", re.I)

Pairs = list[tuple[str, Any]]


def tshark_binary() -> str:
    found = shutil.which("tshark")
    if not found:
        raise DecodeError("tshark is not installed (Debian package 'tshark')")
    return found


def decode_options(
    keylog: Path | None = None,
    tls_ports: Iterable[int] = (),
    http_ports: Iterable[int] = (),
    decode_as: Iterable[str] = (),
) -> list[str]:
    """tshark options that make it decode our traffic on the ports tests use.

    A TLS port also gets ``tls.port==P,http``: the harness's TLS traffic is HTTPS, and
    without ALPN tshark cannot guess the inner protocol on an unregistered port; when
    ALPN names the protocol, ALPN wins over this port mapping.
    """
    opts: list[str] = []
    if keylog is not None:
        opts += ["-o", f"tls.keylog_file:{keylog}"]
    for port in tls_ports:
        opts += ["-d", f"tcp.port=={int(port)},tls", "-d", f"tls.port=={int(port)},http"]
    for port in http_ports:
        if int(port) not in {int(p) for p in tls_ports}:
            opts += ["-d", f"tcp.port=={int(port)},http"]
    for rule in decode_as:  # e.g. "tcp.port==7900,dpp": a protocol on a test's own port
        opts += ["-d", rule]
    return opts


@overload
def decode(
    pcap: Path,
    keylog: Path | None = ...,
    tls_ports: Sequence[int] = ...,
    http_ports: Sequence[int] = ...,
    display_filter: None = ...,
    decode_as: Sequence[str] = ...,
) -> list[Frame]: ...


@overload
def decode(
    pcap: Path,
    keylog: Path | None = ...,
    tls_ports: Sequence[int] = ...,
    http_ports: Sequence[int] = ...,
    *,
    display_filter: str,
    decode_as: Sequence[str] = ...,
) -> list[int]: ...


def decode(
    pcap: Path,
    keylog: Path | None = None,
    tls_ports: Sequence[int] = (),
    http_ports: Sequence[int] = (),
    display_filter: str | None = None,
    decode_as: Sequence[str] = (),
) -> list[Frame] | list[int]:
    """Decode ``pcap`` into frames, or with ``display_filter`` the numbers of the
    frames that match that Wireshark display filter.

    Raises ``DecodeError`` when the file is missing, not a capture, truncated, or
    tshark fails in any other way.
    """
    pcap = Path(pcap)
    if not pcap.is_file():
        raise DecodeError(f"{pcap}: no such capture file")
    if keylog is not None and not Path(keylog).is_file():
        keylog = None  # no key log yet: decode what is in clear
    options = decode_options(keylog, tls_ports, http_ports, decode_as)
    base = [tshark_binary(), "-n", "-r", str(pcap), *options]
    if display_filter is not None:
        return _matching(base, pcap, display_filter)
    with tempfile.TemporaryDirectory(prefix="onboardcheck-decode-") as tmp:
        json_out = Path(tmp) / "frames.json"
        cols_out = Path(tmp) / "columns.tsv"
        fields = ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
        fields += ["-e", "frame.number", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info"]
        _run_all(pcap, [([*base, "-T", "json"], json_out), ([*base, *fields], cols_out)])
        columns = _read_columns(cols_out)
        with json_out.open("r", encoding="utf-8", errors="replace") as stream:
            return [_frame(layers, columns) for layers in _packets(stream, pcap)]


def _run_all(pcap: Path, jobs: list[tuple[list[str], Path]]) -> None:
    """Run tshark commands concurrently, each writing stdout to its file."""
    procs: list[tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]] = []
    try:
        for argv, out in jobs:
            stdout = out.open("wb")
            stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
            procs.append((subprocess.Popen(argv, stdout=stdout, stderr=stderr), stdout, stderr))
        for proc, _, _ in procs:
            try:
                proc.wait(timeout=TSHARK_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise DecodeError(f"{pcap}: tshark took more than {TSHARK_TIMEOUT:.0f} s") from None
        for proc, _, stderr in procs:
            stderr.seek(0)
            _check(pcap, proc.returncode, stderr.read().decode("utf-8", "replace"))
    except OSError as exc:
        raise DecodeError(f"{pcap}: cannot run tshark: {exc}") from exc
    finally:
        for proc, stdout, stderr in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stdout.close()
            stderr.close()


def _check(pcap: Path, returncode: int, stderr: str) -> None:
    """Turn tshark's complaints into a DecodeError; its root warning is noise."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "Running as user" not in ln]
    # tshark may print the frames before a damaged spot and still name the damage.
    damage = [ln for ln in lines if _DAMAGE.search(ln)]
    if returncode != 0 or damage:
        detail = " ".join(damage or lines) or f"exit status {returncode}"
        raise DecodeError(f"{pcap}: tshark could not decode the capture: {detail.strip()}")


def _matching(base: list[str], pcap: Path, display_filter: str) -> list[int]:
    argv = [*base, "-Y", display_filter, "-T", "fields", "-e", "frame.number"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TSHARK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DecodeError(f"{pcap}: tshark failed on filter {display_filter!r}: {exc}") from exc
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        detail = " ".join(ln.strip() for ln in stderr.splitlines() if "Running as user" not in ln)
        raise DecodeError(f"{pcap}: display filter {display_filter!r}: {detail.strip()}")
    _check(pcap, 0, stderr)
    return [int(x) for x in done.stdout.decode().split() if x.isdigit()]


def _read_columns(path: Path) -> dict[int, tuple[str, str]]:
    columns: dict[int, tuple[str, str]] = {}
    with path.open("r", encoding="utf-8", errors="replace") as stream:
        for row in stream:
            parts = row.rstrip("\n").split("\t", 2)
            if parts and parts[0].isdigit():
                parts += [""] * (3 - len(parts))
                columns[int(parts[0])] = (parts[1], parts[2])
    return columns


def _packets(stream: IO[str], pcap: Path) -> Iterator[Pairs]:
    """Yield each packet's layers from tshark's ``-T json`` output, one at a time.

    tshark prints each packet of its top-level array between a line ``  {`` and a
    line ``  }`` (or ``  },``); JSON keys repeat, hence the pairs hook.
    """
    chunk: list[str] = []
    for line in stream:
        if line.startswith("  {"):
            chunk = [line]
        elif chunk:
            chunk.append(line)
            if line.rstrip() in ("  }", "  },"):
                text = "".join(chunk).rstrip().rstrip(",")
                chunk = []
                try:
                    packet = json.loads(text, object_pairs_hook=list)
                except json.JSONDecodeError as exc:
                    raise DecodeError(f"{pcap}: unreadable tshark output: {exc}") from exc
                yield _layers(packet)
    if chunk:
        raise DecodeError(f"{pcap}: tshark output ended inside a packet")


def _layers(packet: Pairs) -> Pairs:
    for key, value in packet:
        if key == "_source":
            for key2, value2 in value:
                if key2 == "layers":
                    return value2
    return []


def _flatten(node: Any, into: dict[str, list[str]]) -> None:
    for key, value in node:
        _add(key, value, into)


def _add(key: str, value: Any, into: dict[str, list[str]]) -> None:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        _flatten(value, into)  # an object: a protocol, a subtree or a labelled text item
    elif isinstance(value, list):
        for item in value:  # a field repeated as an array
            _add(key, item, into)
    elif _FIELD_NAME.match(key):
        into.setdefault(key, []).append("" if value is None else str(value))


def _frame(layers: Pairs, columns: dict[int, tuple[str, str]]) -> Frame:
    fields: dict[str, list[str]] = {}
    _flatten(layers, fields)

    def first(*names: str) -> str | None:
        for name in names:
            if fields.get(name):
                return fields[name][0]
        return None

    def port(*names: str) -> int | None:
        value = first(*names)
        return int(value) if value and value.isdigit() else None

    number = int(first("frame.number") or 0)
    column, info = columns.get(number, ("", ""))
    return Frame(
        number=number,
        time=float(first("frame.time_epoch") or 0.0),
        src=first("ip.src", "ipv6.src", "eth.src") or "",
        dst=first("ip.dst", "ipv6.dst", "eth.dst") or "",
        sport=port("tcp.srcport", "udp.srcport"),
        dport=port("tcp.dstport", "udp.dstport"),
        protocols=(first("frame.protocols") or "").split(":"),
        fields=fields,
        summary=info,
        column=column,
    )


def environment_ok() -> bool:
    """Whether tshark can be run at all (tests and ``capture_available`` use it)."""
    return shutil.which("tshark") is not None and os.access(shutil.which("tshark") or "", os.X_OK)
