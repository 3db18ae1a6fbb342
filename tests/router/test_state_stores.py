from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from support.redis_server import redis_server
from torouter.router.state import (
    DuplicateKeyName,
    KeyRecord,
    StateStore,
    StoredResponse,
    open_store,
    sqlite_path,
)


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
