"""Gemini generateContent codec: streams of this dialect, read into batches and re-emitted.

Each ``data:`` chunk is one batch; a same-dialect writer gives back each chunk exactly, frame for
frame; Gemini has no terminator, so the reader is finished after a finish reason and the writer's
``close()`` adds nothing; errors in the stream are one ``{"error": ...}`` frame.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from gemini_helpers import (
    CALL_SIGNATURE,
    FIXTURE,
    MODEL,
    RECORDED,
    SIGNATURE,
    frames,
    read_all,
    sdk_stream,
    sse,
    stream_request,
    validate_response,
    write_all,
)

from support.schemas import validate_all
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    Finish,
    FinishReason,
    ReasoningDelta,
    RoleStart,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from torouter.router.protocols.gemini.generate import GeminiGenerateStreamReader, GeminiGenerateStreamWriter
from torouter.router.protocols.sse import SSEEvent


def test_recorded_stream_events() -> None:
    batches, reader = read_all(FIXTURE)
    assert reader.finished
    assert len(batches) == 3
    first, second, third = (b.events for b in batches)
    start = first[0]
    assert isinstance(start, StreamStart) and (start.id, start.model) == ("nGgraLqKDcmW1dkP5ZfQ8QQ", MODEL)
    assert first[1:3] == [
        RoleStart(0),
        ReasoningDelta("**Looking up the weather**\n\nThe user wants Oslo and Bergen: one call each."),
    ]
    usage = first[3]
    assert isinstance(usage, UsageReport) and usage.usage.output_tokens == 38
    assert second[:2] == [ReasoningDelta("", SIGNATURE), TextDelta("I'll check both cities.")]
    signed = second[0]
    assert isinstance(signed, ReasoningDelta) and signed.signer == "gemini"
    oslo, oslo_args, bergen, bergen_args, finish, last = third
    assert isinstance(oslo, ToolCallStart) and isinstance(bergen, ToolCallStart)
    assert (oslo.index, oslo.name, oslo.signature, oslo.signer) == (
        0,
        "get_weather",
        CALL_SIGNATURE,
        "gemini",
    )
    assert (bergen.index, bergen.signature) == (1, None)
    assert oslo.id.startswith("call_") and oslo.id != bergen.id
    assert oslo_args == ToolCallDelta(0, '{"city":"Oslo","unit":"c"}')
    assert bergen_args == ToolCallDelta(1, '{"city":"Bergen","unit":"c"}')
    assert finish == Finish(FinishReason.TOOL_CALLS)
    assert last == UsageReport(
        Usage(
            112,
            69,
            cache_read_tokens=64,
            reasoning_tokens=38,
            total_tokens=181,
            extra={"promptTokensDetails": [{"modality": "TEXT", "tokenCount": 112}]},
        )
    )


def test_recorded_stream_is_re_emitted_frame_by_frame() -> None:
    validate_all("gemini", "GenerateContentResponse", RECORDED)
    batches, _ = read_all(FIXTURE)
    out, per_batch = write_all(batches)
    assert [frames(b) for b in per_batch] == [[c] for c in RECORDED]
    assert all(b.startswith(b"data: ") and b.endswith(b"}\r\n\r\n") for b in per_batch)
    chunks = sdk_stream(out)
    assert chunks[0].candidates and chunks[0].candidates[0].content
    assert chunks[0].candidates[0].content.parts and chunks[0].candidates[0].content.parts[0].thought
    assert chunks[1].text == "I'll check both cities."
    calls = chunks[2].function_calls or []
    assert [(c.name, c.args, c.id) for c in calls] == [
        ("get_weather", {"city": "Oslo", "unit": "c"}, None),
        ("get_weather", {"city": "Bergen", "unit": "c"}, None),
    ]


def test_finished_only_after_a_finish_reason_and_reading_goes_on() -> None:
    """Gemini has no terminator: two candidates may finish in different chunks, and usage may
    come late; nothing is lost after the first finish."""
    chunks = [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "A"}]}, "index": 0}],
            "responseId": "r",
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 0},
                {"content": {"role": "model", "parts": [{"text": "B"}]}, "index": 1},
            ],
            "responseId": "r",
        },
        {"candidates": [{"finishReason": "MAX_TOKENS", "index": 1}], "responseId": "r"},
        {
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14},
            "responseId": "r",
        },
    ]
    reader = GeminiGenerateStreamReader()
    finished = []
    events = []
    for chunk in chunks:
        batch = reader.feed(SSEEvent(None, orjson.dumps(chunk).decode()))
        assert batch is not None
        events.append(batch.events)
        finished.append(reader.finished)
    assert finished == [False, True, True, True]
    assert events[1] == [TextDelta("!"), Finish(FinishReason.STOP), RoleStart(1), TextDelta("B", 1)]
    assert events[2] == [Finish(FinishReason.LENGTH, 1)]
    assert events[3] == [UsageReport(Usage(5, 9, total_tokens=14))]
    batches, _ = read_all(sse(*chunks))
    out, _ = write_all(batches)
    assert frames(out) == chunks


def test_blocked_prompt_stream() -> None:
    chunk = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": MODEL,
        "responseId": "blk",
    }
    batches, reader = read_all(sse(chunk))
    assert reader.finished
    assert batches[0].events[1:3] == [RoleStart(0), Finish(FinishReason.CONTENT_FILTER)]
    out, _ = write_all(batches)
    assert frames(out) == [chunk]


def test_parts_without_events_are_kept_in_the_stream() -> None:
    chunks = [
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                            {"text": "Here is a chart:"},
                            {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
                            {"text": "", "thoughtSignature": SIGNATURE},
                        ],
                    },
                    "finishReason": "STOP",
                    "safetyRatings": [],
                }
            ],
            "modelVersion": MODEL,
            "responseId": "img",
        }
    ]
    validate_all("gemini", "GenerateContentResponse", chunks)
    batches, _ = read_all(sse(*chunks))
    assert [type(e).__name__ for e in batches[0].events] == [
        "StreamStart",
        "RoleStart",
        "TextDelta",
        "ReasoningDelta",
        "TextDelta",
        "Finish",
    ]
    out, _ = write_all(batches)
    assert frames(out) == chunks


def test_upstream_error_in_the_stream() -> None:
    error = {
        "code": 503,
        "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE",
    }
    raw = sse(RECORDED[0], {"error": error}, RECORDED[1])
    batches, reader = read_all(raw)
    assert len(batches) == 2 and not reader.finished
    [failure] = batches[1].events
    assert failure == StreamFailure(503, ErrorCode.UPSTREAM_OVERLOADED.value, error["message"])
    out, per_batch = write_all(batches)
    assert per_batch[1] == b"data: " + orjson.dumps({"error": error}) + b"\r\n\r\n"
    assert frames(out)[-1] == {"error": error}  # nothing after it, close() included


def test_malformed_chunks_are_a_failure_and_nothing_is_read_after() -> None:
    for data, message in (
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"candidates": [{"content": {"parts": [{"text": 5}]}}]}', "candidates[0].content.parts[0].text"),
    ):
        reader = GeminiGenerateStreamReader()
        batch = reader.feed(SSEEvent(None, data))
        assert batch is not None
        [failure] = batch.events
        assert isinstance(failure, StreamFailure) and failure.status == 502 and message in failure.message
        assert reader.feed(SSEEvent(None, orjson.dumps(RECORDED[0]).decode())) is None
    assert GeminiGenerateStreamReader().feed(SSEEvent(None, "  ")) is None  # keep-alive


def test_writer_fail_and_close() -> None:
    batches, _ = read_all(FIXTURE)
    writer = GeminiGenerateStreamWriter(stream_request())
    writer.write(batches[0])
    assert writer.close() == b""  # Gemini streams just end
    writer = GeminiGenerateStreamWriter(stream_request())
    writer.write(batches[0])
    failed = writer.fail(GatewayError(ErrorCode.UPSTREAM_TIMEOUT, "The upstream timed out."))
    assert frames(failed) == [
        {"error": {"code": 504, "message": "The upstream timed out.", "status": "DEADLINE_EXCEEDED"}}
    ]
    assert failed.endswith(b"\r\n\r\n")
    assert (
        writer.write(batches[1]) == b""
        and writer.close() == b""
        and writer.fail(GatewayError(ErrorCode.INTERNAL, "x")) == b""
    )


def test_snake_case_chunks_are_read_and_written_camel_case() -> None:
    chunk: dict[str, Any] = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hi", "thought_signature": SIGNATURE}]},
                "finish_reason": "STOP",
            }
        ],
        "usage_metadata": {"prompt_token_count": 3, "candidates_token_count": 1, "total_token_count": 4},
        "response_id": "r",
    }
    batches, reader = read_all(sse(copy.deepcopy(chunk)))
    assert reader.finished
    out, _ = write_all(batches)
    [written] = frames(out)
    validate_response(written)
    assert written == {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hi", "thoughtSignature": SIGNATURE}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
        "responseId": "r",
    }
