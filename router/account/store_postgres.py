"""The usage store in PostgreSQL, through asyncpg (a small pool, opened on first use and again after
the server went away). Several routers may write at once: the rollups are upserts, and a batch's
rollups sum only the rows that batch inserted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg

from .records import UsageRecord
from .store import (
    RECORD_COLUMNS,
    SCHEMA_SQL,
    UPSERT_ROLLUP_SQL,
    Cursor,
    GroupBy,
    Summary,
    UsageFilter,
    record_of,
    records_sql,
    rollups,
    stored_row,
    summary_of,
    summary_sql,
)

_SCHEMA_LOCK = 0x746F_7275  # an advisory lock: routers starting together create the tables once
_TYPES = {
    "ts": "float8",
    "status": "int4",
    "stream": "bool",
    "cost_usd": "float8",
    "latency_ms": "float8",
    "ttfb_ms": "float8",
}
_INSERT = (
    f"INSERT INTO usage_records ({', '.join(RECORD_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(
        f"${i}::{_TYPES.get(c, 'int8' if c.endswith('_tokens') else 'text')}[]"
        for i, c in enumerate(RECORD_COLUMNS, start=1)
    )
    + ") ON CONFLICT (id) DO NOTHING RETURNING id"
)


def numbered(sql: str) -> str:
    """``?`` placeholders as asyncpg's ``$1``, ``$2``, …"""
    count = 0

    def next_mark(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", next_mark, sql)


_UPSERT = numbered(UPSERT_ROLLUP_SQL)


class PostgresUsageStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def _connected(self) -> Any:
        if self._pool is None:
            pool = await asyncpg.create_pool(self.url, min_size=0, max_size=4, command_timeout=30, timeout=5)
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
                    await conn.execute(SCHEMA_SQL)
            except BaseException:
                await pool.close()
                raise
            self._pool = pool
        return self._pool

    async def write(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        pool = await self._connected()
        rows = [stored_row(r) for r in records]
        columns = [list(values) for values in zip(*rows, strict=True)]
        async with pool.acquire() as conn, conn.transaction():
            inserted = {row["id"] for row in await conn.fetch(_INSERT, *columns)}
            increments = rollups(r for r in records if r.id in inserted)
            if increments:
                await conn.executemany(_UPSERT, increments)

    async def summary(self, where: UsageFilter, by: GroupBy) -> Summary:
        sql, args = summary_sql(where, by)
        pool = await self._connected()
        return summary_of(await pool.fetch(numbered(sql), *args), by)

    async def records(self, where: UsageFilter, after: Cursor | None, limit: int) -> list[UsageRecord]:
        sql, args = records_sql(where, after, limit)
        pool = await self._connected()
        return [record_of(tuple(row)) for row in await pool.fetch(numbered(sql), *args)]

    async def prune(self, before: float) -> int:
        pool = await self._connected()
        status = await pool.execute("DELETE FROM usage_records WHERE ts < $1", before)
        return int(str(status).rsplit(" ", 1)[-1])

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
