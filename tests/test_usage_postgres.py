"""The gateway with its usage records in a real PostgreSQL (``router.usage: postgresql://…``), and
that database killed in the middle of a load: no caller sees an error, and the records of the
requests made while it was down arrive once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from support.gateway import Gateway
from support.postgres_server import PostgresServer, postgres_server
from support.usage import gateway_records
from torouter.router.account.store import UsageFilter

KEY = "tr-pg-key"
ADMIN = "tra-pg-admin"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def _config(url: str) -> dict[str, object]:
    return {
        "router": {"usage": url},
        "usage": {"flush_interval_s": 0.05, "batch_size": 20},
        "upstreams": {"echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]}},
        "groups": {"g": {"upstreams": ["echo"]}},
        "keys": [{"name": "loader", "key": KEY, "group": "g"}],
        "admin": {"keys": [ADMIN]},
    }


async def _load(gateway: Gateway, count: int, tag: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEY, max_retries=0)
    try:
        for start in range(0, count, 10):
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="echo", messages=[{"role": "user", "content": f"{tag} {i}"}]
                    )
                    for i in range(start, min(count, start + 10))
                )
            )
            assert all(r.choices[0].message.content for r in replies)
    finally:
        await client.close()


async def _stored(gateway: Gateway) -> int:
    assert gateway.router is not None and gateway.router.app.usage_store is not None
    where = UsageFilter(0, 2**40, key="loader")
    return (await gateway.router.app.usage_store.summary(where, "key")).totals.requests


async def test_records_go_to_postgres(postgres: PostgresServer) -> None:
    async with Gateway(_config(postgres.url)) as gateway:
        await _load(gateway, 25, "first")
        records = await gateway_records(gateway)
        assert len(records) >= 25 and {r.key for r in records} == {"loader"}
        assert all(r.status == 200 and r.cost_usd == 0.0 for r in records)


async def test_the_store_killed_mid_load_fails_no_caller_and_loses_no_record(
    postgres: PostgresServer,
) -> None:
    async with Gateway(_config(postgres.url)) as gateway:
        before = await _stored(gateway)
        await _load(gateway, 30, "before")
        postgres.stop("immediate")  # a crash, in the middle of the load
        try:
            await _load(gateway, 40, "during")  # every one of these succeeds
            writer = gateway.router.app.usage_writer  # type: ignore[union-attr]
            assert writer is not None
            assert writer.pending > 0  # held, not lost
        finally:
            postgres.start()
        await _load(gateway, 30, "after")
        deadline = asyncio.get_running_loop().time() + 30
        while await _stored(gateway) < before + 100:
            assert asyncio.get_running_loop().time() < deadline, "the held records did not arrive"
            await asyncio.sleep(0.1)
        assert await _stored(gateway) == before + 100
        assert writer.dropped == 0
