"""Long streams: keep-alive frames while the upstream is silent, in a form each SDK ignores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import anthropic
import httpx
import openai
import pytest

from support.gateway import Gateway
from support.openai_upstream import Fault
from support.stack import KEYS, Stack


@pytest.fixture
async def pinging(fresh: Stack) -> AsyncIterator[Gateway]:
    """A gateway of its own whose edge pings after 0.1 s of silence."""
    config = {
        "edge": {"keepalive_s": 0.1},
        "upstreams": {
            "oai": {
                "kind": "openai",
                "base_url": fresh.upstream.base_url,
                "api_key": fresh.upstream.api_key,
                "models": ["gpt-4o-mini"],
            },
            "claude": {
                "kind": "anthropic",
                "base_url": fresh.claude.base_url,
                "api_key": fresh.claude.api_key,
                "models": ["claude-haiku-4-5"],
            },
        },
        "groups": {"g": {"upstreams": ["oai", "claude"]}},
        "keys": [{"name": "k", "key": "tr-pinging", "group": "g"}],
    }
    async with Gateway(config) as gateway:
        yield gateway


async def test_silent_openai_stream_gets_comment_pings_the_sdk_ignores(
    fresh: Stack, pinging: Gateway
) -> None:
    fresh.upstream.chunk_delay_s = 0.25
    try:
        async with (
            httpx.AsyncClient() as http,
            http.stream(
                "POST",
                f"{pinging.base_url}/v1/chat/completions",
                json={
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "a b"}],
                    "stream": True,
                },
                headers={"authorization": "Bearer tr-pinging"},
            ) as response,
        ):
            raw = b"".join([piece async for piece in response.aiter_raw()])
        assert b": keep-alive\n\n" in raw and raw.endswith(b"data: [DONE]\n\n")
        client = openai.AsyncOpenAI(base_url=f"{pinging.base_url}/v1", api_key="tr-pinging", max_retries=0)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "a b"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "Mock reply to: a b"
    finally:
        fresh.upstream.chunk_delay_s = 0.0


async def test_silent_anthropic_stream_gets_ping_events(fresh: Stack, pinging: Gateway) -> None:
    fresh.claude.chunk_delay_s = 0.25
    try:
        client = anthropic.AsyncAnthropic(base_url=pinging.base_url, api_key="tr-pinging", max_retries=0)
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "a b"}]
        ) as stream:
            events = [event.type async for event in stream]
            final = await stream.get_final_message()
        assert final.content[0].type == "text" and final.content[0].text == "Mock reply to: a b"
        assert "message_stop" in events
        async with (
            httpx.AsyncClient() as http,
            http.stream(
                "POST",
                f"{pinging.base_url}/v1/messages",
                json={
                    "model": "claude-haiku-4-5",
                    "max_tokens": 50,
                    "stream": True,
                    "messages": [{"role": "user", "content": "a"}],
                },
                headers={"x-api-key": "tr-pinging", "anthropic-version": "2023-06-01"},
            ) as response,
        ):
            raw = b"".join([piece async for piece in response.aiter_raw()])
        assert raw.count(b"event: ping\n") > 1  # the upstream's own ping, and ours
    finally:
        fresh.claude.chunk_delay_s = 0.0


async def _open_and_leave(http: httpx.AsyncClient, base_url: str, key: str) -> None:
    async with (
        http.stream(
            "POST",
            f"{base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "stall"}], "stream": True},
            headers={"authorization": f"Bearer {key}"},
        ) as response,
    ):
        async for piece in response.aiter_raw():
            if piece:
                return  # one piece, then the client goes away


async def test_cancelled_streams_release_their_upstream_connections(fresh: Stack) -> None:
    count = 500
    fresh.upstream.enqueue(*[Fault.stall_after(1) for _ in range(count)])
    base, key = fresh.gateway.base_url, KEYS["openai"]
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits) as http:
        for start in range(0, count, 50):
            await asyncio.gather(*(_open_and_leave(http, base, key) for _ in range(min(50, count - start))))
    requests = await fresh.upstream.wait_for_requests(count, timeout_s=20)
    outcomes = [await r.wait_finished(timeout_s=10) for r in requests]
    assert outcomes == ["cancelled"] * count
    await fresh.upstream.wait_open_connections(0, timeout_s=10)  # no upstream connection leaked


async def test_a_client_going_away_cancels_the_upstream_promptly(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.stall_after(1))
    async with httpx.AsyncClient() as http:
        await _open_and_leave(http, fresh.gateway.base_url, KEYS["openai"])
    left = time.monotonic()
    request = fresh.upstream.requests[-1]
    assert await request.wait_finished(timeout_s=5) == "cancelled"
    assert time.monotonic() - left < 0.25


# ---------------------------------------------------------------------------- mid-stream failures, every SDK


async def drain(stream: AsyncIterator[object], into: list[object]) -> None:
    async for item in stream:
        into.append(item)


async def test_gemini_caller_sees_an_error_when_its_upstream_dies_mid_stream(fresh: Stack) -> None:
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types

    from support.gemini_upstream import Fault as GeminiFault

    client = genai.Client(
        api_key=KEYS["gemini"],
        http_options=types.HttpOptions(
            base_url=fresh.gateway.base_url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    fresh.gemini.enqueue(GeminiFault.die_after(2))
    received: list[object] = []
    first = await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents="one two three four five six"
    )
    with pytest.raises(genai_errors.APIError):
        await drain(first, received)
    assert len(received) == 2  # what arrived before the break was delivered
    fresh.upstream.enqueue(Fault.die_after(2))  # translated: an OpenAI upstream behind a Gemini caller
    openai_behind = genai.Client(
        api_key=KEYS["openai"],
        http_options=types.HttpOptions(
            base_url=fresh.gateway.base_url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    second = await openai_behind.aio.models.generate_content_stream(
        model="gpt-4o-mini", contents="one two three four five six"
    )
    with pytest.raises(genai_errors.APIError):
        await drain(second, [])


async def test_anthropic_caller_sees_an_error_event_when_claude_dies_mid_stream(fresh: Stack) -> None:
    from support.anthropic_upstream import Fault as ClaudeFault

    fresh.claude.enqueue(ClaudeFault.die_after(4))
    client = anthropic.AsyncAnthropic(base_url=fresh.gateway.base_url, api_key=KEYS["claude"], max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "one two three"}]
        ) as events:
            await events.get_final_message()
    assert "mid-way" in str(info.value)
