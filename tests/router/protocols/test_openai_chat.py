"""OpenAI Chat Completions codec: requests, responses and streams to and from the neutral form.

Same-dialect round trips must give back equal JSON; JSON written for another dialect's neutral
objects must follow the spec (checked against ``openai-subset-gateway.json``) and, for streams,
accumulate into the right completion in the official SDK's own stream helper.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
import pytest
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk, ParsedChatCompletion

from support.schemas import validate, validate_all
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    AudioPart,
    CacheHint,
    ChatRequest,
    ChatResponse,
    Choice,
    FilePart,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    RefusalDelta,
    RefusalPart,
    ResponseFormat,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    Usage,
    UsageReport,
)
from torouter.router.protocols.openai.chat import (
    OpenAIChatCodec,
    OpenAIChatStreamReader,
    OpenAIChatStreamWriter,
)
from torouter.router.protocols.sse import SSEEvent, SSEParser

DATA = Path(__file__).parent / "data"
REQUEST = "CreateChatCompletionRequest"
RESPONSE = "CreateChatCompletionResponse"
CHUNK = "CreateChatCompletionStreamResponse"


@pytest.fixture
def codec() -> OpenAIChatCodec:
    return OpenAIChatCodec()


# ============================================================================ request fixtures

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name, e.g. Oslo"},
        "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": WEATHER_SCHEMA,
        "strict": True,
    },
}
REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "temp_c": {"type": "number"}},
                "required": ["name", "temp_c"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["cities"],
    "additionalProperties": False,
}
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

FULL_CONVERSATION: dict[str, Any] = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "system", "content": "You are a terse weather assistant."},
        {
            "role": "developer",
            "content": [
                {
                    "type": "text",
                    "text": "Prefer metric units.",
                    "prompt_cache_breakpoint": {"mode": "explicit"},
                }
            ],
        },
        {
            "role": "user",
            "name": "ada",
            "content": [
                {"type": "text", "text": "What is the weather where this photo was taken, and in Oslo?"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "high"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/photos/bryggen.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
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
        {"role": "tool", "tool_call_id": "call_Hq2VxK7cTm1pR4sJ", "content": '{"temp_c": 9, "sky": "rain"}'},
        {
            "role": "tool",
            "tool_call_id": "call_7bYw0LzQe3NdVu8A",
            "content": [{"type": "text", "text": '{"temp_c": 3, "sky": "clear"}'}],
        },
        {"role": "assistant", "content": "Bergen: 9 °C and rain. Oslo: 3 °C and clear."},
        {"role": "user", "content": "Thanks! Now as JSON, please."},
    ],
    "tools": [WEATHER_TOOL],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "weather_report",
            "description": "Temperatures per city.",
            "schema": REPORT_SCHEMA,
            "strict": True,
        },
    },
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_completion_tokens": 1024,
    "temperature": 0.2,
    "top_p": 0.9,
    "stop": ["\n\nUser:", "END"],
    "n": 1,
    "seed": 42,
    "presence_penalty": 0.1,
    "frequency_penalty": -0.2,
    "reasoning_effort": "low",
    "user": "user-1234",
    "metadata": {"session": "s-42", "team": "weather"},
    # Fields the neutral form does not model, and one from the future:
    "prompt_cache_key": "weather-bot-v1",
    "service_tier": "auto",
    "store": False,
    "logit_bias": {"50256": -100},
    "x_future_option": {"nested": [1, 2, {"deep": True}]},
}

# What an SDK user sends back after ``messages.append(completion.choices[0].message.model_dump())``.
SDK_ECHO: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "user", "content": "Say hi."},
        {
            "role": "assistant",
            "content": "Hi!",
            "refusal": None,
            "annotations": [],
            "audio": None,
            "function_call": None,
            "tool_calls": None,
        },
        {"role": "user", "content": "Again, in French."},
    ],
}

LEGACY_FUNCTIONS: dict[str, Any] = {
    "model": "gpt-3.5-turbo-0613",
    "messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {"role": "function", "name": "get_weather", "content": '{"temp_c": 14}'},
    ],
    "functions": [
        {"name": "get_weather", "description": "Current weather for a city.", "parameters": WEATHER_SCHEMA}
    ],
    "function_call": {"name": "get_weather"},
    "max_tokens": 256,
    "stop": "\n\n",
}

MEDIA_AND_REFUSALS: dict[str, Any] = {
    "model": "gpt-4o-audio-preview",
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summarise these.", "cache_control": {"type": "ephemeral"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}},
                {
                    "type": "file",
                    "file": {
                        "filename": "report.pdf",
                        "file_data": "data:application/pdf;base64,JVBERi0xLjQK",
                    },
                },
                {"type": "file", "file": {"file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"}},
                {"type": "file", "file": {"filename": "raw.bin", "file_data": "AAECAwQ="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/chart.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Partly: "}, {"type": "refusal", "refusal": "not the PDF."}],
        },
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        {"role": "assistant", "content": "Here.", "reasoning_content": "The user wants a summary."},
        {"role": "assistant", "content": "Replaying audio.", "audio": {"id": "audio_abc123"}},
        {"role": "user", "content": ""},
    ],
}

CUSTOM_TOOLS: dict[str, Any] = {
    "model": "gpt-5",
    "messages": [
        {"role": "user", "content": "How many orders today?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_sql1",
                    "type": "custom",
                    "custom": {"name": "run_sql", "input": "SELECT count(*)"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_sql1", "content": "42"},
    ],
    "tools": [
        {
            "type": "custom",
            "custom": {
                "name": "run_sql",
                "description": "Runs one read-only SQL query.",
                "format": {
                    "type": "grammar",
                    "grammar": {"definition": "start: /SELECT .+/", "syntax": "lark"},
                },
            },
        },
        WEATHER_TOOL,
    ],
    "tool_choice": {"type": "custom", "custom": {"name": "run_sql"}},
    "reasoning_effort": "minimal",
    "verbosity": "low",
}

NULLS_AND_DEFAULTS: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Reply with a JSON object."}],
    "stream": False,
    "stream_options": None,
    "temperature": None,
    "top_p": None,
    "max_completion_tokens": None,
    "max_tokens": None,
    "stop": None,
    "n": None,
    "seed": None,
    "reasoning_effort": None,
    "metadata": None,
    "response_format": {"type": "json_object"},
    "logprobs": True,
    "top_logprobs": 3,
}

STREAM_OPTIONS_EXTRA: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "stream": True,
    "stream_options": {"include_usage": True, "include_obfuscation": False},
    "response_format": {"type": "text"},
}

NO_USAGE_REQUESTED: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": True,
    "stream_options": {"include_usage": False},
    "max_tokens": 100,
    "max_completion_tokens": 200,
}


# Nulls the spec does not allow, which lenient clients send anyway.
LENIENT_NULLS: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Hi"}],
    "tools": None,
    "tool_choice": None,
    "functions": None,
    "function_call": None,
    "parallel_tool_calls": None,
}


def _with_choice(choice: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": [WEATHER_TOOL, {"type": "function", "function": {"name": "get_time"}}],
        "tool_choice": choice,
    }


ROUND_TRIP_BODIES: dict[str, dict[str, Any]] = {
    "full_conversation": FULL_CONVERSATION,
    "sdk_echo": SDK_ECHO,
    "legacy_functions": LEGACY_FUNCTIONS,
    "media_and_refusals": MEDIA_AND_REFUSALS,
    "custom_tools": CUSTOM_TOOLS,
    "nulls_and_defaults": NULLS_AND_DEFAULTS,
    "lenient_nulls": LENIENT_NULLS,
    "stream_options_extra": STREAM_OPTIONS_EXTRA,
    "no_usage_requested": NO_USAGE_REQUESTED,
    "choice_none": _with_choice("none"),
    "choice_required": _with_choice("required"),
    "choice_named": _with_choice({"type": "function", "function": {"name": "get_weather"}}),
    "choice_allowed": _with_choice(
        {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [{"type": "function", "function": {"name": "get_time"}}],
            },
        }
    ),
    "choice_allowed_mixed": _with_choice(
        {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "auto",
                "tools": [
                    {"type": "function", "function": {"name": "get_weather"}},
                    {"type": "custom", "custom": {"name": "run_sql"}},
                ],
            },
        }
    ),
    "legacy_choice_auto": {**LEGACY_FUNCTIONS, "function_call": "auto"},
    "legacy_choice_none": {**LEGACY_FUNCTIONS, "function_call": "none"},
}
# Bodies real clients send that the spec does not allow (``tool_calls: null`` and the like).
NOT_SPEC_VALID = frozenset({"sdk_echo", "lenient_nulls"})


# ============================================================================ requests


@pytest.mark.parametrize("name", list(ROUND_TRIP_BODIES))
def test_request_round_trip_is_lossless(codec: OpenAIChatCodec, name: str) -> None:
    body = ROUND_TRIP_BODIES[name]
    if name not in NOT_SPEC_VALID:
        validate("openai", REQUEST, body)  # the fixture itself is a valid request
    untouched = copy.deepcopy(body)
    request = codec.read_request(body)
    assert body == untouched, "reading must not modify the caller's body"
    assert request.dialect == "openai"
    assert codec.write_request(request) == untouched


def test_request_fields_land_in_the_neutral_form(codec: OpenAIChatCodec) -> None:
    request = codec.read_request(copy.deepcopy(FULL_CONVERSATION))
    assert (request.model, request.stream, request.include_usage) == ("gpt-4.1", True, True)
    assert request.max_output_tokens == 1024
    assert (request.temperature, request.top_p, request.n, request.seed) == (0.2, 0.9, 1, 42)
    assert (request.presence_penalty, request.frequency_penalty) == (0.1, -0.2)
    assert request.stop == ["\n\nUser:", "END"]
    assert request.parallel_tool_calls is True
    assert request.reasoning == Reasoning(effort="low")
    assert (request.user, request.metadata) == ("user-1234", {"session": "s-42", "team": "weather"})
    assert request.tools == [Tool("get_weather", "Current weather for a city.", WEATHER_SCHEMA, strict=True)]
    assert request.tool_choice == ToolChoice("auto")
    assert request.response_format == ResponseFormat(
        "json_schema", "weather_report", REPORT_SCHEMA, strict=True, description="Temperatures per city."
    )
    assert request.extra == {
        "prompt_cache_key": "weather-bot-v1",
        "service_tier": "auto",
        "store": False,
        "logit_bias": {"50256": -100},
        "x_future_option": {"nested": [1, 2, {"deep": True}]},
    }
    system, developer, user, assistant, tool_a, tool_b, answer, last = request.messages
    assert system == Message("system", [TextPart("You are a terse weather assistant.")], as_text=True)
    assert developer == Message("developer", [TextPart("Prefer metric units.", cache=CacheHint())])
    assert user.name == "ada" and not user.as_text
    assert user.parts[1:] == [
        ImagePart(data_b64=PNG_B64, media_type="image/png", detail="high"),
        ImagePart(url="https://example.com/photos/bryggen.jpg"),
    ]
    assert assistant.parts == [
        ToolCall("call_Hq2VxK7cTm1pR4sJ", "get_weather", '{"city": "Bergen", "unit": "c"}'),
        ToolCall("call_7bYw0LzQe3NdVu8A", "get_weather", '{"city": "Oslo", "unit": "c"}'),
    ]
    assert assistant.extra == {"content": None, "refusal": None}
    assert tool_a == Message(
        "tool",
        [ToolResult("call_Hq2VxK7cTm1pR4sJ", [TextPart('{"temp_c": 9, "sky": "rain"}')], as_text=True)],
    )
    assert tool_b.parts == [ToolResult("call_7bYw0LzQe3NdVu8A", [TextPart('{"temp_c": 3, "sky": "clear"}')])]
    assert answer.as_text and answer.text() == "Bergen: 9 °C and rain. Oslo: 3 °C and clear."
    assert last.role == "user"


def test_legacy_fields_map_to_tools_and_pair_their_ids(codec: OpenAIChatCodec) -> None:
    request = codec.read_request(copy.deepcopy(LEGACY_FUNCTIONS))
    assert request.max_output_tokens == 256
    assert request.stop == ["\n\n"]
    assert request.tools == [Tool("get_weather", "Current weather for a city.", WEATHER_SCHEMA)]
    assert request.tool_choice == ToolChoice("tool", name="get_weather")
    call = request.messages[1].parts[0]
    result = request.messages[2].parts[0]
    assert isinstance(call, ToolCall) and isinstance(result, ToolResult)
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Paris"}')
    assert result.call_id == call.id and result.name == "get_weather"
    assert request.messages[2].role == "tool"


def test_media_parts_and_refusals(codec: OpenAIChatCodec) -> None:
    request = codec.read_request(copy.deepcopy(MEDIA_AND_REFUSALS))
    user, partial, refused, reasoned, audio, empty = request.messages
    assert user.parts == [
        TextPart("Summarise these.", extra={"cache_control": {"type": "ephemeral"}}),
        AudioPart("UklGRiQAAABXQVZF", "wav"),
        FilePart(data_b64="JVBERi0xLjQK", media_type="application/pdf", filename="report.pdf"),
        FilePart(file_id="file-6F2ksmvXxt4VdoqmHRw6kL"),
        FilePart(data_b64="AAECAwQ=", filename="raw.bin"),
        ImagePart(url="https://example.com/chart.png", detail="low"),
    ]
    assert [type(p) for p in partial.parts] == [TextPart, RefusalPart]
    assert refused.parts == [RefusalPart("I can't help with that.")]
    assert reasoned.parts == [ReasoningPart("The user wants a summary."), TextPart("Here.")]
    assert audio.extra == {"audio": {"id": "audio_abc123"}}
    assert empty.as_text and empty.parts == []
    assert request.extra == {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}


def test_tool_choice_forms(codec: OpenAIChatCodec) -> None:
    def choice(name: str) -> ToolChoice | None:
        return codec.read_request(copy.deepcopy(ROUND_TRIP_BODIES[name])).tool_choice

    assert choice("choice_none") == ToolChoice("none")
    assert choice("choice_required") == ToolChoice("required")
    assert choice("choice_named") == ToolChoice("tool", name="get_weather")
    assert choice("choice_allowed") == ToolChoice("required", allowed=["get_time"])
    mixed = choice("choice_allowed_mixed")
    assert mixed is not None and (mixed.mode, mixed.allowed) == ("auto", ["get_weather", "run_sql"])
    custom = codec.read_request(copy.deepcopy(CUSTOM_TOOLS))
    assert custom.tool_choice is not None and (custom.tool_choice.mode, custom.tool_choice.name) == (
        "tool",
        "run_sql",
    )
    assert custom.tools is not None and custom.tools[0].name == "run_sql"
    call = custom.messages[1].parts[0]
    assert isinstance(call, ToolCall) and (call.name, call.arguments) == ("run_sql", "SELECT count(*)")


def test_changed_neutral_values_win_over_kept_originals(codec: OpenAIChatCodec) -> None:
    request = codec.read_request(copy.deepcopy(LEGACY_FUNCTIONS))
    request.model = "gpt-4o-mini"
    request.stop = ["a", "b"]
    request.max_output_tokens = 99
    assert request.tools is not None
    request.tools.append(Tool("get_time"))
    request.tool_choice = ToolChoice("required")  # the legacy function_call cannot say "required"
    call = request.messages[1].parts[0]
    assert isinstance(call, ToolCall)
    call.arguments = '{"city": "Lyon"}'
    out = codec.write_request(request)
    assert out["model"] == "gpt-4o-mini"
    assert out["stop"] == ["a", "b"]
    assert out["max_tokens"] == 99 and "max_completion_tokens" not in out
    assert [f["name"] for f in out["functions"]] == ["get_weather", "get_time"] and "tools" not in out
    assert out["tool_choice"] == "required" and "function_call" not in out
    assert out["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
            }
        ],
    }
    request.stop = request.max_output_tokens = request.tools = request.tool_choice = None
    out = codec.write_request(request)
    for key in ("stop", "max_tokens", "max_completion_tokens", "functions", "tools", "function_call"):
        assert key not in out, key


def test_usage_switch_and_cache_hint_edits(codec: OpenAIChatCodec) -> None:
    request = codec.read_request(copy.deepcopy(FULL_CONVERSATION))
    request.include_usage = False
    developer = request.messages[1].parts[0]
    assert isinstance(developer, TextPart)
    developer.cache = None
    out = codec.write_request(request)
    assert "stream_options" not in out
    assert out["messages"][1]["content"] == [{"type": "text", "text": "Prefer metric units."}]
    request = codec.read_request(copy.deepcopy(STREAM_OPTIONS_EXTRA))
    request.include_usage = False
    assert codec.write_request(request)["stream_options"] == {"include_obfuscation": False}


# ---------------------------------------------------------------------------- another dialect


def _foreign_request() -> ChatRequest:
    return ChatRequest(
        model="gpt-4.1",
        dialect="test",
        stream=True,
        include_usage=True,
        max_output_tokens=512,
        temperature=0.5,
        top_k=40,
        stop=["END"],
        messages=[
            Message(
                "system",
                [
                    TextPart(
                        "Be terse.", cache=CacheHint(ttl="5m"), extra={"cache_control": {"type": "ephemeral"}}
                    )
                ],
                extra={"foreign": 1},
            ),
            Message(
                "user",
                [
                    TextPart("Weather in Oslo and Bergen?"),
                    ImagePart(data_b64="/9j/4AAQ", media_type="image/jpeg"),
                    ImagePart(url="https://example.com/map.png", detail="auto"),
                    FilePart(data_b64="JVBERi0xLjQK", media_type="application/pdf", filename="report.pdf"),
                    FilePart(text="Oslo is in Norway.", filename="notes.txt"),
                ],
                as_text=False,
            ),
            Message(
                "assistant",
                [
                    ReasoningPart("They want two cities.", signature="EqQBCkgIARABGAIiQL"),
                    TextPart("Checking."),
                    ToolCall("toolu_01A", "get_weather", '{"city":"Oslo"}', extra={"caller": "x"}),
                    ToolCall("toolu_01B", "get_weather", '{"city":"Bergen"}', signature="gemini-sig"),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult(
                        "toolu_01A",
                        [TextPart('{"temp_c":3}'), ImagePart(data_b64="iVBORw0K", media_type="image/png")],
                    ),
                    ToolResult("toolu_01B", [TextPart("city not found")], is_error=True),
                    TextPart("And tomorrow?"),
                ],
            ),
        ],
        tools=[
            Tool(
                "get_weather",
                "Weather for a city.",
                WEATHER_SCHEMA,
                strict=True,
                cache=CacheHint(),
                extra={"x": 1},
            )
        ],
        tool_choice=ToolChoice("tool", name="get_weather", extra={"disable_parallel_tool_use": True}),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", schema=REPORT_SCHEMA, strict=True),
        reasoning=Reasoning(budget_tokens=10000),
        user="u-1",
        metadata={"tenant": "acme"},
        extra={"anthropic_only": True, "thinking": {"type": "enabled", "budget_tokens": 10000}},
    )


def test_foreign_request_is_written_from_neutral_fields_only(codec: OpenAIChatCodec) -> None:
    out = codec.write_request(_foreign_request())
    assert out == {
        "model": "gpt-4.1",
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "Be terse.", "prompt_cache_breakpoint": {"mode": "explicit"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Oslo and Bergen?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/map.png", "detail": "auto"},
                    },
                    {
                        "type": "file",
                        "file": {
                            "filename": "report.pdf",
                            "file_data": "data:application/pdf;base64,JVBERi0xLjQK",
                        },
                    },
                    {"type": "text", "text": "notes.txt\n\nOslo is in Norway."},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_01A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {
                        "id": "toolu_01B",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Bergen"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01A", "content": '{"temp_c":3}'},
            {"role": "tool", "tool_call_id": "toolu_01B", "content": "Error: city not found"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 512,
        "temperature": 0.5,
        "stop": ["END"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city.",
                    "parameters": WEATHER_SCHEMA,
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": REPORT_SCHEMA, "strict": True},
        },
        "reasoning_effort": "high",
        "user": "u-1",
        "metadata": {"tenant": "acme"},
    }
    validate("openai", REQUEST, out, closed=True)


def test_foreign_plain_text_messages_use_string_content(codec: OpenAIChatCodec) -> None:
    request = ChatRequest(
        model="m",
        dialect="test",
        messages=[
            Message("system", [TextPart("Be kind.")], as_text=True),
            Message("user", [TextPart("Hello")], as_text=True),
            Message("assistant", [ToolCall("c1", "f", "{}")]),
            Message("tool", [ToolResult("c1", [TextPart("ok")], cache=CacheHint())]),
            Message("assistant", []),
        ],
        tools=[],
        include_usage=True,  # without stream: no stream_options
    )
    out = codec.write_request(request)
    assert out == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Hello"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "c1",
                "content": [{"type": "text", "text": "ok", "prompt_cache_breakpoint": {"mode": "explicit"}}],
            },
            {"role": "assistant", "content": ""},
        ],
    }
    validate("openai", REQUEST, out, closed=True)


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        (Reasoning(effort="max"), "max"),
        (Reasoning(budget_tokens=0), "none"),
        (Reasoning(budget_tokens=1024), "low"),
        (Reasoning(budget_tokens=2048), "medium"),
        (Reasoning(budget_tokens=8191), "medium"),
        (Reasoning(budget_tokens=8192), "high"),
        (Reasoning(budget_tokens=24576), "xhigh"),
        (Reasoning(include_thoughts=True), None),
    ],
)
def test_foreign_reasoning_budget_becomes_an_effort(
    codec: OpenAIChatCodec, reasoning: Reasoning, effort: str | None
) -> None:
    request = ChatRequest(model="o4-mini", messages=[Message("user", [TextPart("hi")])], dialect="test")
    request.reasoning = reasoning
    assert codec.write_request(request).get("reasoning_effort") == effort


def test_foreign_document_by_url_is_refused(codec: OpenAIChatCodec) -> None:
    request = ChatRequest(
        model="m",
        dialect="test",
        messages=[Message("user", [FilePart(url="https://example.com/a.pdf", media_type="application/pdf")])],
    )
    with pytest.raises(GatewayError) as caught:
        codec.write_request(request)
    assert caught.value.code is ErrorCode.INVALID_REQUEST and "URL" in caught.value.message


# ---------------------------------------------------------------------------- invalid requests

_USER = {"role": "user", "content": "hi"}
_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [_USER], **fields}


def _history(*messages: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages)}


INVALID_REQUESTS: list[tuple[str, Any, str]] = [
    ("body not an object", [], "body"),
    ("model missing", {"messages": [_USER]}, "model"),
    ("model not a string", _body(model=4), "model"),
    ("model empty", _body(model=""), "model"),
    ("messages missing", {"model": "gpt-4o"}, "messages"),
    ("messages not a list", _body(messages="hi"), "messages"),
    ("messages empty", _body(messages=[]), "messages"),
    ("message not an object", _history("hi"), "messages[0]"),
    ("role missing", _history({"content": "hi"}), "messages[0].role"),
    ("role unknown", _history({"role": "robot", "content": "hi"}), "messages[0].role"),
    ("role not a string", _history({"role": 3, "content": "hi"}), "messages[0].role"),
    ("name not a string", _history({"role": "user", "content": "hi", "name": 7}), "messages[0].name"),
    ("content missing", _history({"role": "user"}), "messages[0].content"),
    ("content null for user", _history({"role": "system", "content": None}), "messages[0].content"),
    ("content a number", _history({"role": "user", "content": 5}), "messages[0].content"),
    ("part not an object", _history({"role": "user", "content": ["hi"]}), "messages[0].content[0]"),
    (
        "part type unknown",
        _history({"role": "user", "content": [{"type": "video_url", "video_url": {}}]}),
        "messages[0].content[0].type",
    ),
    (
        "part type missing",
        _history({"role": "user", "content": [{"text": "hi"}]}),
        "messages[0].content[0].type",
    ),
    (
        "text part without text",
        _history({"role": "user", "content": [{"type": "text"}]}),
        "messages[0].content[0].text",
    ),
    (
        "image_url a string",
        _history({"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}),
        "messages[0].content[0].image_url",
    ),
    (
        "image url missing",
        _history({"role": "user", "content": [{"type": "image_url", "image_url": {"detail": "low"}}]}),
        "messages[0].content[0].image_url.url",
    ),
    (
        "audio format missing",
        _history({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklG"}}]}),
        "messages[0].content[0].input_audio.format",
    ),
    (
        "file data not a string",
        _history({"role": "user", "content": [{"type": "file", "file": {"file_data": 1}}]}),
        "messages[0].content[0].file.file_data",
    ),
    (
        "tool_calls not a list",
        _history(_USER, {"role": "assistant", "tool_calls": {}}),
        "messages[1].tool_calls",
    ),
    (
        "tool call function not an object",
        _history(
            _USER, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": "f()"}]}
        ),
        "messages[1].tool_calls[0].function",
    ),
    (
        "tool call arguments an object",
        _history(
            _USER,
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}],
            },
        ),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool call id missing",
        _history(_USER, {"role": "assistant", "tool_calls": [{"type": "function", "function": {}}]}),
        "messages[1].tool_calls[0].id",
    ),
    (
        "tool call type unknown",
        _history(_USER, {"role": "assistant", "tool_calls": [{**_CALL, "type": "weird"}]}),
        "messages[1].tool_calls[0].type",
    ),
    (
        "assistant refusal not a string",
        _history(_USER, {"role": "assistant", "refusal": True}),
        "messages[1].refusal",
    ),
    (
        "legacy function_call not an object",
        _history(_USER, {"role": "assistant", "function_call": "f"}),
        "messages[1].function_call",
    ),
    (
        "tool message without tool_call_id",
        _history(_USER, {"role": "assistant", "tool_calls": [_CALL]}, {"role": "tool", "content": "ok"}),
        "messages[2].tool_call_id",
    ),
    (
        "tool message content null",
        _history(_USER, {"role": "tool", "tool_call_id": "c", "content": None}),
        "messages[1].content",
    ),
    (
        "function message without name",
        _history(_USER, {"role": "function", "content": "x"}),
        "messages[1].name",
    ),
    ("temperature a string", _body(temperature="hot"), "temperature"),
    ("temperature a boolean", _body(temperature=True), "temperature"),
    ("top_p a list", _body(top_p=[]), "top_p"),
    ("presence_penalty an object", _body(presence_penalty={}), "presence_penalty"),
    ("max_tokens a float", _body(max_tokens=10.5), "max_tokens"),
    ("max_completion_tokens a string", _body(max_completion_tokens="100"), "max_completion_tokens"),
    ("n a string", _body(n="2"), "n"),
    ("seed a float", _body(seed=1.5), "seed"),
    ("stream a string", _body(stream="yes"), "stream"),
    ("stream_options a string", _body(stream_options="usage"), "stream_options"),
    (
        "include_usage a string",
        _body(stream_options={"include_usage": "yes"}),
        "stream_options.include_usage",
    ),
    ("stop a number", _body(stop=5), "stop"),
    ("stop with a number", _body(stop=["a", 1]), "stop"),
    ("tools an object", _body(tools={}), "tools"),
    ("tool not an object", _body(tools=["get_weather"]), "tools[0]"),
    ("tool type unknown", _body(tools=[{"type": "web_search"}]), "tools[0].type"),
    ("tool function missing", _body(tools=[{"type": "function"}]), "tools[0].function"),
    (
        "tool name not a string",
        _body(tools=[{"type": "function", "function": {"name": 3}}]),
        "tools[0].function.name",
    ),
    (
        "tool parameters not an object",
        _body(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
        "tools[0].function.parameters",
    ),
    (
        "tool strict a string",
        _body(tools=[{"type": "function", "function": {"name": "f", "strict": "yes"}}]),
        "tools[0].function.strict",
    ),
    ("legacy function without name", _body(functions=[{"description": "x"}]), "functions[0].name"),
    ("tool_choice unknown string", _body(tool_choice="sometimes"), "tool_choice"),
    ("tool_choice a number", _body(tool_choice=1), "tool_choice"),
    ("tool_choice type unknown", _body(tool_choice={"type": "magic"}), "tool_choice.type"),
    ("tool_choice function missing", _body(tool_choice={"type": "function"}), "tool_choice.function"),
    (
        "tool_choice name missing",
        _body(tool_choice={"type": "function", "function": {}}),
        "tool_choice.function.name",
    ),
    (
        "allowed_tools mode unknown",
        _body(tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "none", "tools": []}}),
        "tool_choice.allowed_tools.mode",
    ),
    (
        "allowed_tools entry not an object",
        _body(tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": ["f"]}}),
        "tool_choice.allowed_tools.tools[0]",
    ),
    ("legacy function_call unknown", _body(function_call="always"), "function_call"),
    ("parallel_tool_calls a string", _body(parallel_tool_calls="yes"), "parallel_tool_calls"),
    ("response_format type unknown", _body(response_format={"type": "xml"}), "response_format.type"),
    (
        "json_schema missing",
        _body(response_format={"type": "json_schema"}),
        "response_format.json_schema",
    ),
    (
        "json_schema name missing",
        _body(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        "response_format.json_schema.name",
    ),
    (
        "json_schema schema not an object",
        _body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": "{}"}}),
        "response_format.json_schema.schema",
    ),
    ("reasoning_effort unknown", _body(reasoning_effort="extreme"), "reasoning_effort"),
    ("reasoning_effort a number", _body(reasoning_effort=3), "reasoning_effort"),
    ("metadata value a number", _body(metadata={"a": 1}), "metadata.a"),
    ("metadata a string", _body(metadata="x"), "metadata"),
    ("user a number", _body(user=5), "user"),
]


@pytest.mark.parametrize(("case", "body", "param"), INVALID_REQUESTS, ids=[c[0] for c in INVALID_REQUESTS])
def test_invalid_request_is_a_400_naming_the_field(
    codec: OpenAIChatCodec, case: str, body: Any, param: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        codec.read_request(body)
    error = caught.value
    assert (error.code, error.status, error.param) == (ErrorCode.INVALID_REQUEST, 400, param)
    assert f"'{param}'" in error.message


# ============================================================================ responses

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

_LOGPROBS = {
    "content": [{"token": "Hi", "logprob": -0.0001, "bytes": [72, 105], "top_logprobs": []}],
    "refusal": None,
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
            "logprobs": _LOGPROBS,
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

RESPONSES = {
    "tool_calls": TOOL_CALL_RESPONSE,
    "multi_choice": MULTI_CHOICE_RESPONSE,
    "deepseek": DEEPSEEK_RESPONSE,
    "legacy_function": LEGACY_FUNCTION_RESPONSE,
    "audio": AUDIO_RESPONSE,
}


# DeepSeek leaves out ``refusal``; some upstreams send ``usage: null``: the spec requires both.
RESPONSES_NOT_SPEC_VALID = frozenset({"deepseek", "legacy_function"})


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


# ============================================================================ stream helpers


def sse(*chunks: Any, done: bool = True) -> bytes:
    """An upstream stream: one ``data:`` frame per chunk, then ``[DONE]``."""
    frames = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
    return b"".join(frames) + (b"data: [DONE]\n\n" if done else b"")


def frames(raw: bytes) -> list[Any]:
    """The data of each frame: parsed JSON, or the literal ``[DONE]``."""
    return [e.data if e.data == "[DONE]" else orjson.loads(e.data) for e in SSEParser().feed(raw)]


def read_all(raw: bytes) -> tuple[list[StreamBatch], OpenAIChatStreamReader]:
    reader = OpenAIChatStreamReader()
    batches = [b for e in SSEParser().feed(raw) if (b := reader.feed(e)) is not None]
    return batches, reader


def write_all(batches: list[StreamBatch], request: ChatRequest) -> tuple[bytes, list[bytes]]:
    writer = OpenAIChatStreamWriter(request)
    per_batch = [writer.write(b) for b in batches]
    return b"".join(per_batch) + writer.close(), per_batch


def stream_request(include_usage: bool = True, model: str = "gpt-4.1") -> ChatRequest:
    return ChatRequest(model=model, messages=[], dialect="openai", stream=True, include_usage=include_usage)


def sdk_chunks(raw: bytes) -> list[ChatCompletionChunk]:
    """The chunks the official SDK's own SSE decoder yields for these bytes (raises on errors)."""
    response = httpx2.Response(
        200,
        content=raw,
        headers={"content-type": "text/event-stream"},
        request=httpx2.Request("POST", "http://gateway.test/v1/chat/completions"),
    )
    client = openai.OpenAI(api_key="sk-test", base_url="http://gateway.test/v1")
    return list(openai.Stream(cast_to=ChatCompletionChunk, response=response, client=client))


