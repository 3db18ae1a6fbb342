"""The load generator: chat completions sent with an aiohttp client, latency and throughput series.

Every target is measured the same way; when a target has a ``CpuMeter``, the CPU time its process
tree used during the measured part of each series is recorded with the series.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
from processes import BenchError, CpuMeter, CpuUsage

MODEL = "gpt-4o-mini"
GATEWAY_KEY = "sk-torouter-bench-0123456789abcdef"
THROUGHPUT_WARMUP_S = 1.0
REQUEST_TIMEOUT_S = 30.0
HEADERS = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Target:
    name: str  # "direct", "torouter", "litellm"
    label: str  # how the report names it
    url: str
    meter: CpuMeter | None = None


@dataclass
class Latency:
    total_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    cpu: CpuUsage | None = None


@dataclass
class Throughput:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_error: str | None = None
    cpu: CpuUsage | None = None

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


def describe(exc: BaseException) -> str:
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
                raise BenchError(f"{kind} smoke request via {target.label} failed: {describe(exc)}") from exc


# Requests to one target before the next one's turn: each turn's first request finds the caches the
# other targets used (turns of one request each put a stream's first byte through the gateway at
# 2.7 ms where turns of 20 gave 1.75, bench/compare.py, the same minutes).
TURN = 20


async def take_turns(count: int, requests: int, send: Callable[[int], Awaitable[bool]]) -> None:
    """``send(i)`` ``requests`` times for each of ``count`` targets, ``TURN`` at a time to each in
    turn, the order rotating (no target always follows the same one): the k-th request of one
    target's turn neighbours the k-th of the next one's. Stops when ``send`` returns False."""
    for block in range(-(-requests // TURN)):
        size = min(TURN, requests - block * TURN)
        for turn in range(count):
            index = (block + turn) % count
            for _ in range(size):
                if not await send(index):
                    return


async def measure_latency(
    targets: Sequence[Target], stream: bool, requests: int, warmup: int, cap_s: float
) -> list[Latency]:
    """``requests`` sequential requests to each target (each on a connection of its own) after
    ``warmup`` to each, in turns (``take_turns``), so that the box's drift hits every target alike;
    at most ``cap_s`` seconds per target. A target's CPU time is read over the whole series and
    its wall time counted over its own turns."""
    body = request_body(stream)
    results = [Latency() for _ in targets]
    own_s = [0.0] * len(targets)
    done = [0] * len(targets)
    sessions = [client_session(1) for _ in targets]
    measuring = False

    async def send(index: int) -> bool:
        if measuring and time.monotonic() > deadline:
            return False
        result = results[index]
        started = time.perf_counter()
        try:
            ttfb, total = await one_request(sessions[index], targets[index].url, body, stream)
        except (RequestFailed, aiohttp.ClientError, TimeoutError) as exc:
            result.errors += 1
            result.first_error = result.first_error or describe(exc)
            return True
        finally:
            if measuring:
                own_s[index] += time.perf_counter() - started
                done[index] += 1
        if measuring:
            result.ttfb_ms.append(ttfb)
            result.total_ms.append(total)
        return True

    try:
        deadline = math.inf
        await take_turns(len(targets), warmup, send)
        windows = [target.meter.window() if target.meter else None for target in targets]
        for window in windows:
            if window:
                window.begin()
        measuring = True
        deadline = time.monotonic() + cap_s * len(targets)
        await take_turns(len(targets), requests, send)
        for result, window, count, wall in zip(results, windows, done, own_s, strict=True):
            if window:
                result.cpu = window.end(count)
                result.cpu.wall_s = wall
    finally:
        for session in sessions:
            await session.close()
    return results


async def measure_throughput(target: Target, stream: bool, concurrency: int, duration: float) -> Throughput:
    """Closed loop: ``concurrency`` workers send back to back for ``THROUGHPUT_WARMUP_S`` + ``duration``.

    Only the requests that end inside the last ``duration`` seconds count toward requests/s, and
    the target's CPU time is read at that window's start and end; errors count over the whole run.
    """
    body = request_body(stream)
    result = Throughput()
    window = target.meter.window() if target.meter else None  # lists the processes: before the load
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
                    result.first_error = result.first_error or describe(exc)
                    await asyncio.sleep(0.001)  # an error can be instant: do not spin
                    continue
                if window_start <= time.perf_counter() <= window_end:
                    result.ok += 1

        async def sample_cpu() -> None:
            if window is None:
                return
            await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
            counted_before = result.ok
            window.begin()
            await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
            result.cpu = window.end(result.ok - counted_before)

        await asyncio.gather(sample_cpu(), *(worker() for _ in range(concurrency)))
    result.seconds = duration
    return result
