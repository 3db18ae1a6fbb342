from __future__ import annotations

import pytest

from torouter.router.protocols.sse import SSEEvent, SSEParser, format_event

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"a":1}\n\n'
    b'event: message_start\ndata: {"b":2}\n\n'
    b"data: line1\ndata: line2\n\n"
    b'data: {"c":3}\r\n\r\n'
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent(None, '{"a":1}'),
    SSEEvent("message_start", '{"b":2}'),
    SSEEvent(None, "line1\nline2"),
    SSEEvent(None, '{"c":3}'),
    SSEEvent(None, "[DONE]"),
]


def test_whole_stream() -> None:
    assert SSEParser().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_split_gives_the_same_events(size: int) -> None:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for i in range(0, len(STREAM), size):
        events += parser.feed(STREAM[i : i + size])
    assert events == EXPECTED


def test_incomplete_event_waits() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"x"') == []
    assert parser.feed(b":1}\n") == []
    assert parser.feed(b"\n") == [SSEEvent(None, '{"x":1}')]


def test_format_event() -> None:
    assert format_event(b"{}") == b"data: {}\n\n"
    assert format_event("{}", "ping") == b"event: ping\ndata: {}\n\n"
