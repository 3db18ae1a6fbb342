"""Anthropic Messages codec: requests of another dialect, both ways through the neutral form.

OpenAI chat requests (read by the OpenAI codec) are written as Anthropic bodies that follow the
spec and TRANSLATION §4; Anthropic requests are written as OpenAI chat bodies by the OpenAI codec
(TRANSLATION §7).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_helpers import MODEL, REQUEST, SIGNATURE, WEATHER_TOOL, body, codec
from openai_chat_helpers import REQUEST as OPENAI_REQUEST
from openai_chat_helpers import WEATHER_TOOL as OPENAI_WEATHER_TOOL

from support.kinds import capabilities_of
from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    CacheHint,
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
from torouter.router.protocols.openai.chat import OpenAIChatCodec

PNG = "data:image/png;base64,iVBORw0KGgo="


def _openai(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}], **fields}


def _from_openai(sent: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body, read by the OpenAI codec and written for an Anthropic upstream."""
    written = codec().write_request(OpenAIChatCodec().read_request(sent))
    validate("anthropic", REQUEST, written, closed=True)
    return written


def _neutral(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=list(messages), dialect="test", **fields)


def _rejected(request: ChatRequest) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        codec().write_request(request)
    assert (caught.value.code, caught.value.status) == (ErrorCode.INVALID_REQUEST, 400)
    return caught.value


# ---------------------------------------------------------------------------- OpenAI → Anthropic


def test_openai_conversation_becomes_an_anthropic_body() -> None:
    """System hoisting, role merging, tool results first, media, stop, defaults (§4.1-§4.4)."""
    written = _from_openai(
        {
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "You are a weather assistant."},
                {"role": "user", "content": "Weather in Oslo and Bergen?"},
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": PNG, "detail": "high"}}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_Hq2VxK7cTm1pR4sJ",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        },
                        {
                            "id": "functions.get_weather:1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Bergen"'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_Hq2VxK7cTm1pR4sJ", "content": "3°C"},
                {"role": "tool", "tool_call_id": "functions.get_weather:1", "content": "5°C"},
                {"role": "developer", "content": [{"type": "text", "text": "Use Celsius."}]},
                {"role": "user", "content": "Thanks! Tomorrow?"},
                {"role": "assistant", "content": ""},
            ],
            "tools": [OPENAI_WEATHER_TOOL],
            "stop": ["\n\n", "END"],
            "temperature": 1.6,
            "seed": 7,
            "presence_penalty": 0.5,
            "metadata": {"ticket": "42"},
            "user": "user-7f3a",
        }
    )
    sanitized = written["messages"][1]["content"][1]["id"]
    assert sanitized.startswith("functions_get_weather_1_")
    assert written == {
        "model": "gpt-4.1",
        "max_tokens": 4096,
        "system": [
            {"type": "text", "text": "You are a weather assistant."},
            {"type": "text", "text": "Use Celsius."},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Oslo and Bergen?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_Hq2VxK7cTm1pR4sJ",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    },
                    {
                        "type": "tool_use",
                        "id": sanitized,
                        "name": "get_weather",
                        "input": {"_raw": '{"city": "Bergen"'},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_Hq2VxK7cTm1pR4sJ", "content": "3°C"},
                    {"type": "tool_result", "tool_use_id": sanitized, "content": "5°C"},
                    {"type": "text", "text": "Thanks! Tomorrow?"},
                ],
            },
        ],
        "temperature": 1.0,
        "stop_sequences": ["END"],
        "tools": [
            {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "input_schema": OPENAI_WEATHER_TOOL["function"]["parameters"],
                "strict": True,
            }
        ],
        "metadata": {"user_id": "user-7f3a"},
    }


def test_tool_results_go_first_in_their_user_turn() -> None:
    written = codec().write_request(
        _neutral(
            Message("assistant", [ToolCall("call_1", "f", "{}")]),
            Message("user", [TextPart("before")]),
            Message("tool", [ToolResult("call_1", [TextPart("42")], as_text=True)]),
            Message("user", [TextPart("after"), ImagePart(url="https://example.com/a.png")]),
        )
    )
    assert written["messages"][1] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "42"},
            {"type": "text", "text": "before"},
            {"type": "text", "text": "after"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        ],
    }
    validate("anthropic", REQUEST, written, closed=True)


