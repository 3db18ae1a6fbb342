"""``/metrics`` with several edges (edge/worker_metrics.py): expositions summed, and siblings read
over their Unix sockets, those that do not answer left out and counted as such."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from torouter.edge import worker_metrics
from torouter.edge.metrics import Metrics
from torouter.edge.worker_metrics import WorkerMetrics, merge, render, socket_path
from torouter.proto.v1 import router_pb2

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FIRST = """\
# HELP demo_requests_total Requests
# TYPE demo_requests_total counter
demo_requests_total{route="chat",status="200"} 3.0
demo_requests_total{route="chat",status="429"} 1.0
# HELP demo_requests_created Requests
# TYPE demo_requests_created gauge
demo_requests_created{route="chat",status="200"} 1000.0
# HELP demo_seconds Latency
# TYPE demo_seconds histogram
demo_seconds_bucket{le="0.1",route="chat"} 2.0
demo_seconds_bucket{le="+Inf",route="chat"} 3.0
demo_seconds_count{route="chat"} 3.0
demo_seconds_sum{route="chat"} 0.5
"""

SECOND = """\
# HELP demo_requests_total Requests
# TYPE demo_requests_total counter
demo_requests_total{route="chat",status="200"} 4.0
demo_requests_total{route="embed",status="200"} 2.0
# HELP demo_requests_created Requests
# TYPE demo_requests_created gauge
demo_requests_created{route="chat",status="200"} 900.0
# HELP demo_seconds Latency
# TYPE demo_seconds histogram
demo_seconds_bucket{route="chat",le="0.1"} 1.0
demo_seconds_bucket{route="chat",le="+Inf"} 4.0
demo_seconds_count{route="chat"} 4.0
demo_seconds_sum{route="chat"} 2.25
demo_seconds_bucket{le="0.1",route="embed"} 0.0
demo_seconds_bucket{le="+Inf",route="embed"} 1.0
demo_seconds_count{route="embed"} 1.0
demo_seconds_sum{route="embed"} 0.75
# HELP demo_dropped_total Dropped
# TYPE demo_dropped_total counter
demo_dropped_total 5.0
"""


def samples(text: str | bytes) -> Samples:
    out = {}
    for family in text_string_to_metric_families(text.decode() if isinstance(text, bytes) else text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_samples_of_the_same_name_and_labels_are_summed() -> None:
    merged = render(merge([FIRST, SECOND]))
    seen = samples(merged)
    chat, embed = ("route", "chat"), ("route", "embed")
    assert seen == {
        ("demo_requests_total", (chat, ("status", "200"))): 7,
        ("demo_requests_total", (chat, ("status", "429"))): 1,
        ("demo_requests_total", (embed, ("status", "200"))): 2,
        ("demo_requests_created", (chat, ("status", "200"))): 900,  # the earliest, not a sum
        ("demo_seconds_bucket", (("le", "0.1"), chat)): 3,  # labels in another order: the same
        ("demo_seconds_bucket", (("le", "+Inf"), chat)): 7,
        ("demo_seconds_count", (chat,)): 7,
        ("demo_seconds_sum", (chat,)): 2.75,
        ("demo_seconds_bucket", (("le", "0.1"), embed)): 0,
        ("demo_seconds_bucket", (("le", "+Inf"), embed)): 1,
        ("demo_seconds_count", (embed,)): 1,
        ("demo_seconds_sum", (embed,)): 0.75,
        ("demo_dropped_total", ()): 5,
    }
    text = merged.decode()
    assert "# TYPE demo_requests_total counter\n" in text and "# TYPE demo_seconds histogram\n" in text
    assert text.count("# TYPE demo_seconds histogram") == 1


def edge_metrics(requests: int, tokens: int) -> Metrics:
    metrics = Metrics()
    for _ in range(requests):
        metrics.observe("chat", 200, 0.02)
    usage = router_pb2.Usage(group="g", model="m", input_tokens=tokens, output_tokens=1, priced=True)
    metrics.count_usage(usage, 0.01)
    return metrics


def test_one_exposition_merged_is_itself() -> None:
    local = edge_metrics(3, 10).render()
    assert render(merge([local.decode()])) == local


@pytest.fixture
def directory() -> Iterator[str]:
    """A short path (a Unix socket's is limited to 107 bytes; pytest's tmp_path may be longer)."""
    path = tempfile.mkdtemp(prefix="torouter-test-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def serving(workers: WorkerMetrics, metrics: Metrics) -> AsyncIterator[None]:
    async with contextlib.asynccontextmanager(workers.lifetime(metrics.render))(web.Application()):
        yield


async def test_an_edge_answers_the_sum_of_the_siblings_that_answer(
    directory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_metrics, "FETCH_TIMEOUT_S", 0.3)
    first, second = edge_metrics(3, 10), edge_metrics(5, 7)
    released = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await released.wait()  # a sibling too busy to answer in time
        writer.close()

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(first.render()[:200])  # a sibling that dies while answering
        writer.close()

    hanging = await asyncio.start_unix_server(hang, socket_path(directory, 3))
    cut_short = await asyncio.start_unix_server(cut, socket_path(directory, 4))
    try:
        async with serving(WorkerMetrics(directory, 1, 6), second):  # edge 2, 5: not listening
            seen = samples(await WorkerMetrics(directory, 0, 6).total(first.render()))
    finally:
        released.set()
        hanging.close()
        cut_short.close()
    assert seen[("torouter_edge_requests_total", (("route", "chat"), ("status", "200")))] == 8
    assert seen[("torouter_edge_request_duration_seconds_count", (("route", "chat"),))] == 8
    gm = (("group", "g"), ("model", "m"))
    assert seen[("torouter_tokens_total", (*gm[:1], ("kind", "input"), *gm[1:]))] == 17
    assert seen[("torouter_tokens_total", (*gm[:1], ("kind", "output"), *gm[1:]))] == 2
    assert seen[("torouter_time_to_first_byte_seconds_count", gm)] == 2
    assert seen[("torouter_edge_workers", ())] == 6
    assert seen[("torouter_edge_workers_answered", ())] == 2
    assert "metrics-1.sock" not in os.listdir(directory)  # removed when its edge stops


async def test_a_killed_edges_socket_is_taken_over_by_the_edge_started_again(directory: str) -> None:
    stale = await asyncio.start_unix_server(lambda r, w: None, socket_path(directory, 1))
    stale.close()  # Python 3.11 leaves the file: as a killed edge would
    assert "metrics-1.sock" in os.listdir(directory)
    async with serving(WorkerMetrics(directory, 1, 2), edge_metrics(2, 1)):
        seen = samples(await WorkerMetrics(directory, 0, 2).total(edge_metrics(1, 1).render()))
    assert seen[("torouter_edge_requests_total", (("route", "chat"), ("status", "200")))] == 3
    assert seen[("torouter_edge_workers_answered", ())] == 2
