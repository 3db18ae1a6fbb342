"""Per-key rpm / tpm: over the limit is a 429 in the caller's protocol with retry-after and
x-ratelimit-* headers, and nothing reaches the upstream; token limits count reported usage."""

from __future__ import annotations

import asyncio
import time

import anthropic
import openai
import pytest

from support.stack import LIMITED_KEYS, Stack

MESSAGES = [{"role": "user", "content": "one two three four five"}]


@pytest.fixture
async def new_window() -> None:
    """Each test gets a minute window of its own: it waits for the next window, or for a fresh
    one if the current is almost over (the counters are per window)."""
    into = time.time() % 60
    await asyncio.sleep(60 - into + 0.05 if into > 50 else 0)


async def _openai(stack: Stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.gateway.base_url}/v1", api_key=key, max_retries=0)


@pytest.mark.usefixtures("new_window")
async def test_rpm_limit(fresh: Stack) -> None:
    client = await _openai(fresh, LIMITED_KEYS["rpm"])
    seen = []
    for _ in range(2):
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        seen.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert seen == ["1", "0"]
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    headers = refused.value.response.headers
    assert 0 < int(headers["retry-after"]) <= 60 and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert len(fresh.upstream.requests) == 2  # the refused request never left the gateway


@pytest.mark.usefixtures("new_window")
async def test_rpm_limit_speaks_anthropic_to_anthropic_callers(fresh: Stack) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=fresh.gateway.base_url, api_key=LIMITED_KEYS["claude-rpm"], max_retries=0
    )
    await client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(anthropic.RateLimitError) as refused:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
    assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert refused.value.response.headers["retry-after"]


@pytest.mark.usefixtures("new_window")
async def test_tpm_limit_counts_reported_usage(fresh: Stack) -> None:
    client = await _openai(fresh, LIMITED_KEYS["tpm"])
    first = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert first.usage is not None and first.usage.total_tokens < 20  # admitted, but close
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async for _ in stream:
        pass  # the streamed usage is counted too
    # two answers of more than 10 tokens each: the window's 20 are spent
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert refused.value.response.headers["x-ratelimit-remaining-tokens"] == "0"
    assert refused.value.response.headers["x-ratelimit-limit-tokens"] == "20"


@pytest.mark.usefixtures("new_window")
async def test_a_stream_that_does_not_ask_for_usage_is_charged_all_the_same(fresh: Stack) -> None:
    """A key with a tpm limit cannot stream around it: the router asks OpenAI for the usage and
    keeps the usage chunk (``choices: []``) from a caller that did not ask for it."""
    client = await _openai(fresh, LIMITED_KEYS["tpm-stream"])
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks and all(chunk.choices for chunk in chunks)  # no usage-only chunk reached it
    sent = fresh.upstream.requests[-1]
    assert sent.json["stream_options"] == {"include_usage": True}  # asked on the caller's behalf
    assert sent.response_chunks[-1]["choices"] == [] and sent.response_chunks[-1]["usage"]
    # the stream's tokens are counted: after one more answer, the window's 20 are spent
    await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


async def test_a_key_without_a_token_limit_has_its_stream_usage_asked_too(fresh: Stack) -> None:
    """Every request gets a usage record: any OpenAI stream is asked for its usage (one field added
    to the caller's bytes), and the usage chunk is kept from a caller who did not ask."""
    client = fresh.client("openai")
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    sent = fresh.upstream.requests[-1]
    assert sent.json["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks)
