"""Gemini generateContent codec: streams across dialects (TRANSLATION §5.7-§5.9).

A Gemini stream written as OpenAI chunks must accumulate in the OpenAI SDK's own stream helper, and
as Anthropic events in the Anthropic SDK's; OpenAI and Anthropic streams written as Gemini chunks
must be valid ``GenerateContentResponse`` objects that google-genai's own types and stream decoder
read into the right text, function calls, finish reason and usage. Tool calls reach a Gemini caller
whole; a failure is one ``{"error": ...}`` frame and nothing after it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic_helpers import FIXTURE as ANTHROPIC_FIXTURE
from anthropic_helpers import accumulate as anthropic_accumulate
from anthropic_helpers import read_all as anthropic_read_all
from anthropic_helpers import write_all as anthropic_write_all
from gemini_helpers import (
    CALL_SIGNATURE,
    FIXTURE,
    MODEL,
    SIGNATURE,
    frames,
    read_all,
    sdk_stream,
    stream_request,
    validate_response,
    write_all,
)
from google.genai import types
from openai_chat_helpers import CHUNK, accumulate, chunks_of
from openai_chat_helpers import FIXTURE as OPENAI_FIXTURE
from openai_chat_helpers import read_all as openai_read_all
from openai_chat_helpers import stream_request as openai_stream_request
from openai_chat_helpers import write_all as openai_write_all

from support.schemas import validate_all
from torouter.router.errors import ErrorCode
from torouter.router.ir import (
    Finish,
    FinishReason,
    ReasoningDelta,
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
from torouter.router.protocols.gemini.generate import GeminiGenerateStreamWriter


def _batches(*events: list[StreamEvent]) -> list[StreamBatch]:
    return [StreamBatch(e, "test", extra={"ignored": True}) for e in events]


def _start(*more: StreamEvent) -> list[StreamEvent]:
    return [StreamStart("chatcmpl-9xYz", "gpt-4.1", 1767225600), RoleStart(), *more]


def _chunks(out: bytes) -> list[dict[str, Any]]:
    """The chunks, each valid against the spec and read by google-genai's own types."""
    parsed = frames(out)
    validate_all("gemini", "GenerateContentResponse", parsed)
    for chunk in parsed:
        types.GenerateContentResponse.model_validate(chunk)
    assert out.count(b"\r\n\r\n") == len(parsed) and all(
        line.startswith(b"data: ") for line in out.split(b"\r\n\r\n")[:-1]
    )
    return parsed


# ---------------------------------------------------------------------------- Gemini → others


def test_gemini_stream_as_openai_chunks() -> None:
    batches, _ = read_all(FIXTURE)
    out, _ = openai_write_all(batches, openai_stream_request())
    validate_all("openai", CHUNK, chunks_of(out))
    completion = accumulate(out)
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I'll check both cities."
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", '{"city":"Oslo","unit":"c"}'),
        ("get_weather", '{"city":"Bergen","unit":"c"}'),
    ]
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    assert completion.id == "nGgraLqKDcmW1dkP5ZfQ8QQ" and completion.model == MODEL
    usage = completion.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        112,
        69,
        181,
    )
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 64
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 38


def test_gemini_stream_as_anthropic_events() -> None:
    batches, _ = read_all(FIXTURE)
    out, _ = anthropic_write_all(batches)
    message = anthropic_accumulate(out)
    assert message.stop_reason == "tool_use"
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text", "tool_use", "tool_use"]
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.signature == ""  # Gemini's signature is not Anthropic's
    assert SIGNATURE.encode() not in out and CALL_SIGNATURE.encode() not in out
    calls = [b for b in message.content if b.type == "tool_use"]
    assert [c.input for c in calls] == [{"city": "Oslo", "unit": "c"}, {"city": "Bergen", "unit": "c"}]
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (
        48,
        64,
        69,
    )


# ---------------------------------------------------------------------------- others → Gemini


def test_openai_stream_as_gemini_chunks() -> None:
    batches, _ = openai_read_all(OPENAI_FIXTURE)
    out, per_batch = write_all(batches, stream_request())
    # the finish waits for the usage chunk after it: Gemini's last chunk has both
    assert [len(frames(b)) for b in per_batch] == [0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    head = {"modelVersion": "gpt-4.1-2025-04-14", "responseId": "chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3"}

    def text(t: str) -> dict[str, Any]:
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}, "index": 0}], **head}

    def call(call_id: str, city: str) -> dict[str, Any]:
        return {"functionCall": {"id": call_id, "name": "get_weather", "args": {"city": city, "unit": "c"}}}

    assert _chunks(out) == [
        text("Let me"),
        text(" check both"),
        text(" cities."),
        {
            "candidates": [
                {"content": {"role": "model", "parts": [call("call_Hq2VxK7cTm1pR4sJ", "Bergen")]}, "index": 0}
            ],
            **head,
        },
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [call("call_7bYw0LzQe3NdVu8A", "Oslo")]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 412,
                "cachedContentTokenCount": 256,
                "candidatesTokenCount": 58,
                "totalTokenCount": 470,
            },
            **head,
        },
    ]
    chunks = sdk_stream(out)
    assert "".join(c.text or "" for c in chunks) == "Let me check both cities."
    calls = [f for c in chunks for f in c.function_calls or []]
    assert [(f.id, f.args) for f in calls] == [
        ("call_Hq2VxK7cTm1pR4sJ", {"city": "Bergen", "unit": "c"}),
        ("call_7bYw0LzQe3NdVu8A", {"city": "Oslo", "unit": "c"}),
    ]
    finishes = [
        c.candidates[0].finish_reason for c in chunks if c.candidates and c.candidates[0].finish_reason
    ]
    assert finishes == [types.FinishReason.STOP]
    usage = chunks[-1].usage_metadata
    assert usage is not None and (usage.prompt_token_count, usage.candidates_token_count) == (412, 58)
    assert (usage.cached_content_token_count, usage.total_token_count) == (256, 470)


