"""Usage and cost through the whole gateway, driven by the official SDKs against the mock upstreams
(which report cache and reasoning tokens as the real APIs do, and OpenRouter's cost):

- one record per request that reached an upstream, for chat in each caller protocol on each upstream
  kind (passthrough and translated), stream and not, with the tokens the upstream reported and the
  cost genai-prices gives for them (OpenRouter's own ``usage.cost`` when it reports one);
- Responses, embeddings and images; failures (status and error code, no tokens);
- a price from the config, an unknown price (null, never 0, and counted in a metric);
- the edge's metrics; the admin API's usage endpoints, its key, and its CSV export.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from genai_prices import Usage, calc_price
from google import genai
from google.genai import types

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway, free_port
from support.gemini_upstream import DEFAULT_MODELS as GEMINI_MODELS
from support.gemini_upstream import MockGemini
from support.openai_images import IMAGE_MODELS
from support.openai_upstream import DEFAULT_MODELS as OPENAI_MODELS
from support.openai_upstream import Fault, MockOpenAI
from support.stack import upstream_config
from support.usage import gateway_records, last_record, record
from torouter.router.account.prices import LibraryPrices
from torouter.router.account.records import CSV_COLUMNS, UsageRecord
from torouter.router.account.usage_api import today_start

ADMIN_KEY = "tra-usage-admin-key-0123456789"
KEYS = {
    "openai": "tr-usage-openai",
    "claude": "tr-usage-claude",
    "gemini": "tr-usage-gemini",
    "openrouter": "tr-usage-openrouter",
    "echo": "tr-usage-echo",
    "dead": "tr-usage-dead",
}
# group -> (the model its callers ask for, genai-prices' provider of its upstream)
GROUPS = {
    "openai": ("gpt-5", "openai"),  # a reasoning model: reasoning tokens
    "claude": ("claude-sonnet-4-5", "anthropic"),
    "gemini": ("gemini-2.5-flash", "google"),  # a thinking model: thoughts
    "openrouter": ("anthropic/claude-sonnet-4.5", "openrouter"),  # reports its own cost
}
UPSTREAM_OF = {"openai": "oai", "claude": "claude", "gemini": "gemini", "openrouter": "orouter"}
KIND_OF = {"openai": "openai", "claude": "anthropic", "gemini": "gemini", "openrouter": "openrouter"}
PROMPT = "tell me about the weather over the hills " * 4


@dataclass
class UsageStack:
    gateway: Gateway
    oai: MockOpenAI
    claude: MockAnthropic
    gemini: MockGemini
    orouter: MockOpenAI

    def mock(self, group: str) -> Any:
        return {"openai": self.oai, "claude": self.claude, "gemini": self.gemini, "openrouter": self.orouter}[
            group
        ]

    def openai(self, group: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.gateway.base_url}/v1", api_key=KEYS[group], max_retries=0)

    def anthropic(self, group: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.gateway.base_url, api_key=KEYS[group], max_retries=0)

    def gemini_client(self, group: str) -> genai.Client:
        options = types.HttpOptions(base_url=self.gateway.base_url)
        return genai.Client(api_key=KEYS[group], http_options=options)

    async def admin(self, path: str, key: str = ADMIN_KEY) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.gateway.base_url}{path}", headers={"authorization": f"Bearer {key}"}) as reply,
        ):
            body = await reply.read()
            is_json = reply.content_type == "application/json"
            return reply.status, (await reply.json() if is_json else body)


def usage_config(
    oai: MockOpenAI, claude: MockAnthropic, gemini: MockGemini, orouter: MockOpenAI
) -> dict[str, Any]:
    return {
        "router": {"retries": 0},
        "upstreams": {
            "oai": upstream_config("openai", oai),
            "claude": upstream_config("anthropic", claude),
            "gemini": upstream_config("gemini", gemini),
            "orouter": upstream_config("openrouter", orouter),
            "echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]},
            "dead": {
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-dead",
                "models": ["gpt-4o-mini"],
            },
        },
        "groups": {
            group: {"upstreams": [name]}
            for group, name in {**UPSTREAM_OF, "echo": "echo", "dead": "dead"}.items()
        },
        "keys": [{"name": f"{group}-key", "key": key, "group": group} for group, key in KEYS.items()],
        "admin": {"keys": [ADMIN_KEY]},
        "prices": [{"upstream": "oai", "model": "gpt-4.1", "input": 1.5, "output": 6.0, "cache_read": 0.25}],
    }


@pytest.fixture(scope="module")
async def usage_stack() -> AsyncIterator[UsageStack]:
    async with (
        MockOpenAI(
            name="usage",
            models=[*OPENAI_MODELS, "text-embedding-3-small", "house-llm", *IMAGE_MODELS],
            cached_tokens=8,
        ) as oai,
        MockAnthropic(name="usage", cache_read_tokens=6, cache_creation_tokens=4) as claude,
        MockGemini(
            name="usage", models=[*GEMINI_MODELS, "gemini-2.5-flash-image"], cached_content_tokens=5
        ) as gemini,
        MockOpenAI(name="usage-or", flavour="openrouter", cached_tokens=3) as orouter,
        Gateway(usage_config(oai, claude, gemini, orouter), max_body_mb=8) as gateway,
    ):
        yield UsageStack(gateway, oai, claude, gemini, orouter)


# ---------------------------------------------------------------------------- what the upstream said


def _last_with(chunks: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(c[key] for c in reversed(chunks) if isinstance(c.get(key), dict))


def reported(kind: str, rec: Any) -> dict[str, Any]:
    """The record's fields as the mock upstream's own answer states them, read here independently."""
    if kind in ("openai", "openrouter"):
        usage = _last_with(rec.response_chunks, "usage") if rec.stream else rec.response_json["usage"]
        prompt = usage.get("prompt_tokens_details") or {}
        completion = usage.get("completion_tokens_details") or {}
        return {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
            "cache_read_tokens": prompt.get("cached_tokens"),
            "cache_write_tokens": prompt.get("cache_write_tokens"),
            "reasoning_tokens": completion.get("reasoning_tokens"),
            "reported_cost": usage.get("cost"),
        }
    if kind == "anthropic":
        if rec.stream:
            start = next(
                c["message"]["usage"] for c in rec.response_chunks if c.get("type") == "message_start"
            )
            delta = next(
                c["usage"] for c in reversed(rec.response_chunks) if c.get("type") == "message_delta"
            )
            usage = {**start, **delta}
        else:
            usage = rec.response_json["usage"]
        read, written = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
        split = usage.get("cache_creation") or {}
        return {
            "input_tokens": usage["input_tokens"] + read + written,
            "output_tokens": usage["output_tokens"],
            "cache_read_tokens": read,
            "cache_write_tokens": written,
            "cache_write_5m_tokens": split.get("ephemeral_5m_input_tokens"),
            "cache_write_1h_tokens": split.get("ephemeral_1h_input_tokens"),
            "reported_cost": None,
        }
    usage = (
        _last_with(rec.response_chunks, "usageMetadata") if rec.stream else rec.response_json["usageMetadata"]
    )
    thoughts = usage.get("thoughtsTokenCount")
    return {
        "input_tokens": usage["promptTokenCount"],
        "output_tokens": usage.get("candidatesTokenCount", 0) + (thoughts or 0),
        "cache_read_tokens": usage.get("cachedContentTokenCount"),
        "reasoning_tokens": thoughts,
        "reported_cost": None,
    }


def library_cost(provider: str, model: str, fields: dict[str, Any]) -> float:
    """What genai-prices itself says these tokens cost."""
    usage: dict[str, int] = {"input_tokens": fields["input_tokens"], "output_tokens": fields["output_tokens"]}
    for ours, theirs in (
        ("cache_read_tokens", "cache_read_tokens"),
        ("cache_write_tokens", "cache_write_tokens"),
        ("cache_write_1h_tokens", "cache_write_1h_tokens"),
        ("cache_write_5m_tokens", "cache_write_5m_tokens"),
    ):
        if fields.get(ours):
            usage[theirs] = fields[ours]
    if "cache_write_1h_tokens" in usage and "cache_write_5m_tokens" not in usage:
        usage["cache_write_5m_tokens"] = usage["cache_write_tokens"] - usage["cache_write_1h_tokens"]
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


def check_record(found: UsageRecord, kind: str, provider: str, said: dict[str, Any]) -> None:
    for name, value in said.items():
        if name != "reported_cost" and value is not None:
            assert getattr(found, name) == value, (name, found)
    assert found.input_tokens and found.output_tokens
    if said["reported_cost"] is not None:
        assert (found.cost_usd, found.cost_source) == (pytest.approx(said["reported_cost"]), "upstream")
    else:
        expected = library_cost(provider, found.model, said)
        assert found.cost_source == "genai-prices"
        assert Decimal(str(found.cost_usd)).quantize(Decimal("1e-11")) == Decimal(str(expected)).quantize(
            Decimal("1e-11")
        )


# ---------------------------------------------------------------------------- chat: 3 protocols × 4 kinds


async def _chat(stack: UsageStack, caller: str, group: str, stream: bool) -> None:
    model = GROUPS[group][0]
    if caller == "openai":
        client = stack.openai(group)
        if stream:
            async for _ in await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
            ):
                pass
        else:
            await client.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    elif caller == "anthropic":
        messages: Any = [{"role": "user", "content": PROMPT}]
        client_a = stack.anthropic(group)
        if stream:
            async with client_a.messages.stream(model=model, max_tokens=400, messages=messages) as events:
                async for _ in events:
                    pass
        else:
            await client_a.messages.create(model=model, max_tokens=400, messages=messages)
    else:
        client_g = stack.gemini_client(group)
        if stream:
            async for _ in await client_g.aio.models.generate_content_stream(model=model, contents=PROMPT):
                pass
        else:
            await client_g.aio.models.generate_content(model=model, contents=PROMPT)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("caller", ["openai", "anthropic", "gemini"])
async def test_chat_records_tokens_and_cost(
    usage_stack: UsageStack, caller: str, group: str, stream: bool
) -> None:
    mock = usage_stack.mock(group)
    mock.reset()
    await _chat(usage_stack, caller, group, stream)
    found = await last_record(usage_stack.gateway)
    upstream_call = mock.requests[-1]
    assert upstream_call.stream == stream
    model, provider = GROUPS[group]
    assert (found.protocol, found.key, found.group, found.stream, found.status, found.error) == (
        caller,
        f"{group}-key",
        group,
        stream,
        200,
        "",
    )
    assert (found.model_requested, found.model, found.upstream, found.upstream_kind) == (
        model,
        model,
        UPSTREAM_OF[group],
        KIND_OF[group],
    )
    said = reported(KIND_OF[group], upstream_call)
    check_record(found, KIND_OF[group], provider, said)
    assert found.cache_read_tokens  # every mock was set to report cache reads
    if group in ("openai", "gemini", "openrouter"):
        assert found.reasoning_tokens  # reasoning / thinking models
    assert found.latency_ms >= (found.ttfb_ms or 0) > 0


async def test_a_caller_that_did_not_ask_for_stream_usage_does_not_see_it(usage_stack: UsageStack) -> None:
    """The router asks OpenAI for a stream's usage on every caller's behalf (the record needs it),
    by adding one field to the caller's bytes, and keeps that usage chunk from a caller who did not
    ask for it."""
    usage_stack.oai.reset()
    chunks = [
        c
        async for c in await usage_stack.openai("openai").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}], stream=True
        )
    ]
    assert chunks and all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    sent = usage_stack.oai.requests[-1].body
    assert sent.startswith(b'{"stream_options":{"include_usage":true},')
    found = await last_record(usage_stack.gateway)
    said = usage_stack.oai.requests[-1].response_chunks[-1]["usage"]  # the chunk kept from the caller
    assert (found.input_tokens, found.output_tokens) == (said["prompt_tokens"], said["completion_tokens"])
    assert found.input_tokens and found.output_tokens and found.cost_usd


async def test_anthropic_one_hour_cache_writes(usage_stack: UsageStack) -> None:
    usage_stack.claude.reset()
    system: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    await usage_stack.anthropic("claude").messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        system=system,
        messages=[{"role": "user", "content": PROMPT}],
    )
    found = await last_record(usage_stack.gateway)
    said = reported("anthropic", usage_stack.claude.requests[-1])
    assert (found.cache_write_tokens, found.cache_write_1h_tokens, found.cache_write_5m_tokens) == (4, 4, 0)
    check_record(found, "anthropic", "anthropic", said)
    five_minutes = library_cost("anthropic", "claude-haiku-4-5", {**said, "cache_write_1h_tokens": 0})
    assert found.cost_usd is not None and found.cost_usd > five_minutes  # 1h writes cost more


# ---------------------------------------------------------------------------- other operations


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("group", ["openai", "claude"])
async def test_responses_records(usage_stack: UsageStack, group: str, stream: bool) -> None:
    mock = usage_stack.mock(group)
    mock.reset()
    model = "gpt-4o-mini" if group == "openai" else "claude-haiku-4-5"
    client = usage_stack.openai(group)
    if stream:
        async with client.responses.stream(model=model, input=PROMPT) as events:
            async for _ in events:
                pass
            answer = await events.get_final_response()
    else:
        answer = await client.responses.create(model=model, input=PROMPT)
    found = await last_record(usage_stack.gateway)
    assert (found.operation, found.stream, found.model, found.status) == (
        "responses.create",
        stream,
        model,
        200,
    )
    assert answer.usage is not None
    assert (found.input_tokens, found.output_tokens) == (
        answer.usage.input_tokens,
        answer.usage.output_tokens,
    )
    assert found.cache_read_tokens == answer.usage.input_tokens_details.cached_tokens > 0
    assert found.cost_usd is not None and found.cost_usd > 0


async def test_embeddings_records(usage_stack: UsageStack) -> None:
    reply = await usage_stack.openai("openai").embeddings.create(
        model="text-embedding-3-small", input=["one two three"] * 40
    )
    found = await last_record(usage_stack.gateway)
    assert (found.operation, found.model, found.input_tokens, found.output_tokens) == (
        "embeddings",
        "text-embedding-3-small",
        reply.usage.prompt_tokens,
        0,
    )
    assert found.cost_usd == pytest.approx(reply.usage.prompt_tokens * 0.02 / 1e6)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_images_records(usage_stack: UsageStack, stream: bool) -> None:
    usage_stack.oai.reset()
    client = usage_stack.openai("openai")
    if stream:
        async for _ in await client.images.generate(model="gpt-image-1", prompt="a red fox", stream=True):
            pass
    else:
        await client.images.generate(model="gpt-image-1", prompt="a red fox")
    found = await last_record(usage_stack.gateway)
    rec = usage_stack.oai.requests[-1]
    usage = (
        next(c["usage"] for c in reversed(rec.response_chunks) if isinstance(c.get("usage"), dict))
        if stream
        else rec.response_json["usage"]
    )
    assert (found.operation, found.stream, found.input_tokens, found.output_tokens) == (
        "images.generations",
        stream,
        usage["input_tokens"],
        usage["output_tokens"],
    )
    expected = calc_price(
        Usage(
            input_tokens=usage["input_tokens"],
            input_image_tokens=usage["input_tokens_details"]["image_tokens"],
            output_tokens=usage["output_tokens"],
            output_image_tokens=usage["output_tokens"],
        ),
        "gpt-image-1",
        provider_id="openai",
    ).total_price
    assert found.cost_usd == pytest.approx(float(expected))


async def test_images_through_openrouter_keep_its_cost(usage_stack: UsageStack) -> None:
    usage_stack.orouter.reset()
    await usage_stack.openai("openrouter").images.generate(
        model="google/gemini-2.5-flash-image", prompt="a tree"
    )
    found = await last_record(usage_stack.gateway)
    upstream_usage = usage_stack.orouter.requests[-1].response_json["usage"]
    assert (found.cost_usd, found.cost_source) == (pytest.approx(upstream_usage["cost"]), "upstream")


async def test_a_failed_request_has_a_record_without_tokens(usage_stack: UsageStack) -> None:
    with pytest.raises(openai.APIStatusError):
        await usage_stack.openai("dead").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    found = await last_record(usage_stack.gateway)
    assert (found.status, found.error, found.upstream, found.group) == (502, "upstream_error", "dead", "dead")
    assert found.input_tokens is None and found.output_tokens is None and found.cost_usd is None
    usage_stack.oai.reset()
    usage_stack.oai.enqueue(Fault.rate_limit(retry_after=1))
    with pytest.raises(openai.RateLimitError):
        await usage_stack.openai("openai").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    found = await last_record(usage_stack.gateway)
    assert (found.status, found.error, found.input_tokens) == (429, "rate_limited", None)


async def test_requests_that_reach_no_upstream_have_no_record(usage_stack: UsageStack) -> None:
    before = len(await gateway_records(usage_stack.gateway))
    client = usage_stack.openai("openai")
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    await client.models.list()
    await usage_stack.anthropic("claude").messages.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert len(await gateway_records(usage_stack.gateway)) == before


async def test_a_configured_price_wins(usage_stack: UsageStack) -> None:
    reply = await usage_stack.openai("openai").chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": PROMPT}]
    )
    found = await last_record(usage_stack.gateway)
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    cached = reply.usage.prompt_tokens_details.cached_tokens or 0
    expected = (
        (reply.usage.prompt_tokens - cached) * 1.5 + cached * 0.25 + reply.usage.completion_tokens * 6.0
    ) / 1e6
    assert (found.cost_usd, found.cost_source) == (pytest.approx(expected), "config")


async def _metrics(stack: UsageStack) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{stack.gateway.base_url}/metrics") as reply:
        return await reply.text()


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_an_unknown_price_is_null_and_counted(usage_stack: UsageStack) -> None:
    before = _sample(await _metrics(usage_stack), "torouter_unpriced_requests_total", model="house-llm")
    await usage_stack.openai("openai").chat.completions.create(
        model="house-llm", messages=[{"role": "user", "content": "hi"}]
    )
    found = await last_record(usage_stack.gateway)
    assert found.model == "house-llm" and found.input_tokens
    assert (found.cost_usd, found.cost_source) == (None, "")
    after = _sample(await _metrics(usage_stack), "torouter_unpriced_requests_total", model="house-llm")
    assert after == before + 1
    status, summary = await usage_stack.admin("/admin/v1/usage?model=house-llm")
    assert (
        status == 200
        and summary["totals"]["cost_usd"] is None
        and summary["totals"]["unpriced_requests"] >= 1
    )


async def test_metrics_count_tokens_cost_and_time_to_first_byte(usage_stack: UsageStack) -> None:
    before = await _metrics(usage_stack)
    await usage_stack.openai("openai").chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": PROMPT}]
    )
    found = await last_record(usage_stack.gateway)
    after = await _metrics(usage_stack)
    labels = {"group": "openai", "model": "gpt-5"}
    for kind, value in (
        ("input", found.input_tokens),
        ("output", found.output_tokens),
        ("cache_read", found.cache_read_tokens),
        ("reasoning", found.reasoning_tokens),
    ):
        grown = _sample(after, "torouter_tokens_total", kind=kind, **labels) - _sample(
            before, "torouter_tokens_total", kind=kind, **labels
        )
        assert grown == value, kind
    cost = _sample(after, "torouter_cost_usd_total", **labels) - _sample(
        before, "torouter_cost_usd_total", **labels
    )
    assert cost == pytest.approx(found.cost_usd)
    ttfb = "torouter_time_to_first_byte_seconds_count"
    assert _sample(after, ttfb, **labels) == _sample(before, ttfb, **labels) + 1
    # a stream's usage reaches the edge in the router's trailing metadata
    async for _ in await usage_stack.openai("openai").chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": PROMPT}], stream=True
    ):
        pass
    streamed = await last_record(usage_stack.gateway)
    final = await _metrics(usage_stack)
    assert _sample(final, ttfb, **labels) == _sample(after, ttfb, **labels) + 1
    grown = _sample(final, "torouter_tokens_total", kind="output", **labels) - _sample(
        after, "torouter_tokens_total", kind="output", **labels
    )
    assert streamed.stream and grown == streamed.output_tokens


async def test_a_streams_usage_is_counted_on_a_tcp_link_too(usage_stack: UsageStack) -> None:
    """Over TCP (compose) a stream is a Stream RPC of its own: its usage comes in the trailing
    metadata, and is counted as the session's end envelope is."""
    stack = usage_stack
    async with Gateway(usage_config(stack.oai, stack.claude, stack.gemini, stack.orouter), link="tcp") as tcp:
        client = openai.AsyncOpenAI(base_url=f"{tcp.base_url}/v1", api_key=KEYS["openai"], max_retries=0)
        async for _ in await client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": PROMPT}], stream=True
        ):
            pass
        streamed = await last_record(tcp)
        async with aiohttp.ClientSession() as http, http.get(f"{tcp.base_url}/metrics") as reply:
            metrics = await reply.text()
    labels = {"group": "openai", "model": "gpt-5"}
    assert streamed.stream and streamed.output_tokens
    for kind, value in (("input", streamed.input_tokens), ("output", streamed.output_tokens)):
        assert _sample(metrics, "torouter_tokens_total", kind=kind, **labels) == value
    assert _sample(metrics, "torouter_time_to_first_byte_seconds_count", **labels) == 1


