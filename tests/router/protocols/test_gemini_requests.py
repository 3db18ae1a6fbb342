"""Gemini generateContent codec: requests of Gemini callers, read into the neutral form and written
back for a Gemini upstream.

An untouched round trip gives back the body (camelCase; a snake_case body comes back camelCase);
what the neutral form holds is read into it, and a neutral value changed since wins.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gemini_helpers import (
    CALL_SIGNATURE,
    SIGNATURE,
    WEATHER_DECLARATION,
    body,
    codec,
    sdk_request,
    validate_request,
)
from google.genai import types

from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    AudioPart,
    FilePart,
    ImagePart,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K"
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="

# A Gemini 3 style conversation: thought signatures on the first part of each model turn and on
# the first of parallel calls, function responses with and without ids, media, an opaque part.
RICH: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "You are a weather assistant."}, {"text": "Use Celsius."}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "What is the weather in Oslo and Bergen? Here is a map and the forecast."},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
                {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
                {"inlineData": {"mimeType": "audio/wav", "data": WAV}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "**Planning**\n\nTwo cities: two calls.", "thought": True},
                {"text": "Checking both.", "thoughtSignature": SIGNATURE},
                {
                    "functionCall": {"id": "fc_oslo", "name": "get_weather", "args": {"city": "Oslo"}},
                    "thoughtSignature": CALL_SIGNATURE,
                },
                {"functionCall": {"id": "fc_bergen", "name": "get_weather", "args": {"city": "Bergen"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "fc_oslo", "name": "get_weather", "response": {"temp_c": 3}}},
                {
                    "functionResponse": {
                        "id": "fc_bergen",
                        "name": "get_weather",
                        "response": {"error": "station offline"},
                    }
                },
                {"text": "Also run the numbers."},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"executableCode": {"language": "PYTHON", "code": "print(3 * 9 / 5 + 32)"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "37.4\n"}},
                {"text": "Oslo is 3°C (37.4°F); Bergen's station is offline."},
            ],
        },
        {"role": "user", "parts": [{"text": "Thanks! And tomorrow?"}]},
    ],
    "tools": [
        {
            "functionDeclarations": [
                WEATHER_DECLARATION,
                {
                    "name": "get_forecast",
                    "description": "Forecast for a city and a day.",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string"},
                            "day": {"type": "string", "format": "date"},
                        },
                        "required": ["city", "day"],
                        "additionalProperties": False,
                    },
                    "behavior": "BLOCKING",
                },
            ]
        },
        {"googleSearch": {}},
        {"codeExecution": {}},
    ],
    "toolConfig": {
        "functionCallingConfig": {
            "mode": "VALIDATED",
            "allowedFunctionNames": ["get_weather", "get_forecast"],
        },
        "retrievalConfig": {"latLng": {"latitude": 59.91, "longitude": 10.75}},
    },
    "safetySettings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_NONE"},
    ],
    "cachedContent": "cachedContents/weather-prefix-1",
    "labels": {"team": "weather"},
    "generationConfig": {
        "temperature": 0.7,
        "topP": 0.95,
        "topK": 40,
        "maxOutputTokens": 2048,
        "candidateCount": 1,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
            "required": ["city", "temp_c"],
        },
        "responseModalities": ["TEXT"],
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
        "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True},
    },
}


def _round_trip(sent: dict[str, Any], *, valid: bool = True) -> dict[str, Any]:
    """Read and written back; ``valid``: the body is also valid against the spec, which types
    proto-JSON forms the API accepts more narrowly (64-bit integers as strings only, enum names in
    upper case, no nulls)."""
    written = codec().write_request(codec().read_request(copy.deepcopy(sent)))
    if valid:
        validate_request(written)
    return written


# ---------------------------------------------------------------------------- round trips


def test_rich_request_round_trips_exactly() -> None:
    validate_request(RICH)
    assert _round_trip(RICH) == RICH


def test_rich_request_neutral_form() -> None:
    request = codec().read_request(copy.deepcopy(RICH))
    assert request.model == "" and request.dialect == "gemini" and request.include_usage
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "user", "assistant", "user"]
    assert request.messages[0].text() == "You are a weather assistant.Use Celsius."
    user = request.messages[1].parts
    assert isinstance(user[1], ImagePart) and (user[1].data_b64, user[1].media_type) == (PNG, "image/png")
    assert isinstance(user[2], FilePart) and user[2].media_type == "application/pdf"
    assert isinstance(user[3], FilePart) and user[3].url.endswith("files/abc123")  # type: ignore[union-attr]
    assert user[4] == AudioPart(WAV, "wav", extra={"inlineData": {}})
    thought, carrier, text, oslo, bergen = request.messages[2].parts
    assert thought == ReasoningPart("**Planning**\n\nTwo cities: two calls.")
    assert isinstance(carrier, ReasoningPart) and (carrier.text, carrier.signature) == ("", SIGNATURE)
    assert carrier.signer == "gemini" and text == TextPart("Checking both.")
    assert isinstance(oslo, ToolCall) and (oslo.id, oslo.arguments) == ("fc_oslo", '{"city":"Oslo"}')
    assert (oslo.signature, oslo.signer) == (CALL_SIGNATURE, "gemini")
    assert isinstance(bergen, ToolCall) and bergen.signature is None and bergen.signer is None
    temp, offline = request.messages[3].parts
    assert isinstance(temp, ToolResult) and (temp.call_id, temp.name) == ("fc_oslo", "get_weather")
    assert temp.content == [TextPart('{"temp_c":3}')] and not temp.is_error
    assert isinstance(offline, ToolResult) and offline.is_error
    assert offline.content == [TextPart("station offline")]
    assert request.messages[4].text() == "Also run the numbers."
    assert request.messages[5].parts == [TextPart("Oslo is 3°C (37.4°F); Bergen's station is offline.")]
    tools = request.tools or []
    assert [(t.name, t.builtin) for t in tools] == [
        ("get_weather", None),
        ("get_forecast", None),
        ("googleSearch", "googleSearch"),
        ("codeExecution", "codeExecution"),
    ]
    assert tools[0].parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Oslo"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
        },
        "required": ["city"],
    }
    assert tools[1].parameters == RICH["tools"][0]["functionDeclarations"][1]["parametersJsonSchema"]
    assert request.tool_choice == ToolChoice(
        "auto", allowed=["get_weather", "get_forecast"], extra={"mode": "VALIDATED"}
    )
    assert (request.temperature, request.top_p, request.top_k) == (0.7, 0.95, 40)
    assert (request.max_output_tokens, request.n, request.seed, request.stop) == (2048, 1, 7, ["END"])
    assert (request.presence_penalty, request.frequency_penalty) == (0.1, 0.2)
    assert request.response_format == ResponseFormat(
        "json_schema", schema=RICH["generationConfig"]["responseJsonSchema"]
    )
    assert request.reasoning == Reasoning(effort="high", include_thoughts=True)
    assert set(request.extra) == {
        "safetySettings",
        "cachedContent",
        "labels",
        "toolConfig",
        "generationConfig",
    }


def test_sdk_request_is_read_in_either_spelling_and_written_in_camel_case() -> None:
    """google-genai itself mixes spellings (``mime_type``, ``thinking_budget``, ``min_properties``)
    and sends ``topK`` as a float: all of it is read, and written back camelCase."""
    config = types.GenerateContentConfig(
        system_instruction="Be terse.",
        temperature=0.3,
        top_k=40,
        max_output_tokens=256,
        stop_sequences=["END"],
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
        safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")],
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        description="Current weather.",
                        parameters=types.Schema(
                            type="OBJECT",
                            properties={"city": types.Schema(type="STRING")},
                            required=["city"],
                            min_properties=1,
                        ),
                    )
                ]
            )
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["get_weather"]
            )
        ),
    )
    contents = [
        types.Content(
            role="user",
            parts=[
                types.Part(text="Weather?"),
                types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png"),
            ],
        ),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}),
                    thought_signature=b"sig",
                )
            ],
        ),
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 3})]
        ),
    ]
    sent = sdk_request(contents, config)
    assert sent["generationConfig"]["topK"] == 40.0
    assert "mime_type" in sent["contents"][0]["parts"][1]["inlineData"]
    request = codec().read_request(sent)
    assert (request.top_k, request.max_output_tokens) == (40, 256)
    assert request.reasoning == Reasoning(budget_tokens=1024, include_thoughts=True)
    assert request.tool_choice == ToolChoice("tool", name="get_weather")
    call = request.messages[2].parts[0]
    assert isinstance(call, ToolCall) and (call.id, call.signature) == ("call_0", "c2ln")
    result = request.messages[3].parts[0]
    assert isinstance(result, ToolResult) and result.call_id == "call_0"
    written = codec().write_request(request)
    # as the SDK sent it: ``minProperties`` a number (the spec types int64 as a string)
    validate_request({**written, "tools": []})
    assert written == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                        "thoughtSignature": "c2ln",
                    }
                ],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 3}}}],
            },
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be terse."}]},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Current weather.",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING"}},
                            "required": ["city"],
                            "minProperties": 1,
                        },
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {
            "temperature": 0.3,
            "topK": 40.0,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        },
    }


def test_a_model_in_the_body_is_kept_and_follows_the_neutral_model() -> None:
    sent = body(model="models/gemini-2.5-pro")
    request = codec().read_request(sent)
    assert request.model == "gemini-2.5-pro"
    assert codec().write_request(request) == sent
    request.model = "gemini-2.5-flash"
    assert codec().write_request(request)["model"] == "models/gemini-2.5-flash"
    assert codec().read_request(body()).model == ""  # the dispatcher sets it from the URL


# ---------------------------------------------------------------------------- function calls


def test_missing_call_ids_are_made_up_matched_by_name_and_left_out_again() -> None:
    sent = body(
        {"role": "user", "parts": [{"text": "Weather in Oslo and Bergen, and the time?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Bergen"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_time", "response": {"output": "12:00"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "3°C"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "5°C"}}},
            ],
        },
    )
    request = codec().read_request(copy.deepcopy(sent))
    calls = [p for p in request.messages[1].parts if isinstance(p, ToolCall)]
    results = [p for p in request.messages[2].parts if isinstance(p, ToolResult)]
    assert [c.id for c in calls] == ["call_0", "call_1", "call_2"]
    assert [(r.call_id, r.content) for r in results] == [
        ("call_1", [TextPart("12:00")]),
        ("call_0", [TextPart("3°C")]),
        ("call_2", [TextPart("5°C")]),
    ]
    assert codec().write_request(request) == sent
    openai = OpenAIChatCodec().write_request(request)  # the ids the other protocols need
    assert [m.get("tool_call_id") for m in openai["messages"][2:]] == ["call_1", "call_0", "call_2"]


@pytest.mark.parametrize(
    ("response", "text", "is_error"),
    [
        ({"output": "3°C"}, "3°C", False),
        ({"output": {"temp_c": 3, "wind": [1, 2]}}, '{"temp_c":3,"wind":[1,2]}', False),
        ({"error": "station offline"}, "station offline", True),
        ({"error": {"code": 503}}, '{"code":503}', True),
        ({"temp_c": 3}, '{"temp_c":3}', False),
        ({"output": ""}, "", False),
        ({}, "{}", False),
    ],
)
def test_function_responses_read_and_written_back(
    response: dict[str, Any], text: str, is_error: bool
) -> None:
    sent = body(
        {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "f", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "c1", "name": "f", "response": response}}]},
    )
    request = codec().read_request(copy.deepcopy(sent))
    result = request.messages[1].parts[0]
    assert isinstance(result, ToolResult)
    assert ("".join(p.text for p in result.content if isinstance(p, TextPart)), result.is_error) == (
        text,
        is_error,
    )
    assert _round_trip(sent) == sent


def test_a_call_without_args_and_a_null_id_round_trip() -> None:
    sent = body({"role": "model", "parts": [{"functionCall": {"name": "now", "id": None}}]})
    request = codec().read_request(copy.deepcopy(sent))
    call = request.messages[0].parts[0]
    assert isinstance(call, ToolCall) and call.arguments == "{}"
    assert codec().write_request(request) == sent


# ---------------------------------------------------------------------------- tool config


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, ToolChoice("auto")),
        ({"mode": "NONE"}, ToolChoice("none")),
        ({"mode": "ANY"}, ToolChoice("required")),
        ({"mode": "ANY", "allowedFunctionNames": ["f"]}, ToolChoice("tool", name="f")),
        ({"mode": "ANY", "allowedFunctionNames": ["f", "g"]}, ToolChoice("required", allowed=["f", "g"])),
        ({"mode": "VALIDATED"}, ToolChoice("auto", extra={"mode": "VALIDATED"})),
        ({"mode": "MODE_UNSPECIFIED"}, ToolChoice("auto", extra={"mode": "MODE_UNSPECIFIED"})),
        ({"mode": "any"}, ToolChoice("required", extra={"mode": "any"})),
        ({}, ToolChoice("auto", extra={"_no_mode": True})),
    ],
)
def test_tool_config_table(config: dict[str, Any], choice: ToolChoice) -> None:
    sent = body(
        tools=[
            {"functionDeclarations": [{"name": "f", "description": ""}, {"name": "g", "description": ""}]}
        ],
        toolConfig={"functionCallingConfig": config},
    )
    request = codec().read_request(copy.deepcopy(sent))
    assert request.tool_choice == choice
    assert _round_trip(sent, valid=config.get("mode") != "any") == sent


def test_changed_tool_choice_is_written_canonically() -> None:
    request = codec().read_request(body(toolConfig={"functionCallingConfig": {"mode": "VALIDATED"}}))
    request.tool_choice = ToolChoice("none")
    assert codec().write_request(request)["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_builtin_tools_stay_with_gemini() -> None:
    sent = body(tools=[{"googleSearch": {}, "urlContext": {}}, {"codeExecution": {}}])
    request = codec().read_request(copy.deepcopy(sent))
    assert [(t.builtin, t.extra.get("_continues")) for t in request.tools or []] == [
        ("googleSearch", None),
        ("urlContext", True),
        ("codeExecution", None),
    ]
    assert _round_trip(sent) == sent
    request.model = "gpt-4.1"
    # Google Search runs on Anthropic too (its web search); URL context and code execution do not
    for other, param in ((OpenAIChatCodec(), "tools[0]"), (AnthropicMessagesCodec(), "tools[1]")):
        with pytest.raises(GatewayError) as caught:
            other.write_request(request)
        assert caught.value.code is ErrorCode.INVALID_REQUEST and caught.value.param == param


# ---------------------------------------------------------------------------- neutral edits


def test_neutral_values_changed_since_win() -> None:
    request = codec().read_request(copy.deepcopy(RICH))
    request.temperature = 0.2
    request.top_k = None
    request.reasoning = Reasoning(effort="low", include_thoughts=False)
    request.response_format = ResponseFormat("json_object")
    assert request.tools is not None
    request.tools[0] = Tool(
        "get_weather", "Weather.", {"type": "object", "properties": {"q": {"type": "string"}}}
    )
    written = codec().write_request(request)
    validate_request(written)
    config = written["generationConfig"]
    assert config["temperature"] == 0.2 and "topK" not in config
    assert config["thinkingConfig"] == {"thinkingLevel": "LOW", "includeThoughts": False}
    assert config["responseMimeType"] == "application/json" and "responseJsonSchema" not in config
    assert written["tools"][0]["functionDeclarations"][0] == {
        "name": "get_weather",
        "description": "Weather.",
        "parametersJsonSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }


def test_an_effort_added_by_the_router_becomes_a_thinking_budget() -> None:
    """A ``-thinking`` model id adds an effort; Gemini 2.5 and 3 both take a budget."""
    request = codec().read_request(body())
    request.reasoning = Reasoning(effort="high")
    assert codec().write_request(request)["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 24576}}


@pytest.mark.parametrize(
    ("thinking", "reasoning"),
    [
        ({"thinkingBudget": 0}, Reasoning(budget_tokens=0)),
        ({"thinkingBudget": -1}, Reasoning()),
        ({"thinkingBudget": "2048"}, Reasoning(budget_tokens=2048)),
        ({"thinkingLevel": "low"}, Reasoning(effort="low")),
        (
            {"thinkingLevel": "MINIMAL", "includeThoughts": False},
            Reasoning("minimal", include_thoughts=False),
        ),
        ({}, Reasoning()),
    ],
)
def test_thinking_config_table(thinking: dict[str, Any], reasoning: Reasoning) -> None:
    sent = body(generationConfig={"thinkingConfig": thinking})
    assert codec().read_request(copy.deepcopy(sent)).reasoning == reasoning
    assert _round_trip(sent, valid=not isinstance(thinking.get("thinkingBudget"), str)) == sent


@pytest.mark.parametrize(
    ("config", "spec"),
    [
        ({"responseMimeType": "application/json"}, ResponseFormat("json_object")),
        ({"responseMimeType": "text/plain"}, ResponseFormat("text")),
        (
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "3"},
            },
            ResponseFormat(
                "json_schema", schema={"type": "array", "items": {"type": "string"}, "maxItems": 3}
            ),
        ),
        ({"responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING", "enum": ["a"]}}, None),
    ],
)
def test_response_format_table(config: dict[str, Any], spec: ResponseFormat | None) -> None:
    sent = body(generationConfig=config)
    assert codec().read_request(copy.deepcopy(sent)).response_format == spec
    assert _round_trip(sent) == sent


def test_empty_objects_nulls_and_unknown_fields_round_trip() -> None:
    sent = body(
        {"parts": [{"text": "no role means user"}]},
        {"role": "model", "parts": []},
        {"role": "user", "parts": [{"text": "x", "thought": False, "partMetadata": {"k": 1}}]},
        generationConfig={},
        toolConfig={},
        tools=[],
        cachedContent=None,
        futureField={"a": [1]},
    )
    assert _round_trip(sent, valid=False) == sent  # a null cachedContent
    request = codec().read_request(copy.deepcopy(sent))
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]


def test_an_integer_in_another_form_goes_when_its_neutral_value_does() -> None:
    request = codec().read_request(body(generationConfig={"topK": 40.0, "seed": "7"}))
    assert (request.top_k, request.seed) == (40, 7)
    request.top_k = None
    request.seed = 8
    assert codec().write_request(request)["generationConfig"] == {"seed": 8}
