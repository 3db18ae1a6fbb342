"""The Redis state store, shared by several router replicas.

Layout: ``torouter:key:<sha256>`` is a hash per key; ``torouter:keyname:<name>`` points at its
digest; the set ``torouter:keys`` holds every digest (for listing); ``torouter:response:<id>`` is
a hash per stored response, and ``torouter:memo:<id>`` a string per memo, both expiring on their
own. ``torouter:requests:<name>`` is a sorted set of a key's request times (its sliding windows,
checked and counted by one Lua script), ``torouter:spend:<name>`` its total spend.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from ..key_rules import KeyRules, parse_rules
from . import DuplicateKeyName, KeyRecord, StoredResponse

PREFIX = "torouter:"

# KEYS[1]: the key's request times; ARGV: now (ms), a unique member, the longest window (ms), then
# (window ms, limit) pairs. Returns 0 (counted) or the ms until every window has room (not counted).
_ADMIT_REQUEST = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local wait = 0
for i = 4, #ARGV, 2 do
  local span = tonumber(ARGV[i])
  local limit = tonumber(ARGV[i + 1])
  local floor = '(' .. (now - span)
  local inside = redis.call('ZCOUNT', KEYS[1], floor, '+inf')
  if inside >= limit then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], floor, '+inf',
                              'WITHSCORES', 'LIMIT', inside - limit, 1)
    wait = math.max(wait, tonumber(oldest[2]) + span - now)
  end
end
if wait > 0 then return wait end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 0
"""


def _record(fields: dict[str, str]) -> KeyRecord:
    return KeyRecord(
        name=fields["name"],
        key_sha256=fields["key_sha256"],
        group=fields["group"],
        rpm=int(fields["rpm"]) if fields.get("rpm") else None,
        tpm=int(fields["tpm"]) if fields.get("tpm") else None,
        created_at=float(fields.get("created_at", 0)),
        revoked=fields.get("revoked") == "1",
        rules=parse_rules(orjson.loads(fields["rules"])) if fields.get("rules") else KeyRules(),
        hint=fields.get("hint", ""),
    )


def _limit(value: int | None) -> str:
    return "" if value is None else str(value)


class RedisStore:
    def __init__(self, url: str) -> None:
        self._redis: Any = aioredis.from_url(url, decode_responses=True)
        # stored responses carry JSON bytes: read back undecoded
        self._raw: Any = aioredis.from_url(url, decode_responses=False)
        self._admit: Any = self._redis.register_script(_ADMIT_REQUEST)

    async def find_key(self, key_sha256: str) -> KeyRecord | None:
        fields = await self._redis.hgetall(f"{PREFIX}key:{key_sha256}")
        return _record(fields) if fields else None

    async def create_key(self, record: KeyRecord) -> None:
        claimed = await self._redis.set(f"{PREFIX}keyname:{record.name}", record.key_sha256, nx=True)
        if not claimed:
            raise DuplicateKeyName(record.name)
        fields = {
            "name": record.name,
            "key_sha256": record.key_sha256,
            "group": record.group,
            "rpm": _limit(record.rpm),
            "tpm": _limit(record.tpm),
            "created_at": repr(record.created_at),
            "revoked": "1" if record.revoked else "0",
            "rules": orjson.dumps(record.rules.to_json()).decode(),
            "hint": record.hint,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{PREFIX}key:{record.key_sha256}", mapping=fields)
            pipe.sadd(f"{PREFIX}keys", record.key_sha256)
            await pipe.execute()

    async def list_keys(self) -> list[KeyRecord]:
        digests = await self._redis.smembers(f"{PREFIX}keys")
        records = [await self.find_key(digest) for digest in digests]
        return sorted((r for r in records if r is not None), key=lambda r: r.created_at)

    async def key_named(self, name: str) -> KeyRecord | None:
        digest = await self._redis.get(f"{PREFIX}keyname:{name}")
        return None if digest is None else await self.find_key(digest)

    async def update_key(self, record: KeyRecord) -> bool:
        digest = await self._redis.get(f"{PREFIX}keyname:{record.name}")
        if digest is None:
            return False
        fields = {
            "rpm": _limit(record.rpm),
            "tpm": _limit(record.tpm),
            "rules": orjson.dumps(record.rules.to_json()).decode(),
        }
        await self._redis.hset(f"{PREFIX}key:{digest}", mapping=fields)
        return True

    async def admit_request(self, name: str, now: float, windows: tuple[tuple[int, int], ...]) -> float:
        now_ms = int(now * 1000)
        spans = [(seconds * 1000, limit) for seconds, limit in windows]
        args: list[int | str] = [now_ms, f"{now_ms}-{os.urandom(6).hex()}", max(s for s, _ in spans)]
        for span, limit in spans:
            args += [span, limit]
        wait_ms = await self._admit(keys=[f"{PREFIX}requests:{name}"], args=args)
        return int(wait_ms) / 1000

    async def add_spend(self, name: str, usd: float) -> float:
        return float(await self._redis.incrbyfloat(f"{PREFIX}spend:{name}", usd))

    async def spend(self, name: str) -> float:
        value = await self._redis.get(f"{PREFIX}spend:{name}")
        return float(value) if value else 0.0

    async def revoke_key(self, name: str) -> bool:
        digest = await self._redis.get(f"{PREFIX}keyname:{name}")
        if digest is None:
            return False
        await self._redis.hset(f"{PREFIX}key:{digest}", "revoked", "1")
        return True

    async def add_usage(self, counter: str, window: int, amount: int) -> int:
        key = f"{PREFIX}usage:{counter}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, amount)
            pipe.expire(key, 180)
            total, _ = await pipe.execute()
        return int(total)

    async def put_response(self, record: StoredResponse) -> None:
        ttl = math.ceil(record.expires_at - time.time())
        if ttl <= 0:
            return
        key = f"{PREFIX}response:{record.id}"
        fields = {
            "group": record.group,
            "upstream": record.upstream or "",
            "created_at": repr(record.created_at),
            "expires_at": repr(record.expires_at),
            "data": record.data,
        }
        async with self._raw.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl)
            await pipe.execute()

    async def get_response(self, response_id: str) -> StoredResponse | None:
        fields = await self._raw.hgetall(f"{PREFIX}response:{response_id}")
        if not fields:
            return None
        upstream = fields[b"upstream"].decode()
        return StoredResponse(
            id=response_id,
            group=fields[b"group"].decode(),
            created_at=float(fields[b"created_at"]),
            upstream=upstream or None,
            data=fields[b"data"],
            expires_at=float(fields[b"expires_at"]),
        )

    async def delete_response(self, response_id: str) -> bool:
        return bool(await self._redis.delete(f"{PREFIX}response:{response_id}"))

    async def put_memos(self, memos: dict[str, bytes], expires_at: float) -> None:
        ttl = math.ceil(expires_at - time.time())
        if ttl <= 0 or not memos:
            return
        async with self._raw.pipeline(transaction=False) as pipe:
            for memo_id, data in memos.items():
                pipe.set(f"{PREFIX}memo:{memo_id}", data, ex=ttl)
            await pipe.execute()

    async def get_memos(self, ids: list[str]) -> dict[str, bytes]:
        if not ids:
            return {}
        values = await self._raw.mget([f"{PREFIX}memo:{memo_id}" for memo_id in ids])
        return {memo_id: value for memo_id, value in zip(ids, values, strict=True) if value is not None}

    async def close(self) -> None:
        await self._redis.aclose()
        await self._raw.aclose()