def test_tool_result_parts_and_errors() -> None:
    written = codec().write_request(
        _neutral(
            Message("assistant", [ToolCall("call_1", "chart", "")]),
            Message(
                "tool",
                [
                    ToolResult(
                        "call_1",
                        [TextPart("drawn"), ImagePart(data_b64="R0lGOD", media_type="image/gif")],
                        is_error=True,
                        cache=CacheHint(),
                    ),
                    ToolResult("call_1", [], as_text=True),
                ],
            ),
        )
    )
    assert written["messages"] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "chart", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": [
                        {"type": "text", "text": "drawn"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGOD"},
                        },
                    ],
                    "is_error": True,
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "tool_result", "tool_use_id": "call_1"},
            ],
        },
    ]
    validate("anthropic", REQUEST, written, closed=True)


def test_files_become_documents() -> None:
    written = codec().write_request(
        _neutral(
            Message(
                "user",
                [
                    FilePart(
                        data_b64="JVBERi0xLjQK",
                        media_type="application/pdf",
                        filename="r.pdf",
                        cache=CacheHint("1h"),
                    ),
                    FilePart(data_b64="JVBERi0xLjQK", filename="no-type.pdf"),
                    FilePart(data_b64="aGVsbG8=", media_type="text/plain"),
                    FilePart(text="notes", filename="notes.txt"),
                    FilePart(url="https://example.com/a.pdf"),
                    FilePart(url="data:image/jpeg;base64,/9j/4AAQ"),
                ],
            )
        )
    )
    assert written["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
            "title": "r.pdf",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
            "title": "no-type.pdf",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
            "title": "notes.txt",
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
    ]
    validate("anthropic", REQUEST, written, closed=True)


UNSENDABLE: list[tuple[str, Message, str]] = [
    ("bmp image", Message("user", [ImagePart(data_b64="Qk0=", media_type="image/bmp")]), "image/bmp"),
    ("ftp image", Message("user", [ImagePart(url="ftp://example.com/a.png")]), "http(s)"),
    ("openai file id", Message("user", [FilePart(file_id="file-abc")]), "file ids"),
    (
        "word document",
        Message("user", [FilePart(data_b64="UEsDBA==", media_type="application/msword")]),
        "msword",
    ),
    ("system image", Message("system", [ImagePart(url="https://example.com/a.png")]), "text only"),
]


@pytest.mark.parametrize(("name", "message", "said"), UNSENDABLE, ids=[n for n, _, _ in UNSENDABLE])
def test_content_anthropic_cannot_take_is_a_400(name: str, message: Message, said: str) -> None:
    error = _rejected(_neutral(message))
    assert said in error.message
    assert error.param == "messages[0].content[0]"


def test_audio_input_is_a_400() -> None:
    sent = _openai(
        messages=[
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}],
            }
        ]
    )
    with pytest.raises(GatewayError, match="audio") as caught:
        codec().write_request(OpenAIChatCodec().read_request(sent))
    assert caught.value.param == "messages[0].content[0]"


