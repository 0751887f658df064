"""An order-aware cursor over decoded frames: the evidence behind verdicts.

A test walks the capture forwards: ``expect_next`` finds the next frame matching a
filter (and moves past it), ``expect_none`` checks that no later frame matches. A
miss raises ``RequirementFailed`` quoting the requirement and showing the frames
around the cursor, so the verdict carries the evidence that decided it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.capture.decode import decode
from harness.capture.frame import Frame
from harness.verdicts import RequirementFailed

FrameFilter = Callable[[Frame], bool] | Mapping[str, Any] | str
CONTEXT = 3  # frames shown before and after the cursor in a failure


class PacketCursor:
    """Walk ``frames`` in order.

    A filter is a callable ``Frame -> bool``; a dict ``{field: expected}`` where every
    field must have a value equal to ``expected`` (a string, or a callable or compiled
    regex tried on each value); or a Wireshark display filter string, evaluated by
    tshark on ``pcap`` with the same decoding options (cached per filter).
    """

    def __init__(
        self,
        frames: Sequence[Frame],
        quote: Callable[[str], str] | None = None,
        pcap: Path | None = None,
        keylog: Path | None = None,
        tls_ports: Sequence[int] = (),
        http_ports: Sequence[int] = (),
        decode_as: Sequence[str] = (),
    ):
        self.frames = list(frames)
        self.quote = quote
        self.pcap = pcap
        self._decode_args: dict[str, Any] = {
            "keylog": keylog, "tls_ports": list(tls_ports), "http_ports": list(http_ports),
            "decode_as": list(decode_as)}
        self._position = 0  # index of the next frame to look at
        self._matches: dict[str, set[int]] = {}

    @property
    def position(self) -> int:
        """Index into ``frames`` of the next frame the cursor will look at."""
        return self._position

    @position.setter
    def position(self, value: int) -> None:
        self._position = max(0, min(int(value), len(self.frames)))

    def rewind(self) -> None:
        self._position = 0

    @contextmanager
    def rewinding(self) -> Iterator[PacketCursor]:
        """Search freely inside the block; the position is restored on exit."""
        saved = self._position
        try:
            yield self
        finally:
            self._position = saved

    # -- queries ------------------------------------------------------------------

    def peek_next(self, flt: FrameFilter) -> Frame | None:
        index = self._find(flt, self._position)
        return None if index is None else self.frames[index]

    def all(self, flt: FrameFilter) -> list[Frame]:
        """Every frame of the capture matching ``flt`` (ignores the position)."""
        test = self._predicate(flt)
        return [f for f in self.frames if test(f)]

    def expect_next(self, flt: FrameFilter, requirement: str | list[str], what: str) -> Frame:
        """The next matching frame; the cursor moves past it. A miss fails ``requirement``."""
        index = self._find(flt, self._position)
        if index is None:
            after = self.frames[self._position - 1].number if self._position else 0
            where = f"after frame {after}" if after else "in the capture"
            self._fail(f"{what}: expected {describe(flt)}, not found {where}",
                       requirement, self._position)
        assert index is not None
        self._position = index + 1
        return self.frames[index]

    def expect_none(self, flt: FrameFilter, requirement: str | list[str], what: str) -> None:
        """No frame from the position on matches ``flt``; the position does not move."""
        index = self._find(flt, self._position)
        if index is not None:
            frame = self.frames[index]
            self._fail(f"{what}: expected no {describe(flt)}, found frame {frame.number}",
                       requirement, index)

    # -- internals ----------------------------------------------------------------

    def _find(self, flt: FrameFilter, start: int) -> int | None:
        test = self._predicate(flt)
        for index in range(start, len(self.frames)):
            if test(self.frames[index]):
                return index
        return None

    def _predicate(self, flt: FrameFilter) -> Callable[[Frame], bool]:
        if isinstance(flt, str):
            numbers = self._display_filter(flt)
            return lambda f: f.number in numbers
        if isinstance(flt, Mapping):
            items = list(flt.items())
            return lambda f: all(_field_matches(f, k, v) for k, v in items)
        if callable(flt):
            return flt
        raise TypeError(f"not a frame filter: {flt!r}")

    def _display_filter(self, text: str) -> set[int]:
        if text not in self._matches:
            if self.pcap is None:
                raise ValueError("a display-filter string needs the cursor's pcap")
            self._matches[text] = set(decode(self.pcap, display_filter=text, **self._decode_args))
        return self._matches[text]

    def context(self, index: int) -> list[str]:
        """Summary lines of the frames around ``index``, that position marked ``>>``."""
        lo, hi = max(0, index - CONTEXT), min(len(self.frames), index + CONTEXT + 1)
        lines = []
        for i in range(lo, hi):
            lines.append(("  >> " if i == index else "     ") + self.frames[i].line())
        if index >= len(self.frames):
            lines.append("  >> (end of capture)")
        return lines

    def _fail(self, reason: str, requirement: str | list[str], index: int) -> None:
        ids = [requirement] if isinstance(requirement, str) else list(requirement)
        if self.quote is not None:
            quotes = [_quoted(rid, self.quote(rid)) for rid in ids]
            reason = f"{reason}\n  " + "\n  ".join(quotes)
        raise RequirementFailed(reason, ids, frames=self.context(index))


def _quoted(rid: str, text: str) -> str:
    # A quote function may already lead with the id; naming it twice only adds noise.
    if text.lstrip().startswith(rid):
        return text.strip()
    return f'{rid}: "{text}"'


def _field_matches(frame: Frame, name: str, expected: Any) -> bool:
    values = frame.values(name)
    if isinstance(expected, re.Pattern):
        return any(expected.search(v) for v in values)
    if callable(expected):
        return any(expected(v) for v in values)
    return str(expected) in values


def describe(flt: FrameFilter) -> str:
    """Readable text for a filter in a failure reason."""
    if isinstance(flt, str):
        return f"a frame matching `{flt}`"
    if isinstance(flt, Mapping):
        parts = []
        for key, value in flt.items():
            if isinstance(value, re.Pattern):
                parts.append(f"{key} ~ /{value.pattern}/")
            elif callable(value):
                parts.append(f"{key} satisfying {getattr(value, '__name__', 'a check')}")
            else:
                parts.append(f"{key} == {value!r}")
        return "a frame with " + " and ".join(parts)
    name = getattr(flt, "__name__", "")
    return f"a frame satisfying {name}" if name and name != "<lambda>" else "a matching frame"
