"""Per-key request and token limits (``rpm`` / ``tpm`` in the config or on created keys).

Fixed one-minute windows. A request over either limit is refused with 429 before anything is sent
upstream; token limits count the usage the upstream reports, charged when the answer is complete.
Every answer to a limited key carries OpenAI-style ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import math
import time

from ..errors import ErrorCode, GatewayError
from ..state import StateStore
from .caller_keys import Caller

WINDOW_S = 60


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``12s``, ``1m0s``."""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


class Limiter:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def admit(self, caller: Caller) -> dict[str, str]:
        """Counts the request; the rate-limit headers for the answer, or GatewayError 429."""
        if caller.rpm is None and caller.tpm is None:
            return {}
        now = time.time()
        window = int(now // WINDOW_S)
        reset = (window + 1) * WINDOW_S - now
        headers: dict[str, str] = {}
        if caller.tpm is not None:
            used = await self.store.add_usage(f"tpm:{caller.name}", window, 0)
            headers.update(_headers("tokens", caller.tpm, caller.tpm - used, reset))
            if used >= caller.tpm:
                raise self._refused("tokens", caller.tpm, reset, headers)
        if caller.rpm is not None:
            used = await self.store.add_usage(f"rpm:{caller.name}", window, 1)
            headers.update(_headers("requests", caller.rpm, caller.rpm - used, reset))
            if used > caller.rpm:
                await self.store.add_usage(f"rpm:{caller.name}", window, -1)  # refused: not counted
                headers["x-ratelimit-remaining-requests"] = "0"
                raise self._refused("requests", caller.rpm, reset, headers)
        return headers

    async def charge(self, caller: Caller, tokens: int) -> None:
        if caller.tpm is not None and tokens > 0:
            await self.store.add_usage(f"tpm:{caller.name}", int(time.time() // WINDOW_S), tokens)

    @staticmethod
    def _refused(what: str, limit: int, reset: float, headers: dict[str, str]) -> GatewayError:
        error = GatewayError(
            ErrorCode.RATE_LIMITED,
            f"Rate limit reached for {what}: {limit} per minute for this key. "
            f"Try again in {math.ceil(reset)}s.",
            retry_after=reset,
        )
        error.headers = headers
        return error


def _headers(what: str, limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{what}": str(limit),
        f"x-ratelimit-remaining-{what}": str(max(0, remaining)),
        f"x-ratelimit-reset-{what}": _duration(reset),
    }
