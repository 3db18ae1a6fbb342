"""Gemini generateContent codec: requests of another dialect, both ways through the neutral form.

OpenAI chat and Anthropic requests (read by their codecs) are written as Gemini bodies that follow
the spec and TRANSLATION §6 and §8; Gemini requests are written as OpenAI chat and Anthropic bodies
by those codecs. Function schemas are golden-tested: ``parameters`` when Gemini's Schema can say
it (validated against the spec's ``Schema``), else ``parametersJsonSchema``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_helpers import REQUEST as ANTHROPIC_REQUEST
from anthropic_helpers import SIGNATURE as ANTHROPIC_SIGNATURE
from gemini_helpers import CALL_SIGNATURE, SIGNATURE, WEATHER_DECLARATION, body, codec, validate_request
from openai_chat_helpers import REQUEST as OPENAI_REQUEST
from openai_chat_helpers import WEATHER_TOOL as OPENAI_WEATHER_TOOL

from support.kinds import capabilities_of
from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    Reasoning,
    ReasoningPart,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec

PNG = "data:image/png;base64,iVBORw0KGgo="


def _from_openai(sent: dict[str, Any]) -> dict[str, Any]:
    written = codec().write_request(OpenAIChatCodec().read_request(sent))
    validate_request(written)
    return written


def _openai(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}], **fields}


def _neutral(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="gemini-2.5-flash", messages=list(messages), dialect="test", **fields)


def _rejected(request: ChatRequest) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        codec().write_request(request)
    assert (caught.value.code, caught.value.status) == (ErrorCode.INVALID_REQUEST, 400)
    return caught.value


# ---------------------------------------------------------------------------- OpenAI → Gemini


def test_openai_conversation_becomes_a_gemini_body() -> None:
    """System hoisting, roles, media, tool calls, names recovered for tool results, merging,
    sampling, structured output, reasoning and tool choice (§6.1-§6.7)."""
    written = _from_openai(
        {
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "You are a weather assistant."},
                {"role": "user", "content": "Weather in Oslo and Bergen?"},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/map.jpg"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_Hq2VxK7cTm1pR4sJ",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        },
                        {
                            "id": "call_7bYw0LzQe3NdVu8A",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Bergen"'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_Hq2VxK7cTm1pR4sJ", "content": '{"temp_c": 3}'},
                {"role": "tool", "tool_call_id": "call_7bYw0LzQe3NdVu8A", "content": "5°C"},
                {"role": "developer", "content": [{"type": "text", "text": "Use Celsius."}]},
                {"role": "user", "content": "Thanks! Tomorrow?"},
            ],
            "tools": [OPENAI_WEATHER_TOOL],
            "tool_choice": "required",
            "stop": ["\n\n", "END"],
            "temperature": 1.6,
            "top_p": 0.9,
            "seed": 7,
            "n": 2,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
            "max_completion_tokens": 1024,
            "reasoning_effort": "high",
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "wx",
                    "schema": {"type": "object", "properties": {"t": {"type": "number"}}},
                    "strict": True,
                },
            },
            "parallel_tool_calls": False,
            "metadata": {"ticket": "42"},
            "user": "user-7f3a",
            "store": True,
            "service_tier": "auto",
        }
    )
    assert written == {
        "systemInstruction": {"parts": [{"text": "You are a weather assistant."}, {"text": "Use Celsius."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather in Oslo and Bergen?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"fileUri": "https://example.com/map.jpg", "mimeType": "image/jpeg"}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "Checking."},
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
                            "args": {"_raw": '{"city": "Bergen"'},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "call_Hq2VxK7cTm1pR4sJ",
                            "name": "get_weather",
                            "response": {"output": {"temp_c": 3}},
                        }
                    },
                    {
                        "functionResponse": {
                            "id": "call_7bYw0LzQe3NdVu8A",
                            "name": "get_weather",
                            "response": {"output": "5°C"},
                        }
                    },
                    {"text": "Thanks! Tomorrow?"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Current weather for a city.",
                        "parametersJsonSchema": OPENAI_WEATHER_TOOL["function"]["parameters"],
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "temperature": 1.6,
            "topP": 0.9,
            "presencePenalty": 0.5,
            "frequencyPenalty": 0.25,
            "maxOutputTokens": 1024,
            "candidateCount": 2,
            "seed": 7,
            "stopSequences": ["\n\n", "END"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object", "properties": {"t": {"type": "number"}}},
            "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True},
        },
    }


@pytest.mark.parametrize(
    ("tool_choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [OPENAI_WEATHER_TOOL]}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_openai_tool_choice_table(tool_choice: Any, config: dict[str, Any]) -> None:
    written = _from_openai(_openai(tools=[OPENAI_WEATHER_TOOL], tool_choice=tool_choice))
    assert written["toolConfig"] == {"functionCallingConfig": config}


def test_allowed_tools_in_auto_mode_filter_the_declarations() -> None:
    other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [other]}}
    written = _from_openai(_openai(tools=[OPENAI_WEATHER_TOOL, other], tool_choice=choice))
    assert written["tools"] == [{"functionDeclarations": [{"name": "get_time", "description": ""}]}]
    assert written["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        (Reasoning(effort="none"), {"thinkingBudget": 0}),
        (Reasoning(effort="minimal"), {"thinkingBudget": 512, "includeThoughts": True}),
        (Reasoning(effort="low"), {"thinkingBudget": 1024, "includeThoughts": True}),
        (Reasoning(effort="medium"), {"thinkingBudget": 8192, "includeThoughts": True}),
        (Reasoning(effort="high"), {"thinkingBudget": 24576, "includeThoughts": True}),
        (Reasoning(effort="xhigh"), {"thinkingBudget": -1, "includeThoughts": True}),
        (Reasoning(effort="max"), {"thinkingBudget": -1, "includeThoughts": True}),
        (Reasoning(budget_tokens=3000), {"thinkingBudget": 3000, "includeThoughts": True}),
        (Reasoning(effort="high", include_thoughts=False), {"thinkingBudget": 24576}),
        (Reasoning(), {"includeThoughts": True}),
    ],
)
def test_reasoning_table(reasoning: Reasoning, thinking: dict[str, Any]) -> None:
    written = codec().write_request(_neutral(Message("user", [TextPart("Hi")]), reasoning=reasoning))
    validate_request(written)
    assert written["generationConfig"] == {"thinkingConfig": thinking}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("logprobs", True),
        ("top_logprobs", 3),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("logit_bias", {"1234": -100}),
        ("web_search_options", {}),
    ],
)
def test_openai_fields_gemini_cannot_honour_are_a_400(field: str, value: Any) -> None:
    request = OpenAIChatCodec().read_request(_openai(**{field: value}))
    request.capabilities = capabilities_of("gemini", request.model)  # as the router writes it
    with pytest.raises(GatewayError) as caught:
        codec().write_request(request)
    assert (caught.value.code, caught.value.param) == (ErrorCode.INVALID_REQUEST, field)


def test_dropped_openai_fields_leave_no_trace() -> None:
    written = _from_openai(
        _openai(
            parallel_tool_calls=False,
            store=True,
            prediction={"type": "content", "content": "x"},
            logit_bias={},
            logprobs=False,
            modalities=["text"],
            user="u",
            metadata={"a": "b"},
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert written == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_more_than_five_stop_sequences_are_a_400() -> None:
    error = _rejected(_neutral(Message("user", [TextPart("Hi")]), stop=list("abcdef")))
    assert error.param == "stop"


def test_a_tool_result_without_a_known_call_is_a_400() -> None:
    error = _rejected(_neutral(Message("tool", [ToolResult("call_9", [TextPart("x")])])))
    assert error.param == "messages[0].content[0]" and "call_9" in error.message


def test_custom_tools_are_functions_of_one_string_and_other_providers_builtins_a_400() -> None:
    custom = {"type": "custom", "custom": {"name": "grammar", "description": "free text"}}
    written = codec().write_request(OpenAIChatCodec().read_request(_openai(tools=[custom])))
    declaration = written["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "grammar" and "input" in str(declaration)
    execution = Tool("code_execution", builtin="code_execution_20250825")
    assert _rejected(_neutral(Message("user", [TextPart("Hi")]), tools=[execution])).param == "tools[0]"


def test_another_providers_web_search_is_grounding_with_google_search() -> None:
    search = Tool("web_search", builtin="web_search_20250305")
    weather = Tool("get_weather", "Weather", {"type": "object", "properties": {}})
    written = codec().write_request(_neutral(Message("user", [TextPart("Hi")]), tools=[weather, search]))
    assert written["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert written["tools"][1] == {"googleSearch": {}}


def test_media_of_another_dialect() -> None:
    request = _neutral(
        Message(
            "user",
            [
                FilePart(data_b64="JVBERi0x", media_type="application/pdf"),
                FilePart(text="plain notes", filename="notes.txt"),
                FilePart(url="gs://bucket/report.pdf", media_type="application/pdf"),
                ImagePart(url="data:image/webp;base64,UklGR"),
            ],
        )
    )
    written = codec().write_request(request)
    validate_request(written)
    assert written["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        {"text": "notes.txt\n\nplain notes"},
        {"fileData": {"fileUri": "gs://bucket/report.pdf", "mimeType": "application/pdf"}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGR"}},
    ]
    assert (
        _rejected(_neutral(Message("user", [FilePart(file_id="file-abc")]))).param == "messages[0].content[0]"
    )
    assert (
        _rejected(_neutral(Message("user", [ImagePart(url="ftp://x/y.png")]))).param
        == "messages[0].content[0]"
    )


# ---------------------------------------------------------------------------- function schemas

SIMPLE = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7, "format": "int32"},
    },
    "required": ["city"],
}
SCHEMAS: list[tuple[str, dict[str, Any], str | None, Any]] = [
    (
        "simple",
        SIMPLE,
        "parameters",
        {
            "type": "OBJECT",
            "properties": {
                "city": {"type": "STRING", "description": "City"},
                "days": {"type": "INTEGER", "minimum": 1, "maximum": 7, "format": "int32"},
            },
            "required": ["city"],
        },
    ),
    (
        "nullable",
        {
            "type": "object",
            "properties": {
                "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Optional"},
            },
        },
        "parameters",
        {
            "type": "OBJECT",
            "properties": {
                "unit": {"type": "STRING", "nullable": True, "enum": ["c", "f"]},
                "note": {"type": "STRING", "nullable": True, "description": "Optional"},
            },
        },
    ),
    (
        "arrays and annotations",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Tags",
            "type": "object",
            "properties": {
                "tags": {
                    "type": "array",
                    "items": {"type": "string", "format": "email", "examples": ["a@b.c"]},
                    "minItems": 1,
                    "maxItems": 5,
                },
                "when": {"type": "string", "format": "date-time"},
            },
            "propertyOrdering": ["when", "tags"],
        },
        "parameters",
        {
            "title": "Tags",
            "type": "OBJECT",
            "properties": {
                "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1", "maxItems": "5"},
                "when": {"type": "STRING", "format": "date-time"},
            },
            "propertyOrdering": ["when", "tags"],
        },
    ),
    (
        "$ref",
        {
            "type": "object",
            "properties": {"home": {"$ref": "#/$defs/city"}},
            "$defs": {"city": {"type": "string"}},
        },
        "parametersJsonSchema",
        None,
    ),
    (
        "oneOf",
        {"type": "object", "properties": {"id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}},
        "parametersJsonSchema",
        None,
    ),
    ("const", {"type": "object", "properties": {"kind": {"const": "city"}}}, "parametersJsonSchema", None),
    (
        "additionalProperties",
        {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False},
        "parametersJsonSchema",
        None,
    ),
    (
        "patternProperties",
        {"type": "object", "properties": {"a": {"type": "string"}}, "patternProperties": {"^x-": {}}},
        "parametersJsonSchema",
        None,
    ),
    (
        "anyOf without null",
        {"type": "object", "properties": {"v": {"anyOf": [{"type": "string"}, {"type": "number"}]}}},
        "parametersJsonSchema",
        None,
    ),
    (
        "integer enum",
        {"type": "object", "properties": {"level": {"type": "integer", "enum": [1, 2, 3]}}},
        "parametersJsonSchema",
        None,
    ),
    (
        "two types",
        {"type": "object", "properties": {"v": {"type": ["string", "integer"]}}},
        "parametersJsonSchema",
        None,
    ),
    (
        "free-form object",
        {"type": "object", "properties": {"meta": {"type": "object"}}},
        "parametersJsonSchema",
        None,
    ),
    ("no arguments", {"type": "object", "properties": {}}, None, None),
    (
        "strict no arguments",
        {"type": "object", "properties": {}, "additionalProperties": False, "required": []},
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("schema", "field", "expected"), [c[1:] for c in SCHEMAS], ids=[c[0] for c in SCHEMAS]
)
def test_schema_golden(schema: dict[str, Any], field: str | None, expected: Any) -> None:
    request = _neutral(
        Message("user", [TextPart("Hi")]), tools=[Tool("f", "A function.", copy.deepcopy(schema))]
    )
    written = codec().write_request(request)
    validate_request(written)
    declaration = written["tools"][0]["functionDeclarations"][0]
    validate("gemini", "FunctionDeclaration", declaration)
    assert set(declaration) == {"name", "description"} | ({field} if field else set())
    if field == "parameters":
        validate("gemini", "Schema", declaration["parameters"])
        assert declaration["parameters"] == expected
    elif field == "parametersJsonSchema":
        assert declaration["parametersJsonSchema"] == schema  # unchanged: nothing is lost


def test_parameters_that_are_not_an_object_are_a_400() -> None:
    request = _neutral(Message("user", [TextPart("Hi")]), tools=[Tool("f", parameters={"type": "string"})])
    assert _rejected(request).param == "tools[0].parameters"


def test_gemini_schema_read_back_as_json_schema_for_openai() -> None:
    request = codec().read_request(body(tools=[{"functionDeclarations": [WEATHER_DECLARATION]}]))
    request.model = "gpt-4.1"
    written = OpenAIChatCodec().write_request(request)
    validate("openai", OPENAI_REQUEST, written)
    assert written["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Oslo"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
        },
        "required": ["city"],
    }


# ---------------------------------------------------------------------------- Anthropic → Gemini


def test_anthropic_conversation_becomes_a_gemini_body() -> None:
    """Signed Anthropic thinking never reaches Gemini; tool results keep their images and errors;
    the thinking budget is Gemini's (§8)."""
    sent = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4096,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "Show me the radar for Oslo."},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Fetch the radar.", "signature": ANTHROPIC_SIGNATURE},
                    {"type": "tool_use", "id": "toolu_01A", "name": "radar", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": [
                            {"type": "text", "text": "radar image attached"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                            },
                        ],
                    },
                    {"type": "text", "text": "What do you see?"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_01B", "name": "radar", "input": {"city": "Bergen"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01B",
                        "content": "timeout",
                        "is_error": True,
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "radar",
                "description": "Radar image.",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    }
    validate("anthropic", ANTHROPIC_REQUEST, sent)
    written = codec().write_request(AnthropicMessagesCodec().read_request(sent))
    validate_request(written)
    assert written == {
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Show me the radar for Oslo."}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"id": "toolu_01A", "name": "radar", "args": {"city": "Oslo"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "toolu_01A",
                            "name": "radar",
                            "response": {"output": "radar image attached"},
                        }
                    },
                    {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
                    {"text": "What do you see?"},
                ],
            },
            {
                "role": "model",
                "parts": [{"functionCall": {"id": "toolu_01B", "name": "radar", "args": {"city": "Bergen"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "toolu_01B",
                            "name": "radar",
                            "response": {"error": "timeout"},
                        }
                    }
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "radar",
                        "description": "Radar image.",
                        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                    }
                ]
            }
        ],
        "generationConfig": {
            "maxOutputTokens": 4096,
            "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
        },
    }