REFUSED_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("n above 1", {"n": 2}, "n"),
    ("logprobs", {"logprobs": True}, "logprobs"),
    ("top_logprobs", {"top_logprobs": 3}, "top_logprobs"),
    ("audio output", {"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ("audio modality", {"modalities": ["text", "audio"]}, "modalities"),
    ("logit_bias", {"logit_bias": {"50256": -100}}, "logit_bias"),
    ("web search", {"web_search_options": {}}, "web_search_options"),
    (
        "non-object parameters",
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
        "tools[0].parameters",
    ),
    (
        "tool name with a dot",
        {"tools": [{"type": "function", "function": {"name": "ns.f"}}]},
        "tools[0].name",
    ),
]


@pytest.mark.parametrize(("name", "fields", "param"), REFUSED_FIELDS, ids=[n for n, _, _ in REFUSED_FIELDS])
def test_openai_fields_anthropic_cannot_honour_are_a_400(
    name: str, fields: dict[str, Any], param: str
) -> None:
    request = OpenAIChatCodec().read_request(_openai(**fields))
    request.capabilities = capabilities_of("anthropic", request.model)  # as the router writes it
    assert _rejected(request).param == param


def test_openai_fields_without_meaning_are_dropped() -> None:
    written = _from_openai(
        _openai(
            n=1,
            seed=3,
            frequency_penalty=0.2,
            logprobs=False,
            store=True,
            prediction={"type": "content", "content": "x"},
            prompt_cache_key="k",
            verbosity="low",
            safety_identifier="hash-1",
            service_tier="default",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert written == {
        "model": "gpt-4.1",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "stream": True,
        "metadata": {"user_id": "hash-1"},
        "service_tier": "standard_only",
    }


def test_builtin_tools_of_another_provider_are_a_400() -> None:
    request = _neutral(
        Message("user", [TextPart("x")]), tools=[Tool("code_execution", builtin="codeExecution")]
    )
    error = _rejected(request)
    assert error.param == "tools[0]" and "code_execution" in error.message


def test_another_providers_web_search_is_anthropics_server_side_web_search() -> None:
    openai_search = Tool(
        "web_search",
        extra={
            "type": "web_search",
            "filters": {"allowed_domains": ["python.org"]},
            "user_location": {"type": "approximate", "country": "FR", "city": "Paris"},
        },
        builtin="web_search",
    )
    for tool, expected in [
        (Tool("googleSearch", builtin="googleSearch"), {"type": "web_search_20250305", "name": "web_search"}),
        (
            openai_search,
            {
                "type": "web_search_20250305",
                "name": "web_search",
                "allowed_domains": ["python.org"],
                "user_location": {"type": "approximate", "country": "FR", "city": "Paris"},
            },
        ),
    ]:
        written = codec().write_request(_neutral(Message("user", [TextPart("x")]), tools=[tool]))
        assert written["tools"] == [expected]
        validate("anthropic", REQUEST, written, closed=True)


EFFORT_BUDGETS = [
    ("minimal", 1024),
    ("low", 2048),
    ("medium", 8192),
    ("high", 16384),
    ("xhigh", 32768),
    ("max", 63999),
]


@pytest.mark.parametrize(("effort", "budget"), EFFORT_BUDGETS)
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int) -> None:
    written = _from_openai(_openai(reasoning_effort=effort, max_completion_tokens=64000))
    assert written["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert written["max_tokens"] == 64000


def test_thinking_side_effects() -> None:
    """max_tokens above the budget, temperature≠1 and top_k dropped, forced tool choice → auto."""
    written = codec().write_request(
        _neutral(
            Message("user", [TextPart("x")]),
            reasoning=Reasoning(effort="high"),
            max_output_tokens=1000,
            temperature=0.2,
            top_k=40,
            top_p=0.95,
            tools=[Tool("f")],
            tool_choice=ToolChoice("required"),
            parallel_tool_calls=False,
        )
    )
    assert written["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert written["max_tokens"] == 17384
    assert "temperature" not in written and "top_k" not in written
    assert written["top_p"] == 0.95
    assert written["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    validate("anthropic", REQUEST, written, closed=True)


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        (Reasoning(effort="none"), None),
        (Reasoning(budget_tokens=0), None),
        (Reasoning(budget_tokens=500), {"type": "enabled", "budget_tokens": 1024}),
        (Reasoning(budget_tokens=5000, effort="low"), {"type": "enabled", "budget_tokens": 5000}),
        (Reasoning(), None),
    ],
)
def test_reasoning_budgets(reasoning: Reasoning, thinking: dict[str, Any] | None) -> None:
    written = codec().write_request(
        _neutral(Message("user", [TextPart("x")]), reasoning=reasoning, temperature=1.0)
    )
    assert written.get("thinking") == thinking
    assert written["temperature"] == 1.0  # 1 is the one temperature thinking accepts
    if thinking is not None:
        assert written["max_tokens"] > thinking["budget_tokens"]


def test_signed_thinking_is_replayed_first_and_unsigned_dropped() -> None:
    written = codec().write_request(
        _neutral(
            Message("user", [TextPart("weather?")]),
            Message(
                "assistant",
                [
                    TextPart("Checking."),
                    ReasoningPart("OpenAI reasoning text"),
                    ReasoningPart("Two cities.", signature=SIGNATURE),
                    ReasoningPart(redacted_data="EmwKAhgB"),
                    ToolCall("toolu_1", "get_weather", '{"city":"Oslo"}'),
                ],
            ),
            Message("tool", [ToolResult("toolu_1", [TextPart("3C")], as_text=True)]),
            reasoning=Reasoning(effort="low"),
        )
    )
    assert written["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Two cities.", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    assert written["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    validate("anthropic", REQUEST, written, closed=True)


def test_thinking_is_off_when_the_last_tool_turn_has_no_signed_thinking() -> None:
    """Anthropic rejects a tool-use turn without its thinking while thinking is on (§4.6)."""
    written = _from_openai(
        {
            "model": "gpt-4.1",
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "reasoning_content": "unsigned thoughts",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ],
            "reasoning_effort": "high",
            "temperature": 0.3,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "required",
        }
    )
    assert "thinking" not in written
    assert written["temperature"] == 0.3
    assert written["max_tokens"] == 4096
    assert written["tool_choice"] == {"type": "any"}
    assert written["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_thinking_is_off_with_an_assistant_prefill() -> None:
    written = codec().write_request(
        _neutral(
            Message("user", [TextPart("Pick A or B.")]),
            Message("assistant", [TextPart("The answer is (")]),
            reasoning=Reasoning(effort="medium"),
        )
    )
    assert "thinking" not in written and written["max_tokens"] == 4096
    assert written["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer is ("}],
    }


TOOL_CHOICES: list[tuple[Any, Any, dict[str, Any] | None]] = [
    ("auto", None, {"type": "auto"}),
    ("none", None, {"type": "none"}),
    ("required", None, {"type": "any"}),
    (
        {"type": "function", "function": {"name": "get_weather"}},
        None,
        {"type": "tool", "name": "get_weather"},
    ),
    ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    (None, True, None),
    ("auto", True, {"type": "auto"}),
]


@pytest.mark.parametrize(("choice", "parallel", "expected"), TOOL_CHOICES)
def test_tool_choice_mapping(choice: Any, parallel: bool | None, expected: dict[str, Any] | None) -> None:
    fields: dict[str, Any] = {"tools": [OPENAI_WEATHER_TOOL]}
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    written = _from_openai(_openai(**fields))
    assert written.get("tool_choice") == expected


def test_allowed_tools_filter_the_tools() -> None:
    sent = _openai(
        tools=[OPENAI_WEATHER_TOOL, {"type": "function", "function": {"name": "get_time"}}],
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [{"type": "function", "function": {"name": "get_time"}}],
            },
        },
    )
    written = _from_openai(sent)
    assert [t["name"] for t in written["tools"]] == ["get_time"]
    assert written["tool_choice"] == {"type": "any"}


def test_no_tools_no_tool_choice() -> None:
    written = _from_openai(_openai(tools=[], tool_choice="none", parallel_tool_calls=False))
    assert "tools" not in written and "tool_choice" not in written


def test_response_formats() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    written = _from_openai(
        _openai(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "city", "schema": schema, "strict": True},
            }
        )
    )
    assert written["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    written = _from_openai(
        _openai(
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            response_format={"type": "json_object"},
        )
    )
    assert written["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Respond with a single JSON object and nothing else."},
    ]
    assert "output_config" not in _from_openai(_openai(response_format={"type": "text"}))


