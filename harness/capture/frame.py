"""A decoded frame: tshark's view of one packet, flattened for test cases."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Frame:
    """One decoded packet.

    ``fields`` maps tshark field names (``http.request.method``) to every value the
    frame carries for them, in dissection order; ``protocols`` is ``frame.protocols``
    split on ``:``; ``summary`` is tshark's Info column.
    """

    number: int
    time: float
    src: str
    dst: str
    sport: int | None
    dport: int | None
    protocols: list[str]
    fields: dict[str, list[str]] = field(default_factory=dict)
    summary: str = ""
    column: str = ""  # tshark's Protocol column (e.g. "HTTP", "TLSv1.3")

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of field ``name``, or ``default`` when the frame lacks it."""
        found = self.fields.get(name)
        return found[0] if found else default

    def get_int(self, name: str) -> int | None:
        """First value of field ``name`` as an integer (see ``as_int``)."""
        return as_int(self.get(name))

    def values(self, name: str) -> list[str]:
        return list(self.fields.get(name, ()))

    def has(self, protocol: str) -> bool:
        """Whether ``protocol`` (a tshark protocol name such as ``http``) is in the frame."""
        return protocol in self.protocols

    def line(self) -> str:
        """One readable line, like a row of tshark's packet list."""
        src = f"{self.src}:{self.sport}" if self.sport is not None else self.src
        dst = f"{self.dst}:{self.dport}" if self.dport is not None else self.dst
        return f"{self.number}  {src} -> {dst}  {self.column or '?'}  {self.summary}".rstrip()


def as_int(text: str | None) -> int | None:
    """A field value as an integer (tshark writes decimal or 0x..); None when absent or
    not a number."""
    if not text:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None
