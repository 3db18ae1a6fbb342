"""Gemini generateContent codec: responses, read and written, of this dialect and of others.

A response of this dialect comes back exactly; one written for a Gemini caller from another
dialect is a valid ``GenerateContentResponse`` that google-genai parses; a Gemini response written
for OpenAI and Anthropic callers follows their specs (TRANSLATION §4.9, §4.10, §6.8, §6.9).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_helpers import MESSAGE as ANTHROPIC_MESSAGE
from anthropic_helpers import SIGNATURE as ANTHROPIC_SIGNATURE
from gemini_helpers import CALL_SIGNATURE, SIGNATURE, codec, sdk_response, validate_response
from openai_chat_helpers import RESPONSE as OPENAI_RESPONSE

from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
)
from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec

RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "**Checking**\n\nOne call.", "thought": True},
                    {"text": "Let me look that up.", "thoughtSignature": SIGNATURE},
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Oslo", "unit": "c"}},
                        "thoughtSignature": CALL_SIGNATURE,
                    },
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
            ],
            "citationMetadata": {
                "citationSources": [{"startIndex": 10, "endIndex": 40, "uri": "https://met.no/oslo"}]
            },
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1210,
        "candidatesTokenCount": 24,
        "totalTokenCount": 1331,
        "cachedContentTokenCount": 1024,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1210}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
        "thoughtsTokenCount": 97,
    },
    "modelVersion": "gemini-2.5-pro",
    "responseId": "9WksaO2dDb6nz7IP0ZeMsQs",
}

BLOCKED: dict[str, Any] = {
    "promptFeedback": {
        "blockReason": "PROHIBITED_CONTENT",
        "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ],
    },
    "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "blk_01",
}


def _foreign(response: ChatResponse) -> dict[str, Any]:
    written = codec().write_response(response)
    validate_response(written)
    return written


# ---------------------------------------------------------------------------- this dialect


def test_response_round_trips_exactly() -> None:
    validate_response(RESPONSE)
    assert codec().write_response(codec().read_response(copy.deepcopy(RESPONSE))) == RESPONSE


def test_response_neutral_form() -> None:
    response = codec().read_response(copy.deepcopy(RESPONSE))
    assert (response.id, response.model, response.dialect) == (
        "9WksaO2dDb6nz7IP0ZeMsQs",
        "gemini-2.5-pro",
        "gemini",
    )
    [choice] = response.choices
    assert choice.finish_reason is FinishReason.TOOL_CALLS  # Gemini says STOP
    thought, carrier, text, call = choice.message.parts
    assert thought == ReasoningPart("**Checking**\n\nOne call.")
    assert isinstance(carrier, ReasoningPart) and (carrier.signature, carrier.signer) == (SIGNATURE, "gemini")
    assert text == TextPart("Let me look that up.")
    assert isinstance(call, ToolCall) and call.id.startswith("call_") and len(call.id) == 29
    assert (call.name, call.arguments, call.signature) == (
        "get_weather",
        '{"city":"Oslo","unit":"c"}',
        CALL_SIGNATURE,
    )
    assert set(choice.extra) == {"index", "safetyRatings", "citationMetadata"}
    assert response.usage == Usage(
        input_tokens=1210,
        output_tokens=121,
        cache_read_tokens=1024,
        reasoning_tokens=97,
        total_tokens=1331,
        extra={
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1210}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
        },
    )


def test_blocked_prompt_is_one_content_filtered_choice() -> None:
    validate_response(BLOCKED)
    response = codec().read_response(copy.deepcopy(BLOCKED))
    [choice] = response.choices
    assert (choice.index, choice.finish_reason, choice.message.parts) == (0, FinishReason.CONTENT_FILTER, [])
    assert codec().write_response(response) == BLOCKED
    openai = OpenAIChatCodec().write_response(response)
    validate("openai", OPENAI_RESPONSE, openai)
    assert openai["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": None},
            "finish_reason": "content_filter",
            "logprobs": None,
        }
    ]
    anthropic = AnthropicMessagesCodec().write_response(response)
    validate("anthropic", ANTHROPIC_MESSAGE, anthropic)
    assert (anthropic["stop_reason"], anthropic["content"]) == ("refusal", [])


@pytest.mark.parametrize(
    ("wire", "reason", "openai", "anthropic"),
    [
        ("STOP", FinishReason.STOP, "stop", "end_turn"),
        ("MAX_TOKENS", FinishReason.LENGTH, "length", "max_tokens"),
        ("SAFETY", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("RECITATION", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("LANGUAGE", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("BLOCKLIST", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("SPII", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("IMAGE_SAFETY", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("IMAGE_PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("MODEL_ARMOR", FinishReason.CONTENT_FILTER, "content_filter", "refusal"),
        ("MALFORMED_FUNCTION_CALL", FinishReason.ERROR, "stop", "end_turn"),
        ("UNEXPECTED_TOOL_CALL", FinishReason.ERROR, "stop", "end_turn"),
        ("TOO_MANY_TOOL_CALLS", FinishReason.ERROR, "stop", "end_turn"),
        ("MISSING_THOUGHT_SIGNATURE", FinishReason.ERROR, "stop", "end_turn"),
        ("MALFORMED_RESPONSE", FinishReason.ERROR, "stop", "end_turn"),
        ("OTHER", FinishReason.STOP, "stop", "end_turn"),
        ("NO_IMAGE", FinishReason.STOP, "stop", "end_turn"),
        ("FINISH_REASON_UNSPECIFIED", FinishReason.STOP, "stop", "end_turn"),
        ("SOMETHING_NEWER", FinishReason.STOP, "stop", "end_turn"),
    ],
)
def test_finish_reason_table(wire: str, reason: FinishReason, openai: str, anthropic: str) -> None:
    sent = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": wire}]}
    response = codec().read_response(copy.deepcopy(sent))
    assert response.choices[0].finish_reason is reason
    assert codec().write_response(response) == sent  # the original spelling comes back
    assert OpenAIChatCodec().write_response(response)["choices"][0]["finish_reason"] == openai
    assert AnthropicMessagesCodec().write_response(response)["stop_reason"] == anthropic


@pytest.mark.parametrize(
    ("reason", "wire"),
    [
        (FinishReason.STOP, "STOP"),
        (FinishReason.TOOL_CALLS, "STOP"),
        (FinishReason.LENGTH, "MAX_TOKENS"),
        (FinishReason.CONTENT_FILTER, "SAFETY"),
        (FinishReason.ERROR, "OTHER"),
        (None, "STOP"),
    ],
)
def test_finish_reasons_of_another_dialect(reason: FinishReason | None, wire: str) -> None:
    response = ChatResponse("r", "m", 0, [Choice(0, Message("assistant", [TextPart("x")]), reason)], "x")
    assert _foreign(response)["candidates"][0]["finishReason"] == wire


USAGE_CASES: list[tuple[dict[str, Any], Usage, dict[str, Any], dict[str, Any]]] = [
    (
        {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
        Usage(100, 20, total_tokens=120),
        {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        {"input_tokens": 100, "cache_read_input_tokens": 0, "output_tokens": 20},
    ),
    (
        {
            "promptTokenCount": 1210,
            "cachedContentTokenCount": 1024,
            "candidatesTokenCount": 24,
            "thoughtsTokenCount": 97,
            "totalTokenCount": 1331,
        },
        Usage(1210, 121, cache_read_tokens=1024, reasoning_tokens=97, total_tokens=1331),
        {
            "prompt_tokens": 1210,
            "completion_tokens": 121,
            "total_tokens": 1331,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 97},
        },
        {"input_tokens": 186, "cache_read_input_tokens": 1024, "output_tokens": 121},
    ),
    (
        {"promptTokenCount": 50, "toolUsePromptTokenCount": 10, "totalTokenCount": 60},
        Usage(50, 0, total_tokens=60, extra={"toolUsePromptTokenCount": 10}),
        {"prompt_tokens": 50, "completion_tokens": 0, "total_tokens": 60},
        {"input_tokens": 50, "cache_read_input_tokens": 0, "output_tokens": 0},
    ),
    (
        {"promptTokenCount": 7, "candidatesTokenCount": 0, "totalTokenCount": "7"},
        Usage(7, 0, total_tokens=7, extra={"candidatesTokenCount": 0, "totalTokenCount": "7"}),
        {"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7},
        {"input_tokens": 7, "cache_read_input_tokens": 0, "output_tokens": 0},
    ),
]


@pytest.mark.parametrize(("wire", "usage", "openai", "anthropic"), USAGE_CASES)
def test_usage_table(
    wire: dict[str, Any], usage: Usage, openai: dict[str, Any], anthropic: dict[str, Any]
) -> None:
    sent = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}}], "usageMetadata": wire}
    response = codec().read_response(copy.deepcopy(sent))
    assert response.usage == usage
    assert codec().write_response(response) == sent
    assert OpenAIChatCodec().write_response(response)["usage"] == openai
    written = AnthropicMessagesCodec().write_response(response)["usage"]
    assert {k: written[k] for k in anthropic} == anthropic


def test_multiple_candidates_and_odd_shapes_round_trip() -> None:
    sent = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "A"}]}, "finishReason": "STOP"},
            {
                "content": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}],
                },
                "index": 1,
                "finishReason": "MAX_TOKENS",
            },
            {"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 2},
            {"finishReason": "SAFETY", "index": 3},
        ],
        "modelVersion": "gemini-2.5-flash",
    }
    response = codec().read_response(copy.deepcopy(sent))
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert codec().write_response(response) == sent


def test_malformed_upstream_response_is_a_502() -> None:
    with pytest.raises(GatewayError) as caught:
        codec().read_response({"candidates": [{"content": {"parts": [{"text": 1}]}}]})
    assert (caught.value.code, caught.value.status) == (ErrorCode.UPSTREAM_ERROR, 502)
    assert "candidates[0].content.parts[0].text" in caught.value.message


# ---------------------------------------------------------------------------- other dialects


def test_openai_completion_written_for_a_gemini_caller() -> None:
    completion = {
        "id": "chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking both cities.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "call_Hq2VxK7cTm1pR4sJ",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        },
                        {
                            "id": "call_7bYw0LzQe3NdVu8A",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "not json"},
                        },
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 412,
            "completion_tokens": 58,
            "total_tokens": 470,
            "prompt_tokens_details": {"cached_tokens": 256},
            "completion_tokens_details": {"reasoning_tokens": 20},
        },
    }
    written = _foreign(OpenAIChatCodec().read_response(completion))
    assert written == {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Checking both cities."},
                        {
                            "functionCall": {
                                "id": "call_Hq2VxK7cTm1pR4sJ",
                                "name": "get_weather",
                                "args": {"city": "Oslo"},
                            }
                        },
                        {
                            "functionCall": {
                                "id": "call_7bYw0LzQe3NdVu8A",
                                "name": "get_weather",
                                "args": {"_raw": "not json"},
                            }
                        },
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 412,
            "cachedContentTokenCount": 256,
            "candidatesTokenCount": 38,
            "thoughtsTokenCount": 20,
            "totalTokenCount": 470,
        },
        "modelVersion": "gpt-4.1-2025-04-14",
        "responseId": "chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3",
    }
    parsed = sdk_response(written)
    assert parsed.text == "Checking both cities."
    assert [(c.id, c.name, c.args) for c in parsed.function_calls or []] == [
        ("call_Hq2VxK7cTm1pR4sJ", "get_weather", {"city": "Oslo"}),
        ("call_7bYw0LzQe3NdVu8A", "get_weather", {"_raw": "not json"}),
    ]
    assert parsed.candidates and parsed.candidates[0].finish_reason == "STOP"
    assert parsed.usage_metadata and parsed.usage_metadata.total_token_count == 470


def test_anthropic_message_written_for_a_gemini_caller() -> None:
    """Anthropic's signed thinking is thought text without a signature for a Gemini caller."""
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [
            {"type": "thinking", "thinking": "One call.", "signature": ANTHROPIC_SIGNATURE},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
            {"type": "text", "text": "Checking.", "citations": None},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 50,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "output_tokens": 41,
        },
    }
    written = _foreign(AnthropicMessagesCodec().read_response(message))
    assert written["candidates"][0]["content"]["parts"] == [
        {"text": "One call.", "thought": True},
        {"text": "Checking."},
        {"functionCall": {"id": "toolu_01A", "name": "get_weather", "args": {"city": "Oslo"}}},
    ]
    assert written["usageMetadata"] == {
        "promptTokenCount": 170,
        "cachedContentTokenCount": 100,
        "candidatesTokenCount": 41,
        "totalTokenCount": 211,
    }
    parsed = sdk_response(written)
    assert (
        parsed.text == "Checking."
        and parsed.function_calls
        and parsed.function_calls[0].name == "get_weather"
    )


