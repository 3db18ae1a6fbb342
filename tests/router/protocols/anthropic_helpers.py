"""Shared by the Anthropic Messages codec tests: schema names, a recorded stream, and helpers that
read, write and accumulate streams (the last in the official Anthropic SDK's own stream helper)."""

from __future__ import annotations

import functools
from typing import Any

import anthropic
import httpx2
import orjson
from anthropic.lib.streaming import MessageStream
from anthropic.types import RawMessageStreamEvent
from anthropic.types.parsed_message import ParsedMessage

from torouter.router.ir import ChatRequest, StreamBatch
from torouter.router.protocols.anthropic.messages import (
    AnthropicMessagesCodec,
    AnthropicMessagesStreamReader,
    AnthropicMessagesStreamWriter,
)
from torouter.router.protocols.sse import SSEParser

# Component names in the vendored Anthropic spec, for ``support.schemas.validate``.
REQUEST = "CreateMessageParams"
MESSAGE = "Message"
MODEL = "claude-sonnet-4-6"
SIGNATURE = "EqQBCkgIARABGAIiQLq5vJ9dT2sE8mWkP0xYc3R7nHf4aZ1uG6bVwD2oK9iNjM5hS8eFqC0lTyUrXg7A"
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}


def codec() -> AnthropicMessagesCodec:
    return AnthropicMessagesCodec()


def body(*messages: Any, **fields: Any) -> dict[str, Any]:
    """A request body: the messages given (or one user turn), ``max_tokens`` 1024."""
    chosen = list(messages) or [{"role": "user", "content": "Hello"}]
    return {"model": MODEL, "max_tokens": 1024, "messages": chosen, **fields}


# ---------------------------------------------------------------------------- a recorded stream

_RECORDED: list[tuple[str, dict[str, Any]]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-6",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "stop_details": None,
                "usage": {
                    "input_tokens": 472,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 1024,
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": 3,
                    "service_tier": "standard",
                    "inference_geo": "not_available",
                    "server_tool_use": None,
                },
                "container": None,
            },
        },
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "The user wants the weather in two cities."},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": " One call each."},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": SIGNATURE},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "I'll check"}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " both cities."}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": "get_weather",
                "input": {},
                "caller": {"type": "direct"},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Ber'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": 'gen", "unit": "c"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01B7mXq4fRkL2nPz8sVd3wYc",
                "name": "get_weather",
                "input": {},
                "caller": {"type": "direct"},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 3,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Oslo",'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 3,
            "delta": {"type": "input_json_delta", "partial_json": ' "unit": "c"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 3}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None, "stop_details": None},
            "usage": {
                "input_tokens": 472,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1024,
                "output_tokens": 189,
            },
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def sse(events: list[tuple[str | None, Any]]) -> bytes:
    """An upstream stream: one ``event:``/``data:`` frame per (name, data); no ``event:`` line
    for a None name."""
    out = b""
    for name, data in events:
        if name is not None:
            out += b"event: " + name.encode() + b"\n"
        out += b"data: " + (data if isinstance(data, bytes) else orjson.dumps(data)) + b"\n\n"
    return out


RECORDED_EVENTS: list[tuple[str | None, Any]] = list(_RECORDED)
FIXTURE = sse(RECORDED_EVENTS)
# the events a relay gives back: all but the keep-alive
RELAYED = [(name, data) for name, data in _RECORDED if name != "ping"]


def frames(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each frame."""
    return [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(raw)]


def read_all(raw: bytes) -> tuple[list[StreamBatch], AnthropicMessagesStreamReader]:
    reader = AnthropicMessagesStreamReader()
    batches = [b for e in SSEParser().feed(raw) if (b := reader.feed(e)) is not None]
    return batches, reader


def write_all(batches: list[StreamBatch], request: ChatRequest | None = None) -> tuple[bytes, list[bytes]]:
    writer = AnthropicMessagesStreamWriter(request or stream_request())
    per_batch = [writer.write(b) for b in batches]
    return b"".join(per_batch) + writer.close(), per_batch


def stream_request(model: str = MODEL) -> ChatRequest:
    return ChatRequest(model=model, messages=[], dialect="anthropic", stream=True, include_usage=True)


# ---------------------------------------------------------------------------- the official SDK


@functools.cache
def _client() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url="http://gateway.test")


def sdk_stream(raw: bytes) -> MessageStream[Any]:
    """The SDK's own message stream helper over these bytes (its SSE decoder and accumulator)."""
    response = httpx2.Response(
        200,
        content=raw,
        headers={"content-type": "text/event-stream"},
        request=httpx2.Request("POST", "http://gateway.test/v1/messages"),
    )
    raw_stream = anthropic.Stream(cast_to=RawMessageStreamEvent, response=response, client=_client())
    return MessageStream(raw_stream, output_format=anthropic.NOT_GIVEN)


def sdk_events(raw: bytes) -> list[Any]:
    return list(sdk_stream(raw))


def accumulate(raw: bytes) -> ParsedMessage[Any]:
    """The message the SDK's stream helper accumulates from these bytes (raises on errors)."""
    return sdk_stream(raw).get_final_message()
