"""Prometheus metrics of the edge: requests by route and status, latency histograms; and the usage
each router reply reports (``usage_metrics.py``).

They count what this edge served. With ``torouter up --workers N`` the edge that answers a scrape
adds its siblings' counts to its own (``worker_metrics.py``): ``/metrics`` is the host's total."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from torouter.proto.v1 import router_pb2

from .usage_metrics import UsageMetrics

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
        # read when scraped (edge/app.py binds it to the client): nothing on a request's path
        self.router_session_open = Gauge(
            "torouter_edge_router_session_open",
            "1 while this edge's calls go on its session to the router of its host (torouter up's "
            "Unix socket), 0 while they go as calls of their own (always, over TCP)",
            registry=self.registry,
        )

        self.usage = UsageMetrics(self.registry, LATENCY_BUCKETS)

    def count_usage(self, usage: router_pb2.Usage, first_byte_s: float) -> None:
        """Counts what a router reply says a request used."""
        self.usage.count(usage, first_byte_s)

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
