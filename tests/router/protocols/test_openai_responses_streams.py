"""OpenAI Responses codec: event streams written from neutral batches (every event checked against
its own schema, and accumulated by the official SDK's stream helper) and read back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ParsedResponse, ResponseStreamEvent

from support.openai_responses import assert_event_valid
from torouter.router.account.metering import RESPONSES
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatRequest,
    Finish,
    FinishReason,
    Message,
    ReasoningDelta,
    RefusalDelta,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from torouter.router.protocols.openai.responses import Exchange, ResponsesCodec, ResponsesStreamErrors
from torouter.router.protocols.openai.responses.ids import CALL_SIGNATURE, unseal
from torouter.router.protocols.sse import SSEParser

REQUEST = ChatRequest("claude-sonnet-4-5", [Message("user", [TextPart("Weather?")])], "openai.responses")
USAGE = Usage(input_tokens=20, output_tokens=9, reasoning_tokens=3)


def run(*batches: list[StreamEvent], fail: GatewayError | None = None) -> tuple[bytes, Exchange]:
    exchange = Exchange.new({"model": "claude-sonnet-4-5", "input": "Weather?"})
    writer = ResponsesCodec(exchange).stream_writer(REQUEST)
    raw = b"".join(writer.write(StreamBatch(list(events), "anthropic")) for events in batches)
    raw += writer.fail(fail) if fail is not None else writer.close()
    assert writer.close() == b"" and writer.write(StreamBatch([TextDelta("late")], "anthropic")) == b""
    return raw, exchange


def events_of(raw: bytes) -> list[dict[str, Any]]:
    """The events, each with its ``event:`` line, numbered from 0, valid under its own schema."""
    out: list[dict[str, Any]] = []
    for sse in SSEParser().feed(raw):
        data = json.loads(sse.data)
        assert sse.event == data["type"] and data["sequence_number"] == len(out)
        assert_event_valid(data)
        out.append(data)
    return out


def sdk_final(raw: bytes) -> ParsedResponse[object]:
    """What ``client.responses.stream(...).get_final_response()`` gives for these bytes."""
    response = httpx.Response(
        200,
        content=raw,
        headers={"content-type": "text/event-stream"},
        request=httpx.Request("POST", "http://gateway.test/v1/responses"),
    )
    client = openai.OpenAI(api_key="sk-test", base_url="http://gateway.test/v1")
    state: ResponseStreamState[object] = ResponseStreamState(input_tools=openai.omit, text_format=openai.omit)
    for event in openai.Stream(cast_to=ResponseStreamEvent, response=response, client=client):  # type: ignore[arg-type]
        state.handle_event(event)
    final = state._completed_response
    assert final is not None
    return final


def test_text_turn() -> None:
    raw, exchange = run(
        [StreamStart("msg_1", "claude-sonnet-4-5", 1), RoleStart()],
        [TextDelta("Hello")],
        [TextDelta(" there")],
        [Finish(FinishReason.STOP), UsageReport(USAGE)],
    )
    events = events_of(raw)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    final = events[-1]["response"]
    assert final["id"] == exchange.id == events[0]["response"]["id"]
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 3}
    assert exchange.response == final
    sdk = sdk_final(raw)
    assert sdk.output_text == "Hello there" and sdk.id == exchange.id


def test_reasoning_text_and_tool_calls() -> None:
    raw, exchange = run(
        [StreamStart("msg_1", "claude-sonnet-4-5", 1), RoleStart()],
        [ReasoningDelta("Let me")],
        [ReasoningDelta(" think.")],
        [ReasoningDelta(signature="sig-1", signer="anthropic")],
        [TextDelta("Checking.")],
        [ToolCallStart(0, "toolu_1", "wx", signature="g-sig", signer="gemini")],
        [ToolCallDelta(0, '{"city":')],
        [ToolCallDelta(0, '"Oslo"}')],
        [ToolCallStart(1, "toolu_2", "clock")],
        [ToolCallDelta(1, "{}")],
        [Finish(FinishReason.TOOL_CALLS), UsageReport(USAGE)],
    )
    events = events_of(raw)
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["reasoning", "message", "function_call", "function_call"]
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.done"] == [0, 1, 2, 3]
    summary = [e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert summary == ["Let me", " think."]
    final = events[-1]["response"]
    reasoning, message, first, second = final["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Let me think."}]
    assert unseal(reasoning["encrypted_content"]).signature == "sig-1"  # type: ignore[union-attr]
    assert message["content"][0]["text"] == "Checking."
    assert (first["call_id"], first["name"], first["arguments"]) == ("toolu_1", "wx", '{"city":"Oslo"}')
    assert second["arguments"] == "{}" and final["status"] == "completed"
    assert CALL_SIGNATURE in exchange.history_output[2] and CALL_SIGNATURE not in first
    sdk = sdk_final(raw)
    assert [o.type for o in sdk.output] == ["reasoning", "message", "function_call", "function_call"]
    assert sdk.output_text == "Checking."


def test_refusal_and_incomplete() -> None:
    raw, _ = run([TextDelta("Partial")], [RefusalDelta("No.")], [Finish(FinishReason.LENGTH)])
    events = events_of(raw)
    assert events[-1]["type"] == "response.incomplete"
    final = events[-1]["response"]
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [p["type"] for p in final["output"][0]["content"]] == ["output_text", "refusal"]
    assert final["output"][0]["status"] == "incomplete"
    assert next(e for e in events if e["type"] == "response.refusal.done")["refusal"] == "No."


def test_failures() -> None:
    raw, exchange = run([TextDelta("Half")], [StreamFailure(529, "upstream_overloaded", "Overloaded")])
    events = events_of(raw)
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["error"] == {"code": "server_error", "message": "Overloaded"}
    assert failed["output"][0]["status"] == "incomplete" and exchange.response == failed
    raw, _ = run(fail=GatewayError(ErrorCode.RATE_LIMITED, "slow down"))
    events = events_of(raw)  # a failure before anything still opens the stream first
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "rate_limit_exceeded"
    with pytest.raises(AssertionError):  # the SDK helper has no final response to give
        sdk_final(raw)


def test_read_back_what_was_written() -> None:
    raw, _ = run(
        [StreamStart("msg_1", "claude-sonnet-4-5", 1), RoleStart()],
        [ReasoningDelta("Hmm."), ReasoningDelta(signature="sig-1", signer="anthropic")],
        [TextDelta("Hi")],
        [ToolCallStart(0, "toolu_1", "wx")],
        [ToolCallDelta(0, "{}")],
        [Finish(FinishReason.TOOL_CALLS), UsageReport(USAGE)],
    )
    reader = ResponsesCodec().stream_reader()
    events: list[StreamEvent] = []
    for sse in SSEParser().feed(raw):
        batch = reader.feed(sse)
        if batch is not None:
            events += batch.events
    assert reader.finished
    assert isinstance(events[0], StreamStart) and events[0].id.startswith("resp_")
    texts = [e for e in events if isinstance(e, TextDelta | ToolCallStart | ToolCallDelta | Finish)]
    assert texts == [
        TextDelta("Hi"),
        ToolCallStart(0, "toolu_1", "wx"),
        ToolCallDelta(0, "{}"),
        Finish(FinishReason.TOOL_CALLS),
    ]
    signed = [e for e in events if isinstance(e, ReasoningDelta) and e.signature]
    assert signed[0].signature == "sig-1" and signed[0].signer == "anthropic"
    usage = [e for e in events if isinstance(e, UsageReport)]
    assert usage[0].usage.total() == 29


def test_relayed_stream_error_event() -> None:
    errors = ResponsesStreamErrors()
    errors.sequence = 7
    frame = errors.stream_event(GatewayError(ErrorCode.UPSTREAM_ERROR, "cut"))
    (sse,) = SSEParser().feed(frame)
    data = json.loads(sse.data)
    assert sse.event == "error" and data["sequence_number"] == 7 and data["message"] == "cut"
    assert_event_valid(data)
    assert errors.used and errors.render(GatewayError(ErrorCode.NOT_FOUND, "x"), "r").status == 404


def test_usage_followed_in_a_relayed_stream() -> None:
    raw, _ = run([TextDelta("Hi")], [Finish(FinishReason.STOP), UsageReport(USAGE)])
    tap = RESPONSES.tap()
    events = raw.split(b"\n\n")
    for event in events[:-1]:  # complete events, as the relay hands them over
        tap.feed(event + b"\n\n")
    tokens = tap.tokens()
    assert tokens is not None and (tokens.input, tokens.output, tokens.reasoning) == (20, 9, 3)


def test_a_signature_on_streamed_text_does_not_split_the_message() -> None:
    raw, exchange = run(
        [TextDelta("Hello ")],
        [ReasoningDelta(signature="g-sig", signer="gemini"), TextDelta("world")],
        [Finish(FinishReason.STOP)],
    )
    final = events_of(raw)[-1]["response"]
    message, reasoning = final["output"]
    assert message["content"][0]["text"] == "Hello world"
    assert reasoning["summary"] == [] and unseal(reasoning["encrypted_content"]).signer == "gemini"  # type: ignore[union-attr]
    assert exchange.history_output[1]["id"] == reasoning["id"]
