"""Benchmark: the latency ToRouter adds, and its throughput, against a mock upstream on this box.

    python bench/run.py [--requests N] [--duration S] [--concurrency 64] [--keep] [--direct-only]

It starts ``bench/mock_upstream.py`` (its own process), writes a temporary config (free loopback
ports, one ``openai`` upstream ``mock`` pointing at the mock, one group, one static key), starts
``torouter up --config`` and waits for ``/readyz``. The load generator then runs in this process
(aiohttp client, uvloop when installed) and measures, for non-streaming and streaming chat
completions, directly against the mock and through the gateway:

1. latency at concurrency 1: N sequential requests after a warm-up, p50/p90/p99, and the
   "added" latency = gateway minus direct at each percentile (streams: time to first body byte
   and to the last byte);
2. throughput at a fixed concurrency for a fixed duration: requests/s and errors.

It prints Markdown tables, always stops every process it started, and exits 1 if any request
failed, 2 if the set-up failed (the gateway's stderr is printed then).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp

BENCH_DIR = Path(__file__).resolve().parent
MODEL = "gpt-4o-mini"
GATEWAY_KEY = "sk-torouter-bench-0123456789abcdef"
UPSTREAM_KEY = "sk-mock-upstream"
PERCENTILES = (50, 90, 99)
THROUGHPUT_WARMUP_S = 1.0
REQUEST_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0


class BenchError(Exception):
    """The set-up failed: a process did not start, or a smoke request got a wrong answer."""


# ---------------------------------------------------------------------------------------------
# processes


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stderr_tail(self, lines: int = 200) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all held open at once, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_child(name: str, argv: Sequence[str], workdir: Path) -> Child:
    stdout_path = workdir / f"{name}.stdout.log"
    stderr_path = workdir / f"{name}.stderr.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                list(argv),
                cwd=workdir,  # relative paths in argv would resolve there: use absolute ones
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: we can stop its children too
            )
    except OSError as exc:
        raise BenchError(f"cannot start {name} ({shlex.join(argv)}): {exc}") from exc
    return Child(name, proc, stdout_path, stderr_path)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_child(child: Child) -> None:
    """SIGTERM (the gateway drains and stops both of its processes), then SIGKILL after a grace.

    The child was started in its own session, so its process group holds only the processes it
    started; whatever of that group is still alive after the grace period is killed.
    """
    proc = child.proc
    pgid = proc.pid
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            print(
                f"{child.name} did not stop within {STOP_GRACE_S:.0f}s of SIGTERM: killing it",
                file=sys.stderr,
            )
            os.killpg(pgid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + STOP_GRACE_S
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid):
        print(f"processes left by {child.name} (group {pgid}): killing them", file=sys.stderr)
        os.killpg(pgid, signal.SIGKILL)


def wait_for_port(child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with code {child.proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{child.name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def wait_ready(child: Child, url: str, timeout: float) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    start = time.monotonic()
    deadline = start + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with code {child.proc.returncode} before it was ready")
        try:
            with opener.open(url, timeout=1.0) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")


def tree_rss_mb(root_pid: int) -> tuple[float, int]:
    """Resident memory (MB) of ``root_pid`` and all its descendants, and how many processes that is.

    Linux only (reads /proc); (NaN, 0) elsewhere.
    """
    children: dict[int, list[int]] = {}
    rss_kb: dict[int, int] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return math.nan, 0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields["PPid"].strip()), []).append(pid)
        rss_kb[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, count, todo = 0, 0, [root_pid]
    while todo:
        pid = todo.pop()
        if pid in rss_kb:
            total += rss_kb[pid]
            count += 1
        todo.extend(children.get(pid, ()))
    return total / 1024, count


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
    workdir: Path, edge_port: int, router_port: int, mock_port: int, key_rules: bool = False
) -> Path:
    """A CONTRACT §2 config; JSON strings are valid YAML scalars, so values are dumped as JSON."""

    def q(value: str) -> str:
        return json.dumps(value)

    text = f"""\
# written by bench/run.py
edge:
  listen: {q(f"127.0.0.1:{edge_port}")}
  router: {q(f"127.0.0.1:{router_port}")}
router:
  listen: {q(f"127.0.0.1:{router_port}")}
  state: "sqlite:///./torouter.db"

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
# load generation


@dataclass(frozen=True)
class Target:
    name: str
    url: str


@dataclass
class Latency:
    total_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None


@dataclass
class Throughput:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


class RequestFailed(Exception):
    pass


def request_body(stream: bool) -> bytes:
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


HEADERS = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}


async def one_request(
    session: aiohttp.ClientSession, url: str, body: bytes, stream: bool
) -> tuple[float, float]:
    """One chat completion; returns (time to first body byte, time to last byte) in ms."""
    start = time.perf_counter()
    first: float | None = None
    async with session.post(url, data=body, headers=HEADERS) as resp:
        if resp.status != 200:
            text = (await resp.read())[:300].decode(errors="replace")
            raise RequestFailed(f"HTTP {resp.status}: {text}")
        if stream:
            tail = b""
            async for chunk in resp.content.iter_any():
                if first is None:
                    first = time.perf_counter()
                tail = (tail + chunk)[-64:]
            end = time.perf_counter()
            if b"[DONE]" not in tail:
                raise RequestFailed(f"stream did not end with data: [DONE] (ended with {tail!r})")
        else:
            data = await resp.read()
            end = time.perf_counter()
            if b'"choices"' not in data:
                raise RequestFailed(f"no choices in the answer: {data[:300]!r}")
    first_ms = ((first or end) - start) * 1000.0
    return first_ms, (end - start) * 1000.0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:400]


