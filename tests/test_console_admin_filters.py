"""The admin API's filters as the console sends them: ``key`` (also the name of Gemini's
``?key=`` auth parameter elsewhere) filters usage by caller key on every usage endpoint."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from support.gateway import Gateway

ADMIN_KEY = "tr-admin-filters-0123456789"
KEYS = {"alice": "tr-filters-alice-0123456789", "bob": "tr-filters-bob-0123456789"}


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[Gateway]:
    config = {
        "admin": {"keys": [ADMIN_KEY]},
        "usage": {"flush_interval_s": 0.05},
        "upstreams": {
            "echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["echo-1", "echo-2"]}
        },
        "groups": {"demo": {"upstreams": ["echo"]}},
        "keys": [{"name": name, "key": key, "group": "demo"} for name, key in KEYS.items()],
    }
    async with Gateway(config) as running:
        async with aiohttp.ClientSession() as http:
            for name, model, count in (("alice", "echo-1", 3), ("bob", "echo-2", 2)):
                for i in range(count):
                    body = {"model": model, "messages": [{"role": "user", "content": f"{name} {i}"}]}
                    headers = {"authorization": f"Bearer {KEYS[name]}"}
                    async with http.post(
                        f"{running.base_url}/v1/chat/completions", json=body, headers=headers
                    ) as reply:
                        assert reply.status == 200
        yield running


async def admin(gateway: Gateway, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway.base_url}/admin/v1{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        ) as reply,
    ):
        return reply.status, await reply.text()


async def all_written(gateway: Gateway, count: int) -> None:
    """Until the usage writer (behind the requests) has stored ``count`` records, 10 s at most."""
    for _ in range(200):
        status, text = await admin(gateway, "/usage")
        if status == 200 and json_of(text)["totals"]["requests"] >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the usage records did not arrive: {text}")


def json_of(text: str) -> Any:
    return orjson.loads(text)


async def test_key_filters_the_summary_the_log_and_the_export(gateway: Gateway) -> None:
    await all_written(gateway, 5)
    status, text = await admin(gateway, "/usage?key=bob")
    assert status == 200
    summary = json_of(text)
    assert summary["totals"]["requests"] == 2
    assert [row["model"] for row in summary["models"]] == ["echo-2"]
    assert summary["filters"] == {"key": "bob"}

    status, text = await admin(gateway, "/usage/requests?key=alice&limit=10")
    assert status == 200
    assert [record["key"] for record in json_of(text)["data"]] == ["alice"] * 3

    status, text = await admin(gateway, "/usage/export.csv?key=alice")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and {row["key"] for row in rows} == {"alice"}

    status, text = await admin(gateway, "/usage?key=nobody")
    assert json_of(text)["totals"]["requests"] == 0


async def test_key_and_model_filters_combine(gateway: Gateway) -> None:
    await all_written(gateway, 5)
    status, text = await admin(gateway, "/usage/requests?key=alice&model=echo-2")
    assert status == 200 and json_of(text)["data"] == []
    status, text = await admin(gateway, "/usage/requests?key=bob&model=echo-2")
    assert len(json_of(text)["data"]) == 2
