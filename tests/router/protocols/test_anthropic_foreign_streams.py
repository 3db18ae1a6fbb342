"""Anthropic Messages codec: streams of another dialect written as Anthropic events.

The events must follow Anthropic's stream invariants (TRANSLATION §5.3, §5.6): ``message_start``
first, dense block indexes, one block open at a time, ``message_delta`` then ``message_stop``,
an ``event:`` line on every frame. They must accumulate into the right message in the official
Anthropic SDK's own stream helper; a failure ends the stream with one ``error`` event.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import anthropic
import orjson
import pytest
from anthropic_helpers import (
    MESSAGE,
    SIGNATURE,
    accumulate,
    frames,
    sdk_events,
    stream_request,
    write_all,
)
from openai_chat_helpers import FIXTURE as OPENAI_FIXTURE
from openai_chat_helpers import read_all as openai_read_all

from support.schemas import validate
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
from torouter.router.protocols.anthropic.messages import AnthropicMessagesStreamWriter
from torouter.router.protocols.sse import SSEParser

CALL_A, CALL_B = "call_Hq2VxK7cTm1pR4sJ", "call_7bYw0LzQe3NdVu8A"


def _batches(*events: list[StreamEvent]) -> list[StreamBatch]:
    return [StreamBatch(e, "test", extra={"ignored": True}) for e in events]


def _start(*more: StreamEvent) -> list[StreamEvent]:
    return [StreamStart("chatcmpl-9xYz", "gpt-4.1", 1767225600), RoleStart(), *more]


def _check_invariants(out: bytes) -> list[tuple[str | None, Any]]:
    """Every frame named like its data; message_start first; blocks dense, in order, never
    interleaved; message_delta then message_stop last."""
    parsed = frames(out)
    assert all(name == data["type"] for name, data in parsed)
    assert all(e.event is not None for e in SSEParser().feed(out))
    names = [name for name, _ in parsed]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    validate("anthropic", MESSAGE, parsed[0][1]["message"], closed=True)
    open_index: int | None = None
    next_index = 0
    for name, data in parsed:
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index, next_index = data["index"], next_index + 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None
    return parsed


def test_openai_stream_as_anthropic_events() -> None:
    batches, _ = openai_read_all(OPENAI_FIXTURE)
    out, per_batch = write_all(batches)
    parsed = _check_invariants(out)
    assert [len(frames(b)) for b in per_batch] == [1, 2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 0]
    usage = {
        "input_tokens": 156,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 256,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 0,
        "inference_geo": None,
        "server_tool_use": None,
        "service_tier": "standard",
    }
    start = parsed[0][1]["message"]
    assert start == {
        "id": "msg_chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4.1-2025-04-14",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": {**usage, "input_tokens": 0, "cache_read_input_tokens": 0},
        "container": None,
    }

    def tool(index: int, call_id: str) -> dict[str, Any]:
        block = {
            "type": "tool_use",
            "id": call_id,
            "name": "get_weather",
            "input": {},
            "caller": {"type": "direct"},
        }
        return {"type": "content_block_start", "index": index, "content_block": block}

    def delta(index: int, kind: str, key: str, value: str) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: value}}

    assert [d for _, d in parsed[1:]] == [
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": "", "citations": None},
        },
        delta(0, "text_delta", "text", "Let me"),
        delta(0, "text_delta", "text", " check both"),
        delta(0, "text_delta", "text", " cities."),
        {"type": "content_block_stop", "index": 0},
        tool(1, CALL_A),
        delta(1, "input_json_delta", "partial_json", '{"ci'),
        delta(1, "input_json_delta", "partial_json", 'ty": "Ber'),
        delta(1, "input_json_delta", "partial_json", 'gen", "unit": "c"}'),
        {"type": "content_block_stop", "index": 1},
        tool(2, CALL_B),
        delta(2, "input_json_delta", "partial_json", '{"city": "O'),
        delta(2, "input_json_delta", "partial_json", 'slo", "unit": "c"}'),
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {
                "input_tokens": 156,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 256,
                "output_tokens": 58,
                "output_tokens_details": {"thinking_tokens": 0},
            },
        },
        {"type": "message_stop"},
    ]


def test_openai_stream_accumulates_in_the_official_sdk() -> None:
    out, _ = write_all(openai_read_all(OPENAI_FIXTURE)[0])
    message = accumulate(out)
    assert (message.id, message.model, message.role) == (
        "msg_chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3",
        "gpt-4.1-2025-04-14",
        "assistant",
    )
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    text, first, second = message.content
    assert text.type == "text" and text.text == "Let me check both cities."
    assert first.type == "tool_use" and (first.id, first.name, first.input) == (
        CALL_A,
        "get_weather",
        {"city": "Bergen", "unit": "c"},
    )
    assert second.type == "tool_use" and (second.id, second.input) == (CALL_B, {"city": "Oslo", "unit": "c"})
    assert (message.stop_reason, message.stop_sequence) == ("tool_use", None)
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (156, 256, 58)


def test_reasoning_text_and_signatures() -> None:
    batches = _batches(
        _start(UsageReport(Usage(40, 1))),
        [ReasoningDelta("Think"), ReasoningDelta("ing.")],
        [ReasoningDelta(signature=SIGNATURE)],
        [ReasoningDelta("A second thought.")],
        [ReasoningDelta(redacted_data="EmwKAhgB")],
        [TextDelta(""), TextDelta("Answer.")],
        [RefusalDelta(" But not that.")],
        [Finish(FinishReason.CONTENT_FILTER), UsageReport(Usage(40, 25, reasoning_tokens=12))],
    )
    out, _ = write_all(batches)
    parsed = _check_invariants(out)
    assert parsed[0][1]["message"]["usage"]["input_tokens"] == 40
    message = accumulate(out)
    assert [b.type for b in message.content] == ["thinking", "thinking", "redacted_thinking", "text"]
    first, second, redacted, text = message.content
    assert first.type == "thinking" and (first.thinking, first.signature) == ("Thinking.", SIGNATURE)
    assert second.type == "thinking" and (second.thinking, second.signature) == ("A second thought.", "")
    assert redacted.type == "redacted_thinking" and redacted.data == "EmwKAhgB"
    assert text.type == "text" and text.text == "Answer. But not that."
    assert message.stop_reason == "refusal"
    assert message.usage.output_tokens == 25
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == 12


def test_tool_calls_started_together_do_not_interleave() -> None:
    """An upstream that opens both calls before sending their arguments (TRANSLATION §5.6)."""
    batches = _batches(
        _start(),
        [ToolCallStart(0, "call_a", "get_weather"), ToolCallStart(1, "call_b", "get_time")],
        [ToolCallDelta(0, '{"city": '), ToolCallDelta(1, '{"tz": "Europe/Oslo"}')],
        [ToolCallDelta(0, '"Oslo"}')],
        [ToolCallStart(2, "call_c", "get_weather"), ToolCallDelta(2, "")],
        [ToolCallDelta(2, '{"city": "Bergen"}')],
        [Finish(FinishReason.TOOL_CALLS)],
    )
    out, _ = write_all(batches)
    _check_invariants(out)
    message = accumulate(out)
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [
        ("call_a", "get_weather", {"city": "Oslo"}),
        ("call_b", "get_time", {"tz": "Europe/Oslo"}),
        ("call_c", "get_weather", {"city": "Bergen"}),
    ]


def test_a_call_started_after_the_open_one_completed_waits_its_turn() -> None:
    """A call that starts while earlier ones still wait must not close them early."""
    batches = _batches(
        _start(),
        [ToolCallStart(0, "call_a", "f"), ToolCallStart(1, "call_b", "f")],
        [ToolCallDelta(0, '{"a": 1}')],
        [ToolCallStart(2, "call_c", "f"), ToolCallDelta(2, '{"c": ')],
        [ToolCallDelta(1, '{"b": '), ToolCallDelta(2, "3}")],
        [ToolCallDelta(1, "2}")],
        [Finish(FinishReason.TOOL_CALLS)],
    )
    out, _ = write_all(batches)
    _check_invariants(out)
    message = accumulate(out)
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("call_a", {"a": 1}),
        ("call_b", {"b": 2}),
        ("call_c", {"c": 3}),
    ]


def _interleaved(rng: random.Random) -> tuple[list[list[StreamEvent]], list[tuple[str, Any]]]:
    """Up to four calls whose starts and argument fragments arrive interleaved (each call's own
    fragments in order, after its start), in batches of one to three events."""
    count = rng.randint(0, 4)
    texts = [
        orjson.dumps({"k": rng.randint(0, 10**6), "s": "x" * rng.randint(0, 30), "n": [1, 2]}).decode()
        for _ in range(count)
    ]
    pieces: list[list[str]] = []
    for text in texts:
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, 5)))
        bounds = [0, *cuts, len(text)]
        pieces.append([text[x:y] for x, y in itertools.pairwise(bounds)])
    events: list[StreamEvent] = list(_start(TextDelta("Checking.")) if rng.random() < 0.5 else _start())
    started, sent = 0, [0] * count
    while started < count or any(sent[i] < len(pieces[i]) for i in range(count)):
        options = [("start", started)] if started < count else []
        options += [("delta", i) for i in range(started) if sent[i] < len(pieces[i])]
        kind, i = rng.choice(options)
        if kind == "start":
            events.append(ToolCallStart(i, f"call_{i}", f"tool_{i}"))
            started += 1
        else:
            events.append(ToolCallDelta(i, pieces[i][sent[i]]))
            sent[i] += 1
        if rng.random() < 0.2:
            events.append(ToolCallDelta(rng.randrange(started), ""))
    events.append(Finish(FinishReason.TOOL_CALLS))
    batches: list[list[StreamEvent]] = []
    while events:
        size = rng.randint(1, 3)
        batches.append(events[:size])
        events = events[size:]
    return batches, [(f"call_{i}", orjson.loads(texts[i])) for i in range(count)]


def test_interleaved_tool_calls_always_come_out_whole() -> None:
    rng = random.Random(7)
    for _ in range(300):
        batches, expected = _interleaved(rng)
        out, _ = write_all(_batches(*batches))
        _check_invariants(out)
        message = accumulate(out)
        assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == expected


def test_waiting_calls_are_flushed_at_the_finish() -> None:
    batches = _batches(
        _start(),
        [ToolCallStart(0, "call_a", "f"), ToolCallStart(1, "call_b", "g")],
        [ToolCallDelta(1, '{"b": 1}')],
        [ToolCallDelta(0, '{"a": ')],
        [ToolCallDelta(0, "2}")],
    )
    out, _ = write_all(batches)
    _check_invariants(out)
    message = accumulate(out)
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("call_a", {"a": 2}),
        ("call_b", {"b": 1}),
    ]
    assert message.stop_reason == "tool_use"  # no Finish came: the calls say it


def test_whole_calls_and_text_after_tools() -> None:
    """Gemini-style complete calls, text after them, ids Anthropic would refuse rewritten."""
    batches = _batches(
        _start(),
        [ToolCallStart(0, "functions.lookup:0", "lookup"), ToolCallDelta(0, '{"q": "x"}')],
        [ToolCallStart(1, "", "lookup"), ToolCallDelta(1, "{}")],
        [TextDelta("Done.")],
        [Finish(FinishReason.STOP), UsageReport(Usage(10, 5))],
    )
    out, _ = write_all(batches)
    _check_invariants(out)
    message = accumulate(out)
    first, second, text = message.content
    assert (
        first.type == "tool_use" and first.id.startswith("functions_lookup_0_") and first.input == {"q": "x"}
    )
    assert second.type == "tool_use" and second.id.startswith("toolu_") and second.input == {}
    assert text.type == "text" and text.text == "Done."
    assert message.stop_reason == "end_turn"


FINISHES: list[tuple[FinishReason, str]] = [
    (FinishReason.STOP, "end_turn"),
    (FinishReason.LENGTH, "max_tokens"),
    (FinishReason.TOOL_CALLS, "tool_use"),
    (FinishReason.CONTENT_FILTER, "refusal"),
    (FinishReason.ERROR, "end_turn"),
]


@pytest.mark.parametrize(("reason", "wire"), FINISHES)
def test_finish_reasons(reason: FinishReason, wire: str) -> None:
    out, _ = write_all(_batches(_start(TextDelta("x")), [Finish(reason)]))
    parsed = _check_invariants(out)
    assert parsed[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": wire, "stop_sequence": None},
        "usage": {"output_tokens": 0},
    }


def test_without_a_stream_start_the_message_gets_an_id_and_the_request_model() -> None:
    out, _ = write_all(_batches([TextDelta("hi")]), stream_request("claude-via-gateway"))
    message = _check_invariants(out)[0][1]["message"]
    assert message["id"].startswith("msg_") and message["model"] == "claude-via-gateway"


def test_an_empty_stream_is_still_a_message() -> None:
    writer = AnthropicMessagesStreamWriter(stream_request())
    out = writer.close()
    _check_invariants(out)
    assert accumulate(out).content == []
    assert writer.close() == b""


def test_other_choices_are_left_out() -> None:
    batches = _batches(
        _start(TextDelta("zero"), TextDelta("one", choice=1), ToolCallStart(0, "c", "f", choice=1))
    )
    out, _ = write_all(batches)
    message = accumulate(out)
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "zero")]


def test_failure_in_a_batch_ends_the_stream_with_one_error_event() -> None:
    batches = _batches(
        _start(TextDelta("Partial")),
        [
            TextDelta(" answer"),
            StreamFailure(529, ErrorCode.UPSTREAM_OVERLOADED.value, "Overloaded"),
            TextDelta("lost"),
        ],
        [TextDelta("also lost")],
    )
    writer = AnthropicMessagesStreamWriter(stream_request())
    out = b"".join(writer.write(b) for b in batches)
    assert writer.close() == b"" and writer.fail(GatewayError(ErrorCode.INTERNAL, "x")) == b""
    parsed = frames(out)
    assert parsed[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    assert [name for name, _ in parsed].count("error") == 1
    assert parsed[-2][1]["delta"] == {"type": "text_delta", "text": " answer"}
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        sdk_events(out)


def test_failure_as_the_first_batch() -> None:
    writer = AnthropicMessagesStreamWriter(stream_request())
    out = writer.write(_batches([StreamFailure(502, ErrorCode.UPSTREAM_ERROR.value, "upstream broke")])[0])
    assert frames(out) == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "upstream broke"}})
    ]


def test_fail_emits_the_error_event() -> None:
    writer = AnthropicMessagesStreamWriter(stream_request())
    started = writer.write(_batches(_start(TextDelta("x")))[0])
    out = writer.fail(GatewayError(ErrorCode.UPSTREAM_TIMEOUT, "The upstream timed out."))
    assert frames(out) == [
        ("error", {"type": "error", "error": {"type": "timeout_error", "message": "The upstream timed out."}})
    ]
    assert writer.close() == b"" and writer.write(_batches([TextDelta("late")])[0]) == b""
    with pytest.raises(anthropic.APIStatusError, match="timed out"):
        sdk_events(started + out)
