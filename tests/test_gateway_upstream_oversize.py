"""An upstream whose answer never ends: a whole body larger than the router will hold, or a stream
event that is one endless line. The router reads up to its bound and fails the request with a 502
(or the stream's error event) in the caller's protocol, instead of filling its memory (an endless
answer once took this whole box down). The bounds are lowered here so that a few MiB cross them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from support.gateway import Gateway
from torouter.router.operations import passthrough
from torouter.router.protocols import sse
from torouter.router.upstreams import base

LIMIT = 1024 * 1024
SENT = 3 * LIMIT
ASK: Any = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
FIRST_EVENT = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
)


class Oversized:
    """An OpenAI-style upstream that answers every call with ``SENT`` bytes in 64 KiB writes: a
    body with no end in sight (``declared``: with a Content-Length saying so), or, to a stream, one
    proper event and then a ``data:`` line that never ends."""

    def __init__(self) -> None:
        self.declared = False
        self.trickle = b""  # when set: a whole stream, sent a few bytes at a time
        self.calls = 0
        self._runner: web.ServerRunner | None = None
        self.port = 0

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.calls += 1
        stream = b'"stream":true' in (await request.read()).replace(b" ", b"")
        headers = {"content-type": "text/event-stream" if stream else "application/json"}
        if self.declared:
            headers["content-length"] = str(SENT)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        if self.trickle:
            for i in range(0, len(self.trickle), 3):
                await response.write(self.trickle[i : i + 3])
                await asyncio.sleep(0)
            return response
        if stream:
            await response.write(FIRST_EVENT + b'data: {"x":"')
        else:
            await response.write(b'{"x":"')
        for _ in range(SENT // (64 * 1024)):
            await response.write(b"a" * 64 * 1024)
        return response

    async def __aenter__(self) -> Oversized:
        self._runner = web.ServerRunner(web.Server(self._handle), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Gateway, Oversized]]:
    monkeypatch.setattr(base, "MAX_ANSWER_BYTES", LIMIT)
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", LIMIT)
    monkeypatch.setattr(passthrough, "MAX_EVENT_BYTES", LIMIT)
    async with Oversized() as upstream:
        config = {
            "router": {"retries": 0},
            "upstreams": {
                "big": {
                    "kind": "openai",
                    "base_url": f"http://127.0.0.1:{upstream.port}/v1",
                    "api_key": "sk-big-0123456789",
                    "models": ["gpt-4o-mini"],
                }
            },
            "groups": {"big": {"upstreams": ["big"]}},
            "keys": [{"name": "k", "key": "tr-oversize-key", "group": "big"}],
        }
        async with Gateway(config) as started:
            yield started, upstream


def _openai(gateway: Gateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key="tr-oversize-key", max_retries=0)


@pytest.mark.parametrize("declared", [False, True])
async def test_a_whole_answer_past_the_bound_is_a_502(
    gateway: tuple[Gateway, Oversized], declared: bool
) -> None:
    started, upstream = gateway
    upstream.declared = declared
    with pytest.raises(openai.APIStatusError) as failure:
        await _openai(started).chat.completions.create(**ASK)
    assert failure.value.status_code == 502
    assert "answered with more than 1 MiB" in failure.value.message
    # the gateway goes on: the next call gets the same clear answer, not a hung connection
    with pytest.raises(openai.APIStatusError) as again:
        await _openai(started).chat.completions.create(**ASK)
    assert again.value.status_code == 502 and upstream.calls == 2


async def test_an_endless_stream_event_ends_the_relayed_stream_with_an_error(
    gateway: tuple[Gateway, Oversized],
) -> None:
    started, _ = gateway
    received: list[str] = []

    async def read() -> None:
        async for chunk in await _openai(started).chat.completions.create(**ASK, stream=True):
            received.extend(choice.delta.content or "" for choice in chunk.choices)

    with pytest.raises(openai.APIError) as failure:
        await read()
    assert "".join(received) == "Hel"  # the event before it reached the caller
    assert "larger than 1 MiB" in str(failure.value)


async def test_an_endless_stream_event_ends_a_translated_stream_with_an_error(
    gateway: tuple[Gateway, Oversized],
) -> None:
    started, _ = gateway
    client = anthropic.AsyncAnthropic(base_url=started.base_url, api_key="tr-oversize-key", max_retries=0)
    ask = {"model": "gpt-4o-mini", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(anthropic.APIError) as failure:
        async with client.messages.stream(**ask) as events:
            await events.get_final_message()
    assert "larger than 1 MiB" in str(failure.value)


async def test_a_stream_trickling_in_a_few_bytes_at_a_time_arrives_whole(
    gateway: tuple[Gateway, Oversized],
) -> None:
    """Events split anywhere (CRLF line ends too) are put together again, on both roads."""
    started, upstream = gateway
    second = FIRST_EVENT.replace(b'"Hel"', b'"lo"').replace(b'"role":"assistant",', b"")
    upstream.trickle = (FIRST_EVENT + second).replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n"
    text = ""
    async for chunk in await _openai(started).chat.completions.create(**ASK, stream=True):
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
    assert text == "Hello"
    client = anthropic.AsyncAnthropic(base_url=started.base_url, api_key="tr-oversize-key", max_retries=0)
    ask = {"model": "gpt-4o-mini", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    async with client.messages.stream(**ask) as events:
        assert "".join([piece async for piece in events.text_stream]) == "Hello"
