"""The usage store in SQLite: one file beside the state store (WAL mode), one connection used by one
worker thread, so that a batch's fsync never holds up the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..sqlite_wal import connect_wal
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

T = TypeVar("T")
# One statement inserts many rows and names those it inserted (a record already there is skipped).
_INSERT = f"INSERT OR IGNORE INTO usage_records ({', '.join(RECORD_COLUMNS)}) VALUES "
_ROW = f"({', '.join('?' * len(RECORD_COLUMNS))})"
_ROWS_PER_INSERT = 32_766 // len(RECORD_COLUMNS)  # SQLite's bound on one statement's parameters


class SQLiteUsageStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torouter-usage")
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = connect_wal(self.path, timeout_s=10, check_same_thread=False)
            db.executescript(SCHEMA_SQL)
            self._db = db
        return self._db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: work(self._connection()))

    async def write(self, records: Sequence[UsageRecord]) -> None:
        def work(db: sqlite3.Connection) -> None:
            with db:
                inserted: set[str] = set()
                for start in range(0, len(records), _ROWS_PER_INSERT):
                    part = records[start : start + _ROWS_PER_INSERT]
                    sql = _INSERT + ", ".join([_ROW] * len(part)) + " RETURNING id"
                    values = [value for r in part for value in stored_row(r)]
                    inserted.update(row[0] for row in db.execute(sql, values))
                db.executemany(UPSERT_ROLLUP_SQL, rollups(r for r in records if r.id in inserted))

        await self._run(work)

    async def summary(self, where: UsageFilter, by: GroupBy) -> Summary:
        sql, args = summary_sql(where, by)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return summary_of(rows, by)

    async def records(self, where: UsageFilter, after: Cursor | None, limit: int) -> list[UsageRecord]:
        sql, args = records_sql(where, after, limit)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [record_of(row) for row in rows]

    async def prune(self, before: float) -> int:
        def work(db: sqlite3.Connection) -> int:
            with db:
                return db.execute("DELETE FROM usage_records WHERE ts < ?", (before,)).rowcount

        return await self._run(work)

    async def close(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(work)
            self._db = None
        self._pool.shutdown(wait=True)
