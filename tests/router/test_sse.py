from __future__ import annotations

import pytest

from torouter.router.errors import GatewayError
from torouter.router.protocols import ndjson, sse
from torouter.router.protocols.ndjson import NDJSONDecoder
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


@pytest.mark.parametrize("size", [1, 2, 5])
def test_lone_cr_line_ends_split_anywhere(size: int) -> None:
    """A CR at the end of a chunk may be half of a CRLF, or a line end of its own: the next chunk
    says which, whether or not it holds a line end itself."""
    stream = b'data: {"a":1}\r\rdata: two\rdata: lines\r\rdata: (the last CR is known by what follows)'
    parser = SSEParser()
    events: list[SSEEvent] = []
    for i in range(0, len(stream), size):
        events += parser.feed(stream[i : i + size])
    assert events == [SSEEvent(None, '{"a":1}'), SSEEvent(None, "two\nlines")]


def test_an_event_past_the_bound_fails_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 1000)
    for pieces in (
        [b"data: " + b"a" * 600, b"a" * 600],
        [b"data: " + b"a" * 600 + b"\n", b"data: " + b"b" * 600],
    ):
        parser = SSEParser()
        assert parser.feed(pieces[0]) == []
        with pytest.raises(GatewayError, match="larger than"):
            parser.feed(pieces[1])
    parser = SSEParser()  # events under the bound, however many, pass
    for _ in range(10):
        assert parser.feed(b"data: " + b"a" * 600 + b"\n\n") == [SSEEvent(None, "a" * 600)]


def test_ndjson_lines_split_anywhere_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = b'{"a":1}\n\n{"b":2}\n{"c":3}'
    decoder = NDJSONDecoder()
    events: list[SSEEvent] = []
    for i in range(0, len(stream), 2):
        events += decoder.feed(stream[i : i + 2])
    events += decoder.feed(b"\n")
    assert [event.data for event in events] == ['{"a":1}', '{"b":2}', '{"c":3}']
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 1000)
    monkeypatch.setattr(ndjson, "MAX_EVENT_BYTES", 1000)
    decoder = NDJSONDecoder()
    assert decoder.feed(b"a" * 600) == []
    with pytest.raises(GatewayError, match="larger than"):
        decoder.feed(b"a" * 600)
