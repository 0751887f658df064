"""PacketCursor over synthetic frames: order, misses, context of failures."""

from __future__ import annotations

import re

import pytest

from harness.capture import Frame, PacketCursor
from harness.verdicts import RequirementFailed

REQ = "RFC7030-4.2.1-MUST-01"
QUOTES = {REQ: "The client MUST use POST to /simpleenroll."}


def _frame(n: int, **fields: str) -> Frame:
    method = fields.get("http.request.method")
    code = fields.get("http.response.code")
    summary = f"{method} /x HTTP/1.1" if method else (f"HTTP/1.1 {code}" if code else "[ACK]")
    c2s = n % 2 == 1
    return Frame(
        number=n, time=1000.0 + n, src="127.0.0.1", dst="127.0.0.1",
        sport=5000 if c2s else 443, dport=443 if c2s else 5000,
        protocols=["eth", "ethertype", "ip", "tcp"] + (["http"] if method or code else []),
        fields={k: [v] for k, v in fields.items()}, summary=summary,
        column="HTTP" if method or code else "TCP",
    )


@pytest.fixture()
def frames() -> list[Frame]:
    out = [_frame(n) for n in range(1, 21)]
    out[9] = _frame(10, **{"http.request.method": "GET"})
    out[11] = _frame(12, **{"http.response.code": "200", "http.content_type": "text/plain"})
    out[14] = _frame(15, **{"http.request.method": "POST"})
    out[15] = _frame(16, **{"http.response.code": "500"})
    return out


def test_frame_accessors(frames: list[Frame]) -> None:
    f = frames[11]
    assert f.get("http.response.code") == "200" and f.get("nope") is None
    assert f.get("nope", "x") == "x" and f.values("http.content_type") == ["text/plain"]
    assert f.values("nope") == [] and f.has("http") and not f.has("tls")
    assert f.line() == "12  127.0.0.1:443 -> 127.0.0.1:5000  HTTP  HTTP/1.1 200"


def test_expect_next_moves_past_the_match(frames: list[Frame]) -> None:
    cursor = PacketCursor(frames)
    assert cursor.position == 0
    get = cursor.expect_next(lambda f: f.get("http.request.method") == "GET", REQ, "GET")
    assert get.number == 10 and cursor.position == 10
    ok = cursor.expect_next({"http.response.code": "200"}, REQ, "reply")
    assert ok.number == 12
    post = cursor.expect_next({"http.request.method": re.compile("^PO")}, REQ, "POST")
    assert post.number == 15
    err = cursor.expect_next({"http.response.code": lambda v: v.startswith("5")}, REQ, "5xx")
    assert err.number == 16
    assert cursor.peek_next({"http.request.method": "GET"}) is None  # GET was before
    cursor.rewind()
    assert cursor.position == 0
    assert cursor.peek_next({"http.request.method": "GET"}) is frames[9]
    assert cursor.position == 0  # peek does not move
    assert [f.number for f in cursor.all(lambda f: f.has("http"))] == [10, 12, 15, 16]


def test_rewinding_restores_position(frames: list[Frame]) -> None:
    cursor = PacketCursor(frames)
    cursor.expect_next({"http.request.method": "GET"}, REQ, "GET")
    with cursor.rewinding():
        cursor.rewind()
        cursor.expect_next({"http.request.method": "POST"}, REQ, "POST")
        assert cursor.position == 15
    assert cursor.position == 10


def test_miss_quotes_requirement_and_shows_frames_around(frames: list[Frame]) -> None:
    cursor = PacketCursor(frames, quote=QUOTES.__getitem__)
    cursor.expect_next({"http.request.method": "POST"}, REQ, "the CSR POST")
    with pytest.raises(RequirementFailed) as caught:
        cursor.expect_next({"http.request.method": "PUT"}, REQ, "the CSR PUT")
    failure = caught.value
    assert failure.requirements == [REQ]
    assert failure.reason.startswith("the CSR PUT: expected a frame with http.request.method ==")
    assert "not found after frame 15" in failure.reason
    assert QUOTES[REQ] in failure.reason
    assert len(failure.frames) == 7  # 3 before, the position, 3 after
    marked = [line for line in failure.frames if line.startswith("  >> ")]
    assert marked == ["  >> 16  127.0.0.1:443 -> 127.0.0.1:5000  HTTP  HTTP/1.1 500"]
    assert failure.frames[2].strip().startswith("15  127.0.0.1:5000 -> 127.0.0.1:443  HTTP  POST")
    assert cursor.position == 15  # a miss does not move the cursor


def test_miss_at_the_end_of_the_capture(frames: list[Frame]) -> None:
    cursor = PacketCursor(frames[:3])
    cursor.expect_next(lambda f: f.number == 3, REQ, "last")
    with pytest.raises(RequirementFailed) as caught:
        cursor.expect_next(lambda f: True, [REQ, "RFC7030-3.3.1-MUST-02"], "anything")
    assert caught.value.frames[-1] == "  >> (end of capture)"
    assert caught.value.requirements == [REQ, "RFC7030-3.3.1-MUST-02"]


def test_expect_none(frames: list[Frame]) -> None:
    cursor = PacketCursor(frames, quote=QUOTES.__getitem__)
    cursor.expect_next({"http.response.code": "200"}, REQ, "reply")
    cursor.expect_none({"http.request.method": "GET"}, REQ, "no second GET")
    assert cursor.position == 12
    with pytest.raises(RequirementFailed) as caught:
        cursor.expect_none({"http.response.code": re.compile(r"^5")}, REQ, "no server error")
    failure = caught.value
    assert "no server error: expected no" in failure.reason and "found frame 16" in failure.reason
    assert QUOTES[REQ] in failure.reason
    marked = [line for line in failure.frames if line.startswith("  >> ")]
    assert marked and marked[0].startswith("  >> 16  ")
    assert failure.frames[0].strip().startswith("13 ")
    assert failure.frames[-1].strip().startswith("19 ")


def test_display_filter_needs_a_pcap(frames: list[Frame]) -> None:
    with pytest.raises(ValueError, match="pcap"):
        PacketCursor(frames).peek_next("http")
