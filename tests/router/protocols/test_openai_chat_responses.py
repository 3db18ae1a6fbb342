"""OpenAI Chat Completions codec: responses to and from the neutral form.

Same-dialect round trips must give back equal JSON; JSON written for another dialect's neutral
responses must follow the spec; a malformed upstream response is a 502.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openai_chat_helpers import LOGPROBS, RESPONSE

from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
)
from torouter.router.protocols.openai.chat import OpenAIChatCodec

TOOL_CALL_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-CZq2Ab9xYw",
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
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_Hq2VxK7cTm1pR4sJ",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Bergen", "unit": "c"}'},
                    },
                    {
                        "id": "call_7bYw0LzQe3NdVu8A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "c"}'},
                    },
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0, "cache_write_tokens": 64},
        "completion_tokens_details": {
            "reasoning_tokens": 32,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_51e1070cf2",
}


MULTI_CHOICE_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-multi",
    "object": "chat.completion",
    "created": 1767225601,
    "model": "gpt-4o-search-preview",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hi, see the forecast.",
                "refusal": None,
                "annotations": [
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "start_index": 8,
                            "end_index": 20,
                            "url": "https://yr.no/",
                            "title": "Yr",
                        },
                    }
                ],
            },
            "logprobs": LOGPROBS,
            "finish_reason": "length",
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            "logprobs": None,
            "finish_reason": "content_filter",
        },
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22},
}

DEEPSEEK_RESPONSE: dict[str, Any] = {
    "id": "5f7c1c1e-0b8a-4f7e-9d44-0d1b3e1c2a77",
    "object": "chat.completion",
    "created": 1767225602,
    "model": "deepseek-reasoner",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "9.11 is smaller.",
                "reasoning_content": "Compare 9.11 and 9.8: 0.11 < 0.8.",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 18,
        "completion_tokens": 220,
        "total_tokens": 238,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 200},
        "prompt_cache_hit_tokens": 0,
        "prompt_cache_miss_tokens": 18,
    },
    "system_fingerprint": "fp_7e0991cad4_prod0820_fp8_kvcache",
}

LEGACY_FUNCTION_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-legacy",
    "object": "chat.completion",
    "created": 1767225603,
    "model": "gpt-3.5-turbo-0613",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            "logprobs": None,
            "finish_reason": "function_call",
        }
    ],
    "usage": None,
}

AUDIO_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-audio",
    "object": "chat.completion",
    "created": 1767225604,
    "model": "gpt-4o-audio-preview",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "audio": {
                    "id": "audio_abc123",
                    "expires_at": 1767229204,
                    "data": "UklGRiQAAABXQVZF",
                    "transcript": "Hello!",
                },
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
}

# Some OpenAI-compatible upstreams send null identity fields.
NULL_IDENTITY_RESPONSE: dict[str, Any] = {
    "id": None,
    "object": "chat.completion",
    "created": None,
    "model": None,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi."},
            "finish_reason": "stop",
        }
    ],
}

RESPONSES = {
    "tool_calls": TOOL_CALL_RESPONSE,
    "multi_choice": MULTI_CHOICE_RESPONSE,
    "deepseek": DEEPSEEK_RESPONSE,
    "legacy_function": LEGACY_FUNCTION_RESPONSE,
    "audio": AUDIO_RESPONSE,
    "null_identity": NULL_IDENTITY_RESPONSE,
}


# DeepSeek leaves out ``refusal``; some upstreams send ``usage: null`` or a null ``id``: the spec
# requires all of them.
RESPONSES_NOT_SPEC_VALID = frozenset({"deepseek", "legacy_function", "null_identity"})


@pytest.mark.parametrize("name", list(RESPONSES))
def test_response_round_trip_is_lossless(codec: OpenAIChatCodec, name: str) -> None:
    body = RESPONSES[name]
    if name not in RESPONSES_NOT_SPEC_VALID:
        validate("openai", RESPONSE, body)
    untouched = copy.deepcopy(body)
    response = codec.read_response(body)
    assert body == untouched
    assert codec.write_response(response) == untouched


def test_response_fields_land_in_the_neutral_form(codec: OpenAIChatCodec) -> None:
    response = codec.read_response(copy.deepcopy(TOOL_CALL_RESPONSE))
    assert (response.id, response.model, response.created) == (
        "chatcmpl-CZq2Ab9xYw",
        "gpt-4.1-2025-04-14",
        1767225600,
    )
    assert response.extra == {"service_tier": "default", "system_fingerprint": "fp_51e1070cf2"}
    (choice,) = response.choices
    assert choice.finish_reason is FinishReason.TOOL_CALLS and choice.extra == {"logprobs": None}
    assert choice.message.parts == [
        TextPart("Checking both cities."),
        ToolCall("call_Hq2VxK7cTm1pR4sJ", "get_weather", '{"city": "Bergen", "unit": "c"}'),
        ToolCall("call_7bYw0LzQe3NdVu8A", "get_weather", '{"city": "Oslo", "unit": "c"}'),
    ]
    assert response.usage == Usage(
        input_tokens=1200,  # already includes the 1024 cached tokens
        output_tokens=80,
        cache_read_tokens=1024,
        cache_write_tokens=64,
        reasoning_tokens=32,
        total_tokens=1280,
        extra={
            "prompt_tokens_details": {"audio_tokens": 0},
            "completion_tokens_details": {
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    )
    multi = codec.read_response(copy.deepcopy(MULTI_CHOICE_RESPONSE))
    assert [c.finish_reason for c in multi.choices] == [FinishReason.LENGTH, FinishReason.CONTENT_FILTER]
    assert multi.choices[1].message.parts == [RefusalPart("I can't help with that.")]
    assert multi.usage == Usage(10, 12, total_tokens=22)
    deepseek = codec.read_response(copy.deepcopy(DEEPSEEK_RESPONSE))
    assert deepseek.choices[0].message.parts == [
        ReasoningPart("Compare 9.11 and 9.8: 0.11 < 0.8."),
        TextPart("9.11 is smaller."),
    ]
    assert deepseek.usage is not None and deepseek.usage.reasoning_tokens == 200
    legacy = codec.read_response(copy.deepcopy(LEGACY_FUNCTION_RESPONSE))
    assert legacy.choices[0].finish_reason is FinishReason.TOOL_CALLS
    assert [type(p) for p in legacy.choices[0].message.parts] == [ToolCall]
    nulls = codec.read_response(copy.deepcopy(NULL_IDENTITY_RESPONSE))
    assert (nulls.id, nulls.model, nulls.created) == ("", "", 0)
    assert nulls.extra == {"id": None, "created": None, "model": None}
    nulls.id, nulls.model, nulls.created = "chatcmpl-new", "m", 5  # changed values win over the nulls
    assert codec.write_response(nulls) | {"choices": []} == {
        "id": "chatcmpl-new",
        "object": "chat.completion",
        "created": 5,
        "model": "m",
        "choices": [],
    }


def test_foreign_response_is_written_from_neutral_fields_only(codec: OpenAIChatCodec) -> None:
    response = ChatResponse(
        id="msg_01XYZ",
        model="claude-sonnet-4-6",
        created=1767225600,
        dialect="test",
        choices=[
            Choice(
                0,
                Message(
                    "assistant",
                    [
                        ReasoningPart("", signature="EqQBCkgI"),
                        TextPart("Checking."),
                        ToolCall("toolu_9", "wx", '{"city":"Oslo"}', extra={"anthropic": "x"}),
                    ],
                    extra={"stop_sequence": None},
                ),
                FinishReason.TOOL_CALLS,
                extra={"foreign": True},
            )
        ],
        usage=Usage(120, 41, cache_read_tokens=64, cache_write_tokens=0, extra={"service_tier": "standard"}),
        extra={"type": "message"},
    )
    out = codec.write_response(response)
    assert out == {
        "id": "msg_01XYZ",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "claude-sonnet-4-6",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "toolu_9",
                            "type": "function",
                            "function": {"name": "wx", "arguments": '{"city":"Oslo"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 41,
            "total_tokens": 161,
            "prompt_tokens_details": {"cached_tokens": 64, "cache_write_tokens": 0},
        },
    }
    validate("openai", RESPONSE, out, closed=True)


def test_foreign_response_reasoning_refusal_and_missing_finish(codec: OpenAIChatCodec) -> None:
    response = ChatResponse(
        id="r1",
        model="gemini-2.5-pro",
        created=1,
        dialect="test",
        choices=[
            Choice(0, Message("assistant", [ReasoningPart("Think."), TextPart("A"), TextPart("B")]), None),
            Choice(1, Message("assistant", [RefusalPart("No.")]), FinishReason.ERROR),
        ],
        usage=Usage(3, 4, reasoning_tokens=2),
    )
    out = codec.write_response(response)
    first, second = out["choices"]
    assert first["message"] == {
        "role": "assistant",
        "content": "AB",
        "refusal": None,
        "reasoning_content": "Think.",
    }
    assert first["finish_reason"] == "stop"  # the spec requires one
    assert second["message"] == {"role": "assistant", "content": None, "refusal": "No."}
    assert second["finish_reason"] == "stop"  # OpenAI has no error finish reason
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 2}
    validate("openai", RESPONSE, out)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "object": "chat.completion", "created": 1, "model": "m"},
        {"id": "x", "created": 1, "model": "m", "choices": [{"index": 0, "message": "hi"}]},
        {
            "id": "x",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]},
                }
            ],
        },
        {"id": 5, "created": 1, "model": "m", "choices": []},
        {"id": "x", "created": 1, "model": "m", "choices": [], "usage": {"prompt_tokens": "10"}},
    ],
)
def test_malformed_upstream_response_is_a_502(codec: OpenAIChatCodec, body: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as caught:
        codec.read_response(body)
    assert (caught.value.code, caught.value.status) == (ErrorCode.UPSTREAM_ERROR, 502)
