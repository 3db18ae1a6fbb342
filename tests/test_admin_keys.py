"""The admin API's keys (CONTRACT §5, §7): create (the secret once), list, read, change and revoke
through the edge, bad input named by field with nothing written, the admin key's guard; and the
spend cap charged from real usage records with a configured price."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from support.gateway import Gateway
from support.stack import Stack, upstream_config

ADMIN_KEY = "tra-keys-admin-0123456789abcdef"
CALLER_KEY = "tr-test-keys-static"
# $1000 per million input and output tokens: a mock answer (~10 tokens) costs about a cent
PRICE = {"upstream": "oai", "model": "gpt-4o-mini", "input": 1000, "output": 1000}


@pytest.fixture(scope="module")
async def keys_gateway(stack: Stack) -> AsyncIterator[Gateway]:
    config = {
        "router": {"retries": 0},
        "admin": {"keys": [ADMIN_KEY]},
        "prices": [PRICE],
        "upstreams": {
            "oai": upstream_config("openai", stack.upstream),
            "claude": upstream_config("anthropic", stack.claude),
        },
        "groups": {"openai": {"upstreams": ["oai"]}, "claude": {"upstreams": ["claude"]}},
        "keys": [{"name": "static", "key": CALLER_KEY, "group": "openai", "rpm": 100}],
    }
    async with Gateway(config) as gateway:
        yield gateway


async def admin(
    gateway: Gateway, method: str, path: str, body: Any = None, key: str = ADMIN_KEY
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            f"{gateway.base_url}/admin/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        ) as reply,
    ):
        assert reply.headers["x-request-id"]
        return reply.status, await reply.json()


async def refused_within(call: Callable[[], Awaitable[object]], status: int, seconds: float = 1.5) -> None:
    """Polls until ``call`` is refused with ``status``: a change reaches the router within a second."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await call()
        except openai.APIStatusError as error:
            refused = error.status_code
            break
        assert asyncio.get_running_loop().time() < deadline, f"not refused with {status} in {seconds} s"
        await asyncio.sleep(0.1)
    assert refused == status


async def test_create_read_update_revoke(keys_gateway: Gateway, fresh: Stack) -> None:
    status, created = await admin(
        keys_gateway,
        "POST",
        "/keys",
        {
            "name": "team-a",
            "group": "openai",
            "rpm": 60,
            "spend_cap_usd": 25,
            "requests_24h": 500,
            "expires_in_days": 30,
            "ip_allow": ["127.0.0.0/8", "2001:db8::/32"],
            "models": ["gpt-4o-mini"],
        },
    )
    assert status == 201
    secret, view = created["secret"], created["key"]
    assert secret.startswith("tr-") and view["key_hint"] == f"{secret[:7]}…{secret[-4:]}"
    assert view["ip_allow"] == ["127.0.0.0/8", "2001:db8::/32"] and view["requests_24h"] == 500
    assert view["spend_usd"] == 0 and view["expires_at"].endswith("Z") and view["source"] == "store"

    async with openai.AsyncOpenAI(
        base_url=f"{keys_gateway.base_url}/v1", api_key=secret, max_retries=0
    ) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        status, listed = await admin(keys_gateway, "GET", "/keys")
        assert status == 200 and listed["object"] == "list"
        by_name = {k["name"]: k for k in listed["data"]}
        assert set(by_name) >= {"static", "team-a"} and by_name["static"]["source"] == "config"
        assert secret not in str(listed)  # never a secret after creation
        status, read = await admin(keys_gateway, "GET", "/keys/team-a")
        assert status == 200 and read["spend_usd"] > 0  # charged as the answer completed
        for _ in range(100):  # the usage record reaches the store with the writer's next batch
            if (await admin(keys_gateway, "GET", "/keys/team-a"))[1]["last_used_at"] is not None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no last_used_at")

        status, patched = await admin(
            keys_gateway, "PATCH", "/keys/team-a", {"models": ["gpt-4o"], "rpm": None}
        )
        assert status == 200 and patched["models"] == ["gpt-4o"] and patched["rpm"] is None
        ask = client.chat.completions.create
        await refused_within(
            lambda: ask(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]), 403
        )

        status, revoked = await admin(keys_gateway, "DELETE", "/keys/team-a")
        assert status == 200 and revoked["revoked"] is True
        await refused_within(client.models.list, 401)


