"""What a benchmark run measured, and its Markdown report."""

from __future__ import annotations

import argparse
import math
import os
import platform
from dataclasses import dataclass, field

import aiohttp
from load import THROUGHPUT_WARMUP_S, TURN, Latency, Throughput
from processes import CpuUsage, cpu_list

PERCENTILES = (50, 90, 99)
ROLE_ORDER = ("edge", "router", "supervisor", "other", "litellm", "relay")
LATENCY_SERIES = (
    ("non-stream", False, "total_ms"),
    ("stream, first byte", True, "ttfb_ms"),
    ("stream, last byte", True, "total_ms"),
)


@dataclass
class Startup:
    """How a gateway started: seconds to ready, idle memory of its process tree, where it runs."""

    ready_s: float
    rss_mb: float
    processes: int
    roles: list[str]
    cpus: dict[str, set[int]]


@dataclass
class Results:
    labels: dict[str, str] = field(default_factory=dict)  # target name -> label, in run order
    latency: dict[tuple[str, bool], Latency] = field(default_factory=dict)
    # a target's direct series: the direct requests in turns with its own (its added latency's base)
    baseline: dict[tuple[str, bool], Latency] = field(default_factory=dict)
    throughput: dict[tuple[str, bool], Throughput] = field(default_factory=dict)
    startup: dict[str, Startup] = field(default_factory=dict)
    placement: str = ""
    notes: list[str] = field(default_factory=list)

    def merge(self, other: Results) -> None:
        """A later phase's figures; the first phase's direct series stay the ones shown as direct."""
        self.labels.update(other.labels)
        for key, latency in other.latency.items():
            if key[0] == "direct":
                self.latency.setdefault(key, latency)
            else:
                self.latency[key] = latency
        self.baseline.update(other.baseline)
        self.throughput.update(other.throughput)

    def failures(self) -> list[str]:
        out = []
        for (name, stream), lat in self.latency.items():
            if lat.errors:
                out.append(f"latency {name} {kind(stream)}: {lat.errors} errors, first: {lat.first_error}")
        for (name, stream), thr in self.throughput.items():
            if thr.errors:
                out.append(f"throughput {name} {kind(stream)}: {thr.errors} errors, first: {thr.first_error}")
        return out

    @property
    def gateways(self) -> list[str]:
        return [name for name in self.labels if name != "direct"]


def kind(stream: bool) -> str:
    return "stream" if stream else "non-stream"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _num(value: float, fmt: str = ",.0f") -> str:
    return "-" if math.isnan(value) else format(value, fmt)


def _pcts(lat: Latency | None, attr: str) -> list[float]:
    values: list[float] = getattr(lat, attr) if lat else []
    return [percentile(values, p) for p in PERCENTILES]


def base_of(results: Results, name: str, stream: bool) -> Latency | None:
    """The direct series ``name``'s added latency is taken against: the one in turns with it."""
    return results.baseline.get((name, stream)) or results.latency.get(("direct", stream))


def added(results: Results, name: str, stream: bool, attr: str) -> list[float]:
    """Gateway minus direct at each percentile (the direct requests of the same turns)."""
    direct = _pcts(base_of(results, name, stream), attr)
    gateway = _pcts(results.latency.get((name, stream)), attr)
    return [g - d for g, d in zip(gateway, direct, strict=True)]


def _roles(usages: list[CpuUsage | None]) -> list[str]:
    seen = {role for u in usages if u for role in u.seconds}
    return sorted(seen, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else len(ROLE_ORDER), r))


def _header(results: Results, args: argparse.Namespace, loop_name: str) -> list[str]:
    lines = [
        "## ToRouter benchmark",
        "",
        f"- machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, {loop_name}, aiohttp {aiohttp.__version__}",
        f"- latency: concurrency 1, {args.requests} sequential requests per series "
        f"after {args.warmup} warm-up (at most {args.series_timeout:.0f} s per series), each "
        f"gateway's in turns of {TURN} with as many direct ones (the order alternating); its added "
        "latency is against the direct requests of its own turns",
        f"- throughput: concurrency {args.concurrency}, {args.duration:g} s per series "
        f"after {THROUGHPUT_WARMUP_S:.0f} s warm-up",
        "- direct = load generator → mock upstream; ToRouter = load generator → edge → router → mock"
        + ("; LiteLLM = load generator → LiteLLM proxy → mock" if "litellm" in results.labels else "")
        + (
            "; byte relay = load generator → bench/relay.py on the gateway's CPU → mock"
            " (what the placement adds)"
            if "relay" in results.labels
            else ""
        ),
        f"- placement: {results.placement}",
    ]
    for name, start in results.startup.items():
        where = ", ".join(f"{role} CPU {cpu_list(cpus)}" for role, cpus in sorted(start.cpus.items()))
        count = f"{start.processes} process" + ("es" if start.processes != 1 else "")
        label = results.labels.get(name, name)
        lines.append(
            f"- {label}: ready in {start.ready_s:.2f} s; idle RSS {start.rss_mb:.0f} MB "
            f"({count}: {', '.join(start.roles)}); allowed CPUs: {where or '-'}"
        )
    return lines


