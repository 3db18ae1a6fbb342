"""Shared by the OpenAI Chat Completions codec tests: schema names, tool and schema bodies, the
recorded stream, and helpers that read, write and accumulate streams (the last in the official
SDK's own stream helper)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk, ParsedChatCompletion

from torouter.router.ir import ChatRequest, StreamBatch
from torouter.router.protocols.openai.chat import OpenAIChatStreamReader, OpenAIChatStreamWriter
from torouter.router.protocols.sse import SSEParser

DATA = Path(__file__).parent / "data"
FIXTURE = (DATA / "openai_chat_stream_tool_calls.sse").read_bytes()
# Component names in the vendored OpenAI spec, for ``support.schemas.validate``.
REQUEST = "CreateChatCompletionRequest"
RESPONSE = "CreateChatCompletionResponse"
CHUNK = "CreateChatCompletionStreamResponse"


# ---------------------------------------------------------------------------- bodies

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
LOGPROBS = {
    "content": [{"token": "Hi", "logprob": -0.0001, "bytes": [72, 105], "top_logprobs": []}],
    "refusal": None,
}


# ---------------------------------------------------------------------------- streams


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
