"""The edge's usage metrics: what router replies report, as Prometheus reads it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from torouter.edge.metrics import Metrics
from torouter.proto.v1 import router_pb2


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_reported_usage_is_counted_by_group_model_and_kind() -> None:
    metrics = Metrics()
    report = router_pb2.Usage(
        group="team",
        model="gpt-5",
        input_tokens=100,
        output_tokens=40,
        cache_read_tokens=30,
        cache_write_tokens=5,
        reasoning_tokens=16,
        cost_usd=0.0025,
        priced=True,
    )
    metrics.count_usage(report, 0.004)
    metrics.count_usage(report, 0.2)
    metrics.count_usage(router_pb2.Usage(group="team", model="house", input_tokens=7, priced=False), 0.001)
    metrics.count_usage(router_pb2.Usage(group="team", model="gpt-5", priced=True, record_dropped=True), 0.5)
    seen = _samples(metrics)
    gpt5 = (("group", "team"), ("model", "gpt-5"))
    for kind, value in (
        ("input", 200),
        ("output", 80),
        ("cache_read", 60),
        ("cache_write", 10),
        ("reasoning", 32),
    ):
        assert seen[("torouter_tokens_total", tuple(sorted((*gpt5, ("kind", kind)))))] == value
    assert seen[("torouter_cost_usd_total", gpt5)] == 0.005
    assert seen[("torouter_unpriced_requests_total", (("model", "house"),))] == 1
    assert seen[("torouter_usage_records_dropped_total", ())] == 1
    assert seen[("torouter_time_to_first_byte_seconds_count", gpt5)] == 3
    assert seen[("torouter_time_to_first_byte_seconds_bucket", tuple(sorted((*gpt5, ("le", "0.005")))))] == 1
    assert seen[("torouter_time_to_first_byte_seconds_bucket", tuple(sorted((*gpt5, ("le", "0.25")))))] == 2
    assert seen[("torouter_time_to_first_byte_seconds_sum", gpt5)] == 0.704
