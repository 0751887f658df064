"""A test's evidence folder and how its files are described in results."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.verdicts import Evidence

# file name suffix -> evidence kind shown in reports
_KINDS = (
    (".pcapng", "capture"),
    (".pcap", "capture"),
    (".keylog", "keylog"),
    ("peer.log", "peer-log"),
    (".log", "log"),
    (".out", "dut-output"),
)


def kind_of(path: Path) -> str:
    for suffix, kind in _KINDS:
        if path.name.endswith(suffix):
            return kind
    return "dut-state" if "state" in path.parts else "file"


class EvidenceDir:
    """Files a test leaves as evidence. Created fresh for every test."""

    def __init__(self, path: Path):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        self.path = path
        self.notes: list[str] = []

    def file(self, name: str) -> Path:
        """A path inside the folder for a peer or the DUT to write to."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def note(self, text: str) -> None:
        self.notes.append(text)

    def write_text(self, name: str, text: str) -> Path:
        target = self.file(name)
        target.write_text(text, encoding="utf-8", errors="replace")
        return target

    def collect(self, base: Path) -> list[Evidence]:
        found = [
            Evidence(kind_of(p), path=str(p.relative_to(base)))
            for p in sorted(self.path.rglob("*"))
            if p.is_file()
        ]
        return found + [Evidence("note", text=n) for n in self.notes]

    def attach_to_allure(self) -> None:
        import allure

        for path in sorted(self.path.rglob("*")):
            if path.is_file() and path.stat().st_size < 8 * 1024 * 1024:
                allure.attach.file(str(path), name=str(path.relative_to(self.path)))
