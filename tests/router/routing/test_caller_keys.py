from __future__ import annotations

import time

import pytest

from torouter.router.config import KeyConfig, hash_key
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.routing.caller_keys import KeyRing
from torouter.router.state import KeyRecord
from torouter.router.state.memory import MemoryStore
from torouter.router.state.outage import StateUnavailable


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


class FlakyStore(MemoryStore):
    """A store that can be switched off, as a Redis going away would be."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def find_key(self, key_sha256: str) -> KeyRecord | None:
        if self.down:
            raise StateUnavailable()
        return await super().find_key(key_sha256)


async def test_a_known_key_is_served_from_the_cache_while_the_store_is_down() -> None:
    store = FlakyStore()
    await store.create_key(KeyRecord("bob", hash_key("b-secret"), "g2", created_at=time.time()))
    ring = KeyRing((), store, ttl_s=0.0, negative_ttl_s=0.0, stale_s=60)
    assert (await ring.authenticate("b-secret")).name == "bob"
    store.down = True
    for _ in range(3):  # past its time to live: the cache answers while the store cannot
        assert (await ring.authenticate("b-secret")).name == "bob"
    with pytest.raises(StateUnavailable) as unknown:  # a key never seen: the store's 503
        await ring.authenticate("c-secret")
    assert unknown.value.status == 503 and unknown.value.retry_after


async def test_the_stale_cache_has_a_limit_and_normal_changes_still_apply() -> None:
    store = FlakyStore()
    await store.create_key(KeyRecord("bob", hash_key("b-secret"), "g2", created_at=time.time()))
    ring = KeyRing((), store, ttl_s=0.0, negative_ttl_s=0.0, stale_s=0.0)
    await ring.authenticate("b-secret")
    store.down = True
    with pytest.raises(StateUnavailable):  # seen too long ago
        await ring.authenticate("b-secret")
    store.down = False
    await store.revoke_key("bob")  # with the store up, a change applies at the next request
    with pytest.raises(GatewayError) as revoked:
        await ring.authenticate("b-secret")
    assert revoked.value.status == 401