def test_gemini_response_for_openai_and_anthropic_callers() -> None:
    response = codec().read_response(copy.deepcopy(RESPONSE))
    openai = OpenAIChatCodec().write_response(response)
    validate("openai", OPENAI_RESPONSE, openai)
    message = openai["choices"][0]["message"]
    assert openai["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        message["content"] == "Let me look that up."
        and message["reasoning_content"] == "**Checking**\n\nOne call."
    )
    assert message["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Oslo","unit":"c"}',
    }
    anthropic = AnthropicMessagesCodec().write_response(response)
    validate("anthropic", ANTHROPIC_MESSAGE, anthropic)
    assert anthropic["stop_reason"] == "tool_use"
    assert anthropic["content"][0] == {
        "type": "thinking",
        "thinking": "**Checking**\n\nOne call.",
        "signature": "",
    }
    assert all(b.get("signature") in (None, "") for b in anthropic["content"])  # Gemini's never leak
    assert anthropic["usage"]["input_tokens"] == 186 and anthropic["usage"]["output_tokens"] == 121


def test_gemini_signatures_survive_a_gemini_caller_of_another_route() -> None:
    """A response read from Gemini and written for a Gemini caller as another dialect's object
    (as the router does when it had to translate) keeps Gemini's signatures in place."""
    response = codec().read_response(copy.deepcopy(RESPONSE))
    response.dialect = "openai"
    parts = _foreign(response)["candidates"][0]["content"]["parts"]
    assert parts[1] == {"text": "Let me look that up.", "thoughtSignature": SIGNATURE}
    assert parts[2]["thoughtSignature"] == CALL_SIGNATURE