# ---------------------------------------------------------------------------- the admin API


async def test_admin_key_is_required(usage_stack: UsageStack) -> None:
    for key in ("wrong-admin-key", KEYS["openai"]):  # a wrong key, a caller's key
        status, body = await usage_stack.admin("/admin/v1/usage", key=key)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{usage_stack.gateway.base_url}/admin/v1/usage") as reply,
    ):
        assert reply.status == 401 and (await reply.json())["error"]["message"]
    status, body = await usage_stack.admin("/admin/v1/nothing-here")
    assert status == 404 and "error" in body


async def test_without_an_admin_key_the_admin_api_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOROUTER_ADMIN_KEY", raising=False)
    config = {
        "upstreams": {"echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]}},
        "groups": {"g": {"upstreams": ["echo"]}},
        "keys": [{"name": "k", "key": "tr-k", "group": "g"}],
    }
    async with Gateway(config) as gateway, aiohttp.ClientSession() as http:
        for path in ("/admin/v1/usage", "/admin/v1/models", "/admin/v1/keys", "/admin/anything"):
            for key in ("tr-k", "anything"):
                async with http.get(
                    f"{gateway.base_url}{path}", headers={"authorization": f"Bearer {key}"}
                ) as reply:
                    assert reply.status == 404, path
                    assert (await reply.json())["error"]["code"] == "not_found"


async def test_usage_summary_daily_and_requests_agree_with_the_records(usage_stack: UsageStack) -> None:
    await _chat(usage_stack, "openai", "openai", False)
    records = await gateway_records(usage_stack.gateway)
    status, summary = await usage_stack.admin("/admin/v1/usage")
    assert status == 200
    assert summary["totals"]["requests"] == len(records)
    assert summary["totals"]["input_tokens"] == sum(r.input_tokens or 0 for r in records)
    assert summary["totals"]["cache_read_tokens"] == sum(r.cache_read_tokens or 0 for r in records)
    priced = sum(r.cost_usd or 0 for r in records)
    assert summary["totals"]["cost_usd"] == pytest.approx(priced)
    by_model = {row["model"]: row for row in summary["models"]}
    assert by_model["gpt-5"]["requests"] == sum(1 for r in records if r.model == "gpt-5")
    status, keyed = await usage_stack.admin("/admin/v1/usage?key=claude-key&group=claude")
    assert keyed["totals"]["requests"] == sum(1 for r in records if r.key == "claude-key")
    status, daily = await usage_stack.admin("/admin/v1/usage/daily?days=7")
    assert status == 200 and len(daily["days"]) == 7
    assert daily["days"][-1]["requests"] == len(records) and daily["days"][0]["requests"] == 0
    status, bad = await usage_stack.admin("/admin/v1/usage?start=yesterday")
    assert status == 400 and bad["error"]["param"] == "start"
    # pages newest first, following next_cursor to the end
    seen: list[str] = []
    path = "/admin/v1/usage/requests?limit=7"
    while True:
        status, page = await usage_stack.admin(path)
        assert status == 200
        seen += [r["id"] for r in page["data"]]
        if not page["has_more"]:
            break
        path = f"/admin/v1/usage/requests?limit=7&cursor={page['next_cursor']}"
    assert seen == [r.id for r in records]


async def test_models_lists_every_group_with_prices(usage_stack: UsageStack) -> None:
    status, listing = await usage_stack.admin("/admin/v1/models")
    assert status == 200
    entries = {(e["group"], e["id"]): e for e in listing["data"]}
    claude = entries[("claude", "claude-sonnet-4-5")]
    assert (claude["upstream"], claude["kind"], claude["thinking"]) == ("claude", "anthropic", True)
    assert claude["price"]["input"] == 3.0 and claude["price"]["source"] == "genai-prices"
    assert entries[("openai", "gpt-4.1")]["price"] == {
        "source": "config",
        "input": 1.5,
        "output": 6.0,
        "cache_read": 0.25,
    }
    assert entries[("openai", "house-llm")]["price"] is None


async def test_export_is_a_csv_of_every_record(usage_stack: UsageStack) -> None:
    records = await gateway_records(usage_stack.gateway)
    status, body = await usage_stack.admin("/admin/v1/usage/export.csv?start=2020-01-01&end=2099-12-31")
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == list(CSV_COLUMNS)
    assert [row[1] for row in rows[1:]] == [r.id for r in records]
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{usage_stack.gateway.base_url}/admin/v1/usage/export.csv?start=2026-01-01&end=2026-01-31",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
        ) as reply,
    ):
        assert (
            reply.headers["content-disposition"] == 'attachment; filename="usage-2026-01-01_2026-01-31.csv"'
        )
        assert reply.content_type == "text/csv"
        assert (await reply.text()).splitlines() == [",".join(CSV_COLUMNS)]  # a header row, no records