def _latency_table(results: Results) -> list[str]:
    lines = [
        "",
        "### Latency at concurrency 1 (ms)",
        "",
        "| request | path | p50 | p90 | p99 | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, path: str, lat: Latency, attr: str) -> str:
        values: list[float] = getattr(lat, attr)
        cells = " | ".join(_ms(v) for v in _pcts(lat, attr))
        return f"| {label} | {path} | {cells} | {len(values)} | {lat.errors} |"

    for label, stream, attr in LATENCY_SERIES:
        for name, path in results.labels.items():
            lat = results.latency.get((name, stream))
            if lat is None:
                continue
            base = results.baseline.get((name, stream))
            if base is not None and base is not results.latency.get(("direct", stream)):
                lines.append(row(label, f"direct, in {path}'s turns", base, attr))
            lines.append(row(label, path, lat, attr))
            if name != "direct":
                bold = " | ".join(f"**{_ms(v, True)}**" for v in added(results, name, stream, attr))
                lines.append(f"| {label} | **{path} added** | {bold} | | |")
    return lines


def _throughput_table(results: Results, args: argparse.Namespace) -> list[str]:
    lines = [
        "",
        f"### Throughput at concurrency {args.concurrency} (requests/s)",
        "",
        "| request | path | req/s | share of direct | errors |",
        "|---|---|---:|---:|---:|",
    ]
    for stream in (False, True):
        direct = results.throughput.get(("direct", stream))
        for name, path in results.labels.items():
            thr = results.throughput.get((name, stream))
            if thr is None:
                continue
            share = f"{thr.rps / direct.rps:.0%}" if direct and direct.rps and name != "direct" else ""
            lines.append(f"| {kind(stream)} | {path} | {thr.rps:,.0f} | {share} | {thr.errors} |")
    return lines


def _cpu_usages(results: Results, name: str) -> list[CpuUsage | None]:
    """c=1 non-stream, c=1 stream, c=N non-stream, c=N stream."""
    lat = [results.latency.get((name, s)) for s in (False, True)]
    thr = [results.throughput.get((name, s)) for s in (False, True)]
    return [x.cpu if x else None for x in (*lat, *thr)]


def _cpu_table(results: Results, args: argparse.Namespace) -> list[str]:
    c = args.concurrency
    lines = [
        "",
        "### CPU time per request (µs, utime + stime of each process)",
        "",
        f"| path | process | count | c=1 non-stream | c=1 stream | c={c} non-stream | c={c} stream |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for name in results.gateways:
        usages = _cpu_usages(results, name)
        if not any(usages):
            continue
        path = results.labels[name]
        for role in _roles(usages):
            count = max((u.processes.get(role, 0) for u in usages if u), default=0)
            cells = " | ".join(_num(u.us_per_request(role)) if u else "-" for u in usages)
            lines.append(f"| {path} | {role} | {count} | {cells} |")
        totals = " | ".join(f"**{_num(u.total_us_per_request())}**" if u else "-" for u in usages)
        lines.append(f"| {path} | **total** | | {totals} |")
        busy = " | ".join(_num(u.cores_busy(), ".2f") if u else "-" for u in usages)
        lines.append(f"| {path} | cores busy | | {busy} |")
        for label, usage in zip(
            ("c=1 non-stream", "c=1 stream", "non-stream", "stream"), usages, strict=True
        ):
            for note in usage.notes if usage else []:
                notes.append(f"- {path}, {label}: {note}")
    if len(lines) == 5:
        return []
    return lines + notes


def _ratio(torouter: float, litellm: float, higher_is_better: bool) -> str:
    if any(math.isnan(v) for v in (torouter, litellm)) or torouter <= 0 or litellm <= 0:
        return "-"
    if higher_is_better:
        return f"{torouter / litellm:.1f}× more"
    return f"{litellm / torouter:.1f}× less"


def _figures(results: Results, name: str, args: argparse.Namespace) -> list[tuple[str, float, bool, str]]:
    """(figure, value, higher is better, format) of one gateway, for the side-by-side table."""
    out: list[tuple[str, float, bool, str]] = []
    for label, stream, attr in LATENCY_SERIES:
        extra = added(results, name, stream, attr)
        out.append((f"added latency p50, {label} (ms)", extra[0], False, "+.2f"))
        out.append((f"added latency p99, {label} (ms)", extra[2], False, "+.2f"))
    for stream in (False, True):
        thr = results.throughput.get((name, stream))
        rps = thr.rps if thr else math.nan
        out.append((f"throughput, {kind(stream)}, c={args.concurrency} (req/s)", rps, True, ",.0f"))
    for stream in (False, True):
        thr = results.throughput.get((name, stream))
        cpu = thr.cpu.total_us_per_request() if thr and thr.cpu else math.nan
        out.append((f"CPU per request, {kind(stream)}, c={args.concurrency} (µs)", cpu, False, ",.0f"))
    start = results.startup.get(name)
    out.append(("ready (s)", start.ready_s if start else math.nan, False, ".2f"))
    out.append(("idle RSS (MB)", start.rss_mb if start else math.nan, False, ".0f"))
    return out


def _comparison_table(results: Results, args: argparse.Namespace) -> list[str]:
    if "torouter" not in results.labels or "litellm" not in results.labels:
        return []
    lines = [
        "",
        "### ToRouter and LiteLLM side by side",
        "",
        f"| figure | ToRouter | {results.labels['litellm']} | ToRouter's advantage |",
        "|---|---:|---:|---:|",
    ]
    ours = _figures(results, "torouter", args)
    theirs = _figures(results, "litellm", args)
    for (label, t, higher, fmt), (_label, lite, _higher, _fmt) in zip(ours, theirs, strict=True):
        lines.append(f"| {label} | {_num(t, fmt)} | {_num(lite, fmt)} | {_ratio(t, lite, higher)} |")
    return lines


def render(results: Results, args: argparse.Namespace, loop_name: str) -> str:
    lines = _header(results, args, loop_name)
    lines += _latency_table(results)
    lines += _throughput_table(results, args)
    lines += _cpu_table(results, args)
    lines += _comparison_table(results, args)
    if results.notes:
        lines += ["", "### Notes", "", *(f"- {note}" for note in results.notes)]
    return "\n".join(lines)


# Issue 17's targets: (figure, target, whether a higher value is better), against `_figures`' labels
TARGETS = (
    ("added latency p50, non-stream (ms)", 1.0, False),
    ("added latency p50, stream, first byte (ms)", 1.0, False),
    ("added latency p50, stream, last byte (ms)", 1.0, False),
    ("added latency p99, non-stream (ms)", 2.0, False),
    ("added latency p99, stream, first byte (ms)", 2.0, False),
    ("added latency p99, stream, last byte (ms)", 2.0, False),
    ("throughput, non-stream, c=32 (req/s)", 1100.0, True),
    ("throughput, stream, c=32 (req/s)", 1000.0, True),
    ("ready (s)", 1.0, False),
    ("idle RSS (MB)", 120.0, False),
)
LITELLM_TARGET = 12.0  # ToRouter's throughput on one core, in times LiteLLM's


def _span(values: list[float], fmt: str) -> str:
    known = [v for v in values if not math.isnan(v)]
    if not known:
        return "-"
    low, high = min(known), max(known)
    return _num(low, fmt) if f"{low:{fmt}}" == f"{high:{fmt}}" else f"{_num(low, fmt)} – {_num(high, fmt)}"


def summary(runs: list[Results], args: argparse.Namespace) -> str:
    """Several runs of the same set-up: each ToRouter figure's range over them, and in how many it
    met issue 17's target (targets assume the issue's set-up: ``--pin``, concurrency 32); the
    mock's own throughput says how fast the box was."""
    per_run = [{label: (value, fmt) for label, value, _, fmt in _figures(r, "torouter", args)} for r in runs]
    lines = [
        f"## {len(runs)} runs: ToRouter against issue 17's targets",
        "",
        "| figure | target | range | runs meeting it |",
        "|---|---:|---:|---:|",
    ]
    targets = {label: (target, higher) for label, target, higher in TARGETS}
    for label in per_run[0] if per_run else ():
        values = [run[label][0] for run in per_run]
        fmt = per_run[0][label][1]
        target = targets.get(label)
        if target is None:
            lines.append(f"| {label} | | {_span(values, fmt)} | |")
            continue
        limit, higher = target
        met = sum(1 for v in values if not math.isnan(v) and (v >= limit if higher else v <= limit))
        shown = f"≥ {_num(limit, ',.0f')}" if higher else f"≤ {limit:.1f}"
        lines.append(f"| {label} | {shown} | {_span(values, fmt)} | {met} of {len(values)} |")
    ratios = []
    for r in runs:
        for stream in (False, True):
            ours, theirs = r.throughput.get(("torouter", stream)), r.throughput.get(("litellm", stream))
            if ours and theirs and theirs.rps > 0:
                ratios.append((stream, ours.rps / theirs.rps))
    for stream in (False, True):
        mine = [ratio for s, ratio in ratios if s is stream]
        if mine:
            met = sum(1 for ratio in mine if ratio >= LITELLM_TARGET)
            lines.append(
                f"| throughput vs LiteLLM, {kind(stream)} | ≥ {LITELLM_TARGET:g}× | "
                f"{_span(mine, '.1f')}× | {met} of {len(mine)} |"
            )
    for stream in (False, True):
        direct = [r.throughput[("direct", stream)].rps for r in runs if ("direct", stream) in r.throughput]
        if direct:
            label = f"the mock alone (the box's speed), {kind(stream)} (req/s)"
            lines.append(f"| {label} | | {_span(direct, ',.0f')} | |")
    return "\n".join(lines)
