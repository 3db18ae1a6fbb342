from __future__ import annotations

import time

import pytest

from torouter.router.config import KeyConfig, hash_key
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.routing.caller_keys import KeyRing
from torouter.router.state import KeyRecord
from torouter.router.state.memory import MemoryStore


async def test_static_and_stored_keys_and_revocation() -> None:
    store = MemoryStore()
    ring = KeyRing(
        (KeyConfig("alice", hash_key("a-secret"), "g1", rpm=5),), store, ttl_s=0.0, negative_ttl_s=0.0
    )
    caller = await ring.authenticate("a-secret")
    assert (caller.name, caller.group, caller.rpm) == ("alice", "g1", 5)

    with pytest.raises(GatewayError) as missing:
        await ring.authenticate("b-secret")
    assert missing.value.code is ErrorCode.UNAUTHENTICATED

    await store.create_key(KeyRecord("bob", hash_key("b-secret"), "g2", created_at=time.time()))
    assert (await ring.authenticate("b-secret")).group == "g2"
    await store.revoke_key("bob")
    with pytest.raises(GatewayError):
        await ring.authenticate("b-secret")


async def test_empty_key_is_unauthenticated() -> None:
    with pytest.raises(GatewayError) as info:
        await KeyRing((), None).authenticate("")
    assert info.value.status == 401


async def test_negative_cache_spares_the_store() -> None:
    calls = 0

    class CountingStore(MemoryStore):
        async def find_key(self, key_sha256: str) -> KeyRecord | None:
            nonlocal calls
            calls += 1
            return await super().find_key(key_sha256)

    ring = KeyRing((), CountingStore(), negative_ttl_s=60)
    for _ in range(5):
        with pytest.raises(GatewayError):
            await ring.authenticate("wrong")
    assert calls == 1
