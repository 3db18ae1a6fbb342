"""Several router replicas: round robin behind one edge, a replica going away is absorbed, and
state shared through Redis (a tool turn served by another replica)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
from aiohttp import web

from support.gateway import Gateway, free_port
from support.redis_server import redis_server
from support.stack import KEYS, Stack, upstream_config
from torouter.edge.app import create_app
from torouter.router.server import RouterServer, build_router


async def test_a_replica_going_away_is_absorbed_by_the_others(fresh: Stack) -> None:
    base = fresh.gateway.config
    ports = [free_port(), free_port()]
    routers = []
    for port in ports:
        config = type(base)(
            edge=base.edge,
            router=type(base.router)(listen=f"127.0.0.1:{port}", state="memory://", retries=0),
            upstreams=base.upstreams,
            groups=base.groups,
            keys=base.keys,
        )
        server = RouterServer(config, build_router(config))
        await server.start()
        routers.append(server)
    edge_port = free_port()
    edge_config = type(base)(
        edge=type(base.edge)(
            listen=f"127.0.0.1:{edge_port}", router=f"ipv4:127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}"
        ),
        router=base.router,
        upstreams=base.upstreams,
        groups=base.groups,
        keys=base.keys,
    )
    runner = web.AppRunner(create_app(edge_config), handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", edge_port).start()
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{edge_port}/v1", api_key=KEYS["openai"], max_retries=0
    )
    try:
        for _ in range(4):  # both replicas serve
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        await routers[0].stop(0)
        for _ in range(6):  # every request still answered, by the replica that is left
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "still there?"}]
            )
            assert reply.choices[0].message.content == "Mock reply to: still there?"
    finally:
        await runner.cleanup()
        for server in routers[1:]:
            await server.stop(0)


async def test_router_restart_under_load(fresh: Stack) -> None:
    """Requests keep coming while the only router restarts: each gets an answer (200, or 503 in
    OpenAI's format while it is away) — no hang, no 500 — and all succeed once it is back."""
    client = openai.AsyncOpenAI(
        base_url=f"{fresh.gateway.base_url}/v1", api_key=KEYS["openai"], max_retries=0
    )
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            try:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )
                statuses.append(200)
            except openai.APIStatusError as error:
                statuses.append(error.status_code)

    workers = [asyncio.create_task(load()) for _ in range(8)]
    await asyncio.sleep(0.3)
    await fresh.gateway.stop_router(grace=1.0)
    await asyncio.sleep(0.3)
    await fresh.gateway.start_router()
    await fresh.gateway.wait_ready()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*workers), 20)
    assert set(statuses) <= {200, 503} and 503 in statuses
    assert statuses[-8:] == [200] * 8


WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def test_signed_thinking_survives_a_turn_served_by_another_replica(
    fresh: Stack, tmp_path: Path
) -> None:
    """Two gateways sharing one Redis state store: the tool turn that comes back through the
    second finds the signed thinking the first one remembered (Anthropic refuses the turn without it)."""
    with redis_server(tmp_path) as url:
        config: dict[str, Any] = {
            "router": {"state": url, "retries": 0},
            "upstreams": {"claude": upstream_config("anthropic", fresh.claude)},
            "groups": {"claude": {"upstreams": ["claude"]}},
            "keys": [{"name": "c", "key": "tr-replicas-claude", "group": "claude"}],
        }
        async with Gateway(config) as first, Gateway(config) as second:
            ask: dict[str, Any] = {"model": "claude-sonnet-4-5-thinking", "tools": [WEATHER_TOOL]}
            messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
            one = openai.AsyncOpenAI(base_url=f"{first.base_url}/v1", api_key="tr-replicas-claude")
            reply = await one.chat.completions.create(messages=messages, **ask)
            call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
            messages += [
                reply.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            ]
            other = openai.AsyncOpenAI(base_url=f"{second.base_url}/v1", api_key="tr-replicas-claude")
            answer = await other.chat.completions.create(messages=messages, **ask)
            assert answer.choices[0].message.content
            replayed = fresh.claude.requests[-1].json["messages"][1]["content"]
            assert replayed[0]["type"] == "thinking" and replayed[0]["signature"]
