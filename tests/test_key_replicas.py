"""Key restrictions across router replicas sharing one real Redis: request windows and the spend
cap are exact however the load is spread, and a change made through one is seen by the other
within a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml
from aiohttp import web

from support.gateway import free_port
from support.redis_server import redis_server
from support.stack import Stack, upstream_config
from torouter.edge.app import create_app
from torouter.router.account.key_admin import KeyAdmin
from torouter.router.config import Config, parse_config
from torouter.router.server import RouterServer, build_router
from torouter.router.state import open_store


@dataclass
class Replicas:
    routers: list[RouterServer]
    base_url: str
    config: Config
    logs: list[list[dict[str, Any]]]


@pytest.fixture
async def replicas(fresh: Stack, tmp_path: Path) -> AsyncIterator[Replicas]:
    """Two routers on one Redis, one edge spreading calls over both (round robin)."""
    with redis_server(tmp_path) as url:
        ports = [free_port(), free_port()]
        edge_port = free_port()
        raw: dict[str, Any] = {
            "router": {"state": url, "retries": 0},
            "edge": {
                "listen": f"127.0.0.1:{edge_port}",
                "router": f"ipv4:127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}",
            },
            "upstreams": {"oai": upstream_config("openai", fresh.upstream)},
            "groups": {"openai": {"upstreams": ["oai"]}},
        }
        base = parse_config(yaml.safe_dump(raw), env={})
        routers = []
        logs: list[list[dict[str, Any]]] = []
        for port in ports:
            config = type(base)(
                edge=base.edge,
                router=type(base.router)(listen=f"127.0.0.1:{port}", state=url, retries=0),
                upstreams=base.upstreams,
                groups=base.groups,
                keys=base.keys,
            )
            log: list[dict[str, Any]] = []
            server = RouterServer(config, build_router(config, request_log=log.append))
            await server.start()
            routers.append(server)
            logs.append(log)
        runner = web.AppRunner(create_app(base), handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", edge_port).start()
        try:
            yield Replicas(routers, f"http://127.0.0.1:{edge_port}", base, logs)
        finally:
            await runner.cleanup()
            for server in routers:
                await server.stop(0)


async def create_key(replicas: Replicas, **fields: Any) -> str:
    admin = KeyAdmin(replicas.routers[0].app.store, replicas.config)
    return (await admin.create({"group": "openai", **fields})).secret


async def test_a_window_admits_exactly_its_limit_across_replicas(replicas: Replicas, fresh: Stack) -> None:
    """200 requests from 20 concurrent clients against a 50-request window: exactly 50 pass."""
    secret = await create_key(replicas, name="burst", requests_5h=50)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    statuses: list[int] = []

    async def client(http: aiohttp.ClientSession) -> None:
        for _ in range(10):
            async with http.post(
                f"{replicas.base_url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {secret}"},
            ) as response:
                statuses.append(response.status)
                if response.status == 429:
                    assert int(response.headers["retry-after"]) > 5 * 3600 - 300

    async with aiohttp.ClientSession() as http:
        await asyncio.wait_for(asyncio.gather(*(client(http) for _ in range(20))), 120)
    assert statuses.count(200) == 50 and statuses.count(429) == 150
    assert len(fresh.upstream.requests) == 50
    served = [sum(1 for entry in log if entry["status"] == 200) for log in replicas.logs]
    assert sum(served) == 50 and all(served)  # both replicas admitted a share


async def test_the_spend_cap_is_exact_across_replicas(replicas: Replicas, fresh: Stack) -> None:
    """A request in flight when the cap is reached finishes; the next one gets 402."""
    secret = await create_key(replicas, name="capped", spend_cap_usd=1.0)
    store = replicas.routers[1].app.store
    client = openai.AsyncOpenAI(base_url=f"{replicas.base_url}/v1", api_key=secret, max_retries=0)
    async with client:
        for _ in range(3):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
            await store.add_spend("capped", 0.4)  # as each answer completes (0.4, 0.8, 1.2)
        for _ in range(2):  # whichever replica serves it
            with pytest.raises(openai.APIStatusError) as refused:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )
            assert refused.value.status_code == 402 and refused.value.code == "insufficient_quota"
    assert len(fresh.upstream.requests) == 3


async def test_revoke_and_patch_reach_the_other_replica_within_a_second(replicas: Replicas) -> None:
    secret = await create_key(replicas, name="moving")
    admin = KeyAdmin(replicas.routers[0].app.store, replicas.config)
    client = openai.AsyncOpenAI(base_url=f"{replicas.base_url}/v1", api_key=secret, max_retries=0)
    async with client:
        for _ in range(4):  # both replicas have the key in their caches now
            await client.models.list()
        await admin.update("moving", {"models": ["gpt-4o"]})
        await asyncio.sleep(1.0)
        for _ in range(2):  # each replica's next request sees the change
            with pytest.raises(openai.PermissionDeniedError):
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )
        await admin.revoke("moving")
        await asyncio.sleep(1.0)
        for _ in range(2):
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()


async def test_a_store_shared_by_the_cli_and_the_routers(replicas: Replicas) -> None:
    """A key created straight in the store (as `torouter keys create` does) works at once."""
    store = open_store(replicas.config.router.state)
    try:
        secret = (await KeyAdmin(store, replicas.config).create({"group": "openai", "name": "cli"})).secret
    finally:
        await store.close()
    async with openai.AsyncOpenAI(
        base_url=f"{replicas.base_url}/v1", api_key=secret, max_retries=0
    ) as client:
        assert [m.id async for m in client.models.list()]
