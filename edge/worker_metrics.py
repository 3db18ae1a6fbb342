"""``/metrics`` with several workers (``torouter up --workers N``): the host's total, whichever edge
the kernel hands the scrape to.

Each edge counts only what it served (``metrics.py``). With N edges, each also serves its own
exposition on a Unix socket in ``torouter up``'s private directory (mode 0700:
``DIR/metrics-i.sock``; it writes the text, a ``# EOF`` line, and closes: nothing else is served
there). The edge that answers a scrape reads its siblings' concurrently (at most ``FETCH_TIMEOUT_S``
each) and answers the sum (:func:`merge`), with ``torouter_edge_workers`` (N) and
``torouter_edge_workers_answered`` (the edges in the sum): a sibling that did not answer in time
(restarting) is left out, and a dashboard can tell such a partial scrape. Nothing here runs per
request: only per scrape, and the parsing and summing in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

FETCH_TIMEOUT_S = 1.0
END = b"# EOF\n"  # the last line of a whole exposition (a comment to the parser): a cut one lacks it

_SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def socket_path(directory: str, index: int) -> str:
    """Where edge ``index`` serves its own exposition."""
    return f"{directory}/metrics-{index}.sock"


def merge(expositions: Iterable[str]) -> list[Metric]:
    """The families of several Prometheus text expositions, with the samples of the same name and
    labels summed (counters, histogram buckets, ``_sum`` and ``_count``; a gauge too: the edges
    have none but the ``_created`` ones, whose earliest is kept: since when the series is counted)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[_SampleKey, tuple[dict[str, str], float]]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            samples = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = samples.get(key)
                if seen is None:
                    samples[key] = (sample.labels, sample.value)
                elif sample.name.endswith("_created"):
                    samples[key] = (seen[0], min(seen[1], sample.value))
                else:
                    samples[key] = (seen[0], seen[1] + sample.value)
    for name, merged in families.items():
        for (sample_name, _), (labels, value) in values[name].items():
            merged.add_sample(sample_name, labels, value)
    return list(families.values())


class _Families:
    """A prometheus_client collector of given families (what ``generate_latest`` renders)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Sequence[Metric]:
        return self.families


def render(families: Sequence[Metric]) -> bytes:
    return generate_latest(_Families(families))


async def _fetch(path: str) -> str | None:
    """A sibling's whole exposition, or None (not listening, too slow, cut short)."""
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            reader, writer = await asyncio.open_unix_connection(path)
            try:
                data = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    return data.decode() if data.endswith(END) else None


class WorkerMetrics:
    """Edge ``index`` of ``workers``, its siblings' sockets in ``directory`` (module doc)."""

    def __init__(self, directory: str, index: int, workers: int) -> None:
        self.directory = directory
        self.index = index
        self.workers = workers

    def lifetime(self, local: Callable[[], bytes]) -> Callable[[web.Application], AsyncIterator[None]]:
        """An app cleanup context serving ``local()`` on this edge's socket while the app runs."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(local() + END)
                await writer.drain()
            except OSError:
                pass  # the scraping sibling gave up
            finally:
                writer.close()

        async def context(app: web.Application) -> AsyncIterator[None]:
            path = socket_path(self.directory, self.index)
            server = await asyncio.start_unix_server(serve, path)  # replaces a killed edge's socket
            yield
            server.close()
            with contextlib.suppress(OSError):
                os.unlink(path)

        return context

    async def total(self, local: bytes) -> bytes:
        """The sum of ``local`` (this edge's exposition) and the siblings' that answer."""
        siblings = [socket_path(self.directory, i) for i in range(self.workers) if i != self.index]
        fetched = await asyncio.gather(*(_fetch(path) for path in siblings))
        texts = [local.decode(), *(text for text in fetched if text is not None)]
        workers = GaugeMetricFamily("torouter_edge_workers", "Edges torouter up runs on this host")
        workers.add_metric((), self.workers)
        answered = GaugeMetricFamily(
            "torouter_edge_workers_answered",
            "Edges whose counts this scrape sums (fewer than torouter_edge_workers: some were restarting)",
        )
        answered.add_metric((), len(texts))
        # parsing is about 12 ms per edge of a typical exposition (700 lines): in a thread, so that
        # with many edges the scraped one's requests do not wait for all of it at once
        return await asyncio.to_thread(lambda: render([*merge(texts), workers, answered]))
