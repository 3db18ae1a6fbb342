"""Usage records in tests: made-up records for the store tests, and a gateway's records read back."""

from __future__ import annotations

import asyncio
import datetime as dt

from torouter.router.account.records import UsageRecord
from torouter.router.account.store import UsageFilter

from .gateway import Gateway

DAY = 86_400
BASE = float(dt.datetime(2026, 3, 10, tzinfo=dt.UTC).timestamp())


def record(
    i: int, ts: float, *, key: str = "alice", model: str = "gpt-4o-mini", cost: float | None = 0.001
) -> UsageRecord:
    failed = i % 7 == 6  # streamed or not
    return UsageRecord(
        id=f"rec-{i:06d}",
        ts=ts,
        request_id=f"req-{i}",
        key=key,
        group="team",
        protocol="openai",
        operation="chat.completions",
        model_requested=model,
        model=model,
        upstream="oai",
        upstream_kind="openai",
        status=502 if failed else 200,
        stream=i % 2 == 0,
        input_tokens=None if failed else 100,
        output_tokens=None if failed else 50,
        cache_read_tokens=None if failed else 20,
        cache_write_tokens=None if failed else 10,
        cache_write_5m_tokens=None if failed else 4,
        cache_write_1h_tokens=None if failed else 6,
        reasoning_tokens=None if failed else 5,
        cost_usd=None if failed else cost,
        cost_source="" if failed or cost is None else "genai-prices",
        latency_ms=12.5,
        ttfb_ms=3.25,
        error="upstream_error" if failed else "",
    )


async def gateway_records(gateway: Gateway) -> list[UsageRecord]:
    """Every record of a running gateway's router, newest first, once the requests answered are
    accounted for and what is queued is written."""
    assert gateway.router is not None
    dispatcher = gateway.router.app.dispatcher
    for _ in range(500):  # the accounting of answers already given (it may follow them) is over
        if dispatcher._in_flight == 0:
            break
        await asyncio.sleep(0.01)
    writer = gateway.router.app.usage_writer
    assert writer is not None, "the gateway keeps no usage records"
    assert await writer.flush(), "the usage store did not take the queued records"
    return await writer.store.records(UsageFilter(0, 2**40), None, 100_000)


async def last_record(gateway: Gateway) -> UsageRecord:
    found = await gateway_records(gateway)
    assert found, "no usage record"
    return found[0]
