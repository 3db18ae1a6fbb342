"""A stopping router exits, whatever its last steps wait for: past the grace gRPC's calls are
abandoned, and closing its upstreams and stores is bounded too (a router that stayed up after
SIGTERM was seen once; compose would have had to kill it)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from support.gateway import Gateway
from torouter.router import server as router_server

CONFIG = {
    "upstreams": {"echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]}},
    "groups": {"g": {"upstreams": ["echo"]}},
    "keys": [{"name": "k", "key": "tr-k", "group": "g"}],
}


async def test_a_close_that_never_ends_does_not_keep_the_router_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(router_server, "CLOSE_TIMEOUT_S", 0.3)
    async with Gateway(CONFIG) as gateway:
        router = gateway.router
        assert router is not None
        closed = router_server.RouterApp.close

        async def stuck(app: router_server.RouterApp) -> None:
            await closed(app)
            await asyncio.Event().wait()  # as a close waiting for a task that never ends

        monkeypatch.setattr(router_server.RouterApp, "close", stuck)
        caplog.set_level(logging.INFO, logger="torouter.router")
        stopping = asyncio.create_task(gateway.stop_router())
        await asyncio.wait({stopping}, timeout=10)
        assert stopping.done(), "the router is still stopping"
        await stopping
    said = [r.getMessage() for r in caplog.records if r.name == "torouter.router"]
    assert any("took too long" in m for m in said) and said[-1] == "router stopped"
