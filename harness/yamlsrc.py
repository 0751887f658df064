"""YAML loading that remembers where each node came from, for error messages
that name the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError

MAX_BYTES = 4 * 1024 * 1024  # a catalogue or profile is a few KiB; refuse anything absurd


@dataclass
class YamlSource:
    """Parsed YAML plus a map from dotted field paths ("requirements.3.level") to lines."""

    path: Path
    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, dotted: str) -> int | None:
        """Line of ``dotted``, or of its nearest known parent."""
        while dotted:
            if dotted in self.lines:
                return self.lines[dotted]
            dotted = dotted.rpartition(".")[0]
        return self.lines.get("")


def _walk(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    out[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = f"{prefix}.{key.value}" if prefix else str(key.value)
            out[name] = key.start_mark.line + 1
            _walk(value, name, out)
            out[name] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{prefix}.{index}" if prefix else str(index), out)


def load_yaml(path: Path | str, error: type[InputError] = InputError) -> YamlSource:
    """Read and parse ``path``; every failure is an ``error`` naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(path, "(file)", f"{size} bytes is too large for this kind of file")
        raw = path.read_bytes()
    except OSError as exc:
        raise error(path, "(file)", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(path, "(file)", "not UTF-8 text (is this a YAML file?)") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(path, "(syntax)", f"not valid YAML: {problem}", line) from None
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return YamlSource(path, data, lines)
