"""Anthropic Messages codec: the ``Message`` response, relayed, and translated both ways.

A relayed Message must come back equal; one written from another dialect must be a valid Message
(TRANSLATION §7.3); stop reasons and usage follow §4.9 and §4.10.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_helpers import MESSAGE, MODEL, SIGNATURE, codec
from openai_chat_helpers import RESPONSE as OPENAI_RESPONSE

from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatResponse,
    Choice,
    Citation,
    FinishReason,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
    WebSearch,
)
from torouter.router.protocols.openai.chat import OpenAIChatCodec


def _usage(**fields: Any) -> dict[str, Any]:
    return {
        "input_tokens": 2095,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 503,
        "inference_geo": None,
        "server_tool_use": None,
        "service_tier": "standard",
        **fields,
    }


def _message(*content: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": list(content),
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "usage": _usage(),
        "container": None,
        **fields,
    }


def _rich_message() -> dict[str, Any]:
    return _message(
        {"type": "thinking", "thinking": "Search first, then call the tool.", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
            "name": "web_search",
            "input": {"query": "Oslo weather"},
            "caller": {"type": "direct"},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://www.yr.no/en/forecast/daily-table/1-72837",
                    "title": "Oslo - Yr",
                    "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5",
                    "page_age": "1 hour ago",
                }
            ],
            "caller": {"type": "direct"},
        },
        {
            "type": "text",
            "text": "Oslo is at 3°C.",
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": "https://www.yr.no/en/forecast/daily-table/1-72837",
                    "title": "Oslo - Yr",
                    "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm",
                    "cited_text": "Oslo 3°",
                }
            ],
        },
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"city": "Bergen", "unit": "c"},
            "caller": {"type": "direct"},
        },
        stop_reason="tool_use",
        usage=_usage(
            input_tokens=472,
            cache_read_input_tokens=1024,
            cache_creation_input_tokens=200,
            cache_creation={"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 0},
            server_tool_use={"web_search_requests": 1, "web_fetch_requests": 0},
        ),
    )


def test_message_round_trips_exactly() -> None:
    original = _rich_message()
    validate("anthropic", MESSAGE, original, closed=True)
    response = codec().read_response(copy.deepcopy(original))
    assert codec().write_response(response) == original


def test_message_neutral_form() -> None:
    response = codec().read_response(_rich_message())
    assert (response.id, response.model, response.dialect) == (
        "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        MODEL,
        "anthropic",
    )
    (choice,) = response.choices
    assert choice.finish_reason is FinishReason.TOOL_CALLS
    assert choice.message.parts == [
        ReasoningPart("Search first, then call the tool.", signature=SIGNATURE),
        ReasoningPart(redacted_data="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"),
        TextPart(
            "Oslo is at 3°C.",
            extra={"citations": _rich_message()["content"][4]["citations"]},
            citations=[Citation("https://www.yr.no/en/forecast/daily-table/1-72837", "Oslo - Yr")],
        ),
        ToolCall(
            "toolu_01A09q90qw90lq917835lq9",
            "get_weather",
            '{"city":"Bergen","unit":"c"}',
            extra={"caller": {"type": "direct"}},
        ),
    ]
    assert choice.message.searches == [
        WebSearch(["Oslo weather"], [("https://www.yr.no/en/forecast/daily-table/1-72837", "Oslo - Yr")])
    ]
    assert response.usage == Usage(
        1696,
        503,
        cache_read_tokens=1024,
        cache_write_tokens=200,
        extra={
            "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 0},
            "inference_geo": None,
            "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
            "service_tier": "standard",
        },
    )
    assert response.extra == {"stop_sequence": None, "stop_details": None, "container": None}


def test_stop_sequence_is_given_back() -> None:
    original = _message(
        {"type": "text", "text": "1, 2, 3", "citations": None}, stop_reason="stop_sequence", stop_sequence="4"
    )
    response = codec().read_response(copy.deepcopy(original))
    assert response.choices[0].finish_reason is FinishReason.STOP
    assert codec().write_response(response) == original


def test_changed_neutral_values_win() -> None:
    response = codec().read_response(_rich_message())
    response.choices[0].finish_reason = FinishReason.LENGTH
    response.choices[0].message.parts[2] = TextPart("Changed.")
    assert response.usage is not None
    response.usage.output_tokens = 7
    written = codec().write_response(response)
    assert written["stop_reason"] == "max_tokens"
    assert written["content"][4] == {"type": "text", "text": "Changed.", "citations": None}
    assert written["usage"]["output_tokens"] == 7
    validate("anthropic", MESSAGE, written, closed=True)


# ---------------------------------------------------------------------------- OpenAI → Anthropic


def _completion(message: dict[str, Any], finish: str = "stop", **usage: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 412, "completion_tokens": 58, "total_tokens": 470, **usage},
    }


def _as_anthropic(completion: dict[str, Any]) -> dict[str, Any]:
    written = codec().write_response(OpenAIChatCodec().read_response(completion))
    validate("anthropic", MESSAGE, written)
    return written


def test_openai_completion_becomes_a_valid_message() -> None:
    written = _as_anthropic(
        _completion(
            {
                "content": "Checking both cities.",
                "reasoning_content": "Two calls.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_Hq2VxK7cTm1pR4sJ",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    },
                    {
                        "id": "functions.get_weather:1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "not json"},
                    },
                ],
            },
            "tool_calls",
            prompt_tokens_details={"cached_tokens": 256, "cache_write_tokens": 100},
            completion_tokens_details={"reasoning_tokens": 12},
        )
    )
    sanitized = written["content"][3]["id"]
    assert sanitized.startswith("functions_get_weather_1_")
    assert written == {
        "id": "msg_chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4.1-2025-04-14",
        "content": [
            {"type": "thinking", "thinking": "Two calls.", "signature": ""},
            {"type": "text", "text": "Checking both cities.", "citations": None},
            {
                "type": "tool_use",
                "id": "call_Hq2VxK7cTm1pR4sJ",
                "name": "get_weather",
                "input": {"city": "Oslo"},
                "caller": {"type": "direct"},
            },
            {
                "type": "tool_use",
                "id": sanitized,
                "name": "get_weather",
                "input": {"_raw": "not json"},
                "caller": {"type": "direct"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "stop_details": None,
        "usage": {
            "input_tokens": 56,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 256,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 58,
            "output_tokens_details": {"thinking_tokens": 12},
            "inference_geo": None,
            "server_tool_use": None,
            "service_tier": "standard",
        },
        "container": None,
    }


def test_openai_refusal_becomes_a_refusal() -> None:
    written = _as_anthropic(_completion({"content": None, "refusal": "I can't help with that."}))
    assert written["content"] == [{"type": "text", "text": "I can't help with that.", "citations": None}]
    assert written["stop_reason"] == "refusal"
    assert written["stop_details"] == {
        "type": "refusal",
        "category": None,
        "explanation": "I can't help with that.",
    }
    validate("anthropic", MESSAGE, written, closed=True)


def test_message_for_another_dialect_without_usage_or_choices() -> None:
    response = ChatResponse("", MODEL, 0, [], "test")
    written = codec().write_response(response)
    assert written["id"].startswith("msg_") and len(written["id"]) > 4
    assert (written["content"], written["stop_reason"]) == ([], "end_turn")
    assert written["usage"]["input_tokens"] == 0 and written["usage"]["output_tokens"] == 0
    validate("anthropic", MESSAGE, written, closed=True)


# ---------------------------------------------------------------------------- Anthropic → OpenAI


def test_anthropic_message_becomes_an_openai_completion() -> None:
    written = OpenAIChatCodec().write_response(codec().read_response(_rich_message()))
    validate("openai", OPENAI_RESPONSE, written)
    (choice,) = written["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Oslo is at 3°C."
    assert choice["message"]["reasoning_content"] == "Search first, then call the tool."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Bergen","unit":"c"}'},
        }
    ]
    assert written["usage"] == {
        "prompt_tokens": 1696,
        "completion_tokens": 503,
        "total_tokens": 2199,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 200},
    }


# ---------------------------------------------------------------------------- tables

FINISH_REASONS: list[tuple[str, FinishReason, str]] = [
    ("end_turn", FinishReason.STOP, "stop"),
    ("stop_sequence", FinishReason.STOP, "stop"),
    ("max_tokens", FinishReason.LENGTH, "length"),
    ("tool_use", FinishReason.TOOL_CALLS, "tool_calls"),
    ("refusal", FinishReason.CONTENT_FILTER, "content_filter"),
    ("pause_turn", FinishReason.STOP, "stop"),
    ("model_context_window_exceeded", FinishReason.LENGTH, "length"),
    ("compaction", FinishReason.STOP, "stop"),
    ("a_future_reason", FinishReason.STOP, "stop"),
]


@pytest.mark.parametrize(("wire", "neutral", "openai"), FINISH_REASONS)
def test_stop_reasons(wire: str, neutral: FinishReason, openai: str) -> None:
    original = _message({"type": "text", "text": "x", "citations": None}, stop_reason=wire)
    response = codec().read_response(copy.deepcopy(original))
    assert response.choices[0].finish_reason is neutral
    assert codec().write_response(response)["stop_reason"] == wire  # the original spelling survives
    assert OpenAIChatCodec().write_response(response)["choices"][0]["finish_reason"] == openai


FOREIGN_FINISH: list[tuple[FinishReason | None, str]] = [
    (FinishReason.STOP, "end_turn"),
    (FinishReason.LENGTH, "max_tokens"),
    (FinishReason.TOOL_CALLS, "tool_use"),
    (FinishReason.CONTENT_FILTER, "refusal"),
    (FinishReason.ERROR, "end_turn"),
    (None, "end_turn"),
]


@pytest.mark.parametrize(("reason", "wire"), FOREIGN_FINISH)
def test_stop_reasons_of_another_dialect(reason: FinishReason | None, wire: str) -> None:
    response = ChatResponse(
        "x", MODEL, 0, [Choice(0, Message("assistant", [TextPart("hi")]), reason)], "test"
    )
    written = codec().write_response(response)
    assert written["stop_reason"] == wire
    validate("anthropic", MESSAGE, written, closed=True)


# (Anthropic usage fields) → neutral (input, cache read, cache write) → OpenAI prompt tokens
USAGE: list[tuple[dict[str, Any], tuple[int, int | None, int | None]]] = [
    ({"input_tokens": 100, "output_tokens": 5}, (100, None, None)),
    ({"input_tokens": 100, "cache_read_input_tokens": 900, "output_tokens": 5}, (1000, 900, None)),
    (
        {
            "input_tokens": 10,
            "cache_read_input_tokens": 900,
            "cache_creation_input_tokens": 90,
            "output_tokens": 5,
        },
        (1000, 900, 90),
    ),
    (
        {
            "input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "output_tokens": 0,
        },
        (0, 0, 0),
    ),
    ({"input_tokens": 7, "cache_read_input_tokens": None, "output_tokens": 1}, (7, None, None)),
]


@pytest.mark.parametrize(("wire", "neutral"), USAGE)
def test_usage_arithmetic(wire: dict[str, Any], neutral: tuple[int, int | None, int | None]) -> None:
    response = codec().read_response(_message(usage=wire))
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == neutral
    assert codec().write_response(response)["usage"] == wire
    assert OpenAIChatCodec().write_response(response)["usage"]["prompt_tokens"] == neutral[0]


FOREIGN_USAGE: list[tuple[Usage, tuple[int, int, int]]] = [
    (Usage(412, 58), (412, 0, 0)),
    (Usage(412, 58, cache_read_tokens=256), (156, 256, 0)),
    (Usage(412, 58, cache_read_tokens=256, cache_write_tokens=100), (56, 256, 100)),
    (Usage(100, 1, cache_read_tokens=80, cache_write_tokens=40), (0, 80, 40)),  # never below 0
]


@pytest.mark.parametrize(("usage", "wire"), FOREIGN_USAGE)
def test_usage_of_another_dialect(usage: Usage, wire: tuple[int, int, int]) -> None:
    response = ChatResponse(
        "x", MODEL, 0, [Choice(0, Message("assistant", []), FinishReason.STOP)], "test", usage
    )
    written = codec().write_response(response)["usage"]
    assert (
        written["input_tokens"],
        written["cache_read_input_tokens"],
        written["cache_creation_input_tokens"],
    ) == wire
    assert written["output_tokens"] == usage.output_tokens


# ---------------------------------------------------------------------------- malformed responses

MALFORMED: list[tuple[str, Any]] = [
    ("not an object", []),
    ("content missing", {"id": "msg_1", "model": MODEL}),
    ("content an object", _message(content={})),
    ("block without type", _message({"text": "x"})),
    ("tool_use input a list", _message({"type": "tool_use", "id": "toolu_1", "name": "f", "input": []})),
    ("usage a string", _message(usage="x")),
    ("output_tokens a string", _message(usage={"input_tokens": 1, "output_tokens": "1"})),
    ("stop_reason a number", _message(stop_reason=1)),
]


@pytest.mark.parametrize(("name", "sent"), MALFORMED, ids=[n for n, _ in MALFORMED])
def test_malformed_upstream_message_is_a_502(name: str, sent: Any) -> None:
    with pytest.raises(GatewayError) as caught:
        codec().read_response(sent)
    assert (caught.value.code, caught.value.status) == (ErrorCode.UPSTREAM_ERROR, 502)


def test_parts_added_to_a_relayed_message_get_the_fields_the_spec_requires() -> None:
    response = codec().read_response(_message({"type": "text", "text": "ok", "citations": None}))
    response.choices[0].message.parts.append(RefusalPart("no"))
    response.choices[0].message.parts.append(ToolCall("toolu_2", "f", "{}"))
    written = codec().write_response(response)
    assert written["content"][-2:] == [
        {"type": "text", "text": "no", "citations": None},
        {"type": "tool_use", "id": "toolu_2", "name": "f", "input": {}, "caller": {"type": "direct"}},
    ]
    validate("anthropic", MESSAGE, written, closed=True)