def client_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False)


async def smoke(target: Target) -> None:
    """One request of each kind; a wrong answer here is a set-up error, not a measurement."""
    async with client_session(1) as session:
        for stream in (False, True):
            try:
                await one_request(session, target.url, request_body(stream), stream)
            except (RequestFailed, aiohttp.ClientError, TimeoutError) as exc:
                kind = "stream" if stream else "non-stream"
                raise BenchError(f"{kind} smoke request via {target.name} failed: {_describe(exc)}") from exc


async def measure_latency(target: Target, stream: bool, requests: int, warmup: int, cap_s: float) -> Latency:
    body = request_body(stream)
    result = Latency()
    async with client_session(1) as session:
        for _ in range(warmup):
            try:
                await one_request(session, target.url, body, stream)
            except (RequestFailed, aiohttp.ClientError, TimeoutError) as exc:
                result.errors += 1
                result.first_error = result.first_error or _describe(exc)
        deadline = time.monotonic() + cap_s
        for _ in range(requests):
            if time.monotonic() > deadline:
                break
            try:
                ttfb, total = await one_request(session, target.url, body, stream)
            except (RequestFailed, aiohttp.ClientError, TimeoutError) as exc:
                result.errors += 1
                result.first_error = result.first_error or _describe(exc)
                continue
            result.ttfb_ms.append(ttfb)
            result.total_ms.append(total)
    return result


async def measure_throughput(target: Target, stream: bool, concurrency: int, duration: float) -> Throughput:
    """Closed loop: ``concurrency`` workers send back to back for ``THROUGHPUT_WARMUP_S`` + ``duration``.

    Only the requests that end inside the last ``duration`` seconds count toward requests/s;
    errors count over the whole run.
    """
    body = request_body(stream)
    result = Throughput()
    async with client_session(concurrency) as session:
        start = time.perf_counter()
        window_start = start + THROUGHPUT_WARMUP_S
        window_end = window_start + duration

        async def worker() -> None:
            while time.perf_counter() < window_end:
                try:
                    await one_request(session, target.url, body, stream)
                except (RequestFailed, aiohttp.ClientError, TimeoutError) as exc:
                    result.errors += 1
                    result.first_error = result.first_error or _describe(exc)
                    await asyncio.sleep(0.001)  # an error can be instant: do not spin
                    continue
                if window_start <= time.perf_counter() <= window_end:
                    result.ok += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = duration
    return result


@dataclass
class Results:
    latency: dict[tuple[str, bool], Latency] = field(default_factory=dict)
    throughput: dict[tuple[str, bool], Throughput] = field(default_factory=dict)

    def failures(self) -> list[str]:
        out = []
        for (name, stream), lat in self.latency.items():
            if lat.errors:
                out.append(f"latency {name} {_kind(stream)}: {lat.errors} errors, first: {lat.first_error}")
        for (name, stream), thr in self.throughput.items():
            if thr.errors:
                out.append(
                    f"throughput {name} {_kind(stream)}: {thr.errors} errors, first: {thr.first_error}"
                )
        return out


def _kind(stream: bool) -> str:
    return "stream" if stream else "non-stream"


async def measure_all(targets: list[Target], args: argparse.Namespace) -> Results:
    for target in targets:
        await smoke(target)
    results = Results()
    for stream in (False, True):
        for target in targets:
            print(f"latency    {target.name:8} {_kind(stream):10} ...", file=sys.stderr, flush=True)
            results.latency[(target.name, stream)] = await measure_latency(
                target, stream, args.requests, args.warmup, args.series_timeout
            )
    for stream in (False, True):
        for target in targets:
            print(f"throughput {target.name:8} {_kind(stream):10} ...", file=sys.stderr, flush=True)
            results.throughput[(target.name, stream)] = await measure_throughput(
                target, stream, args.concurrency, args.duration
            )
    return results


