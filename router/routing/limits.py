"""Per-key limits counted in the state store: the spend cap, ``tpm``, the sliding request windows
(``requests_5h`` / ``_24h`` / ``_7d``) and ``rpm``.

Checked in that order, the reads first, so that a refused request is counted nowhere: spend ≥ cap
is a 402; tokens or requests over a limit a 429 with ``retry-after`` (the fixed one-minute windows
of rpm/tpm; for the sliding windows, the seconds until the fullest has room). Token limits count
the usage the upstream reports and spend the request's cost, both charged when the answer is
complete. Every answer to an rpm/tpm-limited key carries OpenAI-style ``x-ratelimit-*`` headers.
A key with none of these limits costs no store round trip.
"""

from __future__ import annotations

import math
import time

from ..errors import ErrorCode, GatewayError
from ..key_rules import WINDOWS
from ..state import StateStore
from .caller_keys import Caller
from .restrictions import KeyBlocked

_WINDOW_NAMES = {seconds: name.removeprefix("requests_") for name, seconds in WINDOWS.items()}

WINDOW_S = 60


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``12s``, ``1m0s``."""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


class Limiter:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def admit(self, caller: Caller) -> dict[str, str]:
        """Counts the request; the rate-limit headers for the answer, or GatewayError 402 / 429."""
        rules = caller.rules
        if caller.rpm is None and caller.tpm is None and rules is None:
            return {}
        now = time.time()
        if rules is not None and rules.spend_cap_usd is not None:
            spent = await self.store.spend(caller.name)
            if spent >= rules.spend_cap_usd:
                raise KeyBlocked(
                    ErrorCode.SPEND_CAP_REACHED,
                    f"This API key has reached its spend cap of ${rules.spend_cap_usd:g} "
                    f"(spent ${spent:.4f}).",
                    "spend_cap_reached",
                )
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
        windows = rules.windows() if rules is not None else ()
        if windows:
            wait = await self.store.admit_request(caller.name, now, tuple((s, n) for _, s, n in windows))
            if wait > 0:
                if caller.rpm is not None:  # refused: not counted in the minute either
                    await self.store.add_usage(f"rpm:{caller.name}", window, -1)
                limits = ", ".join(f"{n} per {_WINDOW_NAMES[s]}" for _, s, n in windows)
                blocked = KeyBlocked(
                    ErrorCode.RATE_LIMITED,
                    f"Request limit reached for this key ({limits}). Try again in {math.ceil(wait)}s.",
                    "request_window_full",
                    retry_after=wait,
                )
                blocked.headers = headers
                raise blocked
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
