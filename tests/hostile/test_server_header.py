"""Every answer of the edge names the gateway in its Server header, and no framework or version:
aiohttp's default (``Python/3.11 aiohttp/3.14.5``) tells a scanner which published flaws to try."""

from __future__ import annotations

import pytest

from support.hostile import KEYS, HostileStack, http_request, raw_request

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
STREAM = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
BEARER = (b"Authorization", b"Bearer " + KEYS["openai"].encode())
CLOSE = (b"Connection", b"close")  # the stream's answer is chunked: read it until the close

REQUESTS = {
    "a completion": (http_request("POST", "/v1/chat/completions", [BEARER], CHAT), 200),
    "a stream": (http_request("POST", "/v1/chat/completions", [BEARER, CLOSE], STREAM), 200),
    "a model list": (http_request("GET", "/v1/models", [BEARER, CLOSE]), 200),
    "an unknown key": (
        http_request("POST", "/v1/messages", [(b"x-api-key", b"tr-no-such-key")], CHAT),
        401,
    ),
    "an unknown path": (http_request("GET", "/v1/nothing-here", [BEARER, CLOSE]), 404),
    "a health check": (http_request("GET", "/healthz", [CLOSE]), 200),
    "garbage, refused by the parser": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
}


@pytest.mark.parametrize("what", list(REQUESTS))
async def test_the_server_header_names_the_gateway_only(hostile: HostileStack, what: str) -> None:
    request, status = REQUESTS[what]
    answer = await raw_request(hostile.port, request)
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers.get("server") == "torouter", answer.headers
    head = answer.raw.partition(b"\r\n\r\n")[0].lower()
    assert b"aiohttp" not in head and b"python" not in head, head