@pytest.mark.parametrize("include_thoughts", [True, False])
def test_anthropic_stream_as_gemini_chunks(include_thoughts: bool) -> None:
    batches, _ = anthropic_read_all(ANTHROPIC_FIXTURE)
    out, _ = write_all(batches, stream_request(include_thoughts=include_thoughts))
    parsed = _chunks(out)
    parts = [
        p
        for c in parsed
        for cand in c.get("candidates", [])
        for p in cand.get("content", {}).get("parts", [])
    ]
    thoughts = [p["text"] for p in parts if p.get("thought")]
    expected = ["The user wants the weather in two cities.", " One call each."] if include_thoughts else []
    assert thoughts == expected
    assert not any("thoughtSignature" in p for p in parts)  # Anthropic's signature stays with Anthropic
    assert [p["text"] for p in parts if "text" in p and not p.get("thought")] == [
        "I'll check",
        " both cities.",
    ]
    assert [p["functionCall"] for p in parts if "functionCall" in p] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "args": {"city": "Bergen", "unit": "c"},
        },
        {
            "id": "toolu_01B7mXq4fRkL2nPz8sVd3wYc",
            "name": "get_weather",
            "args": {"city": "Oslo", "unit": "c"},
        },
    ]
    last = parsed[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 1496,
        "cachedContentTokenCount": 1024,
        "candidatesTokenCount": 189,
        "totalTokenCount": 1685,
    }
    chunks = sdk_stream(out)
    assert "".join(c.text or "" for c in chunks) == "I'll check both cities."


def test_tool_calls_are_buffered_until_complete() -> None:
    batches = _batches(
        _start(ToolCallStart(0, "call_a", "get_weather")),
        [ToolCallDelta(0, '{"city": '), TextDelta("Meanwhile...")],
        [ToolCallDelta(0, '"Oslo"}')],
        [ToolCallStart(1, "call_b", "get_time"), ToolCallDelta(1, "")],
        [ToolCallDelta(1, "not json")],
        [ToolCallDelta(2, '{"x": 1}')],  # arguments for a call that never started
        [Finish(FinishReason.TOOL_CALLS), UsageReport(Usage(10, 5, reasoning_tokens=2))],
    )
    out, per_batch = write_all(batches)
    assert [len(frames(b)) for b in per_batch] == [0, 1, 0, 1, 0, 0, 1]
    parsed = _chunks(out)
    parts = [c["candidates"][0]["content"]["parts"] for c in parsed]
    assert parts == [
        [{"text": "Meanwhile..."}],
        [{"functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Oslo"}}}],
        [
            {"functionCall": {"id": "call_b", "name": "get_time", "args": {"_raw": "not json"}}},
            {"functionCall": {"id": parts[2][1]["functionCall"]["id"], "name": "", "args": {"x": 1}}},
        ],
    ]
    assert parsed[-1]["candidates"][0]["finishReason"] == "STOP"
    assert parsed[-1]["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 2,
        "totalTokenCount": 15,
    }
    assert {"modelVersion": "gpt-4.1", "responseId": "chatcmpl-9xYz"}.items() <= parsed[0].items()


@pytest.mark.parametrize(
    ("reason", "wire"),
    [
        (FinishReason.STOP, "STOP"),
        (FinishReason.LENGTH, "MAX_TOKENS"),
        (FinishReason.CONTENT_FILTER, "SAFETY"),
        (FinishReason.TOOL_CALLS, "STOP"),
        (FinishReason.ERROR, "OTHER"),
    ],
)
def test_finish_reasons_in_a_stream(reason: FinishReason, wire: str) -> None:
    out, _ = write_all(_batches(_start(TextDelta("Hi")), [Finish(reason)]))
    assert _chunks(out)[-1]["candidates"] == [{"finishReason": wire, "index": 0}]


