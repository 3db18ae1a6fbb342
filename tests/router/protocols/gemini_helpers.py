"""Shared by the Gemini generateContent codec tests: spec validation, a recorded stream, and
helpers that read, write and parse streams, the last in the official google-genai SDK itself (its
request serialiser and its stream decoder, through an httpx mock transport).

The spec's ``GenerateContentRequest`` requires ``model``, which the real API takes from the URL
(``models/{model}:generateContent``) and which the writers therefore leave out of the body:
``validate_request`` checks a body with the URL's model added, as the API sees the request.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
from google import genai
from google.genai import types

from support.schemas import validate
from torouter.router.ir import ChatRequest, Reasoning, StreamBatch
from torouter.router.protocols.gemini.generate import (
    GeminiGenerateCodec,
    GeminiGenerateStreamReader,
    GeminiGenerateStreamWriter,
)
from torouter.router.protocols.sse import SSEParser

MODEL = "gemini-2.5-flash"
REQUEST = "GenerateContentRequest"
RESPONSE = "GenerateContentResponse"
SIGNATURE = "CiQB0e2Kb7xA1c9rFv2mXq8hT4uYz3wLpN6sJdK0eR5gHiOaUbE="
CALL_SIGNATURE = "CpgCAdHtim9Xw4kR2sLq7vN1bT8yZ5uJ3oM6pQ0eH9fGcVxAaWdKrS4t"

WEATHER_DECLARATION: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "description": "City name, e.g. Oslo"},
            "unit": {"type": "STRING", "enum": ["c", "f"], "nullable": True},
        },
        "required": ["city"],
    },
}


def codec() -> GeminiGenerateCodec:
    return GeminiGenerateCodec()


def body(*contents: Any, **fields: Any) -> dict[str, Any]:
    """A request body: the contents given (or one user turn)."""
    chosen = list(contents) or [{"role": "user", "parts": [{"text": "Hello"}]}]
    return {"contents": chosen, **fields}


def validate_request(sent: dict[str, Any]) -> None:
    """The body as the API sees it: the model comes from the URL."""
    validate("gemini", REQUEST, {"model": f"models/{MODEL}", **sent})


def validate_response(sent: dict[str, Any]) -> None:
    validate("gemini", RESPONSE, sent)


# ---------------------------------------------------------------------------- a recorded stream

RECORDED: list[dict[str, Any]] = [
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "text": "**Looking up the weather**\n\n"
                            "The user wants Oslo and Bergen: one call each.",
                            "thought": True,
                        }
                    ],
                    "role": "model",
                },
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 112,
            "totalTokenCount": 150,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 112}],
            "thoughtsTokenCount": 38,
        },
        "modelVersion": MODEL,
        "responseId": "nGgraLqKDcmW1dkP5ZfQ8QQ",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "I'll check both cities.", "thoughtSignature": SIGNATURE}],
                    "role": "model",
                },
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 112,
            "candidatesTokenCount": 6,
            "totalTokenCount": 156,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 112}],
            "thoughtsTokenCount": 38,
        },
        "modelVersion": MODEL,
        "responseId": "nGgraLqKDcmW1dkP5ZfQ8QQ",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Oslo", "unit": "c"}},
                            "thoughtSignature": CALL_SIGNATURE,
                        },
                        {"functionCall": {"name": "get_weather", "args": {"city": "Bergen", "unit": "c"}}},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 112,
            "candidatesTokenCount": 31,
            "totalTokenCount": 181,
            "cachedContentTokenCount": 64,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 112}],
            "thoughtsTokenCount": 38,
        },
        "modelVersion": MODEL,
        "responseId": "nGgraLqKDcmW1dkP5ZfQ8QQ",
    },
]


def sse(*chunks: Any) -> bytes:
    """A Gemini stream: ``data: <json>\\r\\n\\r\\n`` per chunk, no terminator."""
    return b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)


FIXTURE = sse(*RECORDED)


def frames(raw: bytes) -> list[Any]:
    return [orjson.loads(e.data) for e in SSEParser().feed(raw)]


def read_all(raw: bytes) -> tuple[list[StreamBatch], GeminiGenerateStreamReader]:
    reader = GeminiGenerateStreamReader()
    batches = [b for e in SSEParser().feed(raw) if (b := reader.feed(e)) is not None]
    return batches, reader


def write_all(batches: list[StreamBatch], request: ChatRequest | None = None) -> tuple[bytes, list[bytes]]:
    writer = GeminiGenerateStreamWriter(request or stream_request())
    per_batch = [writer.write(b) for b in batches]
    return b"".join(per_batch) + writer.close(), per_batch


def stream_request(include_thoughts: bool | None = None, model: str = MODEL) -> ChatRequest:
    reasoning = None if include_thoughts is None else Reasoning(include_thoughts=include_thoughts)
    return ChatRequest(model=model, messages=[], dialect="gemini", stream=True, reasoning=reasoning)


# ---------------------------------------------------------------------------- the official SDK


class _Recorder:
    """An httpx transport that records the SDK's requests and answers with canned bytes."""

    def __init__(self, answer: bytes, content_type: str) -> None:
        self.answer = answer
        self.content_type = content_type
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, content=self.answer, headers={"content-type": self.content_type})


def _client(recorder: _Recorder) -> genai.Client:
    transport = httpx.MockTransport(recorder)
    options = types.HttpOptions(
        base_url="http://gateway.test", httpx_client=httpx.Client(transport=transport)
    )
    return genai.Client(api_key="AIza-test", http_options=options)


_EMPTY_ANSWER = orjson.dumps({"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}]})


def sdk_request(contents: Any, config: types.GenerateContentConfig | None = None) -> dict[str, Any]:
    """The body google-genai sends for ``generate_content(contents, config)``."""
    recorder = _Recorder(_EMPTY_ANSWER, "application/json")
    _client(recorder).models.generate_content(model=MODEL, contents=contents, config=config)
    return recorder.bodies[0]


def sdk_response(sent: dict[str, Any]) -> types.GenerateContentResponse:
    """A response body as google-genai parses it."""
    recorder = _Recorder(orjson.dumps(sent), "application/json")
    return _client(recorder).models.generate_content(model=MODEL, contents="Hi")


def sdk_stream(raw: bytes) -> list[types.GenerateContentResponse]:
    """The chunks google-genai's own stream decoder yields for these bytes (raises on errors)."""
    recorder = _Recorder(raw, "text/event-stream")
    return list(_client(recorder).models.generate_content_stream(model=MODEL, contents="Hi"))
