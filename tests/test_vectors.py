"""The vectors tree and its loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.vectors import load_vector, vector_bytes, vector_path, vectors_root

EST_FILES = ["a1_cacerts", "a2_simpleenroll", "a3_serverkeygen", "a4_csrattrs"]
# Where vectors/est/ was copied from (see vectors/est/SOURCES.md).
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference-vectors" / "est_coaps"


def all_vector_files() -> list[Path]:
    return sorted(vectors_root().glob("*/*.json"))


def test_every_vector_names_its_source() -> None:
    files = all_vector_files()
    assert files, "no vectors found"
    for path in files:
        vector = load_vector(path.parent.name, path.stem)
        assert vector["source"].strip()
        assert (path.parent / "SOURCES.md").is_file(), f"{path.parent} has no SOURCES.md"


@pytest.mark.parametrize("name", EST_FILES)
def test_est_vectors_are_exact_copies(name: str) -> None:
    original = SHARED / f"{name}.json"
    if not original.exists():
        pytest.skip(f"{original} is not available here")
    assert vector_path("est", name).read_bytes() == original.read_bytes()


def test_vector_bytes_decodes_hex() -> None:
    raw = load_vector("est", "a4_csrattrs")["expected"]["payload"]
    assert vector_bytes("est", "a4_csrattrs", "expected", "payload") == bytes.fromhex(raw)
    assert vector_bytes("est", "a4_csrattrs.json", "expected", "payload")[:1] == b"\x30"


def test_loader_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDCHECK_VECTORS", str(tmp_path))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "nosource.json").write_text(json.dumps({"expected": {}}))
    (tmp_path / "p" / "list.json").write_text("[]")
    (tmp_path / "p" / "broken.json").write_text('{\n  "source": "x",\n}')
    (tmp_path / "p" / "ok.json").write_text(
        json.dumps(
            {
                "source": "here",
                "v": {"data_b64": "AAE=", "name_ascii": "ab", "hex": "zz", "n": 3},
            }
        )
    )
    for name, field in [
        ("missing", "file"),
        ("nosource", "source"),
        ("list", "json"),
        ("broken", "json"),
    ]:
        with pytest.raises(InputError) as err:
            load_vector("p", name)
        assert err.value.field == field
    assert vector_bytes("p", "ok", "v", "data_b64") == b"\x00\x01"
    assert vector_bytes("p", "ok", "v", "name_ascii") == b"ab"
    for keys in (("v", "hex"), ("v", "n"), ("v", "nope"), ("x",)):
        with pytest.raises(InputError):
            vector_bytes("p", "ok", *keys)
    for protocol, name in (("..", "x"), ("p", "../p/ok"), ("", "ok")):
        with pytest.raises(InputError):
            vector_path(protocol, name)