def sdk_state(raw: bytes, tools: list[dict[str, Any]] | None = None) -> ChatCompletionStreamState[None]:
    """The SDK's stream accumulator after it handled every chunk of ``raw``."""
    state: ChatCompletionStreamState[None] = (
        ChatCompletionStreamState(input_tools=tools) if tools else ChatCompletionStreamState()
    )
    for chunk in sdk_chunks(raw):
        list(state.handle_chunk(chunk))
    return state


def accumulate(raw: bytes, tools: list[dict[str, Any]] | None = None) -> ParsedChatCompletion[None]:
    return sdk_state(raw, tools).get_final_completion()


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    parsed = frames(raw)
    assert parsed[-1] == "[DONE]" and "[DONE]" not in parsed[:-1]
    return parsed[:-1]


# ============================================================================ streams: same dialect

FIXTURE = (DATA / "openai_chat_stream_tool_calls.sse").read_bytes()
CALL_A, CALL_B = "call_Hq2VxK7cTm1pR4sJ", "call_7bYw0LzQe3NdVu8A"


def test_recorded_stream_relays_frame_for_frame() -> None:
    batches, reader = read_all(FIXTURE)
    assert reader.finished
    out, per_batch = write_all(batches, stream_request())
    assert len(per_batch) == len(batches) == 13
    assert all(len(frames(b)) == 1 for b in per_batch)
    assert frames(out) == frames(FIXTURE)
    validate_all("openai", CHUNK, chunks_of(out), closed=True)


