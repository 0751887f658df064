"""Loader of the published test vectors under `vectors/<protocol>/<name>.json`.

Every vector file is a JSON object with at least a `source` naming where its values
were copied from; bytes are lowercase hex unless the field name ends in `b64` or
`ascii` (the layout of vectors/README.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from harness.errors import InputError

# The vectors tree sits next to the harness package in a source checkout;
# ONBOARDCHECK_VECTORS points elsewhere (an installed harness has no vectors/).
_DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "vectors"


def vectors_root() -> Path:
    return Path(os.environ.get("ONBOARDCHECK_VECTORS", _DEFAULT_ROOT))


def vector_path(protocol: str, name: str) -> Path:
    """Path of `vectors/<protocol>/<name>.json` (`name` may include the .json)."""
    for part in (protocol, name):
        if not part or "/" in part or "\\" in part or part.startswith("."):
            raise InputError(vectors_root(), "name", f"bad vector name part {part!r}")
    filename = name if name.endswith(".json") else f"{name}.json"
    return vectors_root() / protocol / filename


def load_vector(protocol: str, name: str) -> dict[str, Any]:
    """The vector as a dict; it must be a JSON object that names its `source`."""
    path = vector_path(protocol, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "file", "no such vector") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, "json", exc.msg, line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise InputError(path, "json", "a vector file must hold a JSON object")
    if not isinstance(data.get("source"), str) or not data["source"].strip():
        raise InputError(path, "source", "every vector must name its source")
    return data


def vector_bytes(protocol: str, name: str, *keys: str | int) -> bytes:
    """The bytes at `keys` inside the vector, decoded by the field's naming rule.

    `vector_bytes("est", "a1_cacerts", "expected", "payload")` -> DER bytes.
    """
    path = vector_path(protocol, name)
    value: Any = load_vector(protocol, name)
    where = ""
    for key in keys:
        where = f"{where}.{key}" if where else str(key)
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise InputError(path, where, "no such field") from exc
    if not isinstance(value, str):
        raise InputError(path, where, f"expected a string, found {type(value).__name__}")
    last = str(keys[-1]).lower() if keys else ""
    try:
        if last.endswith("b64"):
            return base64.b64decode(value, validate=True)
        if last.endswith("ascii"):
            return value.encode("ascii")
        return bytes.fromhex(value)
    except (ValueError, binascii.Error) as exc:
        raise InputError(path, where, f"cannot decode: {exc}") from exc
