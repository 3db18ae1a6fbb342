"""Requests aiohttp refuses before any handler runs, and request heads the edge must refuse itself:
every answer a 4xx in the caller's protocol (OpenAI's when it cannot be known) with an
``x-request-id``, never repeating the header or the key."""

from __future__ import annotations

import pytest

from support.hostile import (
    KEYS,
    MADE_UP,
    HostileStack,
    assert_refused,
    http_request,
    protocol_of,
    raw_request,
)

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
SECRET = MADE_UP[1].encode()
LONG = SECRET * 1000  # 9,000 bytes: over aiohttp's 8190-byte line limit

# a header value aiohttp refuses: a control byte, or longer than a header line may be
BAD_VALUES = {"control byte": SECRET + b"\x01tail", "8 KB+": LONG}
AUTH_HEADERS = {
    "authorization": lambda v: (b"Authorization", b"Bearer " + v),
    "x-api-key": lambda v: (b"x-api-key", v),
    "x-goog-api-key": lambda v: (b"x-goog-api-key", v),
}


@pytest.mark.parametrize("what", list(BAD_VALUES))
@pytest.mark.parametrize("header", list(AUTH_HEADERS))
async def test_unreadable_key_headers_are_a_json_400_that_repeats_nothing(
    hostile: HostileStack, header: str, what: str
) -> None:
    request = http_request("POST", "/v1/chat/completions", [AUTH_HEADERS[header](BAD_VALUES[what])], CHAT)
    answer = await raw_request(hostile.port, request)
    message = assert_refused(answer, "openai", 400)
    assert "header" in message or "line" in message
    assert SECRET not in answer.raw


async def test_an_8kb_key_in_the_query_is_a_json_400(hostile: HostileStack) -> None:
    request = http_request("POST", "/v1beta/models/gemini-2.5-flash:generateContent?key=" + LONG.decode(), [])
    answer = await raw_request(hostile.port, request)
    assert "longer than" in assert_refused(answer, "openai", 400)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ([(b"x-filler", b"v" * 9000)], "longer than"),
        ([(b"x-h%d" % i, b"v") for i in range(200)], "more than 128 headers"),
        ([(b"bad header", b"v")], "header"),
    ],
    ids=["oversized", "too many", "bad name"],
)
async def test_malformed_heads_are_a_json_400(
    hostile: HostileStack, headers: list[tuple[bytes, bytes]], fragment: str
) -> None:
    request = http_request("POST", "/v1/messages", [(b"x-api-key", KEYS["claude"].encode()), *headers], CHAT)
    answer = await raw_request(hostile.port, request)
    assert fragment in assert_refused(answer, "openai", 400)


async def test_garbage_instead_of_http_is_a_json_400(hostile: HostileStack) -> None:
    answer = await raw_request(
        hostile.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + SECRET + b"\r\n\r\n"
    )
    assert_refused(answer, "openai", 400)


@pytest.mark.parametrize("encoding", [b"br", b"zstd", b"compress", b"gzip, br"])
@pytest.mark.parametrize(
    ("path", "auth", "protocol"),
    [
        ("/v1/chat/completions", (b"Authorization", b"Bearer " + KEYS["openai"].encode()), "openai"),
        ("/v1/messages", (b"x-api-key", KEYS["claude"].encode()), "anthropic"),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            (b"x-goog-api-key", KEYS["gemini"].encode()),
            "gemini",
        ),
    ],
)
async def test_unsupported_content_encodings_are_a_415(
    hostile: HostileStack, encoding: bytes, path: str, auth: tuple[bytes, bytes], protocol: str
) -> None:
    request = http_request("POST", path, [auth, (b"Content-Encoding", encoding)], CHAT)
    answer = await raw_request(hostile.port, request)
    # the edge answers in the caller's protocol; aiohttp refuses br and zstd (when it cannot decode
    # them) before the path is read, and the edge then answers in OpenAI's
    assert protocol_of(answer.json()) in (protocol, "openai")
    assert "content-encoding" in assert_refused(answer, protocol_of(answer.json()), 415)
