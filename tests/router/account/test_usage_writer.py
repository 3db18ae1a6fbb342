"""The usage writer: records leave in batches; while the store fails they are held and tried again;
a full queue drops (and counts) new records instead of growing or blocking."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from support.usage import BASE, record
from torouter.router.account.records import UsageRecord
from torouter.router.account.store import UsageFilter, open_usage_store
from torouter.router.account.writer import UsageWriter
from torouter.router.config import UsageConfig


class Flaky:
    """A real SQLite store that can be switched off (every call raises, as a dead server would)."""

    def __init__(self, path: Path) -> None:
        self.inner = open_usage_store(f"sqlite:///{path}")
        self.down = False
        self.batches: list[int] = []

    async def write(self, records: Sequence[UsageRecord]) -> None:
        if self.down:
            raise ConnectionRefusedError("the usage store is down")
        self.batches.append(len(records))
        await self.inner.write(records)

    async def prune(self, before: float) -> int:
        if self.down:
            raise ConnectionRefusedError("the usage store is down")
        return await self.inner.prune(before)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def _count(store: Flaky) -> int:
    return len(await store.inner.records(UsageFilter(BASE, BASE + 86_400), None, 10_000))


async def _until(check: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def test_records_are_written_in_batches(tmp_path: Path) -> None:
    store = Flaky(tmp_path / "u.db")
    writer = UsageWriter(store, UsageConfig(batch_size=50, flush_interval_s=0.05))  # type: ignore[arg-type]
    for i in range(120):
        assert writer.put(record(i, BASE + i))
    await _until(lambda: _is(store, 120))
    assert max(store.batches) == 50 and sum(store.batches) == 120
    await writer.close()


async def _is(store: Flaky, n: int) -> bool:
    return await _count(store) == n


async def test_a_store_that_is_down_holds_records_until_it_is_back(tmp_path: Path) -> None:
    store = Flaky(tmp_path / "u.db")
    writer = UsageWriter(store, UsageConfig(batch_size=20, flush_interval_s=0.05))  # type: ignore[arg-type]
    store.down = True
    for i in range(75):
        assert writer.put(record(i, BASE + i))  # put never fails while there is room
    await asyncio.sleep(0.5)  # several tries fail meanwhile
    assert writer.pending == 75 and writer.dropped == 0
    store.down = False
    await _until(lambda: _is(store, 75))
    assert writer.pending == 0 and writer.written == 75
    await writer.close()


async def test_a_full_queue_drops_and_counts_instead_of_growing(tmp_path: Path) -> None:
    store = Flaky(tmp_path / "u.db")
    writer = UsageWriter(store, UsageConfig(queue_size=30, batch_size=10, flush_interval_s=0.05))  # type: ignore[arg-type]
    store.down = True
    kept = [writer.put(record(i, BASE + i)) for i in range(45)]
    assert kept == [True] * 30 + [False] * 15
    assert writer.dropped == 15 and writer.pending == 30
    store.down = False
    await _until(lambda: _is(store, 30))
    await writer.close()


async def test_close_writes_what_is_left(tmp_path: Path) -> None:
    store = Flaky(tmp_path / "u.db")
    writer = UsageWriter(store, UsageConfig(batch_size=500, flush_interval_s=60))  # type: ignore[arg-type]
    for i in range(12):
        writer.put(record(i, BASE + i))
    await writer.close()  # before the minute's flush: written at close
    reopened = open_usage_store(f"sqlite:///{tmp_path / 'u.db'}")
    assert len(await reopened.records(UsageFilter(BASE, BASE + 86_400), None, 100)) == 12
    await reopened.close()


async def test_close_stops_the_writer_woken_as_it_is_cancelled(tmp_path: Path) -> None:
    """A batch filling up just as the router stops: the wake-up and the cancel reach the writer's
    task in the same turn of the loop. The task stops (asyncio.wait_for on 3.11 would have returned
    normally instead, the task gone on, and close waited for it forever)."""
    store = Flaky(tmp_path / "u.db")
    writer = UsageWriter(store, UsageConfig(batch_size=3, flush_interval_s=60))  # type: ignore[arg-type]
    assert writer.put(record(0, BASE))  # starts the task
    await asyncio.sleep(0.05)  # it waits for a batch, or a minute
    for i in (1, 2):
        assert writer.put(record(i, BASE + i))  # the batch is full: the task is woken...
    closing = asyncio.create_task(writer.close())  # ... and cancelled in the same turn
    await asyncio.wait({closing}, timeout=5)  # (its task would otherwise wait out its minute)
    assert closing.done(), "close is still waiting for the writer's task"
    await closing
    reopened = open_usage_store(f"sqlite:///{tmp_path / 'u.db'}")
    assert len(await reopened.records(UsageFilter(BASE, BASE + 86_400), None, 100)) == 3
    await reopened.close()
