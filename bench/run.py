"""Benchmark: the latency ToRouter adds, its throughput and its CPU time per request, on this box.

    python bench/run.py [--requests N] [--duration S] [--concurrency 32] [--pin] [--compare-litellm]

It starts ``bench/mock_upstream.py`` (its own process), writes a temporary config (free loopback
ports, one ``openai`` upstream ``mock`` pointing at the mock, one group, one static key), starts
``torouter up --config`` and waits for ``/readyz`` (its ready time and the idle RSS of its process
tree are reported). The load generator then runs in this process (aiohttp client, uvloop when
installed) and measures, for non-streaming and streaming chat completions, directly against the
mock and through the gateway:

1. latency at concurrency 1: N sequential requests after a warm-up, p50/p90/p99, and the
   "added" latency = gateway minus direct at each percentile (streams: time to first body byte
   and to the last byte);
2. throughput at a fixed concurrency for a fixed duration: requests/s and errors;
3. for each of those series, the CPU time (utime + stime in /proc/<pid>/stat) that each process
   of the gateway's tree (supervisor, edge, router: told apart by their command lines) used during
   the measured part, per request.

``--pin`` puts the gateway's process tree on one CPU and the load generator and the mock on
another. ``--compare-litellm`` then does the same with LiteLLM's proxy (installed on demand into
its own venv, see ``litellm_side.py``), after the gateway has been stopped, on the gateway's CPU;
``--relay`` with a byte relay (``relay.py``), the cost of the placement alone.

It prints Markdown tables, always stops every process it started, and exits 1 if any request
failed, 2 if the set-up failed (the failing process's stderr is printed then).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from litellm_side import (
    DEFAULT_VERSION,
    LiteLLMInstall,
    LiteLLMUnavailable,
    ensure_litellm,
    proxy_argv,
    proxy_env,
)
from litellm_side import write_config as write_litellm_config
from load import (
    GATEWAY_KEY,
    MODEL,
    Target,
    measure_latency,
    measure_throughput,
    smoke,
)
from processes import (
    BenchError,
    Child,
    Children,
    Classify,
    CpuMeter,
    Placement,
    affinities,
    cpu_list,
    free_ports,
    gateway_role,
    plan_pinning,
    single_role,
    start_child,
    tree_rss_mb,
    wait_for_port,
    wait_ready,
)
from report import Results, Startup, kind, render, summary

T = TypeVar("T")

BENCH_DIR = Path(__file__).resolve().parent
UPSTREAM_KEY = "sk-mock-upstream"
MOCK_START_TIMEOUT_S = 15.0
SETTLE_S = 1.0  # after ready, before reading the idle memory


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the gateway


def torouter_command() -> list[str]:
    """The console script beside this interpreter, else on PATH, else ``python -m``."""
    beside = Path(sys.executable).parent / "torouter"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("torouter")
    if found:
        return [found]
    return [sys.executable, "-m", "torouter.cli.main"]


# --key-rules: every restriction of CONTRACT §5 on the key, none of them near blocking
KEY_RULES = """
    spend_cap_usd: 1000000
    requests_5h: 1000000000
    requests_24h: 1000000000
    requests_7d: 1000000000
    expires_at: "2999-01-01T00:00:00Z"
    ip_allow: ["127.0.0.0/8", "::1/128"]
    ip_deny: ["10.0.0.0/8"]
    models: [MODEL]
"""


def write_config(
    workdir: Path, edge_port: int, router_port: int | None, mock_port: int, key_rules: bool = False
) -> Path:
    """A CONTRACT §2 config; JSON strings are valid YAML scalars, so values are dumped as JSON.
    Without ``router_port`` the config names no edge-router link: ``torouter up`` then joins them
    by a Unix socket (its default); with it, by TCP on that port."""

    def q(value: str) -> str:
        return json.dumps(value)

    link = "" if router_port is None else f"  router: {q(f'127.0.0.1:{router_port}')}\n"
    listen = "" if router_port is None else f"  listen: {q(f'127.0.0.1:{router_port}')}\n"
    text = f"""\
