"""A key's spend (CONTRACT §5, §6): the sum of its usage records' costs, kept in the state store
(atomically, so exact across router replicas) for the spend cap to be checked on.

Charged from the usage recorder's spend hook when a request completes with a known cost: a request
in flight when the cap is reached finishes, and the next one is refused (``routing/limits.py``).
A cost the upstream reported itself (OpenRouter's) is what its record holds, so it is what is
charged; an unknown cost charges nothing.
"""

from __future__ import annotations

from ..state import StateStore
from .records import UsageRecord


class SpendLedger:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def charge(self, record: UsageRecord) -> None:
        if record.cost_usd is not None and record.cost_usd > 0:
            await self.store.add_spend(record.key, record.cost_usd)
