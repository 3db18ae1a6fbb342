"""Caller keys: static ones from the config, created ones from the state store, cached in memory.

Keys are only ever held as SHA-256 digests. A created, changed or revoked key takes effect within
the cache's time-to-live (under a second, CONTRACT §5), on every router replica, without a restart.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from ..config import KeyConfig, hash_key
from ..errors import ErrorCode, GatewayError
from ..key_rules import KeyRules
from ..state import KeyRecord, StateStore

CACHE_TTL_S = 0.9  # a change reaches every replica's next request within a second


@dataclass(slots=True, frozen=True)
class Caller:
    """Who is calling: the key's name (never its secret), group, limits and restrictions (None when
    it has none, so that an unrestricted key pays nothing for them)."""

    name: str
    group: str
    rpm: int | None = None
    tpm: int | None = None
    rules: KeyRules | None = None


def caller_of(key: KeyConfig | KeyRecord) -> Caller:
    return Caller(key.name, key.group, key.rpm, key.tpm, None if key.rules.is_empty() else key.rules)


class KeyRing:
    def __init__(
        self,
        static: tuple[KeyConfig, ...],
        store: StateStore | None,
        *,
        ttl_s: float = CACHE_TTL_S,
        negative_ttl_s: float = CACHE_TTL_S,
    ) -> None:
        self._static = {k.key_sha256: (k.key_sha256, caller_of(k)) for k in static}
        self.static_names = frozenset(k.name for k in static)
        self._store = store
        self._ttl = ttl_s
        self._negative_ttl = negative_ttl_s
        self._cache: dict[str, tuple[float, tuple[str, Caller] | None]] = {}

    async def authenticate(self, secret: str) -> Caller:
        """The caller a key belongs to; GatewayError(UNAUTHENTICATED) otherwise."""
        if not secret:
            raise GatewayError(ErrorCode.UNAUTHENTICATED, "No API key provided.")
        digest = hash_key(secret)
        entry = self._static.get(digest) or await self._stored(digest)
        if entry is None or not hmac.compare_digest(entry[0], digest):
            raise GatewayError(ErrorCode.UNAUTHENTICATED, "Incorrect API key provided.")
        return entry[1]

    async def _stored(self, digest: str) -> tuple[str, Caller] | None:
        if self._store is None:
            return None
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = await self._store.find_key(digest)
        entry = None
        if record is not None and not record.revoked:
            entry = (record.key_sha256, caller_of(record))
        if len(self._cache) > 100_000:
            self._cache.clear()  # bound memory against floods of random keys
        self._cache[digest] = (now + (self._ttl if entry else self._negative_ttl), entry)
        return entry
