"""How many requests a router has in flight to one upstream at once (one connection each), and how
long a request waits for one of them to end: ``max_connections`` and ``pool_timeout_s`` per upstream.

A request that finds no free connection in time gets :class:`PoolExhausted`, a 503 that says so.
It is the router's own limit, not the upstream's failure: it never counts toward the upstream's
cooldown (routing/fallbacks.py), though the request may move on to the next upstream.
"""

from __future__ import annotations

import asyncio

from ..errors import ErrorCode, GatewayError


class PoolExhausted(GatewayError):
    """Every connection to an upstream stayed busy for as long as a request may wait for one."""

    def __init__(self, upstream: str, size: int, waited_s: float) -> None:
        super().__init__(
            ErrorCode.UPSTREAM_OVERLOADED,
            f"All {size} connections of the gateway to upstream {upstream!r} stayed busy for "
            f"{waited_s:g}s (its max_connections); retry shortly.",
            retry_after=1.0,
        )


class ConnectionSlots:
    """A counted pool of request slots; a request holds one from the call until its body is read
    or its stream closed."""

    def __init__(self, upstream: str, size: int, timeout_s: float) -> None:
        self.upstream = upstream
        self.size = size
        self.timeout_s = timeout_s
        self._free = asyncio.Semaphore(size)

    async def acquire(self, budget_s: float) -> None:
        """Takes a slot, waiting at most ``pool_timeout_s`` (or the request's own budget, if less)."""
        if not self._free.locked():
            await self._free.acquire()  # free: returns at once
            return
        wait = min(self.timeout_s, budget_s)
        try:
            async with asyncio.timeout(wait):
                await self._free.acquire()
        except TimeoutError:
            raise PoolExhausted(self.upstream, self.size, round(wait, 3)) from None

    def release(self) -> None:
        self._free.release()
