"""The state store: caller keys, usage counters, stored Responses and memos.

One small async interface, two backends: SQLite (embedded default, one host) and Redis (several
router replicas). ``memory://`` is an in-process store for tests and throwaway runs.

Stored Responses (``/v1/responses`` with ``store``) are opaque records to the store: an id, the
group whose keys may see it, the upstream that holds it (an OpenAI upstream's own stored response,
reached by passthrough) or the gateway's own record (``data``, JSON written by the Responses
handler), and a time to live.

Memos are small opaque records under an id, with a time to live: the reasoning memo
(``reasoning_memo.py``) keeps there what a caller's protocol cannot carry between turns, so that
the next turn finds it whichever router replica serves it, and after a router restart.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from ..key_rules import KeyRules


class DuplicateKeyName(Exception):
    """A key with that name exists already."""


@dataclass(slots=True, frozen=True)
class KeyRecord:
    name: str
    key_sha256: str
    group: str
    rpm: int | None = None
    tpm: int | None = None
    created_at: float = 0.0
    revoked: bool = False
    rules: KeyRules = field(default_factory=KeyRules)
    hint: str = ""  # ``prefix…last4`` of the secret, for lists; the secret itself is never stored


@dataclass(slots=True, frozen=True)
class StoredResponse:
    """A Responses API response the gateway answers for: its own record, or an upstream's id."""

    id: str
    group: str  # only keys of this group may see it
    created_at: float
    upstream: str | None = None  # the upstream that stores it (passthrough); None: ``data`` is it
    data: bytes = b""  # the gateway's record (JSON) when it stores the response itself
    expires_at: float = 0.0  # unix time after which it is gone


class StateStore(Protocol):
    async def find_key(self, key_sha256: str) -> KeyRecord | None:
        """The key with this digest, revoked or not; None when there is none."""
        ...

    async def create_key(self, record: KeyRecord) -> None:
        """Stores a new key; raises DuplicateKeyName if the name is taken."""
        ...

    async def list_keys(self) -> list[KeyRecord]: ...

    async def key_named(self, name: str) -> KeyRecord | None:
        """The key with this name, revoked or not; None when there is none."""
        ...

    async def update_key(self, record: KeyRecord) -> bool:
        """Replaces the limits and restrictions (``rpm``, ``tpm``, ``rules``) of the key of that
        name; False when there is none. The name, digest, group and creation time stay."""
        ...

    async def revoke_key(self, name: str) -> bool:
        """Marks a key revoked; False when no key has that name."""
        ...

    async def admit_request(self, name: str, now: float, windows: tuple[tuple[int, int], ...]) -> float:
        """One atomic step over a key's sliding request windows (``(seconds, limit)`` each): when
        every window has room the request is counted and 0 is returned; otherwise nothing is
        counted and the answer is the seconds until the fullest window has room."""
        ...

    async def add_spend(self, name: str, usd: float) -> float:
        """Adds to a key's total spend (atomically); returns the new total."""
        ...

    async def spend(self, name: str) -> float:
        """A key's total spend so far, in US dollars."""
        ...

    async def add_usage(self, counter: str, window: int, amount: int) -> int:
        """Adds to a counter of one time window (e.g. a key's requests this minute); returns its
        new total. Counters expire on their own a window or two later."""
        ...

    async def put_response(self, record: StoredResponse) -> None:
        """Stores (or replaces) a response record until its ``expires_at``."""
        ...

    async def get_response(self, response_id: str) -> StoredResponse | None:
        """The record with this id; None when there is none or it expired."""
        ...

    async def delete_response(self, response_id: str) -> bool:
        """Removes a record; False when there was none."""
        ...

    async def put_memos(self, memos: dict[str, bytes], expires_at: float) -> None:
        """Stores (or replaces) memos by id until ``expires_at`` (unix time)."""
        ...

    async def get_memos(self, ids: list[str]) -> dict[str, bytes]:
        """The memos among ``ids`` that exist and have not expired."""
        ...

    async def close(self) -> None: ...


class WindowCounters:
    """Counters of the current and the previous windows, in process: exact for one router (the
    SQLite and memory stores); several router replicas share Redis counters instead."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, int], int] = {}

    async def add_usage(self, counter: str, window: int, amount: int) -> int:
        total = self._counters.get((counter, window), 0) + amount
        self._counters[(counter, window)] = total
        if len(self._counters) > 10_000:  # drop windows that are over
            self._counters = {k: v for k, v in self._counters.items() if k[1] >= window - 1}
        return total


class RequestLog:
    """Each key's request times within the longest window, in process, sorted: the sliding windows
    of one router (the SQLite and memory stores). Several replicas share Redis's instead."""

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def loaded(self, name: str) -> bool:
        return name in self._times

    def load(self, name: str, times: list[float]) -> None:
        self._times[name] = deque(sorted(times))

    def add(self, name: str, times: list[float]) -> None:
        """Requests admitted elsewhere (another router on the same SQLite file), in their place."""
        known = self._times.setdefault(name, deque())
        for moment in sorted(times):
            if known and moment < known[-1]:
                bisect.insort(known, moment)
            else:
                known.append(moment)

    def admit(self, name: str, now: float, windows: tuple[tuple[int, int], ...]) -> float:
        """0 and the request counted, or the seconds until every window has room."""
        times = self._times.setdefault(name, deque())
        longest = max(seconds for seconds, _ in windows)
        while times and times[0] <= now - longest:
            times.popleft()
        wait = 0.0
        for seconds, limit in windows:
            start = bisect.bisect_right(times, now - seconds)
            inside = len(times) - start
            if inside >= limit:  # room once the (inside - limit + 1)-th oldest of them has left
                wait = max(wait, times[start + inside - limit] + seconds - now)
        if wait > 0:
            return wait
        if times and now < times[-1]:  # the wall clock stepped back
            bisect.insort(times, now)
        else:
            times.append(now)
        return 0.0


class SpendTotals:
    """Each key's total spend, in process (the memory store)."""

    def __init__(self) -> None:
        self._spend: dict[str, float] = {}

    async def add_spend(self, name: str, usd: float) -> float:
        total = self._spend.get(name, 0.0) + usd
        self._spend[name] = total
        return total

    async def spend(self, name: str) -> float:
        return self._spend.get(name, 0.0)


def open_store(url: str, *, shared: bool = False) -> StateStore:
    """The store a ``router.state`` URL names. ``shared``: other routers on this host use the same
    SQLite file (``torouter up --workers N``), so its counters live in the file, not in memory."""
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), shared=shared)
    if url.startswith(("redis://", "rediss://")):
        from .redis import RedisStore

        return RedisStore(url)
    if url.startswith("memory://"):
        from .memory import MemoryStore

        return MemoryStore()
    raise ValueError(
        f"unsupported state store {url.split(':', 1)[0]!r} (use sqlite://, redis:// or memory://)"
    )


def sqlite_path(url: str) -> str:
    """``sqlite:///./x.db`` -> ``./x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    path = url.removeprefix("sqlite://")
    return path[1:] if path.startswith("/") else path
