"""ICS: the options a DUT may claim (suites/<protocol>/ics.yaml) and a DUT's answers."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import CatalogueError, ProfileError
from harness.yamlsrc import FieldPath, dotted, load_yaml

TYPES = {"bool": bool, "int": int, "str": str, "choice": str}


@dataclass(frozen=True)
class IcsOption:
    id: str
    question: str
    type: str
    default: Any
    roles: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        if self.type == "bool":
            return isinstance(value, bool)
        if self.type == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type == "choice":
            return value in self.choices
        return isinstance(value, str)


def load_ics(path: Path | str) -> dict[str, IcsOption]:
    src = load_yaml(path, CatalogueError, "ICS file")
    data = src.data
    if not isinstance(data, dict) or not isinstance(data.get("options"), list):
        raise CatalogueError(src.path, "options", "must be a list of ICS options", src.line(()))
    options: dict[str, IcsOption] = {}

    def err(at: FieldPath, message: str) -> CatalogueError:
        return CatalogueError(src.path, dotted(at), message, src.line(at))

    for index, entry in enumerate(data["options"]):
        where: FieldPath = ("options", index)
        if not isinstance(entry, dict):
            raise err(where, "each option must be a mapping")
        for key in ("id", "question", "type"):
            if not isinstance(entry.get(key), str):
                raise err((*where, key), f"'{key}' is missing")
        if entry["type"] not in TYPES:
            raise err((*where, "type"), f"unknown type {entry['type']!r}")
        if entry["id"] in options:
            raise err((*where, "id"), f"duplicate id {entry['id']!r}")
        option = IcsOption(
            id=entry["id"],
            question=entry["question"],
            type=entry["type"],
            default=entry.get("default"),
            roles=tuple(entry.get("roles") or ()),
            choices=tuple(entry.get("choices") or ()),
        )
        if option.default is not None and not option.accepts(option.default):
            msg = f"default {option.default!r} is not a {option.type}"
            raise err((*where, "default"), msg)
        options[option.id] = option
    return options


def resolve_answers(
    options: dict[str, IcsOption],
    answers: dict[str, Any],
    profile_path: Path | str = "(profile)",
    where: str = "ics",
) -> dict[str, Any]:
    """The DUT's answers completed with defaults; unknown ids and wrong types are errors."""
    resolved = {oid: opt.default for oid, opt in options.items()}
    for oid, value in answers.items():
        option = options.get(oid)
        if option is None:
            near = difflib.get_close_matches(oid, options, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ProfileError(profile_path, f"{where}.{oid}", f"unknown ICS option{hint}")
        if not option.accepts(value):
            expected = f"one of {list(option.choices)}" if option.type == "choice" else option.type
            msg = f"{value!r} is not a valid answer: expected {expected}"
            raise ProfileError(profile_path, f"{where}.{oid}", msg)
        resolved[oid] = value
    return resolved
