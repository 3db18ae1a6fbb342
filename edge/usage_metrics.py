"""The usage each router reply reports, counted by the edge for Prometheus: tokens by kind, cost, time
to first byte per group and model, unpriced requests, dropped records.

Counted here rather than in the routers: the edge sees every request of every router replica it
relays to, so one scrape of an edge is exact however many routers there are (a router has no HTTP
port of its own, and a scrape relayed to "some" router would see one replica's counters).

Every request that reached an upstream is counted, so the counting is plain arithmetic on plain
numbers (about a microsecond); the Prometheus families are built only when ``/metrics`` is scraped.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from torouter.proto.v1 import router_pb2

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")


class _Sums:
    """One group and model: tokens by kind, cost, and the time-to-first-byte histogram."""

    __slots__ = ("buckets", "cost", "seconds", "tokens")

    def __init__(self, bounds: int) -> None:
        self.tokens = [0, 0, 0, 0, 0]
        self.cost = 0.0
        self.buckets = [0] * (bounds + 1)  # the last one: above every bound
        self.seconds = 0.0


class UsageMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, buckets: Iterable[float]) -> None:
        self._bounds = tuple(buckets)
        self._sums: dict[tuple[str, str], _Sums] = {}
        self._unpriced: dict[str, int] = {}
        self.records_dropped = 0
        registry.register(self)

    def count(self, usage: router_pb2.Usage, first_byte_s: float) -> None:
        """Counts what a router reply says a request used."""
        key = (usage.group, usage.model)
        sums = self._sums.get(key)
        if sums is None:
            sums = self._sums[key] = _Sums(len(self._bounds))
        tokens = sums.tokens
        tokens[0] += usage.input_tokens
        tokens[1] += usage.output_tokens
        tokens[2] += usage.cache_read_tokens
        tokens[3] += usage.cache_write_tokens
        tokens[4] += usage.reasoning_tokens
        sums.cost += usage.cost_usd
        sums.buckets[bisect.bisect_left(self._bounds, first_byte_s)] += 1
        sums.seconds += first_byte_s
        if not usage.priced:
            self._unpriced[usage.model] = self._unpriced.get(usage.model, 0) + 1
        if usage.record_dropped:
            self.records_dropped += 1

    def describe(self) -> Iterable[Metric]:
        return self._families(empty=True)

    def collect(self) -> Iterable[Metric]:
        return self._families(empty=False)

    def _families(self, empty: bool) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "torouter_tokens",
            "Tokens the upstreams reported, by kind (input counts cached tokens too; output, reasoning)",
            labels=("group", "model", "kind"),
        )
        cost = CounterMetricFamily(
            "torouter_cost_usd",
            "Cost of the requests in USD (those with a known price)",
            labels=("group", "model"),
        )
        first_byte = HistogramMetricFamily(
            "torouter_time_to_first_byte_seconds",
            "Time from a request to the first byte of its answer, for requests that reached an upstream",
            labels=("group", "model"),
        )
        unpriced = CounterMetricFamily(
            "torouter_unpriced_requests",
            "Requests that used tokens of a model whose price is unknown (their cost is recorded as null)",
            labels=("model",),
        )
        dropped = CounterMetricFamily(
            "torouter_usage_records_dropped",
            "Usage records a router dropped because its write queue was full",
        )
        if not empty:
            for (group, model), sums in list(self._sums.items()):
                for kind, value in zip(TOKEN_KINDS, sums.tokens, strict=True):
                    tokens.add_metric((group, model, kind), value)
                cost.add_metric((group, model), sums.cost)
                running, buckets = 0, []
                for bound, count in zip((*self._bounds, float("inf")), sums.buckets, strict=True):
                    running += count
                    buckets.append((_bound(bound), running))
                first_byte.add_metric((group, model), buckets, sums.seconds)
            for model, count in list(self._unpriced.items()):
                unpriced.add_metric((model,), count)
            dropped.add_metric((), self.records_dropped)
        yield from (tokens, cost, first_byte, unpriced, dropped)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))
