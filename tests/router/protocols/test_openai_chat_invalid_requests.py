"""OpenAI Chat Completions codec: a malformed request is a 400 that names the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.protocols.openai.chat import OpenAIChatCodec

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


_ROLES_LISTED = '"system", "developer", "user", "assistant", "tool", "function"'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _body(tool_choice=True),
            "Invalid type for 'tool_choice': expected a string or an object, but got a boolean instead.",
        ),
        (
            _body(function_call=[]),
            "Invalid type for 'function_call': expected a string or an object, but got an array instead.",
        ),
        (
            _history({"role": True, "content": "hi"}),
            f"Invalid value for 'messages[0].role': true. Supported values are: {_ROLES_LISTED}.",
        ),
        (
            _history({"role": None, "content": "hi"}),
            f"Invalid value for 'messages[0].role': null. Supported values are: {_ROLES_LISTED}.",
        ),
        (
            _body(tool_choice="x"),
            """Invalid value for 'tool_choice': "x". Supported values are: "auto", "none", "required".""",
        ),
        (
            _body(tools=[{"type": "it's"}]),
            """Invalid value for 'tools[0].type': "it's". Supported values are: "function", "custom".""",
        ),
        (  # not from a JSON parse (a Python caller): described, never a crash
            _history({"role": 2**70, "content": "hi"}),
            f"Invalid value for 'messages[0].role': an integer. Supported values are: {_ROLES_LISTED}.",
        ),
    ],
    ids=[
        "tool_choice true",
        "function_call array",
        "role true",
        "role null",
        "tool_choice string",
        "tool type with quote",
        "role beyond 64 bits",
    ],
)
def test_invalid_values_are_shown_as_json(codec: OpenAIChatCodec, body: Any, message: str) -> None:
    with pytest.raises(GatewayError) as caught:
        codec.read_request(body)
    assert caught.value.message == message


def test_a_long_invalid_value_is_truncated(codec: OpenAIChatCodec) -> None:
    with pytest.raises(GatewayError) as caught:
        codec.read_request(_history({"role": {"text": "x" * 5000}, "content": "hi"}))
    message = caught.value.message
    assert message.startswith("""Invalid value for 'messages[0].role': {"text":"xxx""")
    assert "…" in message and len(message) < 300
