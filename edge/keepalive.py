"""Idle keep-alive for streamed answers: when nothing was written for a while (a model thinking for
minutes), a frame every SDK ignores goes out, so proxies and load balancers keep the line open.

One task per edge sweeps the open streams; a stream itself only notes when it last wrote, so the
common short stream pays for a set insertion and removal, not for a task and a timer of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from aiohttp import web

# Anthropic's SDK drops frames without an event line; it skips `ping` events. OpenAI's and
# google-genai's parsers skip SSE comment lines. A streamed JSON array (Gemini without alt=sse)
# takes whitespace between its elements.
JSON_STREAM = "json-stream"
PINGS = {"anthropic": b'event: ping\ndata: {"type": "ping"}\n\n', JSON_STREAM: b"\n"}
COMMENT = b": keep-alive\n\n"


class Line:
    """One SSE answer: writes go through it so the sweeper knows when it was last busy."""

    __slots__ = ("last_write", "ping", "response", "writing")

    def __init__(self, response: web.StreamResponse, protocol: str) -> None:
        self.response = response
        self.ping = PINGS.get(protocol, COMMENT)
        self.last_write = time.monotonic()
        self.writing = False

    async def write(self, data: bytes) -> None:
        self.writing = True
        try:
            await self.response.write(data)
        finally:
            self.writing = False
            self.last_write = time.monotonic()


class KeepAlive:
    """The open lines of one edge, and the sweeper that pings the idle ones."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self.lines: set[Line] = set()

    def open(self, response: web.StreamResponse, protocol: str) -> Line:
        line = Line(response, protocol)
        self.lines.add(line)
        return line

    def close(self, line: Line) -> None:
        self.lines.discard(line)

    async def sweep(self) -> None:
        """Pings every line idle for ``idle_s`` (checked a few times per period)."""
        now = time.monotonic()
        idle = [line for line in self.lines if not line.writing and now - line.last_write >= self.idle_s]
        for line in idle:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await line.write(line.ping)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.idle_s / 4)
            await self.sweep()

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: the sweeper runs while the app does."""
        task = asyncio.create_task(self.run()) if self.idle_s > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