def test_long_user_ids_are_hashed() -> None:
    written = _from_openai(_openai(user="u" * 600))
    assert len(written["metadata"]["user_id"]) == 64


def test_only_the_last_four_cache_breakpoints_are_kept() -> None:
    hint = CacheHint()
    written = codec().write_request(
        _neutral(
            Message("system", [TextPart("a", hint), TextPart("b", hint)]),
            Message("user", [TextPart("c", hint), TextPart("d", hint)]),
            Message("assistant", [ToolCall("call_1", "f", "{}", cache=hint)]),
            Message("tool", [ToolResult("call_1", [TextPart("e", hint)], cache=hint)]),
            tools=[Tool("f", cache=hint)],
        )
    )
    blocks = [
        *written["tools"],
        *written["system"],
        *(block for message in written["messages"] for block in message["content"]),
        *written["messages"][2]["content"][0]["content"],
    ]
    marked = [
        block.get("text", block.get("type", block.get("name")))
        for block in blocks
        if "cache_control" in block
    ]
    assert marked == ["d", "tool_use", "tool_result", "e"]
    validate("anthropic", REQUEST, written, closed=True)


def test_ttls_anthropic_does_not_offer_fall_back_to_its_default() -> None:
    written = codec().write_request(_neutral(Message("user", [TextPart("x", CacheHint("30m"))])))
    assert written["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


# ---------------------------------------------------------------------------- Anthropic → OpenAI


def _to_openai(sent: dict[str, Any]) -> dict[str, Any]:
    written = OpenAIChatCodec().write_request(codec().read_request(copy.deepcopy(sent)))
    validate("openai", OPENAI_REQUEST, written, closed=True)
    return written


def test_anthropic_conversation_becomes_an_openai_body() -> None:
    sent = body(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Oslo?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
                    "title": "f.pdf",
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "It rains."},
                    "title": "notes",
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Call the tool.", "signature": SIGNATURE},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Bergen"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3°C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "offline"}],
                    "is_error": True,
                },
                {"type": "text", "text": "Thanks."},
            ],
        },
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        temperature=0.4,
        top_k=5,
        metadata={"user_id": "user-7f3a"},
        stream=True,
    )
    assert _to_openai(sent) == {
        "model": MODEL,
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "Be brief.", "prompt_cache_breakpoint": {"mode": "explicit"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Oslo?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
                    {
                        "type": "file",
                        "file": {"filename": "f.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
                    },
                    {"type": "text", "text": "notes\n\nIt rains."},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Bergen"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "3°C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: offline"},
            {"role": "user", "content": [{"type": "text", "text": "Thanks."}]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 1024,
        "temperature": 0.4,
        "stop": ["END"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parameters": WEATHER_TOOL["input_schema"],
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "user": "user-7f3a",
    }


THINKING_TO_EFFORT: list[tuple[dict[str, Any], str | None]] = [
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
    ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "medium"),
    ({"thinking": {"type": "enabled", "budget_tokens": 16384}}, "high"),
    ({"thinking": {"type": "enabled", "budget_tokens": 32000}}, "xhigh"),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "max"),
    ({"thinking": {"type": "adaptive"}}, None),
    ({"thinking": {"type": "disabled"}}, "none"),
    ({"output_config": {"effort": "low"}}, "low"),
]


@pytest.mark.parametrize(("fields", "effort"), THINKING_TO_EFFORT)
def test_thinking_becomes_reasoning_effort(fields: dict[str, Any], effort: str | None) -> None:
    assert _to_openai(body(**fields)).get("reasoning_effort") == effort


def test_output_format_becomes_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    written = _to_openai(body(output_config={"format": {"type": "json_schema", "schema": schema}}))
    assert written["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none")],
)
def test_tool_choice_to_openai(choice: dict[str, Any], expected: str) -> None:
    written = _to_openai(body(tools=[WEATHER_TOOL], tool_choice=choice))
    assert written["tool_choice"] == expected
    assert "parallel_tool_calls" not in written


