"""OpenAI Chat Completions codec: requests to and from the neutral form.

Same-dialect round trips must give back equal JSON, and changed neutral values must win over the
originals kept in the residual.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openai_chat_helpers import REPORT_SCHEMA, REQUEST, WEATHER_SCHEMA, WEATHER_TOOL

from support.schemas import validate
from torouter.router.ir import (
    AudioPart,
    CacheHint,
    FilePart,
    ImagePart,
    Message,
    Reasoning,
    ReasoningPart,
    RefusalPart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from torouter.router.protocols.openai.chat import OpenAIChatCodec

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

# A cache breakpoint on parts whose neutral form has no cache hint: it stays in their residual.
CACHE_ON_AUDIO_AND_REFUSAL: dict[str, Any] = {
    "model": "gpt-4o-audio-preview",
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "input_audio",
                    "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"},
                    "prompt_cache_breakpoint": {"mode": "explicit"},
                }
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Partly: "},
                {
                    "type": "refusal",
                    "refusal": "not that.",
                    "prompt_cache_breakpoint": {"mode": "explicit"},
                },
            ],
        },
        {"role": "user", "content": "Fine."},
    ],
}

# Both spellings of a field with a deprecated twin: the current one is the neutral value.
BOTH_SPELLINGS: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "tools": [WEATHER_TOOL],
    "functions": [
        {"name": "get_weather", "description": "Current weather for a city.", "parameters": WEATHER_SCHEMA}
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "function_call": "auto",
    "max_tokens": 100,
    "max_completion_tokens": 200,
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
    "cache_on_audio_and_refusal": CACHE_ON_AUDIO_AND_REFUSAL,
    "both_spellings": BOTH_SPELLINGS,
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


def test_cache_breakpoint_on_audio_and_refusal_stays_in_the_residual(codec: OpenAIChatCodec) -> None:
    request = codec.read_request(copy.deepcopy(CACHE_ON_AUDIO_AND_REFUSAL))
    audio = request.messages[0].parts[0]
    refusal = request.messages[1].parts[1]
    assert isinstance(audio, AudioPart) and isinstance(refusal, RefusalPart)
    assert audio.extra["prompt_cache_breakpoint"] == {"mode": "explicit"}
    assert refusal.extra["prompt_cache_breakpoint"] == {"mode": "explicit"}
    audio.data_b64 = "AAAA"  # an edited part keeps its breakpoint too
    out = codec.write_request(request)
    assert out["messages"][0]["content"][0] == {
        "type": "input_audio",
        "input_audio": {"data": "AAAA", "format": "wav"},
        "prompt_cache_breakpoint": {"mode": "explicit"},
    }


def test_changed_neutral_value_drops_the_stale_twin(codec: OpenAIChatCodec) -> None:
    """A caller who sent both spellings gets both back untouched; a changed value is written once."""
    request = codec.read_request(copy.deepcopy(BOTH_SPELLINGS))
    assert request.max_output_tokens == 200
    assert request.tool_choice == ToolChoice("tool", name="get_weather")
    assert request.tools is not None
    request.max_output_tokens = 50
    request.tools.append(Tool("get_time"))
    request.tool_choice = ToolChoice("tool", name="get_time")
    out = codec.write_request(request)
    assert out["max_completion_tokens"] == 50 and "max_tokens" not in out
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather", "get_time"]
    assert "functions" not in out
    assert out["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert "function_call" not in out
    validate("openai", REQUEST, out)
    # One field changed, the others untouched: only the changed one loses its twin.
    request = codec.read_request(copy.deepcopy(BOTH_SPELLINGS))
    request.max_output_tokens = 100  # the value max_tokens had: still a change of the neutral value
    out = codec.write_request(request)
    assert out["max_completion_tokens"] == 100 and "max_tokens" not in out
    assert out["functions"] == BOTH_SPELLINGS["functions"] and out["function_call"] == "auto"
