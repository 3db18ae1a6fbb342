"""The edge's gRPC client of the router: one channel, ``dns:///`` resolution, round-robin.

A ``dns:///`` name is resolved again by gRPC when a connection goes (a router stopping, or closing
an old connection: routers set a max connection age), and by :meth:`RouterClient.refresh` every
``edge.router_refresh_s``: when the addresses changed (a router added, say), calls move to a new
channel and the old one closes once its calls are over.

To the router of its own host (a ``unix:`` socket) the calls go on one long-lived session instead
(edge/session.py), and as RPCs of their own only while it is not open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from torouter.proto.v1 import router_pb2, router_pb2_grpc

from .session import EdgeSession, Replied, SessionStream

if TYPE_CHECKING:
    from torouter.proto.v1.router_pb2_grpc import RouterAsyncStub

log = logging.getLogger("torouter.edge")

# A call that fails before the router sent its response headers is tried again, on the next replica
# of the round robin. The router sends its headers before it does anything with a call
# (router/server.py), so such a call never ran there: a replica killed or restarting (UNAVAILABLE),
# or one that stopped while the call was on its way (a server shutting down cancels the calls it
# has not begun: CANCELLED). Once headers came, gRPC never retries, whatever the status: a call
# reaches an upstream at most once.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{"service": "torouter.v1.Router"}],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
            },
        }
    ],
}

CHANNEL_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    # A restarted router is picked up within about a second, without restarting the edge.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # gRPC resolves the name again when a connection goes (at most this often; its default, 30 s,
    # would leave a router added meanwhile without calls for that long)
    ("grpc.dns_min_time_between_resolutions_ms", 2_000),
]
# A router on this host, through a Unix socket (``torouter up``): a connection attempt costs next to
# nothing, so a router (re)starting is reached within tens of milliseconds.
UNIX_CHANNEL_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 100),
]
# A call whose request is larger than gRPC's retry buffer is never retried (256 KiB by default):
# leave room for the largest body the edge accepts.
RETRY_BUFFER_MARGIN_BYTES = 1024 * 1024
READY_WAIT_S = 5.0  # how long a new channel may take to connect before calls move to it anyway

Resolver = Callable[[str, int], Awaitable[frozenset[str]]]


def channel_options(target: str) -> list[tuple[str, str | int]]:
    """The channel's options for a target (a Unix socket's reconnect faster)."""
    if not target.startswith("unix:"):
        return list(CHANNEL_OPTIONS)
    unix = dict(UNIX_CHANNEL_OPTIONS)
    return [(name, unix.get(name, value)) for name, value in CHANNEL_OPTIONS]


def grpc_target(router: str) -> str:
    """``host:port`` becomes ``dns:///host:port``; explicit schemes are kept."""
    if "://" in router or router.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        return router
    return f"dns:///{router}"