def run_async(coro: Coroutine[Any, Any, Results]) -> tuple[Results, str]:
    """Run ``coro`` on uvloop when it is installed; returns its result and the loop's name."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro), "asyncio"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro), f"uvloop {importlib.metadata.version('uvloop')}"


# ---------------------------------------------------------------------------------------------
# report


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


def render(results: Results, args: argparse.Namespace, loop_name: str, direct_only: bool) -> str:
    lines = [
        "## ToRouter benchmark",
        "",
        f"- machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, {loop_name}, aiohttp {aiohttp.__version__}",
        f"- latency: concurrency 1, {args.requests} sequential requests per series "
        f"after {args.warmup} warm-up (at most {args.series_timeout:.0f} s per series)",
        f"- throughput: concurrency {args.concurrency}, {args.duration:.0f} s per series "
        f"after {THROUGHPUT_WARMUP_S:.0f} s warm-up",
        "- direct = load generator → mock upstream; gateway = load generator → edge → router → mock",
        "",
        "### Latency at concurrency 1 (ms)",
        "",
        "| request | path | p50 | p90 | p99 | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    series = (
        ("non-stream", False, "total_ms"),
        ("stream, first byte", True, "ttfb_ms"),
        ("stream, last byte", True, "total_ms"),
    )
    for label, stream, attr in series:
        direct = results.latency[("direct", stream)]
        d_values: list[float] = getattr(direct, attr)
        d_pcts = [percentile(d_values, p) for p in PERCENTILES]
        d_cells = " | ".join(_ms(v) for v in d_pcts)
        lines.append(f"| {label} | direct | {d_cells} | {len(d_values)} | {direct.errors} |")
        if direct_only:
            continue
        gateway = results.latency[("gateway", stream)]
        g_values: list[float] = getattr(gateway, attr)
        g_pcts = [percentile(g_values, p) for p in PERCENTILES]
        added = [g - d for g, d in zip(g_pcts, d_pcts, strict=True)]
        g_cells = " | ".join(_ms(v) for v in g_pcts)
        lines.append(f"| {label} | gateway | {g_cells} | {len(g_values)} | {gateway.errors} |")
        lines.append(f"| {label} | **added** | {' | '.join(f'**{_ms(v, True)}**' for v in added)} | | |")
    lines += [
        "",
        f"### Throughput at concurrency {args.concurrency} (requests/s)",
        "",
        "| request | direct req/s | gateway req/s | gateway / direct | errors direct | errors gateway |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for stream in (False, True):
        direct_t = results.throughput[("direct", stream)]
        gateway_t = results.throughput.get(("gateway", stream))
        if gateway_t is None:
            lines.append(f"| {_kind(stream)} | {direct_t.rps:,.0f} | - | - | {direct_t.errors} | - |")
            continue
        ratio = f"{gateway_t.rps / direct_t.rps:.0%}" if direct_t.rps else "-"
        lines.append(
            f"| {_kind(stream)} | {direct_t.rps:,.0f} | {gateway_t.rps:,.0f} | {ratio} "
            f"| {direct_t.errors} | {gateway_t.errors} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the latency ToRouter adds and its throughput, against a local mock upstream."
    )
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per latency series")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests before each latency series")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per throughput series")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent requests for throughput")
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
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config and process logs)")
    parser.add_argument(
        "--key-rules",
        action="store_true",
        help="give the gateway's key every restriction (spend cap, windows, expiry, IP rules, models)",
    )
    parser.add_argument(
        "--direct-only", action="store_true", help="measure only the mock upstream, without the gateway"
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.duration <= 0 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be >= 1, --warmup >= 0, --duration > 0")
    return args


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_system_exit)  # so that the finally below runs
    workdir = Path(tempfile.mkdtemp(prefix="torouter-bench-"))
    children: list[Child] = []
    gateway: Child | None = None
    try:
        mock_port, edge_port, router_port = free_ports(3)
        mock = start_child(
            "mock", [sys.executable, str(BENCH_DIR / "mock_upstream.py"), "--port", str(mock_port)], workdir
        )
        children.append(mock)
        wait_for_port(mock, mock_port, timeout=15.0)
        targets = [Target("direct", f"http://127.0.0.1:{mock_port}/v1/chat/completions")]
        if not args.direct_only:
            gateway_cmd = shlex.split(args.gateway_cmd) if args.gateway_cmd else torouter_command()
            config = write_config(workdir, edge_port, router_port, mock_port, args.key_rules)
            gateway = start_child("gateway", [*gateway_cmd, "up", "--config", str(config)], workdir)
            children.append(gateway)
            took = wait_ready(gateway, f"http://127.0.0.1:{edge_port}/readyz", args.ready_timeout)
            time.sleep(1.0)  # let start-up work finish before reading memory
            rss, processes = tree_rss_mb(gateway.proc.pid)
            print(f"gateway ready in {took:.2f} s; idle RSS {rss:.0f} MB ({processes} processes)", file=sys.stderr)
            targets.append(Target("gateway", f"http://127.0.0.1:{edge_port}/v1/chat/completions"))
        results, loop_name = run_async(measure_all(targets, args))
        print(render(results, args, loop_name, args.direct_only))
        failures = results.failures()
        if failures:
            print("\nFAILED requests:\n" + "\n".join(f"- {f}" for f in failures), file=sys.stderr)
            if gateway is not None:
                print(f"\n--- gateway stderr (tail) ---\n{gateway.stderr_tail()}", file=sys.stderr)
            return 1
        return 0
    except BenchError as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        for child in children:
            tail = child.stderr_tail()
            if tail:
                print(f"\n--- {child.name} stderr ({child.stderr_path.name}) ---\n{tail}", file=sys.stderr)
        return 2
    finally:
        for child in reversed(children):
            stop_child(child)
        if args.keep:
            print(f"kept {workdir} (config and logs)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
