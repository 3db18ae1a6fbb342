"""Slow clients are cut off: a request head must arrive within ``edge.header_timeout_s`` and its
body within ``edge.body_timeout_s`` (1 s each for this suite), and one address may hold at most
``edge.max_pending_per_ip`` (8 here) connections that have not sent a whole head. A slowloris of 40
connections is over in seconds and leaves the gateway healthy."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from support.hostile import KEYS, HostileStack, RawAnswer, assert_refused, read_answer


async def _trickle(
    port: int, data: bytes, every_s: float, timeout_s: float
) -> tuple[RawAnswer | None, float]:
    """Sends ``data`` a byte at a time; returns the answer and how long the connection lived."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drip() -> None:
        for byte in data:
            if writer.is_closing():
                return
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:
                return
            await asyncio.sleep(every_s)

    dripping = asyncio.create_task(drip())
    try:
        answer = await read_answer(reader, timeout_s)
    finally:
        dripping.cancel()
        writer.close()
    return answer, time.perf_counter() - started


HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
    + KEYS["openai"].encode()
)


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_a_408(hostile: HostileStack) -> None:
    answer, lived = await _trickle(hostile.port, HEAD, 0.05, timeout_s=10)
    assert answer is not None and "did not arrive" in assert_refused(answer, "openai", 408)
    assert lived < 5, lived


async def test_a_connection_that_sends_nothing_is_closed(hostile: HostileStack) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hostile.port)
    try:
        answer = await read_answer(reader, 10)
    finally:
        writer.close()
    assert answer is not None and answer.status == 408


async def test_a_body_sent_too_slowly_is_a_408_in_the_callers_protocol(hostile: HostileStack) -> None:
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: "
        + KEYS["claude"].encode()
        + b"\r\nanthropic-version: 2023-06-01\r\nContent-Type: application/json"
        + b"\r\nContent-Length: 500\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", hostile.port)
    try:
        writer.write(head + b'{"model":')
        answer = await read_answer(reader, 10)
    finally:
        writer.close()
    assert answer is not None and "body did not arrive" in assert_refused(answer, "anthropic", 408)


async def test_pending_connections_per_address_are_capped(hostile: HostileStack) -> None:
    opened = [await asyncio.open_connection("127.0.0.1", hostile.port) for _ in range(8)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", hostile.port)
        try:
            answer = await read_answer(reader, 0.9)  # before the others' heads time out
        finally:
            writer.close()
        assert answer is not None and "Too many connections" in assert_refused(answer, "openai", 429)
        assert answer.headers.get("retry-after") == "1"
    finally:
        for _, w in opened:
            w.close()


async def test_a_slowloris_is_over_in_seconds_and_the_gateway_stays_healthy(hostile: HostileStack) -> None:
    started = time.perf_counter()
    attackers = [_trickle(hostile.port, HEAD, 0.2, timeout_s=20) for _ in range(40)]
    results = await asyncio.gather(*attackers)
    took = time.perf_counter() - started
    statuses = sorted(a.status if a else 0 for a, _ in results)
    assert set(statuses) <= {408, 429} and statuses.count(408) <= 8, statuses
    assert took < 10, took
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{hostile.gateway.base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "still there?"}]},
            headers={"Authorization": f"Bearer {KEYS['openai']}"},
        ) as answer,
    ):
        assert answer.status == 200
    assert hostile.gateway.router is not None
