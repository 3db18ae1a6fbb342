"""Idle keep-alive for SSE answers: when nothing was written for a while (a model thinking for
minutes), a frame every SDK ignores goes out, so proxies and load balancers keep the line open."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

# Anthropic's SDK drops frames without an event line; it skips `ping` events. OpenAI's and
# google-genai's parsers skip SSE comment lines.
PINGS = {"anthropic": b'event: ping\ndata: {"type": "ping"}\n\n'}
COMMENT = b": keep-alive\n\n"


class KeepAlive:
    """Writes through to the response, and pings from a side task when the line is idle."""

    def __init__(self, response: web.StreamResponse, protocol: str, idle_s: float) -> None:
        self.response = response
        self.ping = PINGS.get(protocol, COMMENT)
        self.idle_s = idle_s
        self.last_write = time.monotonic()
        self.writing = False
        self._task = asyncio.create_task(self._run()) if idle_s > 0 else None

    async def write(self, data: bytes) -> None:
        self.writing = True
        try:
            await self.response.write(data)
        finally:
            self.writing = False
            self.last_write = time.monotonic()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(0.01, self.last_write + self.idle_s - time.monotonic()))
            if not self.writing and time.monotonic() - self.last_write >= self.idle_s:
                await self.write(self.ping)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, ConnectionError):
                pass
            self._task = None
