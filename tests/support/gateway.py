"""The whole gateway (router + edge) running in the test's event loop, on loopback ports."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from dataclasses import replace
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from torouter.edge import app_keys
from torouter.edge.app import create_runner
from torouter.edge.client import RouterClient
from torouter.router.config import Config, parse_config
from torouter.router.server import RouterServer, build_router


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gateway:
    """Router and edge in-process. ``config`` is CONTRACT §2 YAML as a dict (listen addresses are
    filled in); ``stop_router``/``start_router`` simulate a router going away and coming back.

    ``link``: how the edge reaches the router: ``unix`` (as ``torouter up`` does: a socket in a
    private directory, non-streaming calls on a session) or ``tcp`` (as in compose: a loopback port,
    a unary RPC per call)."""

    def __init__(self, config: dict[str, Any], *, max_body_mb: float = 1.0, link: str = "unix") -> None:
        self.router_port = free_port()
        self.edge_port = free_port()
        address = f"127.0.0.1:{self.router_port}"
        raw = dict(config)
        raw["router"] = {
            "listen": address,
            "state": "memory://",
            **raw.get("router", {}),
        }
        raw["edge"] = {
            "listen": f"127.0.0.1:{self.edge_port}",
            "router": address,
            "max_body_mb": max_body_mb,
            **raw.get("edge", {}),
        }
        self.config: Config = parse_config(yaml.safe_dump(raw), env={})
        self._socket_dir: str | None = None
        if link == "unix" and self.config.router.listen == address and self.config.edge.router == address:
            # the config file names TCP only: `torouter up` gives both its socket the same way
            self._socket_dir = tempfile.mkdtemp(prefix="tr-", dir="/tmp")
            socket_address = f"unix:{self._socket_dir}/router.sock"
            self.config = replace(
                self.config,
                router=replace(self.config.router, listen=socket_address),
                edge=replace(self.config.edge, router=socket_address),
            )
        self.router: RouterServer | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def edge_client(self) -> RouterClient:
        """The edge's client of the router."""
        assert self._runner is not None
        return self._runner.app[app_keys.CLIENT]

    async def start_router(self) -> None:
        self.router = RouterServer(self.config, build_router(self.config))
        if self._socket_dir is not None:  # also on its TCP port, for tests that dial it themselves
            self.router.server.add_insecure_port(f"127.0.0.1:{self.router_port}")
        await self.router.start()

    async def stop_router(self, grace: float = 0.0) -> None:
        if self.router is not None:
            await self.router.stop(grace)
            self.router = None

    async def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Until the edge reports the router ready (it reconnects with a short backoff)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(f"{self.base_url}/readyz") as response:
                    if response.status == 200:
                        return
                assert asyncio.get_running_loop().time() < deadline, (
                    "the edge did not see the router come back"
                )
                await asyncio.sleep(0.05)

    async def start(self) -> Gateway:
        await self.start_router()
        self._runner = create_runner(self.config)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.edge_port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.stop_router()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def with_edge(self, **changes: Any) -> Config:
        return replace(self.config, edge=replace(self.config.edge, **changes))
