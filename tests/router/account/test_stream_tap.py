"""The stream tap's usage, fed events or given the usage chunk the router dropped (read once)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from torouter.router.account import metering
from torouter.router.account.metering import ANTHROPIC, OPENAI_CHAT, OPENAI_IMAGES
from torouter.router.operations.body_bytes import drop_events
from torouter.router.protocols.openai.stream_usage import OpenAIStreamUsage

TEXT = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
DONE = b"data: [DONE]\n\n"


def usage_chunk(prompt: int, completion: int, *, crlf: bool = False) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    event = b"data: " + orjson.dumps({"id": "c", "choices": [], "usage": usage}) + b"\n\n"
    return event.replace(b"\n\n", b"\r\n\r\n") if crlf else event


@pytest.mark.parametrize("marked", [True, False], ids=["marker", "split"])
def test_drop_events_hands_over_what_unwanted_said_in_order(marked: bool) -> None:
    asked = OpenAIStreamUsage()
    taken: list[Any] = []
    block = usage_chunk(1, 2) + TEXT + usage_chunk(3, 4, crlf=True) + DONE
    kept = drop_events(block, asked.usage_only, asked.marker if marked else b"", taken)
    assert kept == TEXT + DONE
    assert [chunk["usage"]["prompt_tokens"] for chunk in taken] == [1, 3]
    assert asked.usage_only(TEXT) is None and asked.usage_only(DONE) is None


def test_a_taken_usage_chunk_is_counted_without_reading_it_again(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = OpenAIStreamUsage()
    taken: list[Any] = []
    drop_events(TEXT + usage_chunk(12, 26) + DONE, asked.usage_only, asked.marker, taken)
    tap = OPENAI_CHAT.tap()
    tap.feed(TEXT)  # no report: nothing kept
    assert not tap.marks(TEXT + DONE) and tap.marks(usage_chunk(1, 1))
    for event in taken:
        tap.take(event)
    reads: list[bytes] = []
    monkeypatch.setattr(metering.orjson, "loads", lambda data: reads.append(data))
    tokens = tap.tokens()
    assert tokens is not None and (tokens.input, tokens.output) == (12, 26)
    assert reads == []  # the drop's JSON served: the event was not parsed a second time


def test_the_last_report_counts_whether_fed_or_taken() -> None:
    asked = OpenAIStreamUsage()
    chunk = asked.usage_only(usage_chunk(5, 6))
    assert chunk is not None
    tap = OPENAI_CHAT.tap()
    tap.feed(TEXT + usage_chunk(1, 2))
    tap.take(chunk)  # later in the stream than the fed report
    tokens = tap.tokens()
    assert tokens is not None and (tokens.input, tokens.output) == (5, 6)
    tap.feed(usage_chunk(7, 8))  # later still
    tokens = tap.tokens()
    assert tokens is not None and (tokens.input, tokens.output) == (7, 8)


def test_taken_events_sum_and_merge_as_fed_ones() -> None:
    image = {"usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}
    fed, taken = OPENAI_IMAGES.tap(), OPENAI_IMAGES.tap()
    for _ in range(2):
        fed.feed(b"event: image_generation.completed\ndata: " + orjson.dumps(image) + b"\n\n")
        taken.take(image)
    assert fed.tokens() == taken.tokens() and taken.tokens() is not None
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}
    delta = {"type": "message_delta", "usage": {"output_tokens": 15}}
    fed, taken = ANTHROPIC.tap(), ANTHROPIC.tap()
    for event in (start, delta):
        fed.feed(b"event: x\ndata: " + orjson.dumps(event) + b"\n\n")
        taken.take(event)
    merged = taken.tokens()
    assert merged == fed.tokens() and merged is not None and (merged.input, merged.output) == (9, 15)
    taken.take({"type": "ping"})  # an event without usage changes nothing
    assert taken.tokens() == merged
