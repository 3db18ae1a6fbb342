"""Caller keys: static ones from the config, created ones from the state store, cached in memory.

Keys are only ever held as SHA-256 digests. A created or revoked key takes effect within the
cache's time-to-live, without restarting the router.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from ..config import KeyConfig, hash_key
from ..errors import ErrorCode, GatewayError
from ..state import StateStore


@dataclass(slots=True, frozen=True)
class Caller:
    """Who is calling: the key's name (never its secret), group and limits."""

    name: str
    group: str
    rpm: int | None = None
    tpm: int | None = None


class KeyRing:
    def __init__(
        self,
        static: tuple[KeyConfig, ...],
        store: StateStore | None,
        *,
        ttl_s: float = 5.0,
        negative_ttl_s: float = 1.0,
    ) -> None:
        self._static = {k.key_sha256: (k.key_sha256, Caller(k.name, k.group, k.rpm, k.tpm)) for k in static}
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
            entry = (record.key_sha256, Caller(record.name, record.group, record.rpm, record.tpm))
        if len(self._cache) > 100_000:
            self._cache.clear()  # bound memory against floods of random keys
        self._cache[digest] = (now + (self._ttl if entry else self._negative_ttl), entry)
        return entry
