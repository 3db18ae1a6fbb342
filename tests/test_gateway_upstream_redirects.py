"""An upstream that answers with a redirect: the gateway never follows it. Following would resend
the request, body and all, to wherever the redirect points, with every header but
``Authorization`` (aiohttp's rule for another origin) — so with Anthropic's ``x-api-key`` and
Gemini's ``x-goog-api-key``. The caller gets a 502 in its protocol that says what happened, and a
fallback upstream answers when the group has one."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from support.anthropic_upstream import Fault, MockAnthropic
from support.gateway import Gateway
from support.stack import upstream_config

ASK: Any = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


async def _ask(client: anthropic.AsyncAnthropic, *, stream: bool) -> None:
    if stream:
        async with client.messages.stream(**ASK) as events:
            await events.get_final_message()
    else:
        await client.messages.create(**ASK)


def _client(gateway: Gateway) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key="tr-redirect-key", max_retries=0)


def _config(first: MockAnthropic, fallback: MockAnthropic | None) -> dict[str, Any]:
    upstreams = {"moved": upstream_config("anthropic", first)}
    if fallback is not None:
        upstreams["fallback"] = upstream_config("anthropic", fallback)
    return {
        "router": {"retries": 0},
        "upstreams": upstreams,
        "groups": {"claude": {"upstreams": list(upstreams)}},
        "keys": [{"name": "k", "key": "tr-redirect-key", "group": "claude"}],
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_is_a_502_and_the_key_never_leaves_for_its_target(stream: bool) -> None:
    async with (
        MockAnthropic(name="moved", api_key="sk-ant-moved-0123456789") as moved,
        MockAnthropic(name="elsewhere", api_key="sk-ant-elsewhere-0123456789") as elsewhere,
    ):
        target = f"{elsewhere.base_url}/v1/messages"
        moved.enqueue(Fault.status(307, headers={"location": target}, body=b""))
        async with Gateway(_config(moved, None)) as gateway:
            with pytest.raises(anthropic.APIStatusError) as failure:
                await _ask(_client(gateway), stream=stream)
        assert failure.value.status_code == 502
        assert "HTTP 307" in failure.value.message and "does not follow" in failure.value.message
        assert target not in failure.value.message and elsewhere.base_url not in str(failure.value.body)
        assert len(moved.requests) == 1 and moved.requests[0].headers["x-api-key"] == moved.api_key
        assert elsewhere.requests == []


async def test_a_redirect_moves_on_to_the_groups_next_upstream() -> None:
    async with (
        MockAnthropic(name="moved", api_key="sk-ant-moved-0123456789") as moved,
        MockAnthropic(name="fallback", api_key="sk-ant-fallback-0123456789") as fallback,
    ):
        moved.enqueue(Fault.status(308, headers={"location": f"{fallback.base_url}/v1/messages"}, body=b""))
        async with Gateway(_config(moved, fallback)) as gateway:
            message = await _client(gateway).messages.create(**ASK)
        assert message.content[0].type == "text" and message.content[0].text
        assert len(moved.requests) == 1
        # the fallback was called as itself, with its own key, not as the redirect's target
        assert [r.headers["x-api-key"] for r in fallback.requests] == [fallback.api_key]
