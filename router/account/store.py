"""The usage store: per-request records and their daily rollups, in a real database.

SQLite (one host; the default, beside the state store) or PostgreSQL (several routers writing);
both behind :class:`UsageStore`, with the same tables:

- ``usage_records``: one row per request (:class:`~.records.UsageRecord`), kept
  ``usage.retention_days``;
- ``usage_daily``: per UTC day × key × group × model, the sums (requests, tokens by kind, cost, and
  how many requests had no known price). Written in the same transaction as the rows they sum, and
  only for rows actually inserted (a batch written again after a lost acknowledgement counts once).

Ranges given as whole UTC days are answered from the rollups (fast at millions of rows, and beyond
the retention of the raw rows); other ranges from the raw rows.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from .records import COLUMNS, UsageRecord

GroupBy = Literal["model", "key", "day", "group"]
GROUP_COLUMNS: dict[str, str] = {"model": "model", "key": "key", "day": "day", "group": "grp"}

# the record's fields as stored (``group`` is a reserved word in SQL)
STORED_COLUMNS: tuple[str, ...] = tuple("grp" if c == "group" else c for c in COLUMNS)
ROLLUP_SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)


@dataclass(slots=True, frozen=True)
class UsageFilter:
    """Records with ``start <= ts < end`` (unix seconds), and the given key, model and group."""

    start: float
    end: float
    key: str | None = None
    model: str | None = None  # as served
    group: str | None = None

    @property
    def whole_days(self) -> bool:
        return self.start % 86_400 == 0 and self.end % 86_400 == 0

    @property
    def first_day(self) -> str:
        return _day(self.start)

    @property
    def last_day(self) -> str:
        return _day(self.end - 86_400)


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


@dataclass(slots=True)
class Totals:
    """Sums over records. ``cost_usd`` sums the known costs; it is None (unknown) when requests used
    tokens and none of them had a known price (``unpriced_requests`` says how many had none)."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    cost_sum: float = 0.0
    priced_requests: int = 0
    unpriced_requests: int = 0

    @property
    def cost_usd(self) -> float | None:
        if self.priced_requests == 0 and self.unpriced_requests > 0:
            return None
        return round(self.cost_sum, 10)

    def add(self, other: Totals) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SHOWN}
        out["cost_usd"] = self.cost_usd
        out["unpriced_requests"] = self.unpriced_requests
        return out


_SUMMED = tuple(f for f in Totals.__dataclass_fields__)
_SHOWN = ("requests", "errors", *ROLLUP_SUMS)


@dataclass(slots=True)
class Summary:
    totals: Totals
    rows: list[tuple[str, Totals]] = field(default_factory=list)  # (model, key, day or group, sums)


@dataclass(slots=True, frozen=True)
class Cursor:
    """Where a page of records ended: the last record's time and id (records go newest first)."""

    ts: float
    id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.ts!r}|{self.id}".encode()).decode().rstrip("=")

    @staticmethod
    def decode(text: str) -> Cursor:
        """Raises ValueError on anything but a cursor this store gave out."""
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        ts, sep, record_id = raw.partition("|")
        if not sep or not record_id:
            raise ValueError("not a cursor")
        return Cursor(float(ts), record_id)


class UsageStore(Protocol):
    async def write(self, records: Sequence[UsageRecord]) -> None:
        """Stores records (a record already stored is skipped) and adds them to the rollups, in one
        transaction. Raises when the database cannot be reached: the caller keeps them and retries."""
        ...

    async def summary(self, where: UsageFilter, by: GroupBy) -> Summary:
        """Totals of the range and one row per ``by`` value (largest cost first)."""
        ...

    async def records(self, where: UsageFilter, after: Cursor | None, limit: int) -> list[UsageRecord]:
        """Records of the range, newest first, after ``after``."""
        ...

    async def prune(self, before: float) -> int:
        """Deletes records older than ``before`` (their rollups stay); how many went."""
        ...

    async def close(self) -> None: ...


