"""Anthropic Messages codec: streams read from an upstream, relayed in the same dialect, and
written as OpenAI chat chunks.

A relay must give back the upstream's events (keep-alives aside) frame for frame; chunks written
for an OpenAI caller must accumulate into the right completion in the OpenAI SDK's own helper.
"""

from __future__ import annotations

from typing import Any

import pytest
from anthropic_helpers import (
    FIXTURE,
    MODEL,
    RECORDED_EVENTS,
    RELAYED,
    SIGNATURE,
    accumulate,
    frames,
    read_all,
    sse,
    stream_request,
    write_all,
)
from openai_chat_helpers import CHUNK, WEATHER_TOOL, chunks_of
from openai_chat_helpers import accumulate as openai_accumulate
from openai_chat_helpers import stream_request as openai_stream_request
from openai_chat_helpers import write_all as openai_write_all

from support.schemas import validate, validate_all
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    Finish,
    FinishReason,
    ReasoningDelta,
    RoleStart,
    StreamFailure,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from torouter.router.protocols.anthropic.messages import (
    AnthropicMessagesStreamReader,
    AnthropicMessagesStreamWriter,
)
from torouter.router.protocols.sse import SSEEvent

CALL_A, CALL_B = "toolu_01A09q90qw90lq917835lq9", "toolu_01B7mXq4fRkL2nPz8sVd3wYc"
START_USAGE_EXTRA = {
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "service_tier": "standard",
    "inference_geo": "not_available",
    "server_tool_use": None,
}


def test_recorded_stream_relays_frame_for_frame() -> None:
    batches, reader = read_all(FIXTURE)
    assert reader.finished
    out, per_batch = write_all(batches)
    assert len(batches) == len(RELAYED) == 21
    assert all(len(frames(b)) == 1 for b in per_batch)
    assert frames(out) == RELAYED
    assert all(b.startswith(b"event: ") for b in per_batch)
    validate("anthropic", "Message", frames(out)[0][1]["message"], closed=True)


def test_recorded_stream_events() -> None:
    batches, _ = read_all(FIXTURE)
    events = [b.events for b in batches]
    start = events[0]
    assert start[1:] == [RoleStart(), UsageReport(Usage(1496, 3, 1024, 0, extra=START_USAGE_EXTRA))]
    assert (start[0].id, start[0].model) == ("msg_01XFDUDYJgAACzvnptvVoYEL", MODEL)  # type: ignore[union-attr]
    assert events[1:] == [
        [],
        [ReasoningDelta("The user wants the weather in two cities.")],
        [ReasoningDelta(" One call each.")],
        [ReasoningDelta(signature=SIGNATURE)],
        [],
        [],
        [TextDelta("I'll check")],
        [TextDelta(" both cities.")],
        [],
        [ToolCallStart(0, CALL_A, "get_weather")],
        [ToolCallDelta(0, "")],
        [ToolCallDelta(0, '{"city": "Ber')],
        [ToolCallDelta(0, 'gen", "unit": "c"}')],
        [],
        [ToolCallStart(1, CALL_B, "get_weather")],
        [ToolCallDelta(1, '{"city": "Oslo",')],
        [ToolCallDelta(1, ' "unit": "c"}')],
        [],
        [Finish(FinishReason.TOOL_CALLS), UsageReport(Usage(1496, 189, 1024, 0, extra=START_USAGE_EXTRA))],
        [],
    ]
    assert batches[-1].extra == {"type": "message_stop"}
    assert batches[2].extra == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta"},
    }
    assert all(b.dialect == "anthropic" for b in batches)


def test_relayed_stream_accumulates_in_the_official_sdk() -> None:
    out, _ = write_all(read_all(FIXTURE)[0])
    message = accumulate(out)
    assert message.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, first, second = message.content
    assert thinking.type == "thinking" and thinking.signature == SIGNATURE
    assert thinking.thinking == "The user wants the weather in two cities. One call each."
    assert text.type == "text" and text.text == "I'll check both cities."
    assert first.type == "tool_use" and (first.id, first.input) == (CALL_A, {"city": "Bergen", "unit": "c"})
    assert second.type == "tool_use" and (second.id, second.input) == (CALL_B, {"city": "Oslo", "unit": "c"})
    assert message.stop_reason == "tool_use"
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (
        472,
        1024,
        189,
    )