@pytest.mark.parametrize(
    ("body", "param", "said"),
    [
        ({"group": "openai", "ip_allow": ["10.0.0.0/33"]}, "ip_allow[0]", "not an IPv4 or IPv6"),
        ({"group": "openai", "spend_cap_usd": -1}, "spend_cap_usd", "negative"),
        ({"group": "openai", "colour": "red"}, "colour", "unknown field"),
        ({"group": "openai", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "in the past"),
        ({"group": "nope"}, "group", "unknown group"),
        ({"name": "bad name!", "group": "openai"}, "name", "letters"),
        ({"group": "openai", "rpm": "many"}, "rpm", "whole number"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    keys_gateway: Gateway, body: dict[str, Any], param: str, said: str
) -> None:
    _, before = await admin(keys_gateway, "GET", "/keys")
    status, error = await admin(keys_gateway, "POST", "/keys", body)
    assert status == 400 and error["error"]["param"] == param and said in error["error"]["message"]
    _, after = await admin(keys_gateway, "GET", "/keys")
    assert after == before


async def test_conflicts_and_unknown_keys(keys_gateway: Gateway) -> None:
    assert (await admin(keys_gateway, "POST", "/keys", {"name": "dup", "group": "openai"}))[0] == 201
    status, error = await admin(keys_gateway, "POST", "/keys", {"name": "dup", "group": "claude"})
    assert status == 409 and error["error"]["param"] == "name"
    status, error = await admin(keys_gateway, "PATCH", "/keys/static", {"rpm": 5})
    assert status == 409 and "config file" in error["error"]["message"]
    assert (await admin(keys_gateway, "GET", "/keys/ghost"))[0] == 404
    assert (await admin(keys_gateway, "DELETE", "/keys/ghost"))[0] == 404
    status, error = await admin(keys_gateway, "PATCH", "/keys/dup", {"requests_5h": -2})
    assert status == 400 and error["error"]["param"] == "requests_5h"
    status, error = await admin(keys_gateway, "PATCH", "/keys/dup", ["not", "an", "object"])
    assert status == 400


async def test_the_admin_key_guards_the_keys(keys_gateway: Gateway) -> None:
    for key in ("wrong", CALLER_KEY):
        status, error = await admin(keys_gateway, "GET", "/keys", key=key)
        assert status == 401 and error["error"]["type"] == "invalid_request_error"
    status, _ = await admin(keys_gateway, "POST", "/keys", {"group": "openai"}, key=CALLER_KEY)
    assert status == 401


async def test_the_spend_cap_is_charged_from_usage_records(keys_gateway: Gateway, fresh: Stack) -> None:
    """Each answer's cost (the configured price × the tokens the upstream reported) is charged when
    it completes — streams included; once the cap is reached the next request gets 402."""
    status, created = await admin(keys_gateway, "POST", "/keys", {"group": "openai", "spend_cap_usd": 0.02})
    assert status == 201
    secret, name = created["secret"], created["key"]["name"]
    async with openai.AsyncOpenAI(
        base_url=f"{keys_gateway.base_url}/v1", api_key=secret, max_retries=0
    ) as client:
        spent: list[float] = []
        refusal: openai.APIStatusError | None = None
        while refusal is None and len(spent) < 10:
            try:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}], stream=True
                )
                async for _ in stream:
                    pass
            except openai.APIStatusError as error:
                refusal = error
            else:
                spent.append((await admin(keys_gateway, "GET", f"/keys/{name}"))[1]["spend_usd"])
        assert refusal is not None, f"never capped: {spent}"
        assert refusal.status_code == 402 and refusal.code == "insufficient_quota"
    assert spent == sorted(spent) and spent[-1] >= 0.02 > spent[-2]  # the last one admitted crossed it
    async with anthropic.AsyncAnthropic(
        base_url=keys_gateway.base_url, api_key=secret, max_retries=0
    ) as claude:
        with pytest.raises(anthropic.APIStatusError) as refused_anthropic:
            await claude.messages.create(
                model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "x"}]
            )
    assert refused_anthropic.value.status_code == 402
    assert refused_anthropic.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
