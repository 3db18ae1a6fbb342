"""Anthropic Messages codec: requests read from a caller and written back in the same dialect.

A round trip must give back equal JSON (what the neutral form cannot hold stays in ``extra``), and
the neutral form must say what the request says. Every body here follows the spec.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_helpers import MODEL, REQUEST, SIGNATURE, WEATHER_TOOL, body, codec

from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    CacheHint,
    FilePart,
    ImagePart,
    Message,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

WEB_SEARCH_TOOL = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 3,
    "allowed_domains": ["yr.no"],
    "cache_control": {"type": "ephemeral"},
}


def _rich_body() -> dict[str, Any]:
    """A realistic agent turn: cached system blocks, media, a signed tool-use turn with a server
    tool in between, tool results followed by text, and every top-level knob."""
    return {
        "model": MODEL,
        "max_tokens": 8192,
        "system": [
            {
                "type": "text",
                "text": "You are a weather assistant.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
            {"type": "text", "text": "Answer in metric units."},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "What's the weather in Oslo and Bergen? Use the attached notes.",
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/map.jpg"}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
                        "title": "forecast.pdf",
                        "citations": {"enabled": True},
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Two cities: two calls.", "signature": SIGNATURE},
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
                    {"type": "text", "text": "Let me check."},
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
                        "name": "web_search",
                        "input": {"query": "weather Oslo"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
                        "content": [
                            {
                                "type": "web_search_result",
                                "url": "https://www.yr.no/en/forecast/daily-table/1-72837/Norway/Oslo/Oslo/Oslo",
                                "title": "Oslo - Yr",
                                "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5",
                                "page_age": "1 hour ago",
                            }
                        ],
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "name": "get_weather",
                        "input": {"city": "Oslo", "unit": "c"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_01B7mXq4fRkL2nPz8sVd3wYc",
                        "name": "get_weather",
                        "input": {"city": "Bergen"},
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                        "content": "3°C, clear",
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01B7mXq4fRkL2nPz8sVd3wYc",
                        "content": [
                            {"type": "text", "text": "station offline"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGOD"},
                            },
                        ],
                        "is_error": True,
                    },
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
        "tools": [WEATHER_TOOL, WEB_SEARCH_TOOL],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "metadata": {"user_id": "user-7f3a"},
        "service_tier": "standard_only",
        "cache_control": {"type": "ephemeral"},
        "stop_sequences": ["\n\nHuman:", "END"],
        "temperature": 1,
        "top_p": 0.99,
        "stream": True,
    }


def test_rich_request_round_trips_exactly() -> None:
    original = _rich_body()
    validate("anthropic", REQUEST, original, closed=True)
    sent = copy.deepcopy(original)
    request = codec().read_request(sent)
    assert sent == original  # the reader does not touch the caller's JSON
    written = codec().write_request(request)
    assert written == original
    validate("anthropic", REQUEST, written, closed=True)


def test_rich_request_neutral_form() -> None:
    request = codec().read_request(_rich_body())
    assert (request.model, request.dialect, request.max_output_tokens) == (MODEL, "anthropic", 8192)
    assert request.stream and request.include_usage
    assert (request.temperature, request.top_p, request.top_k) == (1, 0.99, None)
    assert request.stop == ["\n\nHuman:", "END"]
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool", "user"]
    system, user, assistant, results, follow_up = request.messages
    assert system.parts == [
        TextPart("You are a weather assistant.", CacheHint("1h")),
        TextPart("Answer in metric units."),
    ]
    assert not system.as_text
    assert user.parts[1:] == [
        ImagePart(data_b64="iVBORw0KGgo=", media_type="image/png"),
        ImagePart(url="https://example.com/map.jpg"),
        FilePart(
            data_b64="JVBERi0xLjQK",
            media_type="application/pdf",
            filename="forecast.pdf",
            cache=CacheHint(),
            extra={"citations": {"enabled": True}},
        ),
    ]
    assert assistant.parts == [
        ReasoningPart("Two cities: two calls.", signature=SIGNATURE),
        ReasoningPart(redacted_data="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"),
        TextPart("Let me check."),
        ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Oslo","unit":"c"}'),
        ToolCall("toolu_01B7mXq4fRkL2nPz8sVd3wYc", "get_weather", '{"city":"Bergen"}', cache=CacheHint()),
    ]
    # the server tool blocks stay where they were, in the message's slot list
    slots = assistant.extra["content"]
    assert [s if s is None else s["type"] for s in slots] == [
        None,
        None,
        None,
        "server_tool_use",
        "web_search_tool_result",
        None,
        None,
    ]
    assert results.parts == [
        ToolResult("toolu_01A09q90qw90lq917835lq9", [TextPart("3°C, clear")], as_text=True),
        ToolResult(
            "toolu_01B7mXq4fRkL2nPz8sVd3wYc",
            [TextPart("station offline"), ImagePart(data_b64="R0lGOD", media_type="image/gif")],
            is_error=True,
        ),
    ]
    assert follow_up == Message("user", [TextPart("And tomorrow?")], extra={"_continues": True})
    weather, search = request.tools or []
    assert weather == Tool(
        "get_weather", "Current weather for a city.", WEATHER_TOOL["input_schema"], extra={}
    )
    assert search == Tool(
        "web_search",
        cache=CacheHint(),
        extra={"max_uses": 3, "allowed_domains": ["yr.no"]},
        builtin="web_search_20250305",
    )
    assert request.tool_choice == ToolChoice("auto")
    assert request.parallel_tool_calls is False
    assert request.reasoning == Reasoning(budget_tokens=4096)
    assert request.response_format == ResponseFormat("json_schema", schema={"type": "object"})
    assert request.user == "user-7f3a"
    assert request.extra == {
        "thinking": {},
        "output_config": {},
        "metadata": {},
        "service_tier": "standard_only",
        "cache_control": {"type": "ephemeral"},
    }


ROUND_TRIPS: list[tuple[str, dict[str, Any]]] = [
    ("string system and content", body({"role": "user", "content": "Hi"}, system="Be brief.")),
    ("empty string content", body({"role": "user", "content": ""})),
    ("empty system list", body(system=[])),
    ("empty content list", body({"role": "user", "content": []})),
    (
        "assistant prefill",
        body(
            {"role": "user", "content": "Pick A or B."}, {"role": "assistant", "content": "The answer is ("}
        ),
    ),
    (
        "two user turns in a row stay two",
        body(
            {"role": "user", "content": "one"}, {"role": "user", "content": [{"type": "text", "text": "two"}]}
        ),
    ),
    (
        "text before a tool result in one turn",
        body(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "here you go"},
                    {"type": "tool_result", "tool_use_id": "toolu_1"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ),
    ),
    (
        "tool results with nested blocks",
        body(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "x"}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {
                                "type": "text",
                                "text": "Found:",
                                "cache_control": {"type": "ephemeral", "ttl": "5m"},
                            },
                            {
                                "type": "search_result",
                                "source": "https://docs.example.com/a",
                                "title": "A",
                                "content": [{"type": "text", "text": "alpha"}],
                                "citations": {"enabled": True},
                            },
                            {
                                "type": "document",
                                "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                            },
                        ],
                        "is_error": False,
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": []},
                ],
            },
        ),
    ),
    (
        "document sources",
        body(
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
                    },
                    {
                        "type": "document",
                        "source": {"type": "url", "url": "https://example.com/a.pdf"},
                        "title": "A",
                    },
                    {
                        "type": "document",
                        "source": {"type": "content", "content": "a string"},
                        "context": "ctx",
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "content",
                            "content": [
                                {"type": "text", "text": "first"},
                                {
                                    "type": "image",
                                    "source": {"type": "url", "url": "https://example.com/i.png"},
                                },
                                {"type": "text", "text": "second"},
                            ],
                        },
                        "title": None,
                    },
                    {"type": "text", "text": "Summarise.", "citations": None},
                ],
            }
        ),
    ),
    (
        "adaptive thinking with effort",
        body(thinking={"type": "adaptive", "display": "summarized"}, output_config={"effort": "high"}),
    ),
    ("adaptive thinking alone", body(thinking={"type": "adaptive"})),
    ("thinking disabled", body(thinking={"type": "disabled"})),
    ("effort alone", body(output_config={"effort": "max"})),
    (
        "enabled thinking with display",
        body(thinking={"type": "enabled", "budget_tokens": 2048, "display": "omitted"}),
    ),
    ("empty output config and metadata", body(output_config={}, metadata={})),
    ("null user id", body(metadata={"user_id": None})),
    ("stream false", body(stream=False, temperature=0.0, top_k=40, stop_sequences=[])),
    ("tool choice any", body(tools=[WEATHER_TOOL], tool_choice={"type": "any"})),
    (
        "tool choice tool",
        body(
            tools=[WEATHER_TOOL],
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": False},
        ),
    ),
    ("tool choice none", body(tools=[WEATHER_TOOL], tool_choice={"type": "none"})),
    (
        "custom tool spellings",
        body(
            tools=[
                {"type": "custom", "name": "a", "input_schema": {"type": "object"}, "strict": True},
                {
                    "type": None,
                    "name": "b",
                    "input_schema": {"type": "object", "properties": {}},
                    "defer_loading": True,
                },
                {
                    "name": "c",
                    "input_schema": {"type": "object"},
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
            ]
        ),
    ),
    (
        "server tools",
        body(
            tools=[
                {"type": "bash_20250124", "name": "bash"},
                {
                    "type": "text_editor_20250728",
                    "name": "str_replace_based_edit_tool",
                    "max_characters": 10000,
                },
                {"type": "code_execution_20250825", "name": "code_execution"},
            ]
        ),
    ),
    ("container and geo", body(container="container_011CQjc2", inference_geo="us")),
]


@pytest.mark.parametrize(("name", "original"), ROUND_TRIPS, ids=[n for n, _ in ROUND_TRIPS])
def test_request_round_trips_exactly(name: str, original: dict[str, Any]) -> None:
    validate("anthropic", REQUEST, original)
    request = codec().read_request(copy.deepcopy(original))
    assert codec().write_request(request) == original


def test_null_fields_outside_the_spec_round_trip() -> None:
    """Nulls the neutral form cannot tell from absent stay in the residual."""
    original = body(
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": None}]},
        system=None,
        thinking=None,
        tool_choice=None,
        tools=None,
        output_config=None,
        metadata=None,
        stop_sequences=None,
        temperature=None,
    )
    request = codec().read_request(copy.deepcopy(original))
    assert request.tools is None and request.reasoning is None and request.temperature is None
    assert codec().write_request(request) == original


def test_unknown_blocks_and_keys_round_trip() -> None:
    original = body(
        {
            "role": "user",
            "content": [
                {"type": "container_upload", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"},
                {"type": "some_future_block", "payload": {"x": 1}},
                {"type": "text", "text": "go"},
            ],
        },
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        mcp_servers=[{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}],
    )
    request = codec().read_request(copy.deepcopy(original))
    assert request.messages[0].parts == [TextPart("go")]
    assert codec().write_request(request) == original


def test_changed_neutral_values_win() -> None:
    request = codec().read_request(_rich_body())
    request.model = "claude-opus-4-6"
    request.max_output_tokens = 100
    request.stop = None
    request.reasoning = Reasoning(effort="none")
    request.parallel_tool_calls = None
    request.user = None
    request.messages[1].parts[0] = TextPart("Only Oslo.")
    request.messages[0].parts[0].cache = None
    written = codec().write_request(request)
    assert written["model"] == "claude-opus-4-6"
    assert written["max_tokens"] == 100
    assert "stop_sequences" not in written
    assert written["thinking"] == {"type": "disabled"}
    assert written["tool_choice"] == {"type": "auto"}
    assert written["metadata"] == {}
    assert written["messages"][0]["content"][0] == {"type": "text", "text": "Only Oslo."}
    assert written["system"][0] == {"type": "text", "text": "You are a weather assistant."}
    validate("anthropic", REQUEST, written, closed=True)


# ---------------------------------------------------------------------------- invalid requests

_TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}


def _content(*blocks: Any) -> dict[str, Any]:
    return body({"role": "user", "content": list(blocks)})


INVALID: list[tuple[str, Any, str]] = [
    ("body not an object", [], "body"),
    ("model missing", {"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ("model empty", body(model=""), "model"),
    ("max_tokens missing", {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ("max_tokens a string", body(max_tokens="1024"), "max_tokens"),
    ("max_tokens null", body(max_tokens=None), "max_tokens"),
    ("max_tokens negative", body(max_tokens=-1), "max_tokens"),
    ("messages missing", {"model": MODEL, "max_tokens": 1}, "messages"),
    ("messages empty", body(messages=[]), "messages"),
    ("message not an object", body("hi"), "messages[0]"),
    ("role missing", body({"content": "x"}), "messages[0].role"),
    ("role tool", body({"role": "tool", "content": "x"}), "messages[0].role"),
    ("content missing", body({"role": "user"}), "messages[0].content"),
    ("content a number", body({"role": "user", "content": 3}), "messages[0].content"),
    ("block not an object", _content("hi"), "messages[0].content[0]"),
    ("block without type", _content({"text": "hi"}), "messages[0].content[0].type"),
    ("text without text", _content({"type": "text"}), "messages[0].content[0].text"),
    ("image without source", _content({"type": "image"}), "messages[0].content[0].source"),
    (
        "image data not a string",
        _content({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": 1}}),
        "messages[0].content[0].source.data",
    ),
    (
        "document source a string",
        _content({"type": "document", "source": "x"}),
        "messages[0].content[0].source",
    ),
    (
        "document content a number",
        _content({"type": "document", "source": {"type": "content", "content": 5}}),
        "messages[0].content[0].source.content",
    ),
    ("tool_use input a string", _content({**_TOOL_USE, "input": "{}"}), "messages[0].content[0].input"),
    (
        "tool_use without id",
        _content({"type": "tool_use", "name": "f", "input": {}}),
        "messages[0].content[0].id",
    ),
    (
        "tool_result content a number",
        _content({"type": "tool_result", "tool_use_id": "toolu_1", "content": 5}),
        "messages[0].content[0].content",
    ),
    (
        "tool_result is_error a string",
        _content({"type": "tool_result", "tool_use_id": "toolu_1", "is_error": "yes"}),
        "messages[0].content[0].is_error",
    ),
    (
        "thinking without signature",
        _content({"type": "thinking", "thinking": "x"}),
        "messages[0].content[0].signature",
    ),
    (
        "cache_control of an unknown type",
        _content({"type": "text", "text": "x", "cache_control": {"type": "forever"}}),
        "messages[0].content[0].cache_control.type",
    ),
    (
        "cache_control ttl unknown",
        _content({"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "30m"}}),
        "messages[0].content[0].cache_control.ttl",
    ),
    ("system a number", body(system=5), "system"),
    (
        "system image block",
        body(system=[{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]),
        "system[0].type",
    ),
    ("temperature above 1", body(temperature=1.5), "temperature"),
    ("temperature a string", body(temperature="0.5"), "temperature"),
    ("top_p negative", body(top_p=-0.1), "top_p"),
    ("top_k negative", body(top_k=-1), "top_k"),
    ("stop_sequences a string", body(stop_sequences="END"), "stop_sequences"),
    ("stream a string", body(stream="yes"), "stream"),
    ("tools an object", body(tools={}), "tools"),
    ("tool without name", body(tools=[{"input_schema": {"type": "object"}}]), "tools[0].name"),
    ("tool without input_schema", body(tools=[{"name": "f"}]), "tools[0].input_schema"),
    ("tool description a number", body(tools=[{**WEATHER_TOOL, "description": 1}]), "tools[0].description"),
    ("tool_choice a string", body(tool_choice="auto"), "tool_choice"),
    ("tool_choice type unknown", body(tool_choice={"type": "required"}), "tool_choice.type"),
    ("tool_choice tool without name", body(tool_choice={"type": "tool"}), "tool_choice.name"),
    (
        "disable_parallel_tool_use a string",
        body(tool_choice={"type": "auto", "disable_parallel_tool_use": "true"}),
        "tool_choice.disable_parallel_tool_use",
    ),
    ("thinking type unknown", body(thinking={"type": "on"}), "thinking.type"),
    ("thinking enabled without budget", body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    ("effort unknown", body(output_config={"effort": "minimal"}), "output_config.effort"),
    (
        "format type unknown",
        body(output_config={"format": {"type": "json_object"}}),
        "output_config.format.type",
    ),
    (
        "format without schema",
        body(output_config={"format": {"type": "json_schema"}}),
        "output_config.format.schema",
    ),
    ("metadata a string", body(metadata="u1"), "metadata"),
    ("user_id a number", body(metadata={"user_id": 7}), "metadata.user_id"),
]


@pytest.mark.parametrize(("name", "sent", "param"), INVALID, ids=[n for n, _, _ in INVALID])
def test_invalid_request_is_a_400_naming_the_field(name: str, sent: Any, param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        codec().read_request(sent)
    error = caught.value
    assert (error.code, error.status, error.param) == (ErrorCode.INVALID_REQUEST, 400, param)
    assert param in error.message
