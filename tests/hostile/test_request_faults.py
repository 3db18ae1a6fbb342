"""Requests that used to reach a 500: bytes that are not UTF-8 in a key or protocol header, bodies
with a content-encoding, a tool schema nested 300 levels deep and integers beyond 64 bits on a
translated group. Each is a clear 4xx in the caller's protocol (or, for a valid encoded body, an
answer), on every protocol, passthrough and translated."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
import pytest

from support.hostile import (
    KEYS,
    TARGETS,
    HostileStack,
    assert_refused,
    http_request,
    raw_request,
)

# protocol -> (path for a model, the header carrying its key, a body for a model)
CALLERS: dict[str, Any] = {
    "openai": (
        lambda model: "/v1/chat/completions",
        lambda key: (b"Authorization", b"Bearer " + key),
        lambda model: {"model": model, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "anthropic": (
        lambda model: "/v1/messages",
        lambda key: (b"x-api-key", key),
        lambda model: {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "gemini": (
        lambda model: f"/v1beta/models/{model}:generateContent",
        lambda key: (b"x-goog-api-key", key),
        lambda model: {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
}
NOT_UTF8 = b"\xff\xfe\xc3(tr-hostile"


def call(protocol: str, route: str, body: Any = None, headers: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    path, auth, make = CALLERS[protocol]
    group, model = TARGETS[protocol][route]
    raw = body if isinstance(body, bytes) else orjson.dumps(body if body is not None else make(model))
    versioned = protocol == "anthropic" and b"anthropic-version" not in dict(headers)
    extra = [(b"anthropic-version", b"2023-06-01")] if versioned else []
    return http_request("POST", path(model), [auth(KEYS[group].encode()), *extra, *headers], raw)


@pytest.mark.parametrize("header", [b"Authorization", b"x-api-key", b"x-goog-api-key"])
@pytest.mark.parametrize("protocol", list(CALLERS))
async def test_a_key_that_is_not_utf8_is_a_401(hostile: HostileStack, protocol: str, header: bytes) -> None:
    path, _, make = CALLERS[protocol]
    value = (b"Bearer " if header == b"Authorization" else b"") + NOT_UTF8
    extra = [(b"anthropic-version", b"2023-06-01")] if protocol == "anthropic" else []
    request = http_request("POST", path("gpt-4o-mini"), [(header, value), *extra], orjson.dumps(make("m")))
    answer = await raw_request(hostile.port, request)
    assert "not UTF-8" in assert_refused(answer, protocol, 401)


@pytest.mark.parametrize("header", [b"anthropic-version", b"anthropic-beta"])
@pytest.mark.parametrize("route", ["passthrough", "translated"])
async def test_protocol_headers_that_are_not_utf8_are_a_400(
    hostile: HostileStack, header: bytes, route: str
) -> None:
    answer = await raw_request(hostile.port, call("anthropic", route, headers=((header, NOT_UTF8),)))
    assert header.decode() in assert_refused(answer, "anthropic", 400)


@pytest.mark.parametrize(("encoding", "compress"), [(b"gzip", gzip.compress), (b"deflate", zlib.compress)])
@pytest.mark.parametrize("route", ["passthrough", "translated"])
@pytest.mark.parametrize("protocol", list(CALLERS))
async def test_compressed_json_bodies_are_decoded(
    hostile: HostileStack, protocol: str, route: str, encoding: bytes, compress: Any
) -> None:
    _, _, make = CALLERS[protocol]
    body = compress(orjson.dumps(make(TARGETS[protocol][route][1])))
    answer = await raw_request(hostile.port, call(protocol, route, body, ((b"Content-Encoding", encoding),)))
    assert answer.status == 200, answer.body[:300]


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
@pytest.mark.parametrize("protocol", list(CALLERS))
async def test_compression_bombs_are_a_413_and_garbage_a_400(
    hostile: HostileStack, protocol: str, encoding: bytes
) -> None:
    squeeze = gzip.compress if encoding == b"gzip" else zlib.compress
    bomb = squeeze(b"{" + b" " * (64 * 1024 * 1024) + b"}")  # 64 MiB inflated, the limit is 4
    answer = await raw_request(
        hostile.port, call(protocol, "passthrough", bomb, ((b"Content-Encoding", encoding),))
    )
    assert "limit" in assert_refused(answer, protocol, 413)
    garbage = b"\x1f\x8b\x08\x00 this is not what it says"
    answer = await raw_request(
        hostile.port, call(protocol, "passthrough", garbage, ((b"Content-Encoding", encoding),))
    )
    assert_refused(answer, protocol, 400)


def _nested(levels: int) -> bytes:
    """A JSON schema ``levels`` objects deep (2 JSON levels each), as text: no encoder writes it."""
    return b'{"type":"object","properties":{"a":' * levels + b'{"type":"string"}' + b"}}" * levels


TOOLS: dict[str, Any] = {
    "openai": (b',"tools":[{"type":"function","function":{"name":"f","parameters":', b"}}]}"),
    "anthropic": (b',"tools":[{"name":"f","input_schema":', b"}]}"),
    "gemini": (b',"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":', b"}]}]}"),
}


@pytest.mark.parametrize("levels", [150, 480])  # 300 and 960 JSON levels (orjson reads 1024)
@pytest.mark.parametrize("protocol", list(CALLERS))
async def test_a_tool_schema_nested_too_deep_for_translation_is_a_400(
    hostile: HostileStack, protocol: str, levels: int
) -> None:
    _, _, make = CALLERS[protocol]
    before, after = TOOLS[protocol]
    body = orjson.dumps(make(TARGETS[protocol]["translated"][1]))[:-1] + before + _nested(levels) + after
    answer = await raw_request(hostile.port, call(protocol, "translated", body))
    assert "nested too deeply" in assert_refused(answer, protocol, 400)


@pytest.mark.parametrize("group", ["openai", "claude"])
@pytest.mark.parametrize("field", ["maxOutputTokens", "topK", "candidateCount", "seed"])
@pytest.mark.parametrize("value", [b"123456789012345678901234567890", b'"99999999999999999999999"', b"1e300"])
async def test_gemini_integers_beyond_64_bits_are_a_400_on_translated_groups(
    hostile: HostileStack, group: str, field: str, value: bytes
) -> None:
    model = "gpt-4o-mini" if group == "openai" else "claude-haiku-4-5"
    body = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"%s":%s}}' % (
        field.encode(),
        value,
    )
    request = http_request(
        "POST", f"/v1beta/models/{model}:generateContent", [(b"x-goog-api-key", KEYS[group].encode())], body
    )
    answer = await raw_request(hostile.port, request)
    assert_refused(answer, "gemini", 400)


@pytest.mark.parametrize("protocol", list(CALLERS))
async def test_integers_beyond_64_bits_anywhere_are_a_4xx(hostile: HostileStack, protocol: str) -> None:
    for route in ("passthrough", "translated"):
        _, _, make = CALLERS[protocol]
        body = (
            orjson.dumps(make(TARGETS[protocol][route][1]))[:-1]
            + b',"metadata":{"n":123456789012345678901234567890}}'
        )
        answer = await raw_request(hostile.port, call(protocol, route, body))
        assert answer.status < 500 or answer.headers.get("x-torouter-upstream"), answer.body[:300]
