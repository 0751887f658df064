"""Requirement catalogues and ICS files: the shipped ones load, and each kind of mistake
is one CatalogueError naming the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.errors import CatalogueError
from harness.ics import load_ics
from harness.requirements import catalogue_for, load_catalogue

GOOD = """\
protocol: demo
specs:
  RFC0000: {title: Demo, url: "https://example.invalid"}
requirements:
  - id: RFC0000-1-MUST-01
    spec: RFC0000
    section: "1"
    level: MUST
    role: device
    title: one
    quote: "The device MUST do one."
    observable: wire
    phase: operation
"""


def write(tmp_path: Path, text: str, name: str = "requirements.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_est_catalogue_loads() -> None:
    cat = catalogue_for("est")
    assert len(cat.requirements) >= 30
    assert {r.role for r in cat.requirements} == {"client", "server"}
    assert all(r.why for r in cat.requirements if r.observable == "not-testable")
    assert cat.quote("RFC7030-4.2.1-MUST-01").startswith("RFC7030-4.2.1-MUST-01 [MUST")


def test_shipped_est_ics_loads() -> None:
    options = load_ics(Path(__file__).parents[1] / "suites" / "est" / "ics.yaml")
    assert "EST-CLIENT-CERT-AUTH" in options


@pytest.mark.parametrize(
    ("change", "field", "line", "message"),
    [
        (("level: MUST", "level: OUGHT"), "requirements[0].level", 8, "not one of"),
        (('    section: "1"\n', ""), "requirements[0]", 5, "'section' is missing"),
        (("observable: wire", "observable: not-testable"), "requirements[0]", 5, "needs 'why'"),
        (("    phase: operation\n", "    phase: operation\n    colour: red\n"),
         "requirements[0].colour", 14, "unknown field"),
        (("spec: RFC0000\n", "spec: RFC9999\n"), "requirements[0].spec", 6, "not listed"),
        (("    level: MUST\n", "    level: MUST\n    level: MAY\n"),
         "requirements[0].level", 9, "duplicate key"),
    ],
)  # fmt: skip
def test_catalogue_errors_name_field_and_line(
    tmp_path: Path, change: tuple[str, str], field: str, line: int, message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(CatalogueError, match=message) as err:
        load_catalogue(path)
    assert (err.value.field, err.value.line) == (field, line)
    assert str(path) in str(err.value)


def test_duplicate_requirement_id(tmp_path: Path) -> None:
    entry = GOOD[GOOD.index("  - id:") :]
    path = write(tmp_path, GOOD + entry)
    with pytest.raises(CatalogueError, match="duplicate id") as err:
        load_catalogue(path)
    assert err.value.field == "requirements[1].id"


@pytest.mark.parametrize("text", ["", "- a\n- list\n", "protocol: [unclosed", "\x00binary"])
def test_unreadable_catalogue(tmp_path: Path, text: str) -> None:
    with pytest.raises(CatalogueError):
        load_catalogue(write(tmp_path, text))


def test_ics_default_of_wrong_type(tmp_path: Path) -> None:
    text = "options:\n  - {id: X, question: q, type: bool, default: 3}\n"
    path = write(tmp_path, text, "ics.yaml")
    with pytest.raises(CatalogueError, match="not a bool") as err:
        load_ics(path)
    assert (err.value.field, err.value.line) == ("options[0].default", 2)


def test_withdrawn_entry_keeps_its_id_but_leaves_the_catalogue(tmp_path: Path) -> None:
    text = GOOD + '    withdrawn: "not in the published text"\n'
    cat = load_catalogue(write(tmp_path, text))
    assert cat.requirements == []
    assert "RFC0000-1-MUST-01" not in cat
    assert cat.withdrawn == {"RFC0000-1-MUST-01": "not in the published text"}


def test_shipped_withdrawn_entries_bind_no_test() -> None:
    cat = catalogue_for("est")
    assert set(cat.withdrawn) == {"RFC7030-3.5-MUST-02", "RFC7030-3.5-MUST-03"}
    suites = Path(__file__).parents[1] / "suites" / "est"
    text = "".join(p.read_text() for p in suites.rglob("test_*.py"))
    assert not [i for i in cat.withdrawn if f'"{i}"' in text]


def test_every_testable_est_requirement_has_a_test() -> None:
    """Issue acceptance: each catalogued requirement has a test or says why it has none."""
    cat = catalogue_for("est")
    suites = Path(__file__).parents[1] / "suites" / "est"
    text = "".join(p.read_text() for p in suites.rglob("test_*.py"))
    bound = set(re.findall(r'requirement\("([^"]+)"\)', text))
    testable = {r.id for r in cat.requirements if r.observable != "not-testable"}
    assert sorted(testable - bound) == []
    assert sorted(bound - {r.id for r in cat.requirements}) == []
