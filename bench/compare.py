"""Two (or more) versions of the gateway side by side, measured in turns: is a change faster?

    python bench/compare.py before=/path/to/checkout after=. [--rounds 6] [--burst 1500] [--paired N]

Each NAME=DIR is a checkout with its own ``.venv`` (``make relink`` there). Every version's
``torouter up`` runs at once on CPU 1 (idle but for its turn), one mock upstream and this load
generator on CPU 0. Each round gives every version in turn the same work: 300 sequential requests
(latency at concurrency 1, medians: non-stream, and a stream's first and last byte) and a burst at
concurrency 32 (CPU time of its whole process tree per request), non-stream and stream. A box
whose speed drifts over minutes (a shared VM: ±20-30 % here) drifts for all versions alike, so the
medians over rounds compare; two runs one after the other do not.

With ``--paired N`` it then measures latency at concurrency 1 in short turns: N requests to each
version, 20 at a time to each in turn (the order rotating), and gives each version's median and the
median of its per-request differences from the first version's neighbouring request, with a 95 %
interval (the order statistics of a median). Neighbouring requests see the box within
milliseconds of each other, so the box's drift cancels out of the differences.

Linux only (CPU affinity and /proc); at least 2 CPUs. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load
import processes
import run
import stages

UNDER_TEST_CPU = stages.UNDER_TEST_CPU
LOAD_CPU = stages.LOAD_CPU
LATENCY_REQUESTS = 300
FIGURES = (
    "latency non-stream (ms)",
    "latency stream, first byte (ms)",
    "latency stream, last byte (ms)",
    "CPU non-stream (µs)",
    "CPU stream (µs)",
)


@dataclass
class Version:
    name: str
    checkout: Path
    child: processes.Child | None = None
    url: str = ""
    figures: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in FIGURES})
    paired: dict[str, list[float]] = field(default_factory=dict)

    def tree_cpu_seconds(self) -> float:
        assert self.child is not None
        tree = processes.process_tree(self.child.proc.pid)
        return sum(processes.cpu_ticks(p.pid, p.start) or 0 for p in tree) / processes.CLOCK_TICKS


async def median_latency_ms(url: str, stream: bool) -> tuple[float, float]:
    """Medians of the time to the first body byte and to the last (ms)."""
    body = load.request_body(stream)
    first, last = [], []
    async with load.client_session(1) as session:
        for _ in range(LATENCY_REQUESTS):
            ttfb, total = await load.one_request(session, url, body, stream)
            first.append(ttfb)
            last.append(total)
    return statistics.median(first), statistics.median(last)


def one_turn(version: Version, burst: int) -> None:
    for stream, kind in ((False, "non-stream"), (True, "stream")):
        (first, last), _ = run.run_async(median_latency_ms(version.url, stream))
        if stream:
            version.figures["latency stream, first byte (ms)"].append(first)
            version.figures["latency stream, last byte (ms)"].append(last)
        else:
            version.figures["latency non-stream (ms)"].append(last)
        before = version.tree_cpu_seconds()
        run.run_async(stages.drive(version.url, stream, burst, 32))
        version.figures[f"CPU {kind} (µs)"].append((version.tree_cpu_seconds() - before) * 1e6 / burst)


PAIRED_FIGURES = (
    ("latency non-stream (ms)", False, 1),
    ("latency stream, first byte (ms)", True, 0),
    ("latency stream, last byte (ms)", True, 1),
)


async def paired_latency_ms(
    versions: list[Version], stream: bool, requests: int
) -> list[list[tuple[float, float]]]:
    """(first byte, last byte) of each request to each version, in turns (``load.take_turns``): the
    k-th request of one version's turn neighbours the k-th of the next."""
    body = load.request_body(stream)
    sessions = [load.client_session(1) for _ in versions]
    timings: list[list[tuple[float, float]]] = [[] for _ in versions]

    async def send(index: int) -> bool:
        timings[index].append(await load.one_request(sessions[index], versions[index].url, body, stream))
        return True

    try:
        await load.take_turns(len(versions), max(1, requests), send)
    finally:
        for session in sessions:
            await session.close()
    return timings


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """The median and a 95 % interval for it (the order statistics n/2 ± 0.98·√n)."""
    ordered = sorted(values)
    n = len(ordered)
    half = 0.98 * n**0.5
    low, high = max(0, int(n / 2 - half)), min(n - 1, int(n / 2 + half))
    return statistics.median(ordered), ordered[low], ordered[high]


