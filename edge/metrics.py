"""Prometheus metrics of the edge: requests by route and status, latency histograms; and, from the
usage each router reply reports, tokens by kind, cost, time to first byte and unpriced requests.

Usage is counted here rather than in the routers: the edge sees every request of every router
replica it relays to, so one scrape of an edge is exact however many routers there are (a router
has no HTTP port of its own, and a scrape relayed to "some" router would see one replica's counters).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from torouter.proto.v1 import router_pb2

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
)


class Metrics:
    """One registry per app (no process-global state)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._usage_children: dict[tuple[str, str], tuple[Counter, ...]] = {}
        self._ttfb_children: dict[tuple[str, str], Histogram] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "torouter_edge_requests",
            "HTTP requests answered by the edge",
            ("route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "torouter_edge_request_duration_seconds",
            "Time from request to the last byte of the response",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.router_errors = Counter(
            "torouter_edge_router_errors",
            "Calls to the router that failed at the gRPC level",
            ("code",),
            registry=self.registry,
        )

        self.tokens = Counter(
            "torouter_tokens",
            "Tokens the upstreams reported, by kind (input counts cached tokens too; output, reasoning)",
            ("group", "model", "kind"),
            registry=self.registry,
        )
        self.cost = Counter(
            "torouter_cost_usd",
            "Cost of the requests in USD (those with a known price)",
            ("group", "model"),
            registry=self.registry,
        )
        self.unpriced = Counter(
            "torouter_unpriced_requests",
            "Requests that used tokens of a model whose price is unknown (their cost is recorded as null)",
            ("model",),
            registry=self.registry,
        )
        self.records_dropped = Counter(
            "torouter_usage_records_dropped",
            "Usage records a router dropped because its write queue was full",
            registry=self.registry,
        )
        self.first_byte = Histogram(
            "torouter_time_to_first_byte_seconds",
            "Time from a request to the first byte of its answer, for requests that reached an upstream",
            ("group", "model"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def count_usage(self, usage: router_pb2.Usage, first_byte_s: float) -> None:
        """Counts what a router reply says a request used."""
        key = (usage.group, usage.model)
        children = self._usage_children.get(key)
        if children is None:
            children = self._usage_children[key] = (
                *(self.tokens.labels(usage.group, usage.model, kind) for kind in TOKEN_KINDS),
                self.cost.labels(usage.group, usage.model),
            )
            self._ttfb_children[key] = self.first_byte.labels(usage.group, usage.model)
        for counter, value in zip(
            children,
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                usage.reasoning_tokens,
                usage.cost_usd,
            ),
            strict=True,
        ):
            if value:
                counter.inc(value)
        self._ttfb_children[key].observe(first_byte_s)
        if not usage.priced:
            self.unpriced.labels(usage.model).inc()
        if usage.record_dropped:
            self.records_dropped.inc()

    def observe(self, route: str, status: int, seconds: float) -> None:
        children = self._children.get((route, status))
        if children is None:  # label lookups cost more than the update itself: resolve them once
            children = self._children[(route, status)] = (
                self.requests.labels(route, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
