"""The usage store, on SQLite and on a real PostgreSQL: records and rollups written together (a batch
written twice counts once), summaries from the rollups (whole days) and from the raw rows (other
ranges) agreeing, newest-first pages with a cursor, retention that keeps the rollups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.postgres_server import PostgresServer, postgres_server
from support.usage import BASE, DAY, record
from torouter.router.account.records import UsageRecord
from torouter.router.account.store import Cursor, UsageFilter, UsageStore, all_records, open_usage_store


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageStore]:
    if request.param == "sqlite":
        opened = open_usage_store(f"sqlite:///{tmp_path / 'usage.db'}")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        opened = open_usage_store(server.url)
    try:
        yield opened
    finally:
        if request.param == "postgresql":  # one database for the module: start each test empty
            pool = await opened._connected()  # type: ignore[attr-defined]
            await pool.execute("TRUNCATE usage_records, usage_daily")
        await opened.close()


def three_days() -> list[UsageRecord]:
    """20 records a day over three days: two keys, two models, some failed, one model unpriced."""
    out = []
    for i in range(60):
        day, minute = divmod(i, 20)
        out.append(
            record(
                i,
                BASE + day * DAY + minute * 60,
                key="alice" if i % 3 else "bob",
                model="gpt-4o-mini" if i % 4 else "house-model",
                cost=0.001 if i % 4 else None,
            )
        )
    return out


async def test_records_come_back_as_written_newest_first(store: UsageStore) -> None:
    written = three_days()
    await store.write(written)
    found = await store.records(UsageFilter(BASE, BASE + 3 * DAY), None, 100)
    assert [r.id for r in found] == [r.id for r in sorted(written, key=lambda r: r.ts, reverse=True)]
    assert found[-1] == written[0]  # every field, the failed record's nulls and error too
    failed = next(r for r in found if r.status == 502)
    assert failed.input_tokens is None and failed.cost_usd is None and failed.error == "upstream_error"


async def test_a_batch_written_again_counts_once(store: UsageStore) -> None:
    batch = three_days()
    await store.write(batch)
    await store.write(batch[10:30])  # a retry after a lost acknowledgement
    where = UsageFilter(BASE, BASE + 3 * DAY)
    assert (await store.summary(where, "model")).totals.requests == 60
    assert len(await store.records(where, None, 1000)) == 60


async def test_summaries_from_rollups_and_from_raw_rows_agree(store: UsageStore) -> None:
    await store.write(three_days())
    whole = UsageFilter(BASE, BASE + 3 * DAY)  # whole days: the rollups
    partial = UsageFilter(BASE, BASE + 3 * DAY - 1)  # a second short: the raw rows
    assert whole.whole_days and not partial.whole_days
    for by in ("model", "key", "day", "group"):
        a, b = await store.summary(whole, by), await store.summary(partial, by)  # type: ignore[arg-type]
        assert [(label, t.as_json()) for label, t in a.rows] == [(label, t.as_json()) for label, t in b.rows]
    summary = await store.summary(whole, "model")
    totals = summary.totals
    assert totals.requests == 60 and totals.errors == 8
    ok = 52
    assert (totals.input_tokens, totals.output_tokens, totals.cache_read_tokens) == (
        100 * ok,
        50 * ok,
        20 * ok,
    )
    assert (totals.cache_write_tokens, totals.cache_write_5m_tokens, totals.cache_write_1h_tokens) == (
        10 * ok,
        4 * ok,
        6 * ok,
    )
    rows = dict(summary.rows)
    assert rows["house-model"].cost_usd is None and rows["house-model"].unpriced_requests > 0
    priced = rows["gpt-4o-mini"]
    assert priced.cost_usd == pytest.approx(0.001 * priced.priced_requests)
    assert totals.cost_usd == pytest.approx(priced.cost_usd)  # the unknown costs are not zeros
    days = await store.summary(whole, "day")
    assert [label for label, _ in days.rows] == ["2026-03-10", "2026-03-11", "2026-03-12"]


async def test_filters(store: UsageStore) -> None:
    await store.write(three_days())
    bob = await store.summary(UsageFilter(BASE, BASE + 3 * DAY, key="bob"), "key")
    assert [label for label, _ in bob.rows] == ["bob"] and bob.totals.requests == 20
    one_day = await store.summary(UsageFilter(BASE + DAY, BASE + 2 * DAY, model="gpt-4o-mini"), "model")
    assert one_day.totals.requests == 15
    records = await store.records(UsageFilter(BASE, BASE + DAY, key="alice", model="house-model"), None, 100)
    assert records and all(
        r.key == "alice" and r.model == "house-model" and r.ts < BASE + DAY for r in records
    )


async def test_pages_follow_the_cursor_without_gaps_or_repeats(store: UsageStore) -> None:
    written = three_days()
    same_time = [record(100 + i, BASE + 30, key="carol") for i in range(5)]  # equal times: ids break ties
    await store.write(written + same_time)
    where = UsageFilter(BASE, BASE + 3 * DAY)
    seen: list[str] = []
    after: Cursor | None = None
    while True:
        page = await store.records(where, after, 7)
        if not page:
            break
        seen += [r.id for r in page]
        after = Cursor.decode(Cursor(page[-1].ts, page[-1].id).encode())
    assert len(seen) == len(set(seen)) == 65
    pages = [r.id async for batch in all_records(store, where, page=9) for r in batch]
    assert pages == seen


async def test_retention_deletes_raw_rows_and_keeps_rollups(store: UsageStore) -> None:
    await store.write(three_days())
    removed = await store.prune(BASE + 2 * DAY)
    assert removed == 40
    whole = UsageFilter(BASE, BASE + 3 * DAY)
    assert len(await store.records(whole, None, 100)) == 20
    assert (await store.summary(whole, "model")).totals.requests == 60  # the rollups stay


def test_cursor_rejects_what_it_did_not_make() -> None:
    for text in ("", "abc", "bm90IGEgY3Vyc29y"):
        with pytest.raises(ValueError):
            Cursor.decode(text)
    assert Cursor.decode(Cursor(1.5, "x|y").encode()) == Cursor(1.5, "x|y")