# ---------------------------------------------------------------------------- Gemini → others

GEMINI_HISTORY = body(
    {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
    {
        "role": "model",
        "parts": [
            {"text": "Plan: call the tool.", "thought": True, "thoughtSignature": SIGNATURE},
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                "thoughtSignature": CALL_SIGNATURE,
            },
        ],
    },
    {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "3°C"}}}]},
    systemInstruction={"parts": [{"text": "Be terse."}]},
    tools=[{"functionDeclarations": [WEATHER_DECLARATION]}],
    toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
    generationConfig={
        "maxOutputTokens": 512,
        "thinkingConfig": {"thinkingBudget": 4096},
        "candidateCount": 1,
    },
)


def test_gemini_history_as_an_openai_request() -> None:
    request = codec().read_request(copy.deepcopy(GEMINI_HISTORY))
    request.model = "gpt-4.1"
    written = OpenAIChatCodec().write_request(request)
    validate("openai", OPENAI_REQUEST, written)
    assert written["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "Be terse."}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "3°C"},
    ]
    assert written["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (written["max_completion_tokens"], written["n"], written["reasoning_effort"]) == (512, 1, "medium")


def test_gemini_history_as_an_anthropic_request_drops_gemini_signed_thinking() -> None:
    request = codec().read_request(copy.deepcopy(GEMINI_HISTORY))
    request.model = "claude-sonnet-4-6"
    written = AnthropicMessagesCodec().write_request(request)
    validate("anthropic", ANTHROPIC_REQUEST, written, closed=True)
    assistant = written["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["tool_use"]  # Gemini's signed thought is not Anthropic's
    assert "thinking" not in written  # the last tool turn has no Anthropic thinking to start it
    assert written["messages"][2]["content"][0]["tool_use_id"] == "call_0"


def test_signatures_gemini_made_come_back_on_the_right_parts() -> None:
    """What the router's memo puts back for an OpenAI caller: Gemini's signatures (on the call,
    and a signature that rode on a text part) return to Gemini; anything else is dropped."""
    history = [
        Message("user", [TextPart("Weather?")]),
        Message(
            "assistant",
            [
                ReasoningPart("", SIGNATURE, signer="gemini"),
                ReasoningPart("Anthropic's thoughts", ANTHROPIC_SIGNATURE, signer="anthropic"),
                ReasoningPart("unsigned thoughts"),
                TextPart("Checking."),
                ToolCall("call_a", "get_weather", '{"city":"Oslo"}', CALL_SIGNATURE, signer="gemini"),
                ToolCall(
                    "call_b", "get_weather", '{"city":"Bergen"}', "sig-from-elsewhere", signer="anthropic"
                ),
                ToolCall("call_c", "get_weather", "{}", "sig-of-unknown-origin"),
            ],
        ),
        Message("tool", [ToolResult(c, [TextPart("3°C")]) for c in ("call_a", "call_b", "call_c")]),
    ]
    written = codec().write_request(_neutral(*history))
    validate_request(written)
    assert written["contents"][1]["parts"] == [
        {"text": "Checking.", "thoughtSignature": SIGNATURE},
        {
            "functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Oslo"}},
            "thoughtSignature": CALL_SIGNATURE,
        },
        {"functionCall": {"id": "call_b", "name": "get_weather", "args": {"city": "Bergen"}}},
        {"functionCall": {"id": "call_c", "name": "get_weather", "args": {}}},
    ]
    thought = ReasoningPart("Gemini's own thoughts", SIGNATURE, signer="gemini")
    replay = codec().write_request(_neutral(Message("assistant", [thought, TextPart("Done.")])))
    assert replay["contents"][0]["parts"] == [
        {"text": "Gemini's own thoughts", "thought": True, "thoughtSignature": SIGNATURE},
        {"text": "Done."},
    ]