def test_recorded_stream_events() -> None:
    batches, _ = read_all(FIXTURE)
    events = [b.events for b in batches]
    assert events == [
        [
            StreamStart("chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3", "gpt-4.1-2025-04-14", 1767225600),
            RoleStart(),
            TextDelta(""),
        ],
        [TextDelta("Let me")],
        [TextDelta(" check both")],
        [TextDelta(" cities.")],
        [ToolCallStart(0, CALL_A, "get_weather"), ToolCallDelta(0, "")],
        [ToolCallDelta(0, '{"ci')],
        [ToolCallDelta(0, 'ty": "Ber')],
        [ToolCallDelta(0, 'gen", "unit": "c"}')],
        [ToolCallStart(1, CALL_B, "get_weather"), ToolCallDelta(1, "")],
        [ToolCallDelta(1, '{"city": "O')],
        [ToolCallDelta(1, 'slo", "unit": "c"}')],
        [Finish(FinishReason.TOOL_CALLS)],
        [
            UsageReport(
                Usage(
                    412,
                    58,
                    cache_read_tokens=256,
                    reasoning_tokens=0,
                    total_tokens=470,
                    extra={
                        "prompt_tokens_details": {"audio_tokens": 0},
                        "completion_tokens_details": {
                            "audio_tokens": 0,
                            "accepted_prediction_tokens": 0,
                            "rejected_prediction_tokens": 0,
                        },
                    },
                )
            )
        ],
    ]
    assert batches[0].extra == {
        "service_tier": "default",
        "system_fingerprint": "fp_51e1070cf2",
        "obfuscation": "Xy7q",
        "usage": None,
        "choices": [{"index": 0, "logprobs": None, "delta": {"refusal": None}}],
    }
    assert all(b.dialect == "openai" for b in batches)


