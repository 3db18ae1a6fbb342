"""OpenAI Chat Completions codec: requests of another dialect, written from the neutral fields.

The JSON must follow the spec (checked against ``openai-subset-gateway.json``).
"""

from __future__ import annotations

import pytest
from openai_chat_helpers import REPORT_SCHEMA, REQUEST, WEATHER_SCHEMA

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
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from torouter.router.protocols.openai.chat import OpenAIChatCodec


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