def test_tool_choice_of_another_dialect_only_with_tools() -> None:
    written = codec().write_request(
        _neutral(Message("user", [TextPart("Hi")]), tool_choice=ToolChoice("none"))
    )
    assert "toolConfig" not in written and "tools" not in written


def test_gemini_clis_upper_case_json_schemas_reach_other_providers_as_json_schema() -> None:
    """Gemini CLI's classifier sends ``responseJsonSchema`` (and a tool may send
    ``parametersJsonSchema``) with Gemini's upper-case type names, which the Gemini API takes:
    other providers get JSON Schema's own names."""
    classifier = {
        "type": "OBJECT",
        "properties": {
            "complexity_reasoning": {"type": "STRING", "description": "Why."},
            "complexity_score": {"type": "INTEGER"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["OBJECT"]}},
            "type": {"type": ["STRING", "NULL"]},
        },
        "required": ["complexity_reasoning", "complexity_score"],
    }
    lowered = {
        "type": "object",
        "properties": {
            "complexity_reasoning": {"type": "string", "description": "Why."},
            "complexity_score": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["OBJECT"]}},
            "type": {"type": ["string", "null"]},
        },
        "required": ["complexity_reasoning", "complexity_score"],
    }
    sent = body(
        {"role": "user", "parts": [{"text": "Classify"}]},
        generationConfig={"responseMimeType": "application/json", "responseJsonSchema": classifier},
        tools=[{"functionDeclarations": [{"name": "classify", "parametersJsonSchema": classifier}]}],
    )
    request = codec().read_request(copy.deepcopy(sent))
    openai = OpenAIChatCodec().write_request(request)
    assert openai["response_format"]["json_schema"]["schema"] == lowered
    assert openai["tools"][0]["function"]["parameters"] == lowered
    validate("openai", "CreateChatCompletionRequest", openai, closed=True)
    anthropic = AnthropicMessagesCodec().write_request(request)
    assert anthropic["tools"][0]["input_schema"] == lowered
    plain = codec().read_request(body({"role": "user", "parts": [{"text": "x"}]}))
    assert plain.response_format is None
