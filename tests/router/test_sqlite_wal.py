"""Opening a SQLite file in WAL mode while another process holds it (several routers of
``torouter up --workers N`` open one fresh file at the same moment)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from torouter.router.account.store_sqlite import SQLiteUsageStore
from torouter.router.sqlite_wal import connect_wal
from torouter.router.state.sqlite import SQLiteStore


def _writer_holding(path: Path) -> sqlite3.Connection:
    """A connection in the rollback journal holding the file's write lock: a WAL switch made now is
    refused at once ("database is locked"), without the busy handler, as in a start-up race."""
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    return writer


def _journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        db.close()


def test_the_switch_is_refused_without_waiting_when_not_retried(tmp_path: Path) -> None:
    """The case the retry exists for: SQLite's own busy timeout does not cover it."""
    writer = _writer_holding(tmp_path / "s.db")
    plain = sqlite3.connect(tmp_path / "s.db", timeout=5)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        plain.execute("PRAGMA journal_mode=WAL")
    assert time.monotonic() - started < 1
    plain.close()
    writer.close()


def test_the_switch_waits_for_the_other_process(tmp_path: Path) -> None:
    writer = _writer_holding(tmp_path / "s.db")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    db = connect_wal(str(tmp_path / "s.db"), timeout_s=5)
    assert time.monotonic() - started >= 0.25
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)]  # the other's write is kept
    db.close()
    writer.close()
    assert _journal_mode(tmp_path / "s.db") == "wal"


def test_the_switch_gives_up_at_the_timeout(tmp_path: Path) -> None:
    writer = _writer_holding(tmp_path / "s.db")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        connect_wal(str(tmp_path / "s.db"), timeout_s=0.4)
    assert 0.3 <= time.monotonic() - started < 2
    writer.close()


def _open_state(path: Path) -> None:
    asyncio.run(SQLiteStore(str(path), shared=True).close())


def _open_usage(path: Path) -> None:
    async def main() -> None:
        store = SQLiteUsageStore(str(path))
        await store.write([])
        await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("open_store", "table"), [(_open_state, "keys"), (_open_usage, "usage_records")], ids=["state", "usage"]
)
def test_both_stores_open_while_another_holds_the_file(
    tmp_path: Path, open_store: Callable[[Path], None], table: str
) -> None:
    path = tmp_path / "s.db"
    writer = _writer_holding(path)
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    open_store(path)
    writer.close()
    assert _journal_mode(path) == "wal"
    db = sqlite3.connect(path)
    assert table in {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()


def test_a_memory_database_opens() -> None:
    db = connect_wal(":memory:", timeout_s=1)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
    db.close()
