"""The state store (a real Redis) goes away and comes back: requests that need it get a 503 with
``retry-after`` in the caller's protocol (never a 500), keys without limits are not affected (the
config's, and created ones the router has seen, from its key cache), the router logs the outage
once, and everything works again when Redis is back."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from support.gateway import Gateway
from support.redis_server import RedisProcess
from support.stack import Stack, upstream_config
from torouter.router.account.key_admin import KeyAdmin

FREE, LIMITED, CLAUDE, GEMINI = "tr-outage-free", "tr-outage-limited", "tr-outage-claude", "tr-outage-gemini"
ASK: Any = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_a_redis_outage_is_a_503_for_what_needs_it_and_nothing_else(
    fresh: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    redis = RedisProcess(tmp_path, persist=True)
    redis.start()
    config: dict[str, Any] = {
        "router": {"state": redis.url, "retries": 0},
        "upstreams": {
            "oai": upstream_config("openai", fresh.upstream),
            "claude": upstream_config("anthropic", fresh.claude),
            "gemini": upstream_config("gemini", fresh.gemini),
        },
        "groups": {
            "o": {"upstreams": ["oai"]},
            "c": {"upstreams": ["claude"]},
            "g": {"upstreams": ["gemini"]},
        },
        "keys": [
            {"name": "free", "key": FREE, "group": "o"},
            {"name": "limited", "key": LIMITED, "group": "o", "rpm": 100_000},
            {"name": "claude", "key": CLAUDE, "group": "c", "rpm": 100_000},
            {"name": "gemini", "key": GEMINI, "group": "g", "requests_5h": 100_000},
        ],
    }
    try:
        async with Gateway(config) as gateway:
            assert gateway.router is not None
            created = await KeyAdmin(gateway.router.app.store, gateway.config).create({"group": "o"})
            openai_of = {
                name: openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
                for name, key in (("free", FREE), ("limited", LIMITED), ("created", created.secret))
            }
            claude = anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key=CLAUDE, max_retries=0)
            gemini = genai.Client(
                api_key=GEMINI,
                http_options=types.HttpOptions(
                    base_url=gateway.base_url, retry_options=types.HttpRetryOptions(attempts=1)
                ),
            )
            for client in openai_of.values():  # every key works, and the router has seen each
                await client.chat.completions.create(**ASK)

            redis.stop()
            await asyncio.sleep(1.0)  # past the key cache's time to live
            for _ in range(20):
                for name in ("free", "created"):  # no limits: served as if nothing happened
                    reply = await openai_of[name].chat.completions.create(**ASK)
                    assert reply.choices[0].message.content == "Mock reply to: hi"
                with pytest.raises(openai.APIStatusError) as refused:
                    await openai_of["limited"].chat.completions.create(**ASK)
                assert refused.value.status_code == 503
                assert refused.value.response.headers["retry-after"] == "1"
                assert refused.value.body["code"] == "service_unavailable"  # type: ignore[index]
            # a stored response's record cannot be kept: the answer goes out all the same
            stored = await openai_of["free"].responses.create(model="gpt-4o-mini", input="hi")
            assert stored.output_text == "Mock reply to: hi"
            streamed = await openai_of["free"].responses.create(model="gpt-4o-mini", input="hi", stream=True)
            assert [event.type async for event in streamed][-1] == "response.completed"
            with pytest.raises(anthropic.APIStatusError) as claude_refused:
                await claude.messages.create(
                    model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
                )
            assert claude_refused.value.status_code == 503
            assert claude_refused.value.body["type"] == "error"  # type: ignore[index]
            assert claude_refused.value.response.headers["retry-after"] == "1"
            with pytest.raises(genai_errors.ServerError) as gemini_refused:
                await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
            assert gemini_refused.value.code == 503 and gemini_refused.value.status == "UNAVAILABLE"
            unknown = openai.AsyncOpenAI(
                base_url=f"{gateway.base_url}/v1", api_key="tr-never-seen", max_retries=0
            )
            with pytest.raises(openai.APIStatusError) as unseen:  # not a 401: it may exist
                await unknown.chat.completions.create(**ASK)
            assert unseen.value.status_code == 503

            redis.start()
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                try:
                    await openai_of["limited"].chat.completions.create(**ASK)
                    break
                except openai.APIStatusError as error:
                    status = error.status_code
                assert status == 503
                assert asyncio.get_running_loop().time() < deadline, "no recovery after Redis came back"
                await asyncio.sleep(0.1)
            await claude.messages.create(
                model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            )
            await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    finally:
        redis.stop()
    state_lines = [r.getMessage() for r in caplog.records if r.name == "torouter.router.state"]
    assert state_lines == [
        "state store unavailable: answering 503 to requests that need it until it is back",
        "state store available again",
    ]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
