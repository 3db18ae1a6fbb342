"""Usage records leave the hot path here: a bounded in-memory queue, written to the store in batches
by one background task.

A request never waits for the store: ``put`` appends and returns. The task writes a batch when one
is full or every ``flush_interval_s``; when the store is slow or down, the records stay queued and
the batch is tried again (backing off up to :data:`MAX_BACKOFF_S`). Only when the queue is full is
a record dropped, and counted (``dropped``, and the edge's ``torouter_usage_records_dropped_total``).
Raw records older than ``retention_days`` are deleted at start and hourly; the rollups stay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from itertools import islice

from ..config import UsageConfig
from .records import UsageRecord
from .store import UsageStore

log = logging.getLogger("torouter.usage")

MAX_BACKOFF_S = 5.0
PRUNE_EVERY_S = 3600.0


class UsageWriter:
    def __init__(self, store: UsageStore, config: UsageConfig | None = None) -> None:
        self.store = store
        self.config = config or UsageConfig()
        self.dropped = 0  # records refused because the queue was full
        self.written = 0
        self._pending: deque[UsageRecord] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._pruned_at = 0.0
        self._lock = asyncio.Lock()  # one batch in flight: the task's, or a flush's

    @property
    def pending(self) -> int:
        return len(self._pending)

    def put(self, record: UsageRecord) -> bool:
        """Queues a record; False (and counted) when the queue is full. Never blocks, never raises."""
        if len(self._pending) >= self.config.queue_size:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("usage queue full: record dropped", extra={"dropped": self.dropped})
            return False
        self._pending.append(record)
        if self._task is None:
            self.start()
        elif len(self._pending) >= self.config.batch_size and self._wake is not None:
            self._wake.set()
        return True

    def start(self) -> None:
        """Starts the background task (in the running event loop); idempotent."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="torouter-usage-writer")

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            assert self._wake is not None
            if backoff:
                await asyncio.sleep(backoff)
            elif len(self._pending) < self.config.batch_size:
                await self._sleep_until_woken(self._wake)
            self._wake.clear()
            try:
                await self._prune_if_due()
                while self._pending:
                    await self._write_batch()
                    if len(self._pending) < self.config.batch_size:
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                backoff = min(MAX_BACKOFF_S, max(0.25, backoff * 2))
                self._failed(exc)
            else:
                backoff = 0.0
                if self._failing_since is not None:
                    log.info("usage store reachable again", extra={"pending": len(self._pending)})
                    self._failing_since = None

    async def _sleep_until_woken(self, wake: asyncio.Event) -> None:
        """Until a batch is full or ``flush_interval_s`` passed. Not ``asyncio.wait_for``: on 3.11 it
        returns normally when cancelled just as the wait ends (a wake-up as the router stops), and the
        task would go on instead of stopping; ``close`` would wait for it forever."""
        timer = asyncio.get_running_loop().call_later(self.config.flush_interval_s, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()

    async def _write_batch(self) -> None:
        async with self._lock:
            batch = list(islice(self._pending, self.config.batch_size))
            await self.store.write(batch)
            for _ in batch:  # new records went to the right while the batch was written
                self._pending.popleft()
            self.written += len(batch)

    async def _prune_if_due(self) -> None:
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        removed = await self.store.prune(now - self.config.retention_days * 86_400)
        self._pruned_at = now
        if removed:
            log.info("usage records past their retention deleted", extra={"deleted": removed})

    def _failed(self, exc: Exception) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning(
                "usage store unavailable: records are held and retried",
                extra={"error": type(exc).__name__, "pending": len(self._pending)},
            )
        log.debug("usage store write failed", extra={"error": repr(exc)})

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Writes what is queued (tests, shutdown); False when it could not within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._pending:
            if time.monotonic() >= deadline:
                return False
            try:
                await self._write_batch()
            except Exception as exc:
                self._failed(exc)
                await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        return True

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stops the task, writes what is left (within ``timeout_s``) and closes the store."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})  # (a cancel of close itself still goes through)
            self._task = None
        if not await self.flush(timeout_s):
            log.warning("usage records lost at shutdown", extra={"lost": len(self._pending)})
        await self.store.close()
