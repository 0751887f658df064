"""YAML input files (DUT profiles, requirement catalogues, ICS): read them defensively
and remember where each field came from, so that every message names the file, the
line and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from harness.errors import InputError

FieldPath = tuple[str | int, ...]
# Aliases can make a small document expand exponentially when walked.
MAX_NODES = 20_000


def dotted(at: FieldPath) -> str:
    """`("protocols", "est", "roles", 0)` -> `protocols.est.roles[0]`."""
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass
class YamlSource:
    """Parsed YAML plus the line of every field."""

    path: Path
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line(self, at: FieldPath) -> int | None:
        """Line of `at`, or of its nearest ancestor that has one (a missing key)."""
        while at not in self.lines and at:
            at = at[:-1]
        return self.lines.get(at)


class _Reader:
    def __init__(self, path: Path, error: type[InputError], kind: str):
        self.path, self.error, self.kind = path, error, kind

    def fail(self, message: str, line: int | None = None) -> NoReturn:
        raise self.error(self.path, "(file)", message, line)

    def text(self, max_bytes: int) -> str:
        try:
            with self.path.open("rb") as stream:
                raw = stream.read(max_bytes + 1)
        except FileNotFoundError:
            self.fail("file not found")
        except IsADirectoryError:
            self.fail(f"is a folder, not a {self.kind} file")
        except OSError as exc:
            self.fail(f"cannot read: {exc.strerror or exc}")
        if len(raw) > max_bytes:
            self.fail(f"larger than {max_bytes // 1024} KiB: not a {self.kind}")
        if b"\x00" in raw:
            self.fail("binary data (NUL bytes), not a YAML text file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail(f"not UTF-8 text (bad byte at offset {exc.start})")
        if not text.strip():
            self.fail(f"empty file: expected a {self.kind} (a YAML mapping)")
        return text

    def mapping_node(self, text: str) -> yaml.MappingNode:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.composer.ComposerError as exc:  # e.g. several documents
            self.fail(f"not a single YAML document: {exc.problem}", _mark_line(exc))
        except yaml.YAMLError as exc:
            self.fail(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", _mark_line(exc))
        if not isinstance(node, yaml.MappingNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
            self.fail(f"the document is {kind}; a {self.kind} is a YAML mapping", 1)
        return node

    def walk(self, node: yaml.Node, at: FieldPath, lines: dict[FieldPath, int], count: list[int]
             ) -> None:  # fmt: skip
        """Record the line of every field; reject what YAML accepts silently but an input
        file must not have (duplicate keys, non-string keys) and alias bombs."""
        count[0] += 1
        if count[0] > MAX_NODES:
            self.fail(f"more than {MAX_NODES} YAML nodes (alias expansion?)")
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*at, index), item.start_mark.line + 1)
                self.walk(item, (*at, index), lines, count)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                where = dotted((*at, str(key_node.value)))
                if key_node.tag != "tag:yaml.org,2002:str" or not isinstance(key_node.value, str):
                    tag = key_node.tag.rpartition(":")[2]
                    message = f"keys must be strings (YAML reads this key as {tag}); quote it"
                    raise self.error(self.path, where, message, line)
                if key_node.value in seen:
                    message = f"duplicate key (first at line {seen[key_node.value]})"
                    raise self.error(self.path, where, message, line)
                seen[key_node.value] = line
                lines[(*at, key_node.value)] = line
                self.walk(value_node, (*at, key_node.value), lines, count)


def _mark_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def load_yaml(
    path: Path | str, error: type[InputError], kind: str, max_bytes: int = 1024 * 1024
) -> YamlSource:
    """Read one YAML mapping from `path`; every problem is an `error` naming the file."""
    reader = _Reader(Path(path), error, kind)
    text = reader.text(max_bytes)
    node = reader.mapping_node(text)
    lines: dict[FieldPath, int] = {(): 1}
    reader.walk(node, (), lines, [0])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # compose succeeded, so this is a constructor problem
        reader.fail(f"not valid YAML: {exc}", _mark_line(exc))
    return YamlSource(reader.path, data, lines)
