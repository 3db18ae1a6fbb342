"""A Redis state store that goes away: each call fails fast as StateUnavailable (a 503 to callers),
one warning when the outage begins and one line when it ends, and the store works again by itself
once Redis is back."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from support.redis_server import RedisProcess
from torouter.router.state import KeyRecord
from torouter.router.state.outage import StateUnavailable
from torouter.router.state.redis import RedisStore


async def test_redis_away_and_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="torouter.router.state")
    redis = RedisProcess(tmp_path, persist=True)
    redis.start()
    store = RedisStore(redis.url)
    try:
        await store.create_key(KeyRecord("k", "d" * 64, "g", created_at=1.0))
        redis.stop()
        started = time.monotonic()
        for _ in range(200):
            with pytest.raises(StateUnavailable) as failure:
                await store.find_key("d" * 64)
            assert failure.value.status == 503 and failure.value.retry_after
        assert time.monotonic() - started < 10  # no call waits long on a Redis that is gone
        warnings = [r for r in caplog.records if r.name == "torouter.router.state"]
        assert [r.getMessage().split(":")[0] for r in warnings] == ["state store unavailable"]
        assert not any(r.exc_info for r in caplog.records)

        redis.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                found = await store.find_key("d" * 64)
                break
            except StateUnavailable:
                assert time.monotonic() < deadline, "the store did not come back with Redis"
                await asyncio.sleep(0.05)
        assert found is not None and found.name == "k"  # what it held survived the restart
        back = [r for r in caplog.records if r.getMessage() == "state store available again"]
        assert len(back) == 1 and getattr(back[0], "failed_calls", 0) >= 200
        assert await store.spend("k") == 0.0  # and calls go through again
    finally:
        await store.close()
        redis.stop()
