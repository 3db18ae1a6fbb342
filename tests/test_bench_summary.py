"""bench/run.py --runs: the summary of several runs against issue 17's targets (bench/report.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from load import Latency, Throughput
from report import Results, Startup, summary


def _run(added_ms: float, rps: float, litellm_rps: float | None, rss_mb: float) -> Results:
    """One run's results: the direct path at 0.1 ms, ToRouter ``added_ms`` above it."""
    results = Results(labels={"direct": "direct", "torouter": "ToRouter"})
    for stream in (False, True):
        direct = Latency(total_ms=[0.1] * 100, ttfb_ms=[0.1] * 100)
        results.latency[("direct", stream)] = direct
        results.baseline[("torouter", stream)] = direct
        ours = [0.1 + added_ms] * 98 + [0.1 + 2 * added_ms] * 2
        results.latency[("torouter", stream)] = Latency(total_ms=ours, ttfb_ms=ours)
        results.throughput[("direct", stream)] = Throughput(ok=9000, seconds=1.0)
        results.throughput[("torouter", stream)] = Throughput(ok=int(rps), seconds=1.0)
        if litellm_rps is not None:
            results.labels["litellm"] = "LiteLLM"
            results.throughput[("litellm", stream)] = Throughput(ok=int(litellm_rps), seconds=1.0)
    results.startup["torouter"] = Startup(0.4, rss_mb, 2, ["edge", "router"], {})
    return results


def test_the_summary_gives_each_figures_range_and_the_runs_meeting_its_target() -> None:
    args = argparse.Namespace(concurrency=32)
    runs = [_run(0.6, 3000, 150, 114), _run(1.2, 1050, None, 121)]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in summary(runs, args).splitlines()}
    assert rows["added latency p50, non-stream (ms)"].endswith("| ≤ 1.0 | +0.60 – +1.20 | 1 of 2 |")
    assert rows["added latency p99, stream, last byte (ms)"].endswith("| ≤ 2.0 | +1.20 – +2.40 | 1 of 2 |")
    assert rows["throughput, non-stream, c=32 (req/s)"].endswith("| ≥ 1,100 | 1,050 – 3,000 | 1 of 2 |")
    assert rows["throughput, stream, c=32 (req/s)"].endswith("| ≥ 1,000 | 1,050 – 3,000 | 2 of 2 |")
    assert rows["idle RSS (MB)"].endswith("| ≤ 120.0 | 114 – 121 | 1 of 2 |")
    assert rows["ready (s)"].endswith("| ≤ 1.0 | 0.40 | 2 of 2 |")
    assert rows["throughput vs LiteLLM, non-stream"].endswith("| ≥ 12× | 20.0× | 1 of 1 |")
    assert rows["the mock alone (the box's speed), stream (req/s)"].endswith("| | 9,000 | |")