def test_close_after_a_relayed_stop_adds_nothing() -> None:
    batches, _ = read_all(FIXTURE)
    writer = AnthropicMessagesStreamWriter(stream_request())
    for batch in batches:
        writer.write(batch)
    assert writer.close() == b""
    assert writer.fail(GatewayError(ErrorCode.UPSTREAM_ERROR, "late")) == b""


def test_rarer_events_relay_exactly() -> None:
    """Redacted thinking, citations, server tools, a stop sequence, usage given in pieces."""
    citation = {
        "type": "char_location",
        "cited_text": "It rains.",
        "document_index": 0,
        "document_title": "notes",
        "start_char_index": 0,
        "end_char_index": 9,
    }
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_02",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 20, "cache_read_input_tokens": None, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "redacted_thinking", "data": "EmwKAhgB"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"query": "rain"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_1",
                    "content": [],
                },
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 3,
                "content_block": {"type": "text", "text": "", "citations": []},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 3,
                "delta": {"type": "citations_delta", "citation": citation},
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "It rains"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 3}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "stop_sequence", "stop_sequence": "."},
                "usage": {"output_tokens": 12},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {},
                "usage": {"output_tokens": 14, "cache_read_input_tokens": None},
            },
        ),
        ("some_future_event", {"type": "some_future_event", "x": 1}),
        ("message_stop", {"type": "message_stop"}),
    ]
    batches, reader = read_all(sse(events))
    assert reader.finished
    assert [b.events for b in batches][1:4] == [[ReasoningDelta(redacted_data="EmwKAhgB")], [], []]
    assert batches[4].events == []  # server tool input is no client tool call
    finish, usage = batches[12].events
    assert finish == Finish(FinishReason.STOP)
    assert usage == UsageReport(Usage(20, 12, extra={"cache_read_input_tokens": None}))
    assert batches[13].events == [UsageReport(Usage(20, 14, extra={"cache_read_input_tokens": None}))]
    out, _ = write_all(batches)
    assert frames(out) == events


def test_events_without_an_event_line_get_one() -> None:
    """An upstream that leaves out ``event:`` lines is relayed with them: the SDK drops unnamed
    events. A name that differs from the data's type is kept."""
    events: list[tuple[str | None, Any]] = [(None, data) for _, data in RELAYED]
    events[1] = ("content_block_begin", events[1][1])
    batches, _ = read_all(sse(events))
    out, _ = write_all(batches)
    expected = [("content_block_begin" if i == 1 else d["type"], d) for i, (_, d) in enumerate(events)]
    assert frames(out) == expected


def test_ping_and_blank_events_give_nothing() -> None:
    reader = AnthropicMessagesStreamReader()
    assert reader.feed(SSEEvent("ping", '{"type": "ping"}')) is None
    assert reader.feed(SSEEvent(None, "")) is None
    assert not reader.finished


# ---------------------------------------------------------------------------- failures

ERROR_TYPES: list[tuple[str, int, ErrorCode]] = [
    ("overloaded_error", 529, ErrorCode.UPSTREAM_OVERLOADED),
    ("api_error", 500, ErrorCode.UPSTREAM_ERROR),
    ("rate_limit_error", 429, ErrorCode.RATE_LIMITED),
    ("invalid_request_error", 400, ErrorCode.INVALID_REQUEST),
    ("timeout_error", 504, ErrorCode.UPSTREAM_TIMEOUT),
    ("something_new", 502, ErrorCode.UPSTREAM_ERROR),
]


@pytest.mark.parametrize(("kind", "status", "code"), ERROR_TYPES)
def test_error_event_is_a_failure_relayed_as_it_came(kind: str, status: int, code: ErrorCode) -> None:
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    batches, reader = read_all(sse([RECORDED_EVENTS[0], ("error", error), RECORDED_EVENTS[-1]]))
    assert reader.finished and len(batches) == 2
    assert batches[1].events == [StreamFailure(status, code.value, "Overloaded")]
    writer = AnthropicMessagesStreamWriter(stream_request())
    writer.write(batches[0])
    assert frames(writer.write(batches[1])) == [("error", error)]
    assert writer.close() == b"" and writer.fail(GatewayError(ErrorCode.INTERNAL, "x")) == b""


