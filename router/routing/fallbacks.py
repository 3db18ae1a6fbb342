"""Fallbacks and retries: the routes of a request tried in priority order, then again after a
jittered exponential backoff, all within the caller's deadline.

Only failures that say nothing about the request itself move on (connection errors, timeouts,
redirects, 401/403 of the gateway's own credential, 429, 5xx), and only before the caller got any
byte; a 4xx caused by the request is final. An upstream's ``retry-after`` is respected. Upstreams
cooling down after repeated failures go last; a request that found none of the router's
connections to an upstream free moves on too, but that is no failure of the upstream's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ..call import Context, Outcome
from ..config import DEFAULT_FALLBACK_ON
from ..errors import ErrorCode, GatewayError
from ..operations.passthrough import Target
from ..upstreams.base import Upstream
from ..upstreams.pool import PoolExhausted
from .cooldown import Cooldowns

FALLBACK_CODES = frozenset(
    {
        ErrorCode.UPSTREAM_ERROR,
        ErrorCode.UPSTREAM_TIMEOUT,
        ErrorCode.UPSTREAM_OVERLOADED,
        ErrorCode.UPSTREAM_AUTH,
        ErrorCode.RATE_LIMITED,
    }
)
# Upstream statuses that move a request on (router.fallback_on); connection errors and timeouts
# always do.
DEFAULT_FALLBACK_STATUSES = frozenset(DEFAULT_FALLBACK_ON)


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    retries: int = 1  # extra rounds over the routes after the first
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    fallback_on: frozenset[int] = DEFAULT_FALLBACK_STATUSES

    def moves_on(self, error: GatewayError) -> bool:
        """Whether another attempt may answer where this failure came from."""
        if error.code not in FALLBACK_CODES:
            return False
        status = error.upstream_status
        # a redirect (never followed) says the upstream's URL is wrong, as a connection error does
        return status is None or status < 400 or status in self.fallback_on

    def delay(self, round_index: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay_s, self.base_delay_s * (1 << round_index)) * random.uniform(0.5, 1.0)
        return max(backoff, retry_after or 0.0)


async def with_fallbacks(
    ctx: Context,
    first: Target,
    upstreams: dict[str, Upstream],
    attempt: Callable[[Context, Target], Awaitable[Outcome]],
    cooldowns: Cooldowns,
    policy: RetryPolicy,
) -> Outcome:
    """The first answer of the routes tried in order, or the last failure."""
    routes = first.resolution.routes
    ordered = [r for r in routes if cooldowns.available(r.upstream.name)]
    ordered += [r for r in routes if r not in ordered]
    loop = asyncio.get_running_loop()
    last_error: GatewayError | None = None
    for round_index in range(policy.retries + 1):
        if last_error is not None:
            pause = policy.delay(round_index - 1, last_error.retry_after)
            if loop.time() + pause >= ctx.deadline:
                raise last_error
            await asyncio.sleep(pause)
        for route in ordered:
            if route == first.route:
                target = first
            else:
                target = replace(first, route=route, upstream=upstreams[route.upstream.name])
            if last_error is not None:
                ctx.fallbacks.append(f"{ctx.upstream}:{last_error.code.value}")
            ctx.routed(route)
            try:
                outcome = await attempt(ctx, target)
            except GatewayError as error:
                if not policy.moves_on(error):
                    raise
                if not isinstance(error, PoolExhausted):  # the router's own limit, not the upstream's
                    cooldowns.failed(route.upstream.name)
                last_error = error
                if loop.time() >= ctx.deadline:
                    raise
            else:
                cooldowns.succeeded(route.upstream.name)
                return outcome
    assert last_error is not None
    raise last_error
