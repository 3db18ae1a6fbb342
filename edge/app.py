"""The edge's app factory: routes, middleware, and the gRPC channel to the router."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from aiohttp import web

from torouter.router.config import Config, admin_key_digests, edge_drain_s

from . import app_keys
from .admin import add_admin_routes
from .client import RouterClient
from .client_ip import ClientAddress
from .console import add_console_routes
from .console_files import ConsoleFiles
from .errors import error_codecs
from .forward import forward, usage_counted
from .keepalive import KeepAlive
from .metrics import Metrics
from .middleware import edge_middleware
from .routes import Endpoint, route_table
from .server import EdgeRunner, EdgeState
from .worker_metrics import WorkerMetrics

log = logging.getLogger("torouter.edge")

READY_TIMEOUT_S = 1.0


async def _router_client(app: web.Application) -> AsyncIterator[None]:
    edge = app[app_keys.CONFIG].edge
    client = RouterClient(edge.router, max_request_bytes=int(edge.max_body_mb * 1024 * 1024))
    app[app_keys.CLIENT] = client
    app[app_keys.METRICS].router_session_open.set_function(lambda: float(client.session_open))
    client.start()
    refresh = asyncio.create_task(client.refresh(edge.router_refresh_s))
    yield
    refresh.cancel()
    await client.close()


def _endpoint_handler(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await forward(request, endpoint)

    return handler


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the router answers its health check as SERVING."""
    if await request.app[app_keys.CLIENT].ready(READY_TIMEOUT_S):
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable", "router": "unreachable or not serving"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[app_keys.METRICS]
    await usage_counted()
    body = registry.render()
    workers = request.app.get(app_keys.WORKER_METRICS)
    if workers is not None:  # torouter up --workers N: the sum over the N edges
        body = await workers.total(body)
    return web.Response(body=body, headers={"content-type": registry.content_type})


def create_app(config: Config, workers: WorkerMetrics | None = None) -> web.Application:
    """The edge's app; ``workers``: it is one of several edges whose ``/metrics`` is summed."""
    max_body = int(config.edge.max_body_mb * 1024 * 1024)
    app = web.Application(client_max_size=max_body, middlewares=[edge_middleware])
    app[app_keys.CONFIG] = config
    app[app_keys.ERRORS] = error_codecs()
    app[app_keys.METRICS] = Metrics()
    if workers is not None:
        app[app_keys.WORKER_METRICS] = workers
        app.cleanup_ctx.append(workers.lifetime(app[app_keys.METRICS].render))
    app[app_keys.CLIENT_ADDRESS] = ClientAddress(config.edge.trusted_proxies)
    app[app_keys.ADMIN_ENABLED] = bool(admin_key_digests(config))
    app.cleanup_ctx.append(_router_client)
    app[app_keys.KEEPALIVE] = KeepAlive(config.edge.keepalive_s)
    app.cleanup_ctx.append(app[app_keys.KEEPALIVE].lifetime)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    for method, path, endpoint in route_table():
        app.router.add_route(method, path, _endpoint_handler(endpoint))
    add_admin_routes(app)
    if app[app_keys.ADMIN_ENABLED]:
        add_console_routes(app, ConsoleFiles.load())
    return app


def create_runner(config: Config, workers: WorkerMetrics | None = None) -> EdgeRunner:
    """The app under the edge's own server (``server.py``: answers and limits for what reaches no
    handler)."""
    app = create_app(config, workers)
    edge = EdgeState(config.edge, app[app_keys.ERRORS]["openai"])
    drain = edge_drain_s(config)
    return EdgeRunner(app, edge, handler_cancellation=True, access_log=None, shutdown_timeout=drain)


class ListenError(Exception):
    """The edge cannot listen on its address (in use, not this host's, not allowed)."""


class Companion(Protocol):
    """A process the edge keeps beside it (``torouter up``'s router with one worker:
    ``cli/keeper.py``): watched while the edge runs, stopped before the edge drains."""

    async def watch(self, stop_edge: Callable[[], None]) -> None: ...

    async def stop(self) -> None: ...


async def serve(
    config: Config,
    *,
    workers: int = 1,
    metrics_dir: str | None = None,
    worker_index: int = 0,
    on_ready: Callable[[], None] | None = None,
    companion: Companion | None = None,
) -> None:
    """Runs the edge until SIGTERM/SIGINT, then stops accepting and drains (``edge_drain_s``).
    ``workers``: how many edges ``torouter up`` runs on this config (more than one share the port:
    SO_REUSEPORT); ``metrics_dir``: where they share their metrics, this one as edge
    ``worker_index`` (``worker_metrics.py``); ``on_ready`` is called once the edge listens and its
    router answers (``/readyz`` would say ready: the router may start after the edge); a
    ``companion`` is stopped first, while the edge still relays what it answers, whatever ends the
    edge."""
    import signal

    stopping = asyncio.Event()
    watching = None if companion is None else asyncio.create_task(companion.watch(stopping.set))
    try:
        host, _, port = config.edge.listen.rpartition(":")
        shared = None if metrics_dir is None else WorkerMetrics(metrics_dir, worker_index, workers)
        runner = create_runner(config, shared)
        await runner.setup()
        site = web.TCPSite(runner, host.strip("[]"), int(port), backlog=1024, reuse_port=workers > 1)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {config.edge.listen}: {exc.strerror or exc}") from None
        edge = config.edge
        log.info("edge listening", extra={"listen": edge.listen, "router": edge.router, "pid": os.getpid()})
        reporting = None
        if on_ready is not None:
            reporting = asyncio.create_task(_when_router_ready(runner.app[app_keys.CLIENT], on_ready))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        if reporting is not None:
            reporting.cancel()
    finally:
        if companion is not None:
            await companion.stop()
        if watching is not None:
            watching.cancel()
    await runner.cleanup()


async def _when_router_ready(client: RouterClient, on_ready: Callable[[], None]) -> None:
    """Calls ``on_ready`` once the router answers its health check as SERVING (it may start after
    the edge: the check waits for it to be reachable)."""
    while True:
        if await client.ready(READY_TIMEOUT_S, wait_for_ready=True):
            on_ready()
            return
        await asyncio.sleep(0.02)  # reachable but not serving yet