MALFORMED: list[tuple[str, str]] = [
    ("not JSON", "{not json"),
    ("not an object", "[1, 2]"),
    ("message_start without message", '{"type": "message_start"}'),
    (
        "block start without index",
        '{"type": "content_block_start", "content_block": {"type": "text", "text": ""}}',
    ),
    ("delta without a type", '{"type": "content_block_delta", "index": 0, "delta": {"text": "x"}}'),
    (
        "text delta not a string",
        '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 1}}',
    ),
    (
        "usage output not an integer",
        '{"type": "message_delta", "delta": {}, "usage": {"output_tokens": "1"}}',
    ),
]


@pytest.mark.parametrize(("name", "data"), MALFORMED, ids=[n for n, _ in MALFORMED])
def test_malformed_event_is_a_502_failure(name: str, data: str) -> None:
    reader = AnthropicMessagesStreamReader()
    batch = reader.feed(SSEEvent("content_block_delta", data))
    assert batch is not None and reader.finished
    (failure,) = batch.events
    assert isinstance(failure, StreamFailure) and failure.status == 502
    assert reader.feed(SSEEvent("message_stop", '{"type": "message_stop"}')) is None
    out = AnthropicMessagesStreamWriter(stream_request()).write(batch)
    ((name_, data_),) = frames(out)
    assert name_ == "error" and data_["error"]["type"] == "api_error"


# ---------------------------------------------------------------------------- as OpenAI chunks


def test_anthropic_stream_as_openai_chunks() -> None:
    batches, _ = read_all(FIXTURE)
    out, _ = openai_write_all(batches, openai_stream_request())
    chunks = chunks_of(out)
    validate_all("openai", CHUNK, chunks)  # open world: thinking rides in ``reasoning_content``
    assert {c["id"] for c in chunks} == {"msg_01XFDUDYJgAACzvnptvVoYEL"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 1496,
        "completion_tokens": 189,
        "total_tokens": 1685,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
    }
    tool_fragments = [t for c in chunks for ch in c["choices"] for t in ch["delta"].get("tool_calls", [])]
    assert [t["index"] for t in tool_fragments] == [0, 0, 0, 1, 1, 1]


def test_anthropic_stream_accumulates_in_the_openai_sdk() -> None:
    out, _ = openai_write_all(read_all(FIXTURE)[0], openai_stream_request())
    final = openai_accumulate(out, tools=[WEATHER_TOOL])
    (choice,) = final.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I'll check both cities."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.parsed_arguments) for c in calls] == [
        (CALL_A, "get_weather", {"city": "Bergen", "unit": "c"}),
        (CALL_B, "get_weather", {"city": "Oslo", "unit": "c"}),
    ]
    assert final.usage is not None and final.usage.prompt_tokens == 1496


def test_anthropic_error_as_an_openai_error_chunk() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    batches, _ = read_all(sse([RECORDED_EVENTS[0], ("error", error)]))
    out, per_batch = openai_write_all(batches, openai_stream_request())
    last = per_batch[-1]
    assert b"[DONE]" not in out
    assert b'"Overloaded"' in last and b"event:" not in last


def test_message_start_usage_is_a_running_total() -> None:
    """A message_delta that leaves out the input side keeps message_start's (replace, not add)."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": MODEL,
            "role": "assistant",
            "usage": {"input_tokens": 50, "cache_creation_input_tokens": 10, "output_tokens": 1},
        },
    }
    deltas = [
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 40, "input_tokens": 55}},
        ),
    ]
    batches, _ = read_all(sse([("message_start", start), *deltas]))
    reports = [e.usage for b in batches for e in b.events if isinstance(e, UsageReport)]
    assert [(u.input_tokens, u.output_tokens, u.cache_write_tokens) for u in reports] == [
        (60, 1, 10),
        (60, 30, 10),
        (65, 40, 10),
    ]
    out, _ = write_all(batches)
    assert [d for _, d in frames(out)][1:3] == [d for _, d in deltas]
