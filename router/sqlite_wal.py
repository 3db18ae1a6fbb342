"""Opens a SQLite file in WAL mode, safely when several processes open it at once.

Switching a new file from the rollback journal to WAL needs its exclusive lock. When two processes
switch at the same moment, each holding the shared lock the other waits for, SQLite answers one of
them "database is locked" at once, without its busy handler (that wait could never end). So the
switch is retried here until the timeout: the other process finishes within milliseconds, and the
file is then in WAL mode for good (later opens find it so and take no exclusive lock).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_RETRY_FIRST_S = 0.002  # the first pause after a refused switch; doubled up to _RETRY_MOST_S
_RETRY_MOST_S = 0.05


def connect_wal(path: str, *, timeout_s: float, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to ``path`` (``:memory:`` allowed) in WAL mode with ``synchronous=NORMAL`` (durable
    across crashes, one fsync per checkpoint) and a busy timeout of ``timeout_s`` (``connect``'s own)."""
    target = path
    if path != ":memory:":
        file = Path(path).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        target = str(file)
    db = sqlite3.connect(target, timeout=timeout_s, check_same_thread=check_same_thread)
    try:
        _switch_to_wal(db, time.monotonic() + timeout_s)
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def _switch_to_wal(db: sqlite3.Connection, deadline: float) -> None:
    pause = _RETRY_FIRST_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            refused = "locked" in str(error) or "busy" in str(error)
            if not refused or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _RETRY_MOST_S)