async def all_records(
    store: UsageStore, where: UsageFilter, page: int = 1000
) -> AsyncIterator[list[UsageRecord]]:
    """Every record of the range, newest first, a page at a time (the CSV export: never all in memory)."""
    after: Cursor | None = None
    while True:
        batch = await store.records(where, after, page)
        if not batch:
            return
        yield batch
        if len(batch) < page:
            return
        after = Cursor(batch[-1].ts, batch[-1].id)


# ---------------------------------------------------------------------------- shared SQL

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS usage_records (
    id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    day TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key TEXT NOT NULL,
    grp TEXT NOT NULL,
    protocol TEXT NOT NULL,
    operation TEXT NOT NULL,
    model_requested TEXT NOT NULL,
    model TEXT NOT NULL,
    upstream TEXT NOT NULL,
    upstream_kind TEXT NOT NULL,
    status INTEGER NOT NULL,
    stream BOOLEAN NOT NULL,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_tokens BIGINT,
    cache_write_5m_tokens BIGINT,
    cache_write_1h_tokens BIGINT,
    reasoning_tokens BIGINT,
    cost_usd DOUBLE PRECISION,
    cost_source TEXT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    ttfb_ms DOUBLE PRECISION,
    error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_records_ts ON usage_records (ts, id);
CREATE INDEX IF NOT EXISTS usage_records_key_ts ON usage_records (key, ts);
CREATE TABLE IF NOT EXISTS usage_daily (
    day TEXT NOT NULL,
    key TEXT NOT NULL,
    grp TEXT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    priced_requests BIGINT NOT NULL,
    unpriced_requests BIGINT NOT NULL,
    PRIMARY KEY (day, key, grp, model)
);
CREATE INDEX IF NOT EXISTS usage_daily_day ON usage_daily (day);
"""

RECORD_COLUMNS = ("id", "ts", "day", *STORED_COLUMNS[2:])  # the row: id, ts, then its day
ROLLUP_COLUMNS = (
    "day",
    "key",
    "grp",
    "model",
    "requests",
    "errors",
    *ROLLUP_SUMS,
    "cost_usd",
    "priced_requests",
    "unpriced_requests",
)
UPSERT_ROLLUP_SQL = (
    f"INSERT INTO usage_daily ({', '.join(ROLLUP_COLUMNS)}) VALUES ({', '.join('?' * len(ROLLUP_COLUMNS))}) "
    "ON CONFLICT (day, key, grp, model) DO UPDATE SET "
    + ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in ROLLUP_COLUMNS[4:])
)


def stored_row(record: UsageRecord) -> tuple[Any, ...]:
    row = record.row()
    return (row[0], row[1], record.day, *row[2:])


def record_of(row: Sequence[Any]) -> UsageRecord:
    values = list(row)
    del values[2]  # the day
    values[COLUMNS.index("stream")] = bool(values[COLUMNS.index("stream")])
    return UsageRecord(*values)


def rollups(records: Iterable[UsageRecord]) -> list[tuple[Any, ...]]:
    """The increments of ``usage_daily`` for these records, one per day, key, group and model."""
    sums: dict[tuple[str, str, str, str], list[Any]] = {}
    for r in records:
        at = (r.day, r.key, r.group, r.model)
        entry = sums.get(at)
        if entry is None:
            entry = sums[at] = [0] * (len(ROLLUP_COLUMNS) - 4)
            entry[-3] = 0.0
        entry[0] += 1
        entry[1] += 1 if r.status >= 400 or r.error else 0
        for i, name in enumerate(ROLLUP_SUMS, start=2):
            entry[i] += getattr(r, name) or 0
        if r.cost_usd is not None:
            entry[-3] += r.cost_usd
            entry[-2] += 1
        elif r.input_tokens is not None:
            entry[-1] += 1
    return [(*k, *v) for k, v in sums.items()]


def where_sql(where: UsageFilter, rollup: bool) -> tuple[str, list[Any]]:
    args: list[Any]
    if rollup:
        clauses, args = ["day >= ?", "day <= ?"], [where.first_day, where.last_day]
    else:
        clauses, args = ["ts >= ?", "ts < ?"], [where.start, where.end]
    for column, value in (("key", where.key), ("model", where.model), ("grp", where.group)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), args


def summary_sql(where: UsageFilter, by: GroupBy) -> tuple[str, list[Any]]:
    column = GROUP_COLUMNS[by]
    rollup = where.whole_days
    condition, args = where_sql(where, rollup)
    if rollup:
        sums = ", ".join(
            f"SUM({c})" for c in ("requests", "errors", *ROLLUP_SUMS, "cost_usd", "priced_requests")
        )
        sql = f"SELECT {column}, {sums}, SUM(unpriced_requests) FROM usage_daily"
    else:
        sums = ", ".join(f"COALESCE(SUM({c}), 0)" for c in ROLLUP_SUMS)
        sql = (
            f"SELECT {column}, COUNT(*), "
            "SUM(CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END), "
            f"{sums}, COALESCE(SUM(cost_usd), 0), COUNT(cost_usd), "
            "SUM(CASE WHEN cost_usd IS NULL AND input_tokens IS NOT NULL THEN 1 ELSE 0 END) "
            "FROM usage_records"
        )
    return f"{sql} WHERE {condition} GROUP BY {column}", args


def summary_of(rows: Iterable[Sequence[Any]], by: GroupBy) -> Summary:
    summary = Summary(Totals())
    for row in rows:
        values = [int(v or 0) for v in row[1:]]
        totals = Totals(values[0], values[1], *values[2 : 2 + len(ROLLUP_SUMS)])
        totals.cost_sum, totals.priced_requests, totals.unpriced_requests = (
            float(row[-3] or 0.0),
            values[-2],
            values[-1],
        )
        summary.totals.add(totals)
        summary.rows.append((str(row[0]), totals))
    if by == "day":
        summary.rows.sort(key=lambda r: r[0])
    else:
        summary.rows.sort(key=lambda r: (-(r[1].cost_usd or 0.0), -r[1].requests, r[0]))
    return summary


def records_sql(where: UsageFilter, after: Cursor | None, limit: int) -> tuple[str, list[Any]]:
    condition, args = where_sql(where, rollup=False)
    if after is not None:
        condition += " AND (ts < ? OR (ts = ? AND id < ?))"
        args += [after.ts, after.ts, after.id]
    sql = (
        f"SELECT {', '.join(RECORD_COLUMNS)} FROM usage_records WHERE {condition} "
        "ORDER BY ts DESC, id DESC LIMIT ?"
    )
    return sql, [*args, limit]


# ---------------------------------------------------------------------------- opening one


def default_url(state_url: str) -> str:
    """Beside a SQLite state store (same directory); ``./torouter-usage.db`` beside any other."""
    if state_url.startswith("sqlite://"):
        from ..state import sqlite_path

        path = sqlite_path(state_url)
        if path != ":memory:":
            return f"sqlite:///{Path(path).expanduser().parent / 'torouter-usage.db'}"
        return "sqlite://:memory:"
    if state_url.startswith("memory://"):
        return "sqlite://:memory:"
    return "sqlite:///./torouter-usage.db"


def open_usage_store(url: str) -> UsageStore:
    """The store a ``router.usage`` URL names (``off`` is handled by the caller)."""
    if url.startswith("sqlite://"):
        from .store_sqlite import SQLiteUsageStore

        path = url.removeprefix("sqlite://")
        return SQLiteUsageStore(path[1:] if path.startswith("/") else path)
    if url.startswith(("postgresql://", "postgres://")):
        from .store_postgres import PostgresUsageStore

        return PostgresUsageStore(url)
    raise ValueError(f"unsupported usage store {url.split(':', 1)[0]!r} (use sqlite:// or postgresql://)")
