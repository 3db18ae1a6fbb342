"""OpenAI Responses codec: neutral answers written as Response objects (output items, status,
usage, the request echoed), and Response objects read back."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from support.openai_responses import assert_response_valid
from torouter.router.account.metering import RESPONSES
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
)
from torouter.router.protocols.openai.responses import Exchange, ResponsesCodec
from torouter.router.protocols.openai.responses.ids import CALL_SIGNATURE, unseal

BODY: dict[str, Any] = {
    "model": "gpt-5",
    "input": "Weather in Oslo?",
    "instructions": "Be brief.",
    "tools": [{"type": "function", "name": "wx", "parameters": {"type": "object"}}],
    "metadata": {"ticket": "7"},
    "temperature": 0.5,
    "store": False,
    "previous_response_id": "resp_prev",
}
USAGE = Usage(input_tokens=120, output_tokens=41, cache_read_tokens=64, reasoning_tokens=10)


def answer(parts: list[Part], finish: FinishReason | None = FinishReason.STOP) -> ChatResponse:
    message = Message("assistant", parts)
    return ChatResponse(
        "msg_01", "claude-sonnet-4-5", 1767225600, [Choice(0, message, finish)], "anthropic", USAGE
    )


def write(
    parts: list[Part], finish: FinishReason | None = FinishReason.STOP
) -> tuple[dict[str, Any], Exchange]:
    exchange = Exchange.new(BODY)
    body = ResponsesCodec(exchange).write_response(answer(parts, finish))
    assert_response_valid(body)
    assert exchange.response is body
    return body, exchange


def test_a_tool_turn_as_in_translation_13_4() -> None:
    body, exchange = write(
        [
            ReasoningPart("Thinking.", signature="sig", signer="anthropic"),
            TextPart("Check"),
            TextPart("ing."),
            ToolCall("call_7", "wx", '{"city":"Oslo"}', signature="g", signer="gemini"),
        ],
        FinishReason.TOOL_CALLS,
    )
    assert body["id"] == exchange.id and body["id"].startswith("resp_") and body["object"] == "response"
    assert body["status"] == "completed" and body["error"] is None and body["incomplete_details"] is None
    reasoning, message, call = body["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == [
        {"type": "summary_text", "text": "Thinking."}
    ]
    sealed = unseal(reasoning["encrypted_content"])
    assert sealed is not None and (sealed.signature, sealed.signer) == ("sig", "anthropic")
    assert message["content"] == [
        {"type": "output_text", "annotations": [], "logprobs": [], "text": "Checking."}
    ]
    assert message["status"] == "completed" and message["role"] == "assistant"
    assert call == {
        "id": call["id"],
        "type": "function_call",
        "status": "completed",
        "arguments": '{"city":"Oslo"}',
        "call_id": "call_7",
        "name": "wx",
    }
    assert call["id"].startswith("fc_") and CALL_SIGNATURE not in call
    history_call = exchange.history_output[2]
    assert unseal(history_call[CALL_SIGNATURE]) is not None and history_call["id"] == call["id"]
    assert body["usage"] == {
        "input_tokens": 120,
        "input_tokens_details": {"cached_tokens": 64, "cache_write_tokens": 0},
        "output_tokens": 41,
        "output_tokens_details": {"reasoning_tokens": 10},
        "total_tokens": 161,
    }


def test_the_request_is_echoed() -> None:
    body, _ = write([TextPart("Hi")])
    assert body["model"] == "claude-sonnet-4-5" and body["instructions"] == "Be brief."
    assert body["metadata"] == {"ticket": "7"} and body["temperature"] == 0.5 and body["top_p"] == 1.0
    assert body["store"] is False and body["previous_response_id"] == "resp_prev"
    assert body["tools"] == [
        {"type": "function", "name": "wx", "parameters": {"type": "object"}, "strict": None}
    ]
    assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is True
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert body["reasoning"] == {"effort": None, "summary": None} and body["truncation"] == "disabled"


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        (FinishReason.LENGTH, "incomplete", "max_output_tokens"),
        (FinishReason.CONTENT_FILTER, "incomplete", "content_filter"),
        (FinishReason.ERROR, "failed", None),
        (None, "completed", None),
    ],
)
def test_status_from_the_finish_reason(finish: FinishReason | None, status: str, reason: str | None) -> None:
    body, _ = write([TextPart("cut")], finish)
    assert body["status"] == status
    assert body["incomplete_details"] == (None if reason is None else {"reason": reason})
    assert (body["error"] is not None) == (status == "failed")
    assert body["output"][0]["status"] == ("incomplete" if status == "incomplete" else "completed")
    assert (body["completed_at"] is not None) == (status == "completed")


def test_refusals_and_redacted_reasoning() -> None:
    body, _ = write(
        [ReasoningPart(redacted_data="opaque"), RefusalPart("I can't.")], FinishReason.CONTENT_FILTER
    )
    reasoning, message = body["output"]
    assert reasoning["summary"] == [] and unseal(reasoning["encrypted_content"]).redacted_data == "opaque"  # type: ignore[union-attr]
    assert message["content"] == [{"type": "refusal", "refusal": "I can't."}]


def test_read_back() -> None:
    parts: list[Part] = [
        ReasoningPart("Thinking.", signature="sig", signer="anthropic"),
        TextPart("Checking."),
        ToolCall("call_7", "wx", "{}"),
    ]
    body, _ = write(parts, FinishReason.TOOL_CALLS)
    parsed = ResponsesCodec().read_response(body)
    assert parsed.id == body["id"] and parsed.model == "claude-sonnet-4-5"
    assert parsed.choices[0].message.parts == parts
    assert parsed.choices[0].finish_reason is FinishReason.TOOL_CALLS
    assert parsed.usage == Usage(120, 41, 64, 0, 10, 161)
    incomplete = {**body, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    assert ResponsesCodec().read_response(incomplete).choices[0].finish_reason is FinishReason.LENGTH
    with pytest.raises(GatewayError) as caught:
        ResponsesCodec().read_response({"id": "resp_1"})
    assert caught.value.code is ErrorCode.UPSTREAM_ERROR


def test_usage_read_from_a_passthrough_body() -> None:
    body, _ = write([TextPart("Hi")])
    tokens = RESPONSES.body(orjson.dumps(body))
    assert tokens is not None and (tokens.input, tokens.output, tokens.cache_read) == (120, 41, 64)
    assert RESPONSES.body(b"not json") is None
