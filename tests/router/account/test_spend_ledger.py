"""The spend ledger: capped keys charged at once, others summed and written in batches."""

from __future__ import annotations

import asyncio

from torouter.router.account.key_admin import KeyAdmin
from torouter.router.account.records import UsageRecord
from torouter.router.account.spend import SpendLedger
from torouter.router.state import KeyRecord
from torouter.router.state.memory import MemoryStore


def _record(key: str, cost: float | None) -> UsageRecord:
    return UsageRecord(
        id="r", ts=0.0, request_id="q", key=key, group="g", protocol="openai", operation="chat.completions",
        model_requested="m", model="m", upstream="u", upstream_kind="openai", status=200, stream=False,
        cost_usd=cost,
    )  # fmt: skip


async def test_a_capped_key_is_charged_at_once() -> None:
    store = MemoryStore()
    ledger = SpendLedger(store, flush_every_s=60)
    await ledger.charge(_record("capped", 0.25), capped=True)
    await ledger.charge(_record("capped", 0.5), capped=True)
    assert await store.spend("capped") == 0.75
    assert ledger.pending("capped") == 0.0


async def test_other_keys_are_summed_then_written_in_one_write() -> None:
    store = MemoryStore()
    writes: list[tuple[str, float]] = []
    add_spend = store.add_spend

    async def counted(name: str, usd: float) -> float:
        writes.append((name, usd))
        return await add_spend(name, usd)

    store.add_spend = counted  # type: ignore[method-assign]
    ledger = SpendLedger(store, flush_every_s=0.05)
    for _ in range(10):
        await ledger.charge(_record("free", 0.1), capped=False)
    await ledger.charge(_record("free", None), capped=False)  # unknown cost: nothing
    assert await store.spend("free") == 0.0
    assert abs(ledger.pending("free") - 1.0) < 1e-9
    for _ in range(100):  # bounded wait for the flush
        if writes:
            break
        await asyncio.sleep(0.02)
    assert len(writes) == 1 and writes[0][0] == "free"
    assert abs(await store.spend("free") - 1.0) < 1e-9
    assert ledger.pending("free") == 0.0


async def test_close_writes_what_is_pending_and_key_views_count_it_before() -> None:
    store = MemoryStore()
    ledger = SpendLedger(store, flush_every_s=60)
    await store.create_key(KeyRecord("k", "0" * 64, "g", None, None, 0.0))
    admin = KeyAdmin(store, None, ledger.pending)
    await ledger.charge(_record("k", 0.3), capped=False)
    record = await store.key_named("k")
    assert record is not None
    assert (await admin.view(record))["spend_usd"] == 0.3  # the store has nothing yet
    assert await store.spend("k") == 0.0
    await ledger.close()
    assert await store.spend("k") == 0.3
    assert (await admin.view(record))["spend_usd"] == 0.3
