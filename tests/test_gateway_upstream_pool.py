"""The router's connections to an upstream: ``max_connections`` requests in flight at once, and a
request that finds none free within ``pool_timeout_s`` gets a 503 that says so — which moves it on
to the next upstream but never puts the upstream in cooldown. And they keep no cookies: what one
caller's answer set is never sent on another caller's request, nor shown to the caller."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from support.gateway import Gateway
from support.openai_upstream import Fault, MockOpenAI
from support.stack import Stack, upstream_config
from torouter.router.config import parse_config

ASK: Any = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_pool_settings_default_high_and_are_checked() -> None:
    base = "upstreams: {u: {kind: openai, base_url: 'http://127.0.0.1:9', models: [m]%s}}"
    upstream = parse_config(base % "", env={}).upstreams["u"]
    assert upstream.max_connections == 4096 and upstream.pool_timeout_s == 30
    tuned = parse_config(base % ", max_connections: 8, pool_timeout_s: 2.5", env={}).upstreams["u"]
    assert (tuned.max_connections, tuned.pool_timeout_s) == (8, 2.5)
    with pytest.raises(Exception, match="max_connections"):
        parse_config(base % ", max_connections: 0", env={})


async def test_a_full_pool_is_its_own_503_and_no_cooldown(fresh: Stack) -> None:
    async with MockOpenAI(name="roomy") as roomy:
        await _a_full_pool(fresh, roomy)


async def _a_full_pool(fresh: Stack, roomy: MockOpenAI) -> None:
    tight = {**upstream_config("openai", fresh.upstream), "max_connections": 2, "pool_timeout_s": 0.2}
    config: dict[str, Any] = {
        "router": {"retries": 0},
        "upstreams": {"tight": tight, "roomy": upstream_config("openai", roomy)},
        "groups": {"alone": {"upstreams": ["tight"]}, "backed": {"upstreams": ["tight", "roomy"]}},
        "keys": [
            {"name": "alone", "key": "tr-pool-alone", "group": "alone"},
            {"name": "backed", "key": "tr-pool-backed", "group": "backed"},
        ],
    }
    async with Gateway(config) as gateway:
        assert gateway.router is not None
        alone, backed = (
            openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
            for key in ("tr-pool-alone", "tr-pool-backed")
        )
        for _ in range(2):  # two requests hold both connections for a while
            fresh.upstream.enqueue(Fault.delay(4))
        holding = [asyncio.create_task(alone.chat.completions.create(**ASK)) for _ in range(2)]
        await fresh.upstream.wait_for_requests(2, timeout_s=10)
        for _ in range(4):  # more than the cooldown's threshold of failures
            with pytest.raises(openai.APIStatusError) as full:
                await alone.chat.completions.create(**ASK)
            assert full.value.status_code == 503
            assert full.value.response.headers["retry-after"] == "1"
            assert "connections" in full.value.message and "'tight'" in full.value.message
        moved = await backed.chat.completions.create(**ASK)  # on to the next upstream
        assert moved.choices[0].message.content == "Mock reply to: hi"
        assert len(roomy.requests) == 1
        for reply in await asyncio.gather(*holding):
            assert reply.choices[0].message.content == "Mock reply to: hi"
        assert gateway.router.app.dispatcher.cooldowns.cooling() == []
        await alone.chat.completions.create(**ASK)  # a freed connection serves the next one
        assert len(fresh.upstream.requests) == 3  # the refused ones never left the router


# Cloudflare's bot-management cookies, as OpenAI's and Anthropic's answers carry them (less the
# Domain and Secure attributes, which a plain-HTTP mock cannot match).
CLOUDFLARE_COOKIES = [
    ("set-cookie", "__cf_bm=tenant-a-bot-score; path=/; HttpOnly; SameSite=None"),
    ("set-cookie", "_cfuvid=tenant-a-visitor; path=/; HttpOnly; SameSite=None"),
]


async def test_an_upstreams_cookies_stay_out_of_other_callers_requests() -> None:
    async with MockOpenAI(name="cookies") as mock:
        mock.response_headers.extend(CLOUDFLARE_COOKIES)
        # by name, as the real upstreams are: a cookie jar keeps no cookies of an IP address
        upstream = {
            **upstream_config("openai", mock),
            "base_url": mock.base_url.replace("127.0.0.1", "localhost"),
        }
        config: dict[str, Any] = {
            "router": {"retries": 0},
            "upstreams": {"shared": upstream},
            "groups": {"shared": {"upstreams": ["shared"]}},
            "keys": [
                {"name": "tenant-a", "key": "tr-cookie-tenant-a", "group": "shared"},
                {"name": "tenant-b", "key": "tr-cookie-tenant-b", "group": "shared"},
            ],
        }
        async with Gateway(config) as gateway:
            tenant_a, tenant_b = (
                openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
                for key in ("tr-cookie-tenant-a", "tr-cookie-tenant-b")
            )
            first = await tenant_a.chat.completions.with_raw_response.create(**ASK)
            async with tenant_b.chat.completions.with_streaming_response.create(**ASK, stream=True) as second:
                chunks = [chunk async for chunk in await second.parse()]
            assert (
                "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Mock reply to: hi"
            )
            mock.enqueue(Fault.rate_limit())  # an error answer sets them too
            with pytest.raises(openai.RateLimitError) as third:
                await tenant_b.chat.completions.create(**ASK)
        assert (first.status_code, second.status_code) == (200, 200)
        for headers in (first.headers, second.headers, third.value.response.headers):
            assert "set-cookie" not in headers
        assert len(mock.requests) == 3
        for sent in mock.requests:
            assert "cookie" not in sent.headers