async def _export_peak(url: str) -> tuple[int, int, int]:
    """(bytes, lines, peak bytes of Python memory above where it started) of one export."""
    size = lines = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, headers={"authorization": f"Bearer {ADMIN_KEY}"}) as reply,
        ):
            assert reply.status == 200
            async for piece in reply.content.iter_chunked(16_384):
                size += len(piece)
                lines += piece.count(b"\n")
        return size, lines, tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


async def test_export_of_10000_records_streams_with_flat_memory(tmp_path: Path) -> None:
    """The export goes out page by page: 10,000 records (about 1.8 MB of CSV) take no more memory
    than 2,000 do, and far less than the file."""
    config = {
        "router": {"usage": f"sqlite:///{tmp_path / 'usage.db'}"},
        "upstreams": {"echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]}},
        "groups": {"g": {"upstreams": ["echo"]}},
        "keys": [{"name": "k", "key": "tr-k", "group": "g"}],
        "admin": {"keys": [ADMIN_KEY]},
    }
    async with Gateway(config) as gateway:
        assert gateway.router is not None and gateway.router.app.usage_store is not None
        store = gateway.router.app.usage_store
        days = []
        for back, count in ((1, 10_000), (2, 2_000)):  # within the retention: the writer prunes older rows
            start = today_start() - back * 86_400
            for first in range(0, count, 1_000):
                await store.write(
                    [record(back * 100_000 + i, start + i) for i in range(first, first + 1_000)]
                )
            days.append(dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%d"))
        export = f"{gateway.base_url}/admin/v1/usage/export.csv?start={{0}}&end={{0}}"
        small = await _export_peak(export.format(days[1]))
        large = await _export_peak(export.format(days[0]))
    assert (small[1], large[1]) == (2_001, 10_001)  # the header and every record
    assert large[0] > 1_500_000 and large[0] > 4 * small[0]
    assert large[2] < small[2] * 1.5 + 200_000, (
        f"peaks {small[2]} and {large[2]} bytes: memory grows with the export"
    )
    assert large[2] < large[0] / 2, f"peak {large[2]} bytes for a {large[0]}-byte export"


async def test_records_wait_in_memory_and_never_slow_a_request(usage_stack: UsageStack) -> None:
    """Concurrent requests each get their record, and none waits for the store."""
    before = len(await gateway_records(usage_stack.gateway))
    client = usage_stack.openai("echo")
    await asyncio.gather(
        *(
            client.chat.completions.create(model="echo", messages=[{"role": "user", "content": f"n{i}"}])
            for i in range(30)
        )
    )
    records = await gateway_records(usage_stack.gateway)
    assert len(records) == before + 30
    echo = [r for r in records[:30] if r.upstream == "echo"]
    assert len(echo) == 30 and all(r.cost_usd == 0.0 and r.cost_source == "free" for r in echo)
    assert all(re.fullmatch(r"[0-9a-f]{24}", r.id) for r in echo)


def _wildcard_config(oai: MockOpenAI) -> dict[str, Any]:
    """A gateway whose one upstream (the mock) serves any model, besides gpt-4o named."""
    return {
        "router": {"retries": 0},
        "upstreams": {"any": {**upstream_config("openai", oai), "models": ["gpt-4o", "*"]}},
        "groups": {"any": {"upstreams": ["any"]}},
        "keys": [{"name": "any-key", "key": KEYS["openai"], "group": "any"}],
    }


async def test_a_wildcard_upstreams_model_met_for_the_first_time_has_the_librarys_price() -> None:
    """An upstream serving any model (``models: ["*"]``): a model the config does not name is priced
    when first met (its rates read by a child process, the router never holding the price data), a
    stream and a whole answer alike, as the library prices it."""
    async with (
        MockOpenAI(name="usage-wild", models=["gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano"]) as oai,
        Gateway(_wildcard_config(oai)) as gateway,
    ):
        client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEYS["openai"], max_retries=0)
        for model, stream in (("gpt-4.1-mini", False), ("gpt-4.1-nano", True), ("gpt-4.1-mini", True)):
            oai.reset()
            messages: Any = [{"role": "user", "content": PROMPT}]
            if stream:
                async for _ in await client.chat.completions.create(
                    model=model, messages=messages, stream=True
                ):
                    pass
            else:
                await client.chat.completions.create(model=model, messages=messages)
            found = await last_record(gateway)  # (once the accounting, which waits for it, is over)
            assert (found.model, found.stream, found.cost_source) == (model, stream, "genai-prices")
            check_record(found, "openai", "openai", reported("openai", oai.requests[-1]))


async def test_a_first_met_models_price_is_read_while_its_upstream_answers() -> None:
    """The price of a model met for the first time is read as soon as its route is taken, not
    once the answer is over: a slow upstream's answer finds it known already."""
    model = "gpt-4.1-2025-04-14"  # met by no other test: not in the session's price file
    pair = ("openai", model)
    async with (
        MockOpenAI(name="usage-wild-early", models=["gpt-4o", model]) as oai,
        Gateway(_wildcard_config(oai)) as gateway,
    ):
        assert gateway.router is not None and gateway.router.app.dispatcher.usage is not None
        library = gateway.router.app.dispatcher.usage.prices._library
        for _ in range(250):  # the start's reading (in a thread) is over
            if library._any:
                break
            await asyncio.sleep(0.02)
        assert library._any and pair not in library._known
        oai.enqueue(Fault.delay(3.0))
        client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEYS["openai"], max_retries=0)
        messages: Any = [{"role": "user", "content": PROMPT}]
        answer = asyncio.create_task(client.chat.completions.create(model=model, messages=messages))
        for _ in range(125):
            if pair in library._known:
                break
            await asyncio.sleep(0.02)
        assert pair in library._known and not answer.done()
        await answer
        assert library._known[pair] == LibraryPrices().lookup(*pair)[0] is not None
        assert library._snapshot is None