# written by bench/run.py
edge:
  listen: {q(f"127.0.0.1:{edge_port}")}
{link}router:
{listen}  state: "sqlite:///./torouter.db"

upstreams:
  mock:
    kind: openai
    base_url: {q(f"http://127.0.0.1:{mock_port}/v1")}
    api_key: {q(UPSTREAM_KEY)}
    models: [{q(MODEL)}]
    timeout_s: 60

groups:
  bench:
    upstreams: ["mock"]

keys:
  - name: bench
    key: {q(GATEWAY_KEY)}
    group: bench
"""
    if key_rules:
        text += KEY_RULES.replace("MODEL", q(MODEL)).lstrip("\n")
    path = workdir / "config.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# the runs


async def measure_all(
    targets: list[Target], direct: Target, args: argparse.Namespace, *, direct_throughput: bool = True
) -> Results:
    """Latency of ``targets`` in turns with ``direct`` (each gateway's added latency is against the
    direct requests of the same turns), then the throughput of each, and of ``direct`` unless
    ``direct_throughput`` is False (a later phase: the first phase's figures serve)."""
    for target in targets:
        await smoke(target)
    results = Results(labels={direct.name: direct.label} | {t.name: t.label for t in targets})
    for stream in (False, True):
        names = ", ".join(t.label for t in [direct, *targets])
        say(f"latency    {names:30} {kind(stream):10} ...")
        measured = await measure_latency(
            [direct, *targets], stream, args.requests, args.warmup, args.series_timeout
        )
        results.latency[(direct.name, stream)] = measured[0]
        for target, latency in zip(targets, measured[1:], strict=True):
            results.latency[(target.name, stream)] = latency
            results.baseline[(target.name, stream)] = measured[0]
    for stream in (False, True):
        for target in [direct, *targets] if direct_throughput else targets:
            say(f"throughput {target.label:15} {kind(stream):10} ...")
            results.throughput[(target.name, stream)] = await measure_throughput(
                target, stream, args.concurrency, args.duration
            )
    return results


def run_async(coro: Coroutine[Any, Any, T]) -> tuple[T, str]:
    """Run ``coro`` on uvloop when it is installed; returns its result and the loop's name."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro), "asyncio"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro), f"uvloop {importlib.metadata.version('uvloop')}"


def start_gateway(
    name: str,
    argv: list[str],
    workdir: Path,
    cpus: frozenset[int] | None,
    children: Children,
    env: dict[str, str] | None = None,
) -> tuple[Child, float]:
    """Starts a gateway under test; returns it and when it was started (for its ready time)."""
    since = time.monotonic()
    return children.add(start_child(name, argv, workdir, cpus=cpus, env=env)), since


def await_ready(
    child: Child, since: float, ready_url: str, classify: Classify, args: argparse.Namespace
) -> tuple[CpuMeter, Startup]:
    """Waits until ``ready_url`` answers 200, then reads the idle footprint of the process tree."""
    took = wait_ready(child, ready_url, args.ready_timeout, since=since)
    time.sleep(SETTLE_S)  # let start-up work finish before reading memory
    rss, processes = tree_rss_mb(child.proc.pid)
    meter = CpuMeter(child.proc.pid, classify)
    roles = [role for role, _pid, _argv in meter.describe()]
    say(f"{child.name} ready in {took:.2f} s; idle RSS {rss:.0f} MB ({', '.join(roles)})")
    return meter, Startup(took, rss, processes, roles, affinities(meter))


def run_relay(
    direct: Target,
    mock_port: int,
    workdir: Path,
    cpus: frozenset[int] | None,
    children: Children,
    results: Results,
    args: argparse.Namespace,
) -> None:
    """The byte relay against the same mock, on the gateway's CPU."""
    port = free_ports(1)[0]
    target = f"127.0.0.1:{mock_port}"
    argv = [sys.executable, str(BENCH_DIR / "relay.py"), "--port", str(port), "--to", target]
    child = children.add(start_child("relay", argv, workdir, cpus=cpus))
    try:
        wait_for_port(child, port, MOCK_START_TIMEOUT_S)
        meter = CpuMeter(child.proc.pid, single_role("relay"))
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        relay = Target("relay", "byte relay", url, meter)
        phase, _loop = run_async(measure_all([relay], direct, args, direct_throughput=False))
        results.merge(phase)
    finally:
        children.stop(child)


def run_litellm(
    direct: Target,
    install: LiteLLMInstall,
    mock_port: int,
    workdir: Path,
    args: argparse.Namespace,
    cpus: frozenset[int] | None,
    children: Children,
    results: Results,
) -> None:
    """LiteLLM's proxy against the same mock, on the gateway's CPU; a failure here skips it only."""
    port = free_ports(1)[0]
    config = write_litellm_config(workdir, mock_port, MODEL, UPSTREAM_KEY, GATEWAY_KEY)
    child: Child | None = None
    try:
        child, since = start_gateway(
            "litellm", proxy_argv(install, config, port), workdir, cpus, children, proxy_env()
        )
        meter, results.startup["litellm"] = await_ready(
            child, since, f"http://127.0.0.1:{port}/health/readiness", single_role("litellm"), args
        )
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        phase, _loop = run_async(
            measure_all(
                [Target("litellm", f"LiteLLM {install.version}", url, meter)],
                direct,
                args,
                direct_throughput=False,
            )
        )
        results.merge(phase)
    except BenchError as exc:
        results.notes.append(f"LiteLLM comparison skipped: {exc}")
        say(f"bench/run.py: LiteLLM comparison skipped: {exc}")
        if child is not None and child.stderr_tail(40):
            say(f"\n--- litellm stderr ({child.stderr_path}) ---\n{child.stderr_tail(40)}")
    finally:
        if child is not None:
            children.stop(child)


# ---------------------------------------------------------------------------------------------
# main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the latency ToRouter adds and its throughput, against a local mock upstream."
    )
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per latency series")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests before each latency series")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per throughput series")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="concurrent requests for throughput (default 32)"
    )
    parser.add_argument(
        "--series-timeout", type=float, default=15.0, help="upper bound in seconds on one latency series"
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=60.0, help="seconds to wait for the gateway's /readyz"
    )
    parser.add_argument(
        "--gateway-cmd",
        default=None,
        help="command that starts the gateway, given `up --config FILE` after it "
        "(default: the torouter script beside this python, else on PATH, else python -m torouter.cli.main)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="repeat the whole run N times (a new mock and gateway each time), then give each ToRouter "
        "figure's range over the runs and in how many it met issue 17's target",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config and process logs)")
    parser.add_argument(
        "--link",
        choices=("unix", "tcp"),
        default="unix",
        help="how torouter up joins its edge and router: a Unix socket (its default) or TCP on a free port",
    )
    parser.add_argument(
        "--key-rules",
        action="store_true",
        help="give the gateway's key every restriction (spend cap, windows, expiry, IP rules, models)",
    )
    parser.add_argument(
        "--direct-only", action="store_true", help="measure only the mock upstream, without the gateway"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the gateway's processes on one CPU, the load generator and the mock on another (needs 2 CPUs)",
    )
    parser.add_argument(
        "--relay",
        action="store_true",
        help="also measure a byte relay (bench/relay.py) on the gateway's CPU: what the placement "
        "itself adds, apart from any work a gateway does",
    )
    parser.add_argument(
        "--compare-litellm",
        action="store_true",
        help="also measure LiteLLM's proxy (one worker, same mock, same CPU as the gateway), "
        "installed on demand into its own venv under ~/.cache/torouter-bench",
    )
    parser.add_argument(
        "--litellm-version",
        default=DEFAULT_VERSION,
        help=f"LiteLLM version for --compare-litellm (default {DEFAULT_VERSION}; "
        "the newest available when that one is not on the package index)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.duration <= 0 or args.concurrency < 1 or args.runs < 1:
        parser.error("--requests, --concurrency and --runs must be >= 1, --warmup >= 0, --duration > 0")
    return args


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _placement_text(placement: Placement | None) -> str:
    if placement is None:
        return f"not pinned: every process may run on any of CPUs {cpu_list(os.sched_getaffinity(0))}"
    return (
        f"pinned: the gateway under test (every process of its tree) on CPU {cpu_list(placement.gateway)}; "
        f"the load generator and the mock upstream on CPU {cpu_list(placement.load)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_system_exit)  # so that the finally below runs
    placement: Placement | None = None
    if args.pin:
        try:
            placement = plan_pinning()
        except BenchError as exc:
            say(f"bench/run.py: {exc}")
            return 2
    notes: list[str] = []
    install: LiteLLMInstall | None = None
    if args.compare_litellm and args.direct_only:
        notes.append("--compare-litellm ignored with --direct-only")
    elif args.compare_litellm:
        try:
            install = ensure_litellm(args.litellm_version, say=say)
        except LiteLLMUnavailable as exc:
            say(f"bench/run.py: LiteLLM comparison skipped, its install failed: {exc}")
            notes.append(f"LiteLLM comparison skipped, its install failed: {str(exc).splitlines()[0]}")
    runs: list[Results] = []
    for number in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"\n# Run {number} of {args.runs}\n", flush=True)
        results = Results(placement=_placement_text(placement), notes=list(notes))
        code = one_run(args, placement, install, results)
        if code != 0:
            return code
        runs.append(results)
    if args.runs > 1 and not args.direct_only:
        print("\n" + summary(runs, args), flush=True)
    return 0


def one_run(
    args: argparse.Namespace, placement: Placement | None, install: LiteLLMInstall | None, results: Results
) -> int:
    """One whole run (a mock, the gateway, the relay and LiteLLM when asked), its report printed."""
    say(results.placement)
    workdir = Path(tempfile.mkdtemp(prefix="torouter-bench-"))
    children = Children()
    gateway_cpus = placement.gateway if placement else None
    try:
        if placement is not None:
            os.sched_setaffinity(0, placement.load)  # the load generator; the mock inherits it
        mock_port, edge_port, router_port = free_ports(3)
        mock = children.add(
            start_child(
                "mock",
                [sys.executable, str(BENCH_DIR / "mock_upstream.py"), "--port", str(mock_port)],
                workdir,
            )
        )
        wait_for_port(mock, mock_port, MOCK_START_TIMEOUT_S)
        direct = Target("direct", "direct", f"http://127.0.0.1:{mock_port}/v1/chat/completions")
        if args.direct_only:
            phase, loop_name = run_async(measure_all([], direct, args))
            results.merge(phase)
        else:
            gateway_cmd = shlex.split(args.gateway_cmd) if args.gateway_cmd else torouter_command()
            router_link = router_port if args.link == "tcp" else None
            config = write_config(workdir, edge_port, router_link, mock_port, args.key_rules)
            argv = [*gateway_cmd, "up", "--config", str(config)]
            gateway, since = start_gateway("gateway", argv, workdir, gateway_cpus, children)
            meter, results.startup["torouter"] = await_ready(
                gateway, since, f"http://127.0.0.1:{edge_port}/readyz", gateway_role, args
            )
            torouter = Target(
                "torouter", "ToRouter", f"http://127.0.0.1:{edge_port}/v1/chat/completions", meter
            )
            phase, loop_name = run_async(measure_all([torouter], direct, args))
            results.merge(phase)
            children.stop(gateway)  # before LiteLLM starts: each gateway has the CPU to itself
            if args.relay:
                run_relay(direct, mock_port, workdir, gateway_cpus, children, results, args)
            if install is not None:
                run_litellm(direct, install, mock_port, workdir, args, gateway_cpus, children, results)
        print(render(results, args, loop_name), flush=True)
        failures = results.failures()
        if failures:
            say("\nFAILED requests:\n" + "\n".join(f"- {f}" for f in failures))
            say(children.stderr_tails())
            return 1
        return 0
    except BenchError as exc:
        say(f"bench/run.py: {exc}")
        say(children.stderr_tails())
        return 2
    except KeyboardInterrupt:
        say("bench/run.py: interrupted; stopping every process it started")
        return 130
    finally:
        children.stop_all()
        if args.keep:
            say(f"kept {workdir} (config and logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