def test_a_finish_without_usage_is_held_for_it_or_for_the_end() -> None:
    finish_then_usage = _batches(
        _start(TextDelta("Hi")), [Finish(FinishReason.STOP)], [UsageReport(Usage(3, 1))]
    )
    out, per_batch = write_all(finish_then_usage)
    assert [len(frames(b)) for b in per_batch] == [1, 0, 1]
    assert _chunks(out)[-1]["candidates"] == [{"finishReason": "STOP", "index": 0}]
    assert _chunks(out)[-1]["usageMetadata"]["totalTokenCount"] == 4
    writer = GeminiGenerateStreamWriter(stream_request())
    assert writer.write(_batches(_start(TextDelta("Hi")))[0])
    assert writer.write(_batches([Finish(FinishReason.LENGTH)])[0]) == b""
    assert frames(writer.close()) == [
        {
            "candidates": [{"finishReason": "MAX_TOKENS", "index": 0}],
            "modelVersion": "gpt-4.1",
            "responseId": "chatcmpl-9xYz",
        }
    ]
    late = _batches(
        _start(TextDelta("A"), RoleStart(1)),
        [Finish(FinishReason.STOP)],
        [TextDelta("B", 1)],
        [Finish(FinishReason.STOP, 1), UsageReport(Usage(2, 2))],
        [UsageReport(Usage(2, 3))],
    )
    out, per_batch = write_all(late)
    assert [len(frames(b)) for b in per_batch] == [1, 0, 2, 1, 1]
    assert _chunks(out)[-1] == {
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5},
        "modelVersion": "gpt-4.1",
        "responseId": "chatcmpl-9xYz",
    }


def test_several_choices_and_a_stream_without_a_finish() -> None:
    batches = _batches(
        _start(TextDelta("A"), RoleStart(1), TextDelta("B", 1)),
        [ToolCallStart(0, "call_1", "f", choice=1), ToolCallDelta(0, "{}", choice=1)],
    )
    out, per_batch = write_all(batches)
    assert per_batch[1] == b""  # the call waits for its arguments to be complete
    parsed = _chunks(out)
    assert parsed[0]["candidates"] == [
        {"content": {"role": "model", "parts": [{"text": "A"}]}, "index": 0},
        {"content": {"role": "model", "parts": [{"text": "B"}]}, "index": 1},
    ]
    assert parsed[1]["candidates"] == [  # close(): the buffered call, and the finish that never came
        {"finishReason": "STOP", "index": 0},
        {
            "content": {
                "role": "model",
                "parts": [{"functionCall": {"id": "call_1", "name": "f", "args": {}}}],
            },
            "finishReason": "STOP",
            "index": 1,
        },
    ]


def test_signatures_in_a_stream_for_a_gemini_caller() -> None:
    """Only Gemini's signatures reach a Gemini caller; thoughts only when asked for."""
    batches = _batches(
        _start(
            ReasoningDelta("thinking...", SIGNATURE, signer="gemini"),
            ReasoningDelta("other thoughts", "anthropic-sig", signer="anthropic"),
            ReasoningDelta("", "no-signer-sig"),
            TextDelta("Done."),
            ToolCallStart(0, "call_1", "f", CALL_SIGNATURE, signer="gemini"),
            ToolCallStart(1, "call_2", "g", "anthropic-sig", signer="anthropic"),
            Finish(FinishReason.TOOL_CALLS),
        )
    )
    hidden = _chunks(write_all(batches, stream_request(include_thoughts=False))[0])
    assert hidden[0]["candidates"][0]["content"]["parts"] == [
        {"text": "", "thoughtSignature": SIGNATURE},
        {"text": "Done."},
        {"functionCall": {"id": "call_1", "name": "f", "args": {}}, "thoughtSignature": CALL_SIGNATURE},
        {"functionCall": {"id": "call_2", "name": "g", "args": {}}},
    ]
    shown = _chunks(write_all(batches, stream_request(include_thoughts=True))[0])
    assert shown[0]["candidates"][0]["content"]["parts"][:2] == [
        {"text": "thinking...", "thought": True, "thoughtSignature": SIGNATURE},
        {"text": "other thoughts", "thought": True},
    ]


def test_failure_of_another_dialect_ends_the_stream() -> None:
    batches = _batches(
        _start(TextDelta("Partial")),
        [
            ToolCallStart(0, "call_1", "f"),
            StreamFailure(529, ErrorCode.UPSTREAM_OVERLOADED.value, "Overloaded"),
        ],
        [TextDelta("never written")],
    )
    out, per_batch = write_all(batches)
    assert frames(per_batch[1]) == [
        {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}}
    ]
    assert per_batch[2] == b"" and frames(out)[-1]["error"]["status"] == "UNAVAILABLE"
    with pytest.raises(Exception, match="Overloaded"):
        sdk_stream(out)


def test_each_frame_of_a_translated_stream_is_a_valid_response() -> None:
    batches, _ = anthropic_read_all(ANTHROPIC_FIXTURE)
    out, _ = write_all(batches)
    for chunk in frames(out):
        validate_response(chunk)
        assert orjson.loads(orjson.dumps(chunk)) == chunk
