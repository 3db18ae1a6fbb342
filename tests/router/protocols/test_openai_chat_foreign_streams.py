"""OpenAI Chat Completions codec: streams of another dialect, and errors in a stream.

Chunks written from another dialect's events must follow the spec and accumulate into the right
completion in the official SDK's own stream helper; a failure ends the stream with one error frame.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai_chat_helpers import (
    CHUNK,
    FIXTURE,
    WEATHER_TOOL,
    accumulate,
    chunks_of,
    frames,
    read_all,
    sdk_chunks,
    sdk_state,
    stream_request,
    write_all,
)

from support.schemas import validate, validate_all
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    Finish,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from torouter.router.protocols.openai.chat import OpenAIChatStreamWriter

HEAD = {
    "id": "msg_01XYZ",
    "object": "chat.completion.chunk",
    "created": 1767225600,
    "model": "claude-sonnet-4-6",
}


def _out(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": None}


def _test_batches() -> list[StreamBatch]:
    """An Anthropic-shaped turn (TRANSLATION §13.2) as another codec's reader would give it."""
    events: list[list[StreamEvent]] = [
        [StreamStart("msg_01XYZ", "claude-sonnet-4-6", 1767225600), RoleStart(), UsageReport(Usage(120, 1))],
        [TextDelta("Checking")],
        [ReasoningDelta(signature="EqQBCkgIARABGAIiQL")],
        [TextDelta(" the weather.")],
        [ToolCallStart(0, "toolu_a", "get_weather")],
        [ToolCallDelta(0, "")],
        [ToolCallDelta(0, '{"city": "Bergen",')],
        [ToolCallDelta(0, ' "unit": "c"}')],
        [ToolCallStart(1, "toolu_b", "get_weather"), ToolCallDelta(1, '{"city": "Oslo", "unit": "c"}')],
        [
            Finish(FinishReason.TOOL_CALLS),
            UsageReport(
                Usage(120, 41, cache_read_tokens=64, cache_write_tokens=8, extra={"service_tier": "x"})
            ),
        ],
    ]
    return [StreamBatch(e, "test", extra={"anthropic": "ignored"}) for e in events]


def test_foreign_stream_follows_the_chunk_rules() -> None:
    out, per_batch = write_all(_test_batches(), stream_request())
    assert [len(frames(b)) for b in per_batch] == [1, 1, 0, 1, 1, 0, 1, 1, 1, 1]
    assert frames(out) == [
        _out({"role": "assistant", "content": ""}),
        _out({"content": "Checking"}),
        _out({"content": " the weather."}),
        _out(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        _out({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Bergen",'}}]}),
        _out({"tool_calls": [{"index": 0, "function": {"arguments": ' "unit": "c"}'}}]}),
        _out(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_b",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "c"}'},
                    }
                ]
            }
        ),
        _out({}, "tool_calls"),
        {
            **HEAD,
            "choices": [],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 41,
                "total_tokens": 161,
                "prompt_tokens_details": {"cached_tokens": 64, "cache_write_tokens": 8},
            },
        },
        "[DONE]",
    ]
    validate_all("openai", CHUNK, chunks_of(out), closed=True)


def test_foreign_stream_accumulates_in_the_official_sdk() -> None:
    out, _ = write_all(_test_batches(), stream_request())
    final = accumulate(out, tools=[WEATHER_TOOL])
    assert (final.id, final.model, final.created) == ("msg_01XYZ", "claude-sonnet-4-6", 1767225600)
    (choice,) = final.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Checking the weather."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name) for c in calls] == [
        ("toolu_a", "function", "get_weather"),
        ("toolu_b", "function", "get_weather"),
    ]
    assert [c.function.parsed_arguments for c in calls] == [
        {"city": "Bergen", "unit": "c"},
        {"city": "Oslo", "unit": "c"},
    ]
    assert final.usage is not None and final.usage.total_tokens == 161
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 64


