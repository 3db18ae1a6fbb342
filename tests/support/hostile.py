"""Helpers of the hostile-input suite (``tests/hostile``): its keys, raw HTTP over a socket (for
what no HTTP client will send), and the checks every answer must pass."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.gemini_upstream import MockGemini
from support.openai_upstream import MockOpenAI

# one key per group; every one of them, and every credential the tests make up, is searched for in
# the suite's log lines
KEYS = {
    "openai": "tr-hostile-openai-7f3a9c",
    "claude": "tr-hostile-claude-51be02",
    "gemini": "tr-hostile-gemini-c48d1e",
}
# credentials sent that the gateway does not know (they must not be echoed or logged either)
MADE_UP = ("sk-hostile-made-up-0123456789", "SECRETKEY", "tr-hostile-any-key")
# (group, model) of a translated and a passthrough target for each caller protocol
TARGETS = {
    "openai": {"passthrough": ("openai", "gpt-4o-mini"), "translated": ("claude", "claude-haiku-4-5")},
    "anthropic": {"passthrough": ("claude", "claude-haiku-4-5"), "translated": ("openai", "gpt-4o-mini")},
    "gemini": {"passthrough": ("gemini", "gemini-2.5-flash"), "translated": ("openai", "gpt-4o-mini")},
}


def every_credential() -> tuple[str, ...]:
    return (*KEYS.values(), *MADE_UP)


@dataclass
class HostileStack:
    gateway: Gateway
    oai: MockOpenAI
    claude: MockAnthropic
    gemini: MockGemini

    @property
    def port(self) -> int:
        return self.gateway.edge_port

    def reset(self) -> None:
        for mock in (self.oai, self.claude, self.gemini):
            mock.reset()


@dataclass
class RawAnswer:
    """An HTTP/1.x answer read off a socket."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes = field(repr=False)

    def json(self) -> Any:
        return orjson.loads(self.body)


def parse_answer(raw: bytes) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None:
        body = body[: int(length)]
    return RawAnswer(status, headers, body, raw)


async def raw_request(port: int, data: bytes, timeout_s: float = 10.0) -> RawAnswer:
    """Sends ``data`` as is on a new connection and reads the answer (``read_answer``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        answer = await read_answer(reader, timeout_s)
        assert answer is not None, "the server closed the connection without an answer"
        return answer
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader, timeout_s: float) -> RawAnswer | None:
    """The answer read until the server closes or a whole ``content-length`` body has come (None:
    it closed without a word)."""
    received = b""
    async with asyncio.timeout(timeout_s):
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            received += chunk
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                answer = parse_answer(received)
                if len(body) >= int(answer.headers["content-length"]):
                    break
    return parse_answer(received) if received else None


def http_request(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    *,
    content_type: bytes = b"application/json",
) -> bytes:
    """Request bytes exactly as given (header values are bytes: any byte goes)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    if body or method == "POST":
        lines += [b"Content-Type: " + content_type, b"Content-Length: " + str(len(body)).encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def error_shape(protocol: str, body: Any) -> str:
    """The error's message, after checking the body has ``protocol``'s error format."""
    if protocol == "anthropic":
        assert body["type"] == "error", body
        assert isinstance(body["error"]["type"], str), body
        return str(body["error"]["message"])
    if protocol == "gemini":
        assert isinstance(body["error"]["code"], int) and isinstance(body["error"]["status"], str), body
        return str(body["error"]["message"])
    assert set(body["error"]) >= {"message", "type", "param", "code"}, body
    return str(body["error"]["message"])


def protocol_of(body: Any) -> str:
    """Which protocol's error format a body has."""
    if isinstance(body, dict) and body.get("type") == "error":
        return "anthropic"
    return "gemini" if isinstance(body, dict) and "status" in body.get("error", {}) else "openai"


def assert_refused(answer: RawAnswer, protocol: str, status: int | tuple[int, ...]) -> str:
    """A 4xx in ``protocol``'s format with an ``x-request-id``, echoing no credential; returns the
    message."""
    wanted = (status,) if isinstance(status, int) else status
    assert answer.status in wanted, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    assert answer.headers.get("x-request-id"), answer.headers
    message = error_shape(protocol, answer.json())
    for secret in every_credential():
        assert secret.encode() not in answer.raw, secret
    return message
