"""Fallbacks: a failing upstream account hands the request to the next one of the group, before
the caller has seen a byte; a request the upstream rejects as malformed is not retried elsewhere."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import openai
import pytest

from support.gateway import Gateway
from support.openai_upstream import Fault
from support.stack import Stack

MESSAGES = [{"role": "user", "content": "Hello"}]


async def test_unreachable_first_upstream_falls_back(fresh: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="torouter.request")
    raw = await fresh.client("fallback").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.headers["x-torouter-upstream"] == "oai"
    assert raw.parse().choices[0].message.content == "Mock reply to: Hello"
    entry = [r for r in caplog.records if r.name == "torouter.request"][-1]
    assert entry.fallbacks == ["dead:upstream_error"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_upstream_failures_fall_back(fresh: Stack, status: int) -> None:
    fresh.upstream.enqueue(Fault.status(status, message="first account is unwell"))
    raw = await fresh.client("pair").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.headers["x-torouter-upstream"] == "oai-leaky"
    assert len(fresh.upstream.requests) == 1 and len(fresh.leaky.requests) == 1


async def test_streams_fall_back_before_the_first_byte(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.status(503, message="busy"))
    stream = await fresh.client("pair").chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Mock reply to: Hello" and fresh.leaky.requests[-1].stream


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_request_errors_do_not_fall_back(fresh: Stack, status: int) -> None:
    fresh.upstream.enqueue(Fault.status(status, message="your request is wrong"))
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client("pair").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == status and not fresh.leaky.requests


async def test_the_last_failure_is_what_the_caller_sees(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.status(500))
    fresh.leaky.enqueue(Fault.status(503))
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client("pair").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 503
    assert info.value.response.headers["x-torouter-upstream"] == "oai-leaky"


async def test_a_failing_upstream_cools_down_and_is_skipped(
    fresh: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="torouter.request")
    client = fresh.client("fallback")
    for _ in range(3):  # three failures of "dead" open its breaker
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    caplog.clear()
    await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    entry = [r for r in caplog.records if r.name == "torouter.request"][-1]
    assert entry.fallbacks is None and entry.upstream == "oai"  # type: ignore[attr-defined]
    assert fresh.gateway.router is not None
    assert fresh.gateway.router.app.dispatcher.cooldowns.cooling() == ["dead"]


@pytest.fixture
async def retrying(fresh: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    """A gateway of its own with two retry rounds over a single upstream."""
    config = {
        "router": {"retries": 2},
        "upstreams": {
            "oai": {
                "kind": "openai",
                "base_url": fresh.upstream.base_url,
                "api_key": fresh.upstream.api_key,
                "models": ["gpt-4o-mini"],
            }
        },
        "groups": {"g": {"upstreams": ["oai"]}},
        "keys": [{"name": "k", "key": "tr-retrying", "group": "g"}],
    }
    async with Gateway(config) as gateway:
        yield openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key="tr-retrying", max_retries=0)


async def test_retries_back_off_and_succeed(fresh: Stack, retrying: openai.AsyncOpenAI) -> None:
    fresh.upstream.enqueue(Fault.status(500), Fault.status(503))
    started = time.monotonic()
    reply = await retrying.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert reply.choices[0].message.content == "Mock reply to: Hello" and len(fresh.upstream.requests) == 3
    assert 0.25 <= elapsed < 3  # two jittered pauses: 0.125-0.25 s, then 0.25-0.5 s


async def test_retries_never_outlast_the_callers_deadline(fresh: Stack, retrying: openai.AsyncOpenAI) -> None:
    fresh.upstream.enqueue(Fault.rate_limit(retry_after=30))
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        await retrying.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, timeout=2.0)
    assert time.monotonic() - started < 1.5  # retry-after 30 s does not fit in a 2 s budget: give up now
    assert len(fresh.upstream.requests) == 1


async def test_model_fallback_to_another_provider_is_translated(fresh: Stack) -> None:
    raw = await fresh.client("crossfall").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.headers["x-torouter-upstream"] == "claude"
    reply = raw.parse()
    assert reply.choices[0].message.content == "Mock reply to: Hello"
    assert fresh.claude.requests[-1].json["model"] == "claude-haiku-4-5"


async def test_fallback_statuses_are_configurable(fresh: Stack) -> None:
    config = {
        "router": {"retries": 0, "fallback_on": [503]},  # a 500 is final here
        "upstreams": {
            name: {
                "kind": "openai",
                "base_url": mock.base_url,
                "api_key": mock.api_key,
                "models": ["gpt-4o-mini"],
            }
            for name, mock in (("first", fresh.upstream), ("second", fresh.leaky))
        },
        "groups": {"g": {"upstreams": ["first", "second"]}},
        "keys": [{"name": "k", "key": "tr-fallback-on", "group": "g"}],
    }
    async with Gateway(config) as gateway:
        client = openai.AsyncOpenAI(
            base_url=f"{gateway.base_url}/v1", api_key="tr-fallback-on", max_retries=0
        )
        fresh.upstream.enqueue(Fault.status(503))
        assert (await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)).choices
        fresh.upstream.enqueue(Fault.status(500))
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(fresh.leaky.requests) == 1
