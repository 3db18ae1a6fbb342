"""A key's spend (CONTRACT §5, §6): the sum of its usage records' costs, kept in the state store
(atomically, so exact across router replicas) for the spend cap to be checked on.

Charged from the usage recorder's spend hook when a request completes with a known cost: a request
in flight when the cap is reached finishes, and the next one is refused (``routing/limits.py``).
A cost the upstream reported itself (OpenRouter's) is what its record holds, so it is what is
charged; an unknown cost charges nothing.

A key with a spend cap is charged at once, so that every replica sees its spend before its next
request. Any other key's spend is only reported (key views, usage): it is summed in memory and
written once every :data:`FLUSH_EVERY_S` (and when the router stops), one store write per key
instead of one per request — a SQLite transaction or a Redis round trip the request no longer
waits on.
"""

from __future__ import annotations

import asyncio
import logging

from ..state import StateStore
from ..state.outage import StateUnavailable
from .records import UsageRecord

log = logging.getLogger("torouter.usage")

FLUSH_EVERY_S = 1.0


class SpendLedger:
    def __init__(self, store: StateStore, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.store = store
        self.flush_every_s = flush_every_s
        self._pending: dict[str, float] = {}  # key name -> spend not yet in the store
        self._flusher: asyncio.Task[None] | None = None

    async def charge(self, record: UsageRecord, capped: bool) -> None:
        cost = record.cost_usd
        if cost is None or cost <= 0:
            return
        if not capped:
            self._pending[record.key] = self._pending.get(record.key, 0.0) + cost
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
            return
        try:
            await self.store.add_spend(record.key, cost)
        except StateUnavailable:
            pass  # the store's outage is logged once, by the store; the record still has the cost

    def pending(self, name: str) -> float:
        """Spend of ``name`` charged here but not yet written to the store."""
        return self._pending.get(name, 0.0)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_every_s)
        await self.flush()

    async def flush(self) -> None:
        """Writes the spend summed since the last flush (what a store outage refuses stays pending)."""
        pending, self._pending = self._pending, {}
        for name, usd in pending.items():
            try:
                await self.store.add_spend(name, usd)
            except StateUnavailable:
                self._pending[name] = self._pending.get(name, 0.0) + usd
            except Exception:
                log.exception("spend not written", extra={"key": name})

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()