def test_caller_without_include_usage_gets_no_usage() -> None:
    batches, _ = read_all(FIXTURE)
    out, per_batch = write_all(batches, stream_request(include_usage=False))
    assert per_batch[-1] == b""
    written = chunks_of(out)
    assert len(written) == 12
    assert all("usage" not in c for c in written)
    expected = [{k: v for k, v in c.items() if k != "usage"} for c in chunks_of(FIXTURE)[:-1]]
    assert written == expected


def _chunk(choices: list[Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-9f8e",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "upstream-model",
        "choices": choices,
        **fields,
    }


def _choice(
    delta: dict[str, Any], finish: str | None = None, index: int = 0, **fields: Any
) -> dict[str, Any]:
    return {"index": index, "delta": delta, **fields, "finish_reason": finish}


NATIVE_STREAMS: dict[str, list[dict[str, Any]]] = {
    # DeepSeek / vLLM style: reasoning deltas, whole arguments in the first fragment, usage on
    # the finishing chunk, provider-specific usage fields.
    "compat_provider": [
        _chunk([_choice({"role": "assistant", "content": None, "reasoning_content": ""}, logprobs=None)]),
        _chunk([_choice({"content": None, "reasoning_content": "User wants"}, logprobs=None)]),
        _chunk([_choice({"content": None, "reasoning_content": " the weather."}, logprobs=None)]),
        _chunk(
            [
                _choice(
                    {
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_00_xyz",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                            }
                        ],
                    },
                    logprobs=None,
                )
            ]
        ),
        _chunk(
            [_choice({"content": ""}, "tool_calls", logprobs=None)],
            usage={
                "prompt_tokens": 20,
                "completion_tokens": 30,
                "total_tokens": 50,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 12},
                "prompt_cache_hit_tokens": 0,
                "prompt_cache_miss_tokens": 20,
            },
        ),
    ],
    # Two fragments of one call in one chunk, a first fragment without arguments, and a
    # fragment field the neutral form does not know (Gemini's thought signature).
    "fragment_shapes": [
        _chunk(
            [
                _choice(
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "a", "arguments": ""},
                            },
                            {"index": 0, "function": {"arguments": "{}"}},
                        ],
                    }
                )
            ]
        ),
        _chunk(
            [
                _choice(
                    {
                        "tool_calls": [
                            {"index": 1, "id": "call_2", "type": "function", "function": {"name": "b"}}
                        ]
                    }
                )
            ]
        ),
        _chunk(
            [
                _choice(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "function": {"arguments": '{"x": 1}'},
                                "extra_content": {"google": {"thought_signature": "c2ln"}},
                            }
                        ]
                    }
                )
            ]
        ),
        _chunk([_choice({}, "tool_calls")]),
    ],
    "two_choices_with_logprobs": [
        _chunk(
            [
                _choice({"role": "assistant", "content": ""}, logprobs={"content": [], "refusal": None}),
                _choice(
                    {"role": "assistant", "content": ""}, index=1, logprobs={"content": [], "refusal": None}
                ),
            ]
        ),
        _chunk([_choice({"content": "Hi"}, logprobs=_LOGPROBS)]),
        _chunk([_choice({"content": "Hello"}, index=1, logprobs=_LOGPROBS)]),
        _chunk([_choice({}, "stop", logprobs=None), _choice({}, "length", index=1, logprobs=None)]),
    ],
    "refusal": [
        _chunk([_choice({"role": "assistant", "content": None, "refusal": ""})]),
        _chunk([_choice({"refusal": "I can't"})]),
        _chunk([_choice({"refusal": " help with that."})]),
        _chunk([_choice({}, "content_filter")]),
    ],
    "legacy_function_call": [
        _chunk(
            [_choice({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": ""}})]
        ),
        _chunk([_choice({"function_call": {"arguments": "{}"}})]),
        _chunk([_choice({}, "function_call")]),
    ],
    # Azure sends a prompt-filter chunk without identity first, and filter results per choice.
    "azure_filters": [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [
                {
                    "prompt_index": 0,
                    "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
                }
            ],
        },
        _chunk([_choice({"role": "assistant", "content": ""})]),
        _chunk([_choice({"content": "Hi"}, content_filter_results={"hate": {"filtered": False}})]),
        _chunk([_choice({}, "stop")]),
    ],
    "identity_changes": [
        _chunk([_choice({"role": "assistant", "content": "a"})]),
        {**_chunk([_choice({"content": "b"})]), "model": "upstream-model-v2", "created": 1767225601},
        _chunk([_choice({}, "stop", native_finish_reason="eos")]),
    ],
}
SPEC_VALID_STREAMS = ("fragment_shapes", "two_choices_with_logprobs", "refusal", "legacy_function_call")


@pytest.mark.parametrize("name", list(NATIVE_STREAMS))
def test_same_dialect_stream_round_trip(name: str) -> None:
    raw = sse(*NATIVE_STREAMS[name])
    batches, reader = read_all(raw)
    assert reader.finished and len(batches) == len(NATIVE_STREAMS[name])
    out, _ = write_all(batches, stream_request())
    assert frames(out) == frames(raw)
    if name in SPEC_VALID_STREAMS:
        validate_all("openai", CHUNK, chunks_of(out))


def test_compat_stream_events() -> None:
    batches, _ = read_all(sse(*NATIVE_STREAMS["compat_provider"]))
    assert batches[0].events[1:] == [RoleStart(), ReasoningDelta("")]
    assert batches[3].events == [
        ToolCallStart(0, "call_00_xyz", "get_weather"),
        ToolCallDelta(0, '{"city": "Oslo"}'),
    ]
    assert batches[4].events[:2] == [TextDelta(""), Finish(FinishReason.TOOL_CALLS)]
    report = batches[4].events[2]
    assert isinstance(report, UsageReport) and report.usage.reasoning_tokens == 12
    assert report.usage.extra == {"prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 20}
    # Without include_usage the finishing chunk stays, minus its usage.
    out, _ = write_all(batches, stream_request(include_usage=False))
    assert (
        "usage" not in chunks_of(out)[-1]
        and chunks_of(out)[-1]["choices"][0]["finish_reason"] == "tool_calls"
    )


def test_reader_normalises_broken_tool_call_indexes() -> None:
    """Some providers repeat the id on every fragment, or reuse index 0 for parallel calls."""
    raw = sse(
        _chunk([_choice({"role": "assistant", "tool_calls": [_frag(0, "c1", "a", "{")]})]),
        _chunk([_choice({"tool_calls": [_frag(0, "c1", "a", "}")]})]),
        _chunk([_choice({"tool_calls": [_frag(0, "c2", "b", "{}")]})]),
        _chunk([_choice({}, "tool_calls")]),
    )
    batches, _ = read_all(raw)
    assert [e for b in batches for e in b.events if isinstance(e, ToolCallStart | ToolCallDelta)] == [
        ToolCallStart(0, "c1", "a"),
        ToolCallDelta(0, "{"),
        ToolCallDelta(0, "}"),
        ToolCallStart(1, "c2", "b"),
        ToolCallDelta(1, "{}"),
    ]
    out, _ = write_all(batches, stream_request(include_usage=False))
    final = accumulate(out)
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("c1", "a", "{}"),
        ("c2", "b", "{}"),
    ]


def _frag(index: int, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


# ---------------------------------------------------------------------------- reader failures


def _feed(data: str, event: str | None = None) -> tuple[StreamBatch | None, OpenAIChatStreamReader]:
    reader = OpenAIChatStreamReader()
    return reader.feed(SSEEvent(event, data)), reader


@pytest.mark.parametrize(
    ("data", "event", "status", "code", "message"),
    [
        (
            '{"error":{"message":"The server had an error while processing your request.",'
            '"type":"server_error","param":null,"code":null}}',
            None,
            502,
            "upstream_error",
            "The server had an error while processing your request.",
        ),
        (
            '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":429}}',
            None,
            429,
            "rate_limited",
            "Rate limit reached",
        ),
        ('{"message":"Overloaded","status":503}', "error", 503, "upstream_overloaded", "Overloaded"),
        ('{"error":"boom"}', None, 502, "upstream_error", "The upstream reported an error"),
        ("{not json", None, 502, "upstream_error", "not valid JSON"),
        ("[1, 2]", None, 502, "upstream_error", "not a JSON object"),
        ("42", None, 502, "upstream_error", "not a JSON object"),
        (
            '{"id":"x","choices":[{"index":0,"delta":{"content":5}}]}',
            None,
            502,
            "upstream_error",
            "choices[0].delta.content",
        ),
        ('{"id":5,"choices":[]}', None, 502, "upstream_error", "'id'"),
        (
            '{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":"f"}]}}]}',
            None,
            502,
            "upstream_error",
            "choices[0].delta.tool_calls[0].function",
        ),
        (
            '{"id":"x","choices":[],"usage":{"prompt_tokens":"1"}}',
            None,
            502,
            "upstream_error",
            "usage.prompt_tokens",
        ),
    ],
)
def test_reader_turns_failures_into_a_stream_failure(
    data: str, event: str | None, status: int, code: str, message: str
) -> None:
    batch, reader = _feed(data, event)
    assert batch is not None and len(batch.events) == 1
    failure = batch.events[0]
    assert isinstance(failure, StreamFailure)
    assert (failure.status, failure.code) == (status, code)
    assert message in failure.message
    assert reader.finished
    assert reader.feed(SSEEvent(None, '{"id":"y","choices":[]}')) is None


def test_reader_done_and_keepalives() -> None:
    reader = OpenAIChatStreamReader()
    assert reader.feed(SSEEvent(None, "")) is None
    assert not reader.finished
    assert reader.feed(SSEEvent(None, "[DONE]")) is None
    assert reader.finished
    assert reader.feed(SSEEvent(None, '{"id":"late","choices":[]}')) is None


def test_upstream_error_object_is_relayed_as_it_came() -> None:
    error = {"message": "Context too long", "type": "invalid_request_error", "param": None, "code": "x"}
    raw = sse(_chunk([_choice({"role": "assistant", "content": "Hi"})]), {"error": error}, done=False)
    batches, _ = read_all(raw)
    writer = OpenAIChatStreamWriter(stream_request())
    out = b"".join(writer.write(b) for b in batches)
    assert frames(out)[-1] == {"error": error}
    assert writer.close() == b"" and writer.fail(GatewayError(ErrorCode.INTERNAL, "x")) == b""


# ============================================================================ streams: another dialect

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
