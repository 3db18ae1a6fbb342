"""`torouter up` under load, as a user runs it: 200 concurrent streams arrive byte-exact, and a
SIGTERM during 50 live streams lets every one of them finish."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from support.gateway import free_port
from support.openai_upstream import MockOpenAI

KEY = "tr-soak-key"


@pytest.fixture
async def up(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, MockOpenAI]]:
    async with MockOpenAI(name="soak") as mock:
        edge, router = free_port(), free_port()
        config = {
            "edge": {"listen": f"127.0.0.1:{edge}", "router": f"127.0.0.1:{router}"},
            "router": {"listen": f"127.0.0.1:{router}", "state": "memory://", "shutdown_grace_s": 20},
            "upstreams": {
                "oai": {
                    "kind": "openai",
                    "base_url": mock.base_url,
                    "api_key": mock.api_key,
                    "models": ["gpt-4o-mini"],
                }
            },
            "groups": {"g": {"upstreams": ["oai"]}},
            "keys": [{"name": "k", "key": KEY, "group": "g"}],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "torouter.cli.main",
            "up",
            "--config",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "TOROUTER_LOG_LEVEL": "WARNING"},
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert b"ToRouter is up" in line, line
        try:
            yield process, f"http://127.0.0.1:{edge}", mock
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 60)


async def stream(http: httpx.AsyncClient, base: str, text: str) -> bytes:
    async with http.stream(
        "POST",
        f"{base}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "stream": True},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        return b"".join([piece async for piece in response.aiter_raw()])


@pytest.mark.slow
async def test_200_concurrent_streams_arrive_byte_exact(
    up: tuple[asyncio.subprocess.Process, str, MockOpenAI],
) -> None:
    _, base, mock = up
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(limits=limits) as http:
        bodies = await asyncio.gather(*(stream(http, base, f"stream number {i}") for i in range(200)))
    by_text = {r.json["messages"][0]["content"]: r for r in mock.requests}
    assert len(by_text) == 200
    for i, body in enumerate(bodies):
        sent = by_text[f"stream number {i}"]
        # the usage chunk the router asked for on the caller's behalf (for its usage record) is kept
        # from the caller, who did not ask for it; every other byte arrives as the upstream sent it
        assert sent.response_chunks[-1]["choices"] == [] and sent.response_chunks[-1]["usage"]
        expected = (
            b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in sent.response_chunks[:-1])
            + b"data: [DONE]\n\n"
        )
        assert body == expected


@pytest.mark.slow
async def test_sigterm_during_50_live_streams_lets_them_finish(
    up: tuple[asyncio.subprocess.Process, str, MockOpenAI],
) -> None:
    process, base, mock = up
    mock.chunk_delay_s = 0.1  # each stream lasts about a second
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as http:
        streams = [
            asyncio.create_task(stream(http, base, f"live one two three four five {i}")) for i in range(50)
        ]
        await mock.wait_for_requests(50, timeout_s=20)
        process.send_signal(signal.SIGTERM)
        bodies = await asyncio.gather(*streams)
    assert all(body.endswith(b"data: [DONE]\n\n") for body in bodies)
    assert await asyncio.wait_for(process.wait(), 60) == 0