def test_server_tools_are_refused_by_an_openai_writer() -> None:
    request = codec().read_request(
        body(tools=[WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search"}])
    )
    with pytest.raises(GatewayError) as caught:
        OpenAIChatCodec().write_request(request)
    assert (caught.value.status, caught.value.param) == (400, "tools[1]")
    assert "web_search" in caught.value.message and "web_search_20250305" in caught.value.message


def test_server_tool_blocks_in_history_are_left_out_for_openai() -> None:
    written = _to_openai(
        body(
            {"role": "user", "content": "news?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "news"},
                    },
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    {"type": "text", "text": "Nothing new."},
                ],
            },
            {"role": "user", "content": "ok"},
        )
    )
    assert written["messages"][1] == {"role": "assistant", "content": "Nothing new."}


def test_document_urls_are_refused_by_an_openai_writer() -> None:
    request = codec().read_request(
        body(
            {
                "role": "user",
                "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}],
            }
        )
    )
    with pytest.raises(GatewayError, match="URL"):
        OpenAIChatCodec().write_request(request)


def test_a_custom_tool_becomes_a_function_of_one_string() -> None:
    """Anthropic has no free-text tools: Codex's apply_patch goes as a function taking ``input``
    (its own function form), the grammar told in the parameter's description."""
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    custom = {"type": "custom", "custom": {"name": "apply_patch", "description": "Patch", "format": grammar}}
    written = codec().write_request(OpenAIChatCodec().read_request(_openai(tools=[custom])))
    tool = written["tools"][0]
    assert tool["name"] == "apply_patch" and tool["description"] == "Patch"
    assert tool["input_schema"]["required"] == ["input"]
    assert "start: /.+/" in tool["input_schema"]["properties"]["input"]["description"]