def dns_name(target: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``dns:`` target that names a host (not an address); None otherwise."""
    if not target.startswith("dns:"):
        return None
    rest = target.removeprefix("dns:")
    if rest.startswith("//"):  # dns://[authority]/host:port
        rest = rest[2:].partition("/")[2]
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not host:
        return None
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return host, int(port)
    return None  # an address: nothing to resolve again


async def resolve(host: str, port: int) -> frozenset[str]:
    """The addresses a name has now (empty when it does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    return frozenset(str(info[4][0]) for info in infos)


class RouterClient:
    def __init__(
        self,
        target: str,
        *,
        max_request_bytes: int = 0,
        drain_s: float = 3600.0,
        resolver: Resolver = resolve,
    ) -> None:
        self.target = grpc_target(target)
        self._options = channel_options(self.target)
        if max_request_bytes:
            self._options.append(
                ("grpc.per_rpc_retry_buffer_size", max_request_bytes + RETRY_BUFFER_MARGIN_BYTES)
            )
        self._drain_s = drain_s
        self._resolver = resolver
        self._draining: dict[grpc.aio.Channel, asyncio.Task[None]] = {}
        self._use(self._open())
        # The router of this host, alone behind its socket: calls share a session (edge/session.py).
        # Elsewhere (a name with several routers behind it) each call is its own RPC, for the
        # round robin and the retries on another router.
        self._session: EdgeSession | None = None
        if self.target.startswith("unix:"):
            self._session = EdgeSession(lambda batches: self.stub.Session(batches, wait_for_ready=True))

    async def call(self, request: router_pb2.CallRequest, timeout_s: float) -> Replied:
        """A non-streaming call: on the session when it is open, else as a unary RPC; its reply,
        and its usage when that follows the reply (a session's only). Raises
        ``grpc.aio.AioRpcError`` either way."""
        if self._session is not None and self._session.usable:
            replied = await self._session.call(request, timeout_s)
            if replied is not None:
                return replied
        return await self.stub.Call(request, timeout=timeout_s), None

    def stream(
        self, request: router_pb2.CallRequest, timeout_s: float
    ) -> grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame] | SessionStream:
        """A call whose answer may stream: on the session when it is open, else as a Stream RPC.
        Either is read alike: frames, then the usage (``SessionStream.usage``, the RPC's trailing
        metadata: ``session.reported_usage``); ``cancel()`` abandons it."""

        def rpc(timeout_s: float) -> grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame]:
            return self.stub.Stream(request, timeout=timeout_s)

        if self._session is not None and self._session.usable:
            stream = self._session.stream(request, timeout_s, rpc)
            if stream is not None:
                return stream
        return rpc(timeout_s)

    @property
    def session_open(self) -> bool:
        """Whether calls go on the session now."""
        return self._session is not None and self._session.usable

    def start(self) -> None:
        """Opens the session (in the background, once the router is ready), when there is one."""
        if self._session is not None:
            self._session.start()

    def _open(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.target, options=self._options)

    def _use(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.stub: RouterAsyncStub = router_pb2_grpc.RouterStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)

    async def ready(self, wait_s: float, *, wait_for_ready: bool = False) -> bool:
        """True when the router answers its health check as SERVING (``wait_for_ready``: waiting up
        to ``wait_s`` for a router that cannot be reached yet)."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=wait_s, wait_for_ready=wait_for_ready
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def refresh(self, every_s: float) -> None:
        """Resolves a ``dns:`` name every ``every_s`` seconds; when its addresses change, new calls
        go to a new channel (which resolves it afresh) and the old one is closed once its calls
        are over. Runs until cancelled; returns at once for targets that are not names."""
        name = dns_name(self.target)
        if name is None or every_s <= 0:
            return
        known = await self._resolver(*name)
        while True:
            await asyncio.sleep(every_s)
            addresses = await self._resolver(*name)
            if not addresses or addresses == known:
                continue
            log.info(
                "router addresses changed",
                extra={"router": self.target, "before": len(known), "after": len(addresses)},
            )
            known = addresses
            try:
                await self._renew()
            except Exception:  # the current channel keeps serving; the next change tries again
                log.exception("cannot open a new channel to the routers")

    async def _renew(self) -> None:
        channel = self._open()
        channel.get_state(try_to_connect=True)
        try:  # (not asyncio.wait_for: on 3.11 it can swallow the refresher's cancel)
            async with asyncio.timeout(READY_WAIT_S):
                await channel.channel_ready()
        except TimeoutError:
            pass  # the calls wait for a connection there as they would have on the old channel
        old = self.channel
        self._use(channel)
        self._draining[old] = asyncio.create_task(self._drain(old))

    async def _drain(self, channel: grpc.aio.Channel) -> None:
        """Closes a channel once its calls are over (or after ``drain_s``, the longest a call lasts)."""
        await channel.close(grace=self._drain_s)
        self._draining.pop(channel, None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        for task in self._draining.values():
            task.cancel()
        channels = [*self._draining, self.channel]
        self._draining.clear()
        await asyncio.gather(*(channel.close(grace=None) for channel in channels))