def test_relabelled_openai_stream_accumulates_to_the_same_completion() -> None:
    """The recorded stream, written as if it came from another protocol, means the same thing."""
    batches, _ = read_all(FIXTURE)
    foreign = [StreamBatch(b.events, "test") for b in batches]
    out, _ = write_all(foreign, stream_request())
    validate_all("openai", CHUNK, chunks_of(out), closed=True)
    original, relayed = accumulate(FIXTURE, tools=[WEATHER_TOOL]), accumulate(out, tools=[WEATHER_TOOL])
    assert (
        relayed.choices[0].message.content
        == original.choices[0].message.content
        == "Let me check both cities."
    )
    assert relayed.choices[0].message.tool_calls == original.choices[0].message.tool_calls
    assert relayed.choices[0].finish_reason == original.choices[0].finish_reason == "tool_calls"
    assert relayed.usage is not None and original.usage is not None
    # Another dialect's usage extras are not written: only what the neutral form holds survives.
    neutral = {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert relayed.usage.model_dump(include=neutral) == original.usage.model_dump(include=neutral)
    assert relayed.usage.prompt_tokens_details == original.usage.prompt_tokens_details.model_copy(
        update={"audio_tokens": None}
    )
    assert relayed.usage.completion_tokens_details is not None
    assert relayed.usage.completion_tokens_details.reasoning_tokens == 0
    assert (relayed.id, relayed.model, relayed.created) == (original.id, original.model, original.created)


def test_foreign_single_batch_turn_and_two_choices() -> None:
    """Gemini-style: a whole turn in one frame; and choices that first appear out of order."""
    one_frame = [
        StreamBatch(
            [
                StreamStart("resp-1", "gemini-2.5-flash", 1767225600),
                TextDelta("Sure."),
                ToolCallStart(0, "c1", "get_weather"),
                ToolCallDelta(0, '{"city": "Oslo", "unit": null}'),
                Finish(FinishReason.TOOL_CALLS),
                UsageReport(Usage(10, 5)),
            ],
            "test",
        )
    ]
    out, _ = write_all(one_frame, stream_request(include_usage=False))
    head = {
        "id": "resp-1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "gemini-2.5-flash",
    }
    assert frames(out) == [
        {
            **head,
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "content": "Sure.",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city": "Oslo", "unit": null}',
                                },
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ],
        },
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        "[DONE]",
    ]
    final = accumulate(out, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == "Sure." and final.usage is None

    two = [
        StreamBatch([StreamStart("r2", "m", 1), TextDelta("B", choice=1)], "test"),
        StreamBatch([TextDelta("A", choice=0), RefusalDelta("", choice=0)], "test"),
        StreamBatch(
            [Finish(FinishReason.STOP, choice=1), Finish(FinishReason.CONTENT_FILTER, choice=0)], "test"
        ),
    ]
    out, _ = write_all(two, stream_request(include_usage=False))
    first = frames(out)[0]
    assert [c["index"] for c in first["choices"]] == [0, 1]
    assert first["choices"][0]["delta"] == {"role": "assistant"}
    validate_all("openai", CHUNK, chunks_of(out), closed=True)
    # (the final parse raises on content_filter by design, so look at the snapshot)
    snapshot = sdk_state(out).current_completion_snapshot
    assert [(c.message.content, c.finish_reason) for c in snapshot.choices] == [
        ("A", "content_filter"),
        ("B", "stop"),
    ]


def test_foreign_stream_without_start_and_with_sparse_tool_indexes() -> None:
    batches = [
        StreamBatch([TextDelta("x")], "test"),
        StreamBatch([ToolCallStart(3, "a", "f")], "test"),
        StreamBatch([ToolCallStart(7, "b", "g")], "test"),
        StreamBatch([ToolCallDelta(7, "{}")], "test"),
        StreamBatch([ToolCallDelta(3, '{"k": 1}')], "test"),
        StreamBatch([StreamStart("late", "late-model", 5), Finish(FinishReason.STOP)], "test"),
    ]
    out, _ = write_all(batches, stream_request(include_usage=False, model="requested-model"))
    written = chunks_of(out)
    assert len({c["id"] for c in written}) == 1 and written[0]["id"].startswith("chatcmpl-")
    assert {c["model"] for c in written} == {"requested-model"}
    indexes = [f["index"] for c in written for f in c["choices"][0]["delta"].get("tool_calls", [])]
    assert indexes == [0, 1, 1, 0]
    final = accumulate(out)
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", '{"k": 1}'),
        ("b", "g", "{}"),
    ]
    assert final.choices[0].finish_reason == "stop"


# ---------------------------------------------------------------------------- errors in a stream


def test_failure_event_ends_the_stream_with_an_error_frame() -> None:
    writer = OpenAIChatStreamWriter(stream_request())
    out = writer.write(StreamBatch([StreamStart("m1", "claude", 1), TextDelta("Hal")], "test"))
    out += writer.write(
        StreamBatch(
            [TextDelta("f"), StreamFailure(529, "upstream_overloaded", "Overloaded"), TextDelta("x")], "test"
        )
    )
    assert writer.write(StreamBatch([TextDelta("more")], "test")) == b""
    assert writer.close() == b"" and writer.fail(GatewayError(ErrorCode.INTERNAL, "late")) == b""
    parsed = frames(out)
    assert [c["choices"][0]["delta"] for c in parsed[:2]] == [
        {"role": "assistant", "content": "Hal"},
        {"content": "f"},
    ]
    error = parsed[2]["error"]
    assert error == {
        "message": "Overloaded",
        "type": "server_error",
        "param": None,
        "code": "server_is_overloaded",
    }
    validate("openai", "Error", error, closed=True)
    assert len(parsed) == 3 and "[DONE]" not in parsed
    with pytest.raises(openai.APIError) as caught:
        sdk_chunks(out)
    assert caught.value.message == "Overloaded"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            GatewayError(ErrorCode.UPSTREAM_TIMEOUT, "The upstream timed out."),
            {
                "message": "The upstream timed out.",
                "type": "timeout",
                "param": None,
                "code": "upstream_timeout",
            },
        ),
        (
            GatewayError(
                ErrorCode.INVALID_REQUEST,
                "This model's maximum context length is 128000 tokens.",
                param="messages",
                vendor_code="context_length_exceeded",
            ),
            {
                "message": "This model's maximum context length is 128000 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
        ),
    ],
)
def test_fail_writes_one_openai_error_frame(error: GatewayError, expected: dict[str, Any]) -> None:
    writer = OpenAIChatStreamWriter(stream_request())
    writer.write(StreamBatch([StreamStart("x", "m", 1), TextDelta("partial")], "test"))
    frame = writer.fail(error)
    assert frames(frame) == [{"error": expected}]
    validate("openai", "Error", expected, closed=True)
    assert writer.close() == b"" and writer.fail(error) == b""


def test_failure_code_falls_back_to_the_status() -> None:
    writer = OpenAIChatStreamWriter(stream_request())
    out = writer.write(StreamBatch([StreamFailure(429, "quota", "Slow down.")], "test"))
    assert frames(out) == [
        {"error": {"message": "Slow down.", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    ]


def test_close_without_usage_is_just_done() -> None:
    writer = OpenAIChatStreamWriter(stream_request(include_usage=False))
    writer.write(StreamBatch([StreamStart("x", "m", 1), UsageReport(Usage(1, 2))], "test"))
    assert writer.close() == b"data: [DONE]\n\n"
    assert writer.close() == b""
