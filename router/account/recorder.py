"""The usage record of a request, made when it is over: tokens, cost, timings; handed to the
spend hooks, then queued for the store.

The dispatcher calls :meth:`UsageRecorder.record` once per request, when its last byte has gone
(a whole answer: before the reply is sent), after token limits are charged and before the log
line. A request gets a record when a call went out to an upstream (whatever its outcome; a failure
has a status and an error code, no tokens), except for the operations in :data:`UNRECORDED`.

**Spend hooks** (``on_cost``): the one place where the router learns what a request cost, at its
completion, before the dispatcher is done with it. Each hook is awaited with the record (its
``key``, ``group`` and ``cost_usd``) whenever the cost is known, and whether the key has a spend
cap (its spend is then needed at once); a hook that raises is logged and does not fail the request.
A spend cap keeps a key's spend with such a hook.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable

from ..call import Context
from .prices import PriceTable
from .records import Tokens, UsageRecord
from .writer import UsageWriter

log = logging.getLogger("torouter.usage")

# Operations that reach an upstream without using tokens worth a record.
UNRECORDED = frozenset(
    {
        "messages.count_tokens",
        "countTokens",
        "responses.input_tokens",
        "responses.get",
        "responses.delete",
        "responses.input_items",
        "responses.cancel",
    }
)

CostHook = Callable[[UsageRecord, bool], Awaitable[None]]  # (record, the key has a spend cap)


class UsageRecorder:
    def __init__(self, prices: PriceTable, writer: UsageWriter | None) -> None:
        self.prices = prices
        self.writer = writer  # None: records are not kept (router.usage: off)
        self.on_cost: list[CostHook] = []  # spend hooks: see the module's docstring
        # record ids: random per process, then counted (unique across replicas and restarts)
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count()

    async def record(self, ctx: Context, status: int) -> UsageRecord | None:
        """The request's record (None when it gets none), kept and reported to the spend hooks."""
        route, caller = ctx.route, ctx.caller
        if not ctx.reached_upstream or route is None or caller is None:
            return None
        call = ctx.call
        if call.operation in UNRECORDED:
            return None
        now = time.perf_counter()
        latency = now - ctx.started
        first = (ctx.first_byte if ctx.first_byte is not None else now) - ctx.started
        tokens = ctx.tokens if status < 400 else None
        record = UsageRecord(
            id=f"{self._id_prefix}{next(self._ids):012x}",
            ts=time.time() - latency,
            request_id=call.request_id,
            key=caller.name,
            group=caller.group,
            protocol=call.protocol,
            operation=call.operation,
            model_requested=ctx.model or "",
            model=route.model,
            upstream=route.upstream.name,
            upstream_kind=route.upstream.kind,
            status=status,
            stream=ctx.stream,
            latency_ms=round(latency * 1000, 3),
            ttfb_ms=round(first * 1000, 3),
            error=ctx.error_code,
        )
        if tokens is not None:
            if tokens.reported_cost is None:  # a model met for the first time may be read first
                waiting = self.prices.pending(record.upstream, record.model)
                if waiting is not None:
                    await waiting
            self._count(record, tokens)
        ctx.cost_usd = record.cost_usd
        if record.cost_usd is not None:
            capped = caller.rules is not None and caller.rules.spend_cap_usd is not None
            for hook in self.on_cost:
                try:
                    await hook(record, capped)
                except Exception:
                    log.exception("spend hook failed", extra={"request_id": call.request_id})
        return record

    def keep(self, record: UsageRecord) -> bool:
        """Queues the record for the store; False when the queue was full (it is dropped)."""
        return self.writer.put(record) if self.writer is not None else True

    def _count(self, record: UsageRecord, tokens: Tokens) -> None:
        record.input_tokens = tokens.input
        record.output_tokens = tokens.output
        record.cache_read_tokens = tokens.cache_read
        record.cache_write_tokens = tokens.cache_write
        record.cache_write_1h_tokens = tokens.cache_write_1h
        record.cache_write_5m_tokens = tokens.cache_write_5m  # None: the upstream did not say
        record.reasoning_tokens = tokens.reasoning
        if tokens.reported_cost is not None:
            record.cost_usd, record.cost_source = tokens.reported_cost, "upstream"
            return
        rates = self.prices.rates(record.upstream, record.model)
        if rates is not None:
            record.cost_usd, record.cost_source = round(rates.cost(tokens), 12), rates.source