def render_paired(versions: list[Version], requests: int) -> str:
    lines = [
        f"## Paired latency at concurrency 1: {requests} requests to each version, "
        f"{load.TURN} to each in turn",
        "",
        "median (ms), and the median of each request's difference from the neighbouring request to "
        f"{versions[0].name} (µs) with its 95 % interval",
        "",
        "| figure | " + " | ".join(v.name for v in versions) + " |",
        "|---|" + "---:|" * len(versions),
    ]
    for figure, _, _ in PAIRED_FIGURES:
        base = versions[0].paired[figure]
        cells = [f"{statistics.median(base):.3f}"]
        for version in versions[1:]:
            values = version.paired[figure]
            shift, low, high = median_interval([(v - b) * 1000 for v, b in zip(values, base, strict=True)])
            cells.append(f"{statistics.median(values):.3f} ({shift:+.0f} µs [{low:+.0f}, {high:+.0f}])")
        lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(versions: list[Version], rounds: int, burst: int) -> str:
    lines = [
        f"## Interleaved comparison: {rounds} rounds, median [min-max]; CPU of the whole tree per "
        f"request in bursts of {burst} at concurrency 32",
        "",
        "| figure | " + " | ".join(v.name for v in versions) + " |",
        "|---|" + "---:|" * len(versions),
    ]
    for figure in FIGURES:
        cells = []
        for version in versions:
            values = version.figures[figure]
            cells.append(f"{statistics.median(values):,.2f} [{min(values):,.2f}–{max(values):,.2f}]")
        lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("versions", nargs="+", help="NAME=DIR: a checkout with its .venv")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--burst", type=int, default=1500, help="requests per CPU burst")
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="N",
        help="then N requests to each version, in short turns",
    )
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        print("bench/compare.py needs Linux and at least 2 CPUs", file=sys.stderr)
        return 2
    versions = []
    for spec in args.versions:
        name, _, checkout = spec.partition("=")
        torouter = Path(checkout).resolve() / ".venv" / "bin" / "torouter"
        if not name or not torouter.exists():
            print(
                f"bench/compare.py: {spec!r}: expected NAME=DIR with DIR/.venv/bin/torouter", file=sys.stderr
            )
            return 2
        versions.append(Version(name, Path(checkout).resolve()))
    os.sched_setaffinity(0, {LOAD_CPU})
    workdir = Path(tempfile.mkdtemp(prefix="torouter-compare-"))
    mock_port = processes.free_ports(1)[0]
    mock_argv = [sys.executable, str(run.BENCH_DIR / "mock_upstream.py"), "--port", str(mock_port)]
    mock = processes.start_child("mock", ["taskset", "-c", str(LOAD_CPU), *mock_argv], workdir)
    try:
        processes.wait_for_port(mock, mock_port, 15)
        for version in versions:
            home = workdir / version.name
            home.mkdir()
            port = processes.free_ports(1)[0]
            config = run.write_config(home, port, None, mock_port)
            command = str(version.checkout / ".venv" / "bin" / "torouter")
            argv = ["taskset", "-c", str(UNDER_TEST_CPU), command, "up", "--config", str(config)]
            version.child = processes.start_child(version.name, argv, home)
            processes.wait_ready(version.child, f"http://127.0.0.1:{port}/readyz", 60)
            version.url = f"http://127.0.0.1:{port}/v1/chat/completions"
            run.run_async(stages.drive(version.url, False, 1000, 32))  # warm-up
        for round_number in range(args.rounds):
            for version in versions:
                one_turn(version, args.burst)
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
        if args.rounds:
            print(render(versions, args.rounds, args.burst))
        if args.paired:
            for stream in (False, True):
                timings, _ = run.run_async(paired_latency_ms(versions, stream, args.paired))
                for version, measured in zip(versions, timings, strict=True):
                    for figure, figure_stream, which in PAIRED_FIGURES:
                        if figure_stream == stream:
                            version.paired[figure] = [pair[which] for pair in measured]
            print()
            print(render_paired(versions, args.paired))
        return 0
    except (processes.BenchError, load.RequestFailed) as exc:
        print(f"bench/compare.py: {exc}", file=sys.stderr)
        return 2
    finally:
        for version in versions:
            if version.child is not None:
                processes.stop_child(version.child)
        processes.stop_child(mock)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
