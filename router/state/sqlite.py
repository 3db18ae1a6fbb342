"""The embedded SQLite state store (WAL mode, so the CLI and a running router can share it).

One router keeps a key's sliding request windows and its rpm/tpm counters in memory, exact, and
writes the admitted requests behind (a restart reads them back). Several routers on one file
(``torouter up --workers N``: the store is ``shared``) count in the file instead: each admission is
one write transaction (``BEGIN IMMEDIATE``) in which a router first reads what the others admitted
since it last looked (by the key's sequence number), then decides and records its own; counters
are one upsert each. Only keys with those limits pay for it.
"""

from __future__ import annotations

import sqlite3
import time

import orjson

from ..key_rules import WINDOWS, KeyRules, parse_rules
from ..sqlite_wal import connect_wal
from . import DuplicateKeyName, KeyRecord, RequestLog, StoredResponse, WindowCounters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL UNIQUE,
    grp TEXT NOT NULL,
    rpm INTEGER,
    tpm INTEGER,
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    upstream TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
CREATE TABLE IF NOT EXISTS memos (
    id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS memos_expiry ON memos (expires_at);
CREATE TABLE IF NOT EXISTS key_requests (
    name TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS key_requests_by_key ON key_requests (name, ts);
CREATE TABLE IF NOT EXISTS key_spend (
    name TEXT PRIMARY KEY,
    usd REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS key_request_seq (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_windows (
    counter TEXT NOT NULL,
    win INTEGER NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (counter, win)
);
"""
# columns added since the first release (a store made before them is upgraded when opened)
_ADDED_COLUMNS = (
    ("keys", "rules", "TEXT NOT NULL DEFAULT '{}'"),
    ("keys", "hint", "TEXT NOT NULL DEFAULT ''"),
    ("key_requests", "seq", "INTEGER"),  # a key's admissions in order, when routers share the file
)
_LONGEST_WINDOW_S = max(WINDOWS.values())
_WRITE_BEHIND = 64  # admitted requests batched into one write
_RESPONSE_COLUMNS = "id, grp, upstream, created_at, expires_at, data"
_PRUNE_EVERY = 500  # stored responses (or memo writes) between two sweeps of the expired ones
_MEMO_BATCH = 500  # ids per query (SQLite bounds the parameters of one statement)
_COLUMNS = "name, key_sha256, grp, rpm, tpm, created_at, revoked, rules, hint"


def _record(row: tuple[str, str, str, int | None, int | None, float, int, str, str]) -> KeyRecord:
    rules = parse_rules(orjson.loads(row[7])) if row[7] and row[7] != "{}" else KeyRules()
    return KeyRecord(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), rules, row[8])


def _rules_json(rules: KeyRules) -> str:
    return orjson.dumps(rules.to_json()).decode()


class SQLiteStore(WindowCounters):
    """Queries are single-row lookups on indexed columns: they run inline (microseconds)."""

    def __init__(self, path: str, *, shared: bool = False) -> None:
        super().__init__()
        self.shared = shared
        self._db = connect_wal(path, timeout_s=5)
        self._db.executescript(_SCHEMA)
        self._upgrade()
        self._puts = 0
        self._requests = RequestLog()  # the windows in memory, written behind to key_requests
        self._admitted = 0
        self._unwritten: list[tuple[str, float]] = []  # admitted requests not yet in key_requests
        self._written_at = time.monotonic()
        self._seen: dict[str, int] = {}  # shared: each key's sequence number as last read
        self._counted = 0  # shared: counter updates since the last sweep of old windows

    def _upgrade(self) -> None:
        """Adds the columns a store made by an earlier version lacks (several routers may open it
        at once: a column another one added meanwhile is fine)."""
        for table, column, declaration in _ADDED_COLUMNS:
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                try:
                    with self._db:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                except sqlite3.OperationalError as error:
                    if "duplicate column" not in str(error):
                        raise
        with self._db:
            self._db.execute("CREATE INDEX IF NOT EXISTS key_requests_by_seq ON key_requests (name, seq)")

    async def find_key(self, key_sha256: str) -> KeyRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM keys WHERE key_sha256 = ?", (key_sha256,)).fetchone()
        return _record(row) if row else None

    async def create_key(self, record: KeyRecord) -> None:
        try:
            with self._db:
                self._db.execute(
                    f"INSERT INTO keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.name,
                        record.key_sha256,
                        record.group,
                        record.rpm,
                        record.tpm,
                        record.created_at,
                        int(record.revoked),
                        _rules_json(record.rules),
                        record.hint,
                    ),
                )
        except sqlite3.IntegrityError:
            raise DuplicateKeyName(record.name) from None

    async def list_keys(self) -> list[KeyRecord]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM keys ORDER BY created_at").fetchall()
        return [_record(row) for row in rows]

    async def key_named(self, name: str) -> KeyRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM keys WHERE name = ?", (name,)).fetchone()
        return _record(row) if row else None

    async def update_key(self, record: KeyRecord) -> bool:
        with self._db:
            cursor = self._db.execute(
                "UPDATE keys SET rpm = ?, tpm = ?, rules = ? WHERE name = ?",
                (record.rpm, record.tpm, _rules_json(record.rules), record.name),
            )
        return cursor.rowcount > 0

    async def add_usage(self, counter: str, window: int, amount: int) -> int:
        if not self.shared:
            return await super().add_usage(counter, window, amount)
        if amount == 0:
            row = self._db.execute(
                "SELECT total FROM usage_windows WHERE counter = ? AND win = ?", (counter, window)
            ).fetchone()
            return int(row[0]) if row else 0
        with self._db:
            self._counted += 1
            if self._counted >= _PRUNE_EVERY:  # windows over a minute ago are done with
                self._counted = 0
                self._db.execute("DELETE FROM usage_windows WHERE win < ?", (window - 1,))
            row = self._db.execute(
                "INSERT INTO usage_windows (counter, win, total) VALUES (?, ?, ?) "
                "ON CONFLICT (counter, win) DO UPDATE SET total = total + excluded.total RETURNING total",
                (counter, window, amount),
            ).fetchone()
        return int(row[0])

    async def admit_request(self, name: str, now: float, windows: tuple[tuple[int, int], ...]) -> float:
        if self.shared:
            return self._admit_shared(name, now, windows)
        if not self._requests.loaded(name):  # after a restart: the windows as they were
            rows = self._db.execute(
                "SELECT ts FROM key_requests WHERE name = ? AND ts > ?", (name, now - _LONGEST_WINDOW_S)
            ).fetchall()
            self._requests.load(name, [row[0] for row in rows])
        wait = self._requests.admit(name, now, windows)
        if wait == 0:
            self._unwritten.append((name, now))
            if len(self._unwritten) >= _WRITE_BEHIND or time.monotonic() - self._written_at > 1.0:
                self._write_requests()
        return wait

    def _admit_shared(self, name: str, now: float, windows: tuple[tuple[int, int], ...]) -> float:
        """One write transaction: catch up with the other routers' admissions, decide, record."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # the file's write lock: one admission at a time
        try:
            row = db.execute("SELECT seq FROM key_request_seq WHERE name = ?", (name,)).fetchone()
            seq = int(row[0]) if row else 0
            seen = self._seen.get(name)
            if seen is None or seq < seen:  # first look (or a file replaced under us): all of it
                rows = db.execute(
                    "SELECT ts FROM key_requests WHERE name = ? AND ts > ?", (name, now - _LONGEST_WINDOW_S)
                ).fetchall()
                self._requests.load(name, [r[0] for r in rows])
            elif seq > seen:
                rows = db.execute(
                    "SELECT ts FROM key_requests WHERE name = ? AND seq > ?", (name, seen)
                ).fetchall()
                self._requests.add(name, [r[0] for r in rows])
            wait = self._requests.admit(name, now, windows)
            if wait == 0:
                seq += 1
                self._admitted += 1
                if self._admitted >= _PRUNE_EVERY:
                    self._admitted = 0
                    db.execute("DELETE FROM key_requests WHERE ts <= ?", (now - _LONGEST_WINDOW_S,))
                db.execute("INSERT INTO key_requests (name, ts, seq) VALUES (?, ?, ?)", (name, now, seq))
                db.execute(
                    "INSERT INTO key_request_seq (name, seq) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
                    (name, seq),
                )
            db.commit()
        except BaseException:
            db.rollback()
            self._seen.pop(name, None)  # what memory holds of it is unsure now: read it all next time
            raise
        self._seen[name] = seq
        return wait

    def _write_requests(self) -> None:
        """Batches the admitted requests into key_requests (at most a second or 64 requests behind:
        the windows in memory are exact; the table brings them back after a restart)."""
        self._admitted += len(self._unwritten)
        with self._db:
            if self._admitted >= _PRUNE_EVERY:
                self._admitted = 0
                self._db.execute("DELETE FROM key_requests WHERE ts <= ?", (time.time() - _LONGEST_WINDOW_S,))
            self._db.executemany("INSERT INTO key_requests (name, ts) VALUES (?, ?)", self._unwritten)
        self._unwritten.clear()
        self._written_at = time.monotonic()

    async def add_spend(self, name: str, usd: float) -> float:
        with self._db:
            row = self._db.execute(
                "INSERT INTO key_spend (name, usd) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET usd = usd + excluded.usd RETURNING usd",
                (name, usd),
            ).fetchone()
        return float(row[0])

    async def spend(self, name: str) -> float:
        row = self._db.execute("SELECT usd FROM key_spend WHERE name = ?", (name,)).fetchone()
        return float(row[0]) if row else 0.0

    async def revoke_key(self, name: str) -> bool:
        with self._db:
            cursor = self._db.execute("UPDATE keys SET revoked = 1 WHERE name = ?", (name,))
        return cursor.rowcount > 0

    async def put_response(self, record: StoredResponse) -> None:
        self._puts += 1
        with self._db:
            if self._puts % _PRUNE_EVERY == 0:
                self._db.execute("DELETE FROM responses WHERE expires_at <= ?", (time.time(),))
            self._db.execute(
                f"INSERT OR REPLACE INTO responses ({_RESPONSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.group,
                    record.upstream,
                    record.created_at,
                    record.expires_at,
                    record.data,
                ),
            )

    async def get_response(self, response_id: str) -> StoredResponse | None:
        row = self._db.execute(
            f"SELECT {_RESPONSE_COLUMNS} FROM responses WHERE id = ? AND expires_at > ?",
            (response_id, time.time()),
        ).fetchone()
        if row is None:
            return None
        return StoredResponse(row[0], row[1], row[3], row[2], bytes(row[5]), row[4])

    async def delete_response(self, response_id: str) -> bool:
        with self._db:
            cursor = self._db.execute(
                "DELETE FROM responses WHERE id = ? AND expires_at > ?", (response_id, time.time())
            )
        return cursor.rowcount > 0

    async def put_memos(self, memos: dict[str, bytes], expires_at: float) -> None:
        self._puts += 1
        with self._db:
            if self._puts % _PRUNE_EVERY == 0:
                self._db.execute("DELETE FROM memos WHERE expires_at <= ?", (time.time(),))
            self._db.executemany(
                "INSERT OR REPLACE INTO memos (id, expires_at, data) VALUES (?, ?, ?)",
                [(memo_id, expires_at, data) for memo_id, data in memos.items()],
            )

    async def get_memos(self, ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        now = time.time()
        for start in range(0, len(ids), _MEMO_BATCH):
            batch = ids[start : start + _MEMO_BATCH]
            marks = ", ".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT id, data FROM memos WHERE id IN ({marks}) AND expires_at > ?", (*batch, now)
            ).fetchall()
            found.update((row[0], bytes(row[1])) for row in rows)
        return found

    async def close(self) -> None:
        if self._unwritten:
            self._write_requests()
        self._db.close()
