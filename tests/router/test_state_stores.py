from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from support.redis_server import redis_server
from torouter.router.key_rules import parse_rules
from torouter.router.state import (
    DuplicateKeyName,
    KeyRecord,
    StateStore,
    StoredResponse,
    open_store,
    sqlite_path,
)
from torouter.router.state.sqlite import SQLiteStore


def test_sqlite_url_paths() -> None:
    assert sqlite_path("sqlite:///./x.db") == "./x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"


async def test_keys_persist_across_opens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state/t.db"
    store = open_store(url)
    await store.create_key(KeyRecord("k1", "d" * 64, "g", rpm=10, tpm=None, created_at=1.0))
    with pytest.raises(DuplicateKeyName):
        await store.create_key(KeyRecord("k1", "e" * 64, "g", created_at=2.0))
    await store.close()

    again = open_store(url)
    found = await again.find_key("d" * 64)
    assert found is not None and found.name == "k1" and found.rpm == 10 and not found.revoked
    assert await again.revoke_key("k1") and not await again.revoke_key("nope")
    assert [(k.name, k.revoked) for k in await again.list_keys()] == [("k1", True)]
    await again.close()


async def test_redis_store_against_a_real_server(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        store = open_store(url)
        await store.create_key(KeyRecord("k1", "d" * 64, "g", rpm=10, tpm=None, created_at=1.0))
        await store.create_key(KeyRecord("k2", "e" * 64, "g2", rpm=None, tpm=500, created_at=2.0))
        with pytest.raises(DuplicateKeyName):
            await store.create_key(KeyRecord("k1", "f" * 64, "g", created_at=3.0))
        found = await store.find_key("d" * 64)
        assert found == KeyRecord("k1", "d" * 64, "g", rpm=10, tpm=None, created_at=1.0)
        assert await store.find_key("f" * 64) is None
        assert await store.revoke_key("k2") and not await store.revoke_key("nope")
        listed = await store.list_keys()
        assert [(k.name, k.revoked, k.tpm) for k in listed] == [("k1", False, None), ("k2", True, 500)]
        await store.close()


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported state store"):
        open_store("postgres://x")


async def _responses_round_trip(store: StateStore) -> None:
    now = time.time()
    own = StoredResponse("resp_a", "g", now, None, b'{"response": {"id": "resp_a"}}', now + 60)
    upstream = StoredResponse("resp_b", "g2", now, "oai", b"", now + 60)
    expired = StoredResponse("resp_c", "g", now - 120, None, b"{}", now - 60)
    for record in (own, upstream, expired):
        await store.put_response(record)
    assert await store.get_response("resp_a") == own
    assert await store.get_response("resp_b") == upstream
    assert await store.get_response("resp_c") is None  # expired: gone
    assert await store.get_response("resp_x") is None
    replaced = StoredResponse("resp_a", "g", now, None, b"{}", now + 60)
    await store.put_response(replaced)
    assert await store.get_response("resp_a") == replaced
    assert await store.delete_response("resp_a") and not await store.delete_response("resp_a")
    assert not await store.delete_response("resp_c")
    assert await store.get_response("resp_a") is None


async def _embedded_stores(url: str, round_trip: Callable[[StateStore], Awaitable[None]]) -> StateStore:
    """Runs ``round_trip`` on a memory store and on the SQLite store at ``url``; returns that
    SQLite store opened again (to see what persisted)."""
    for each in ("memory://", url):
        store = open_store(each)
        await round_trip(store)
        await store.close()
    return open_store(url)


async def test_stored_responses_in_memory_and_sqlite(tmp_path: Path) -> None:
    again = await _embedded_stores(f"sqlite:///{tmp_path}/r.db", _responses_round_trip)
    assert (await again.get_response("resp_b")) is not None  # persisted across opens
    await again.close()


async def test_stored_responses_in_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        store = open_store(url)
        await _responses_round_trip(store)
        await store.close()


async def _memos_round_trip(store: StateStore) -> None:
    now = time.time()
    await store.put_memos({"a": b"one", "b": b"\x00two"}, now + 60)
    await store.put_memos({"old": b"x"}, now - 1)  # already expired: never found
    assert await store.get_memos(["a", "b", "old", "nope"]) == {"a": b"one", "b": b"\x00two"}
    await store.put_memos({"a": b"uno"}, now + 60)
    assert await store.get_memos(["a"]) == {"a": b"uno"}
    assert await store.get_memos([]) == {}
    many = [f"id{i}" for i in range(1200)]  # more ids than one SQLite statement takes
    await store.put_memos(dict.fromkeys(many, b"m"), now + 60)
    assert len(await store.get_memos(many)) == 1200


async def test_memos_in_every_store(tmp_path: Path) -> None:
    again = await _embedded_stores(f"sqlite:///{tmp_path}/m.db", _memos_round_trip)
    assert await again.get_memos(["b"]) == {"b": b"\x00two"}  # persisted across opens
    await again.close()
    with redis_server(tmp_path) as url:
        store = open_store(url)
        await _memos_round_trip(store)
        await store.close()


# ------------------------------------------------------------------ key restrictions, windows, spend

RULES = parse_rules({"requests_5h": 3, "ip_allow": ["10.0.0.0/8"], "models": ["gpt-5"], "spend_cap_usd": 2})


async def _restrictions_round_trip(store: StateStore) -> None:
    record = KeyRecord("r1", "a" * 64, "g", rpm=5, created_at=1.0, rules=RULES, hint="tr-abcd…wxyz")
    await store.create_key(record)
    assert await store.find_key("a" * 64) == record
    assert await store.key_named("r1") == record and await store.key_named("nope") is None
    changed = replace(record, rpm=None, tpm=7, rules=RULES.updated({"ip_allow": None, "requests_24h": 9}))
    assert await store.update_key(changed)
    assert not await store.update_key(replace(record, name="nope"))
    assert await store.key_named("r1") == changed
    assert (await store.key_named("r1")).rules.ip_allow == ()  # type: ignore[union-attr]


async def _windows_are_sliding_and_exact(store: StateStore) -> None:
    windows = ((3600, 2), (86400, 3))
    assert await store.admit_request("w", 1000.0, windows) == 0
    assert await store.admit_request("w", 1010.0, windows) == 0
    # the hour is full: room when the first request leaves it, 3590 s later; not counted
    assert await store.admit_request("w", 1010.0, windows) == pytest.approx(3590, abs=0.01)
    assert await store.admit_request("w", 4600.0, windows) == 0  # an hour after the first
    # now the day is full (3 inside): room once the first leaves the day
    assert await store.admit_request("w", 4700.0, windows) == pytest.approx(1000 + 86400 - 4700, abs=0.01)
    assert await store.admit_request("other", 4700.0, windows) == 0  # per key


async def _spend_adds_up(store: StateStore) -> None:
    assert await store.spend("s") == 0
    assert await store.add_spend("s", 0.25) == pytest.approx(0.25)
    assert await store.add_spend("s", 0.5) == pytest.approx(0.75)
    assert await store.spend("s") == pytest.approx(0.75) and await store.spend("t") == 0


@pytest.mark.parametrize("check", [_restrictions_round_trip, _windows_are_sliding_and_exact, _spend_adds_up])
async def test_key_restrictions_in_every_store(
    tmp_path: Path, check: Callable[[StateStore], Awaitable[None]]
) -> None:
    with redis_server(tmp_path) as url:
        for store in (open_store("memory://"), open_store(f"sqlite:///{tmp_path}/k.db"), open_store(url)):
            try:
                await check(store)
            finally:
                await store.close()
            if isinstance(store, SQLiteStore):
                (tmp_path / "k.db").unlink()


async def test_sqlite_windows_and_spend_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    now = time.time()
    store = open_store(url)
    for offset in (0.0, 1.0):
        assert await store.admit_request("k", now + offset, ((3600, 2),)) == 0
    await store.add_spend("k", 1.5)
    await store.close()
    again = open_store(url)
    assert await again.admit_request("k", now + 2, ((3600, 2),)) > 3500
    assert await again.spend("k") == pytest.approx(1.5)
    await again.close()


async def test_a_store_made_before_restrictions_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE keys (name TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL UNIQUE, grp TEXT NOT NULL,"
        " rpm INTEGER, tpm INTEGER, created_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO keys VALUES ('old', 'b', 'g', 3, NULL, 1.0, 0);"
    )
    db.commit()
    db.close()
    store = open_store(f"sqlite:///{path}")
    found = await store.key_named("old")
    assert found == KeyRecord("old", "b", "g", rpm=3, created_at=1.0)
    await store.close()


async def test_redis_windows_are_exact_under_concurrency(tmp_path: Path) -> None:
    """Several clients of one Redis (as several routers are) admit exactly the window's limit."""
    with redis_server(tmp_path) as url:
        stores = [open_store(url) for _ in range(4)]
        now = time.time()
        results = await asyncio.gather(
            *(stores[i % 4].admit_request("c", now + i / 1000, ((18000, 50),)) for i in range(200))
        )
        assert sum(1 for wait in results if wait == 0) == 50
        assert all(wait > 17000 for wait in results if wait)
        for store in stores:
            await store.close()


async def test_sqlite_shared_by_routers_counts_in_the_file(tmp_path: Path) -> None:
    """Routers sharing one SQLite file (``torouter up --workers N``): each catches up with what the
    others admitted before deciding, so the windows are exact across them; rpm/tpm counters too."""
    url = f"sqlite:///{tmp_path}/shared.db"
    stores = [open_store(url, shared=True) for _ in range(3)]
    now = time.time()
    waits = [await stores[i % 3].admit_request("c", now + i / 1000, ((18000, 50),)) for i in range(120)]
    assert sum(1 for wait in waits if wait == 0) == 50
    assert all(wait > 17000 for wait in waits if wait)
    assert [await store.add_usage("rpm:c", 7, 1) for store in stores] == [1, 2, 3]
    assert await stores[0].add_usage("rpm:c", 7, 0) == 3 and await stores[1].add_usage("rpm:c", 8, 0) == 0
    assert await stores[2].add_usage("rpm:c", 7, -1) == 2
    for store in stores:
        await store.close()
    # and across a restart, as for one router
    again = open_store(url, shared=True)
    assert await again.admit_request("c", now + 1, ((18000, 50),)) > 17000
    await again.close()


async def test_sqlite_shared_windows_slide(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/slide.db", shared=True)
    try:
        await _windows_are_sliding_and_exact(store)
    finally:
        await store.close()


ADMIT_IN_A_PROCESS = """
import asyncio, sys, time
from torouter.router.state import open_store

async def main() -> None:
    store = open_store(sys.argv[1], shared=True)
    start = float(sys.argv[2])
    while time.time() < start:
        await asyncio.sleep(0.001)
    admitted = 0
    for _ in range(40):
        if await store.admit_request("busy", time.time(), ((18000, 50),)) == 0:
            admitted += 1
    await store.close()
    print(admitted)

asyncio.run(main())
"""


async def test_sqlite_shared_windows_are_exact_across_processes(tmp_path: Path) -> None:
    """Four processes admitting at the same moment on one file admit exactly the limit between them."""
    url = f"sqlite:///{tmp_path}/busy.db"
    await open_store(url, shared=True).close()  # the schema, once
    start = time.time() + 1.5  # each process imports first, then they all start together
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", ADMIT_IN_A_PROCESS, url, str(start), stdout=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 60)
    assert all(p.returncode == 0 for p in processes)
    counts = [int(out.strip()) for out, _ in outputs]
    assert sum(counts) == 50, counts
    db = sqlite3.connect(tmp_path / "busy.db")
    assert db.execute("SELECT count(*) FROM key_requests WHERE name = 'busy'").fetchone()[0] == 50
    db.close()
