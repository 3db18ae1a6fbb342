"""The gRPC server: the envelope service, the health service, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from torouter.proto.v1 import router_pb2, router_pb2_grpc

from .account.admin import AdminAPI
from .account.key_admin import KeyAdmin
from .account.keys_api import KeysAPI
from .account.price_cache import PriceCache, cache_dir, library_version
from .account.prices import LibraryPrices, PriceTable, utc_day
from .account.recorder import UsageRecorder
from .account.records import UsageRecord
from .account.spend import SpendLedger
from .account.store import UsageStore, default_url, open_usage_store
from .account.usage_api import ModelsAPI, UsageAPI
from .account.writer import UsageWriter
from .call import ANSWER_OVER
from .capabilities import CapabilityTable
from .config import Config, ConfigError, RouterConfig, admin_key_digests
from .dispatch import Call, Dispatcher, Outcome, UploadedFile
from .logs import RequestSink, logging_sink
from .plugins import Registry, load_registry
from .routing.caller_keys import KeyRing
from .routing.catalog import Catalog, thinking_models
from .routing.fallbacks import RetryPolicy
from .routing.families import family_rules
from .session import Answered, RouterSession, Sessions
from .state import StateStore, open_store
from .upstreams.base import Upstream

log = logging.getLogger("torouter.router")

SERVICE_NAME = "torouter.v1.Router"
USAGE_METADATA = "torouter-usage-bin"  # a stream's Usage, serialized, in its trailing metadata
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
]
# A connection past its max age gets a GOAWAY; its calls in flight may run this long yet (a call
# ends by its deadline well before: the edge caps callers' timeouts at an hour).
MAX_CONNECTION_AGE_GRACE_S = 3600


def server_options(config: RouterConfig, *, reuse_port: bool = False) -> list[tuple[str, int]]:
    """The server's channel options. With a max connection age, edges resolve the routers' name
    again when their connection ages out (gRPC re-resolves on a GOAWAY), and reach routers added
    since; the core adds ±10 % of jitter, so that connections do not all go at once. The port is
    shared only when asked (``torouter up --workers N`` over TCP): a port in use is an error.

    A Unix socket has one router behind it, with no name to resolve again: its connections have
    no max age (an edge's session lives on one, router/session.py, as long as the router does)."""
    options = [*SERVER_OPTIONS, ("grpc.so_reuseport", int(reuse_port))]
    if config.max_connection_age_s > 0 and not config.listen.startswith("unix:"):
        options += [
            ("grpc.max_connection_age_ms", int(config.max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_S * 1000),
        ]
    return options


def check_kinds(config: Config, registry: Registry) -> list[tuple[str, str]]:
    """Config problems that need the plugins to see: unknown upstream kinds."""
    known = ", ".join(sorted(registry.kinds))
    return [
        (f"upstreams.{name}.kind", f"unknown kind {upstream.kind!r} (installed: {known})")
        for name, upstream in config.upstreams.items()
        if upstream.kind not in registry.kinds
    ]


@dataclass(slots=True)
class RouterApp:
    """A dispatcher with the resources it owns (upstream sessions, the state store, the usage
    writer and its store)."""

    dispatcher: Dispatcher
    upstreams: dict[str, Upstream]
    store: StateStore
    usage_writer: UsageWriter | None = None
    spend: SpendLedger | None = None
    _prices_read: asyncio.Future[None] | None = field(default=None, init=False)

    @property
    def usage_store(self) -> UsageStore | None:
        return self.usage_writer.store if self.usage_writer is not None else None

    def start(self) -> None:
        """Starts background work (in the running event loop), the price data's reading among it
        (a fifth of a second, in a thread: the router serves meanwhile, and a request that needs a
        price first waits for that one reading)."""
        if self.usage_writer is not None:
            self.usage_writer.start()
        if self.dispatcher.usage is not None:
            prices = self.dispatcher.usage.prices
            prices.loading()
            self._prices_read = asyncio.get_running_loop().run_in_executor(None, prices.load)

    async def close(self) -> None:
        if self._prices_read is not None:
            await self._prices_read
        await asyncio.gather(*(u.close() for u in self.upstreams.values()), return_exceptions=True)
        if self.spend is not None:
            await self.spend.close()
        if self.usage_writer is not None:
            await self.usage_writer.close()
        await self.store.close()


def build_router(
    config: Config,
    registry: Registry | None = None,
    request_log: RequestSink = logging_sink,
    *,
    shared_state: bool = False,
) -> RouterApp:
    """``shared_state``: other routers of this host use the same state store (``open_store``)."""
    registry = registry or load_registry(disabled=config.plugins.disabled)
    problems = check_kinds(config, registry)
    if problems:
        raise ConfigError(problems)
    upstreams = {name: registry.kinds[u.kind].create(u) for name, u in config.upstreams.items()}
    store = open_store(config.router.state, shared=shared_state)
    keys = KeyRing(config.keys, store)
    retry = RetryPolicy(retries=config.router.retries, fallback_on=frozenset(config.router.fallback_on))
    catalog = Catalog(config, thinking_models(registry.kinds), family_rules(registry.kinds))
    providers = {
        name: getattr(registry.kinds[u.kind], "price_provider", None) for name, u in config.upstreams.items()
    }
    served = {name: u.models for name, u in config.upstreams.items()}
    library = LibraryPrices(PriceCache(cache_dir(), library_version(), utc_day()))
    prices = PriceTable(config.prices, providers, library, served)
    usage_url = config.router.usage or default_url(config.router.state)
    writer = None if usage_url == "off" else UsageWriter(open_usage_store(usage_url), config.usage)
    admin = AdminAPI(admin_key_digests(config), registry.protocols["openai"].errors)
    UsageAPI(writer.store if writer is not None else None).register(admin)
    ledger = SpendLedger(store)
    KeysAPI(KeyAdmin(store, config, ledger.pending), writer.store if writer is not None else None).register(
        admin
    )
    ModelsAPI(config, catalog, prices).register(admin)
    recorder = UsageRecorder(prices, writer)
    recorder.on_cost.append(ledger.charge)
    dispatcher = Dispatcher(
        catalog,
        keys,
        upstreams,
        registry.protocols,
        store,
        request_log,
        retry=retry,
        usage=recorder,
        admin=admin,
        capabilities=CapabilityTable(registry.kinds),
    )
    return RouterApp(dispatcher, upstreams, store, writer, ledger)


def to_call(
    request: router_pb2.CallRequest, context: grpc.aio.ServicerContext[object, object] | None = None
) -> Call:
    request_id = request.request_id
    if not request_id and context is not None:
        request_id = dict(context.invocation_metadata() or ()).get("x-request-id", "")
    return Call(
        protocol=request.protocol,
        operation=request.operation,
        body=request.body,
        key=request.key,
        request_id=str(request_id),
        headers=dict(request.headers) if request.headers else {},
        params=dict(request.params) if request.params else {},
        deadline_unix_ms=request.deadline_unix_ms,
        files=[UploadedFile(f.field, f.filename, f.content_type, f.data) for f in request.files]
        if request.files
        else [],
        client_ip=request.client_ip,
        alone=request.alone,
    )


class RouterService(router_pb2_grpc.RouterServicer):
    """Both RPCs send their response headers before anything else happens: from then on the edge's
    gRPC retry policy never sends the call again (a call is committed once headers arrive), so a
    call is retried on another router only when this one never began it, and never reaches an
    upstream twice (edge/client.py)."""

    def __init__(self, dispatcher: Dispatcher, sessions: Sessions | None = None) -> None:
        self.dispatcher = dispatcher
        self.sessions = sessions or Sessions()

    async def Call(
        self, request: router_pb2.CallRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> router_pb2.CallReply:
        await context.send_initial_metadata(())
        return await answer(self.dispatcher, to_call(request, context))

    async def Session(
        self,
        request_iterator: AsyncIterator[router_pb2.Batch],
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[router_pb2.Batch]:
        """Calls, many on one call (router/session.py)."""
        await context.send_initial_metadata(())
        session = RouterSession(
            lambda request: answer_first(self.dispatcher, to_call(request)),
            lambda request: stream_answer(self.dispatcher, to_call(request)),
        )
        self.sessions.add(session)
        try:
            async for batch in session.run(request_iterator):
                yield batch
        finally:
            self.sessions.discard(session)

    async def Stream(
        self, request: router_pb2.CallRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> AsyncIterator[router_pb2.Frame]:
        await context.send_initial_metadata(())
        async for item in stream_answer(self.dispatcher, to_call(request, context)):
            if isinstance(item, router_pb2.Frame):
                if item.last and not item.data and not item.HasField("head"):
                    continue  # the RPC's end comes next anyway: not a message of its own
                yield item
                continue
            trailing: list[tuple[str, str | bytes]] = []
            if item.error:
                trailing.append(("torouter-error", item.error))
            if item.HasField("usage"):  # with the status: no message of its own
                trailing.append((USAGE_METADATA, item.usage.SerializeToString()))
            if trailing:
                context.set_trailing_metadata(tuple(trailing))


async def answer(dispatcher: Dispatcher, call: Call) -> router_pb2.CallReply:
    """A non-streaming call's whole answer."""
    return await _reply(await dispatcher.handle(call))


async def answer_first(dispatcher: Dispatcher, call: Call) -> Answered:
    """A non-streaming call's whole answer, on a session: when the dispatcher lets it go before the
    request's accounting, with that accounting to run once it is sent, which gives the end that
    carries the usage (``CallReply.usage_follows``)."""
    outcome = await dispatcher.handle(call, answer_first=True)
    reply = await _reply(outcome)
    accounting = outcome.accounting
    if accounting is None:
        return reply, None
    reply.usage_follows = True

    async def account() -> router_pb2.StreamEnd:
        await accounting()
        return _end(outcome)

    return reply, account


async def _reply(outcome: Outcome) -> router_pb2.CallReply:
    body = outcome.body
    if outcome.chunks is not None:
        body = b"".join([chunk async for chunk in outcome.chunks if chunk is not ANSWER_OVER])
    reply = router_pb2.CallReply(status=outcome.status, headers=outcome.headers, body=body)
    if outcome.usage is not None:
        reply.usage.CopyFrom(usage_report(outcome.usage, outcome.usage_kept))
    return reply


def _end(outcome: Outcome) -> router_pb2.StreamEnd:
    """What follows an answer on a session: its outcome and usage."""
    end = router_pb2.StreamEnd(error=outcome.error_code or "")
    if outcome.usage is not None:
        end.usage.CopyFrom(usage_report(outcome.usage, outcome.usage_kept))
    return end


async def stream_answer(
    dispatcher: Dispatcher, call: Call
) -> AsyncGenerator[router_pb2.Frame | router_pb2.StreamEnd, None]:
    """An answer that may stream: its frames, then its end (outcome and usage)."""
    outcome = await dispatcher.handle(call)
    async for frame in frames(outcome):
        yield frame
    yield _end(outcome)


async def frames(outcome: Outcome) -> AsyncIterator[router_pb2.Frame]:
    """The head with the first bytes, then the rest as it comes; a frame saying the answer is
    over (``last``) when the dispatcher says so before its accounting (a whole body's was done
    already: its end follows at once). Closing early closes the upstream."""
    head: router_pb2.Head | None = router_pb2.Head(status=outcome.status, headers=outcome.headers)
    if outcome.chunks is None:
        yield router_pb2.Frame(head=head, data=outcome.body)
        return
    chunks = outcome.chunks
    try:
        async for chunk in chunks:
            if chunk is ANSWER_OVER:
                last = router_pb2.Frame(last=True)
                if head is not None:
                    last.head.CopyFrom(head)
                    head = None
                yield last
                continue
            if not chunk:
                continue
            if head is not None:
                yield router_pb2.Frame(head=head, data=chunk)
                head = None
            else:
                yield router_pb2.Frame(data=chunk)
    finally:
        if hasattr(chunks, "aclose"):
            await chunks.aclose()
    if head is not None:
        yield router_pb2.Frame(head=head)


def usage_report(record: UsageRecord, kept: bool) -> router_pb2.Usage:
    """What the edge counts in its metrics of a request's usage record."""
    return router_pb2.Usage(
        group=record.group,
        model=record.model,
        input_tokens=record.input_tokens or 0,
        output_tokens=record.output_tokens or 0,
        cache_read_tokens=record.cache_read_tokens or 0,
        cache_write_tokens=record.cache_write_tokens or 0,
        reasoning_tokens=record.reasoning_tokens or 0,
        cost_usd=record.cost_usd or 0.0,
        priced=record.cost_usd is not None or record.input_tokens is None,
        record_dropped=not kept,
    )


# How long past its grace a stopping router waits for gRPC to end its calls, and how long it gives
# its upstreams and stores to close (the usage writer's last flush is bounded at 10 s of that).
STOP_SLACK_S = 5.0
CLOSE_TIMEOUT_S = 20.0


class RouterServer:
    """A running router: gRPC server, health, and the app behind it."""

    def __init__(self, config: Config, app: RouterApp, *, reuse_port: bool = False) -> None:
        self.config = config
        self.app = app
        self.server = grpc.aio.server(options=server_options(config.router, reuse_port=reuse_port))
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.sessions = Sessions()
        service = RouterService(app.dispatcher, self.sessions)
        router_pb2_grpc.add_RouterServicer_to_server(service, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = 0

    async def start(self) -> None:
        self.port = self.server.add_insecure_port(self.config.router.listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.router.listen}")
        await self.server.start()
        self.app.start()
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("router listening", extra={"listen": self.config.router.listen, "pid": os.getpid()})

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, then drain in-flight calls for up to ``grace`` seconds, then close.
        Each step is bounded: a stopping router exits, whatever one of them waits for."""
        await self.health.enter_graceful_shutdown()
        self.sessions.drain()  # their calls finish within the grace, as unary calls do
        grace = self.config.router.shutdown_grace_s if grace is None else grace
        try:
            async with asyncio.timeout(grace + STOP_SLACK_S):
                await self.server.stop(grace)
        except TimeoutError:
            log.warning("router: gRPC calls still running past the grace, stopping anyway")
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.app.close()
        except TimeoutError:
            log.warning("router: closing upstreams and stores took too long, stopping anyway")
        log.info("router stopped")


async def serve(
    config: Config,
    request_log: RequestSink = logging_sink,
    *,
    workers: int = 1,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Runs the router until SIGTERM or SIGINT, then drains and stops. ``workers``: how many
    routers ``torouter up`` runs on this config (more than one share the state store, and a TCP
    port); ``on_ready`` is called once it serves."""
    app = build_router(config, request_log=request_log, shared_state=workers > 1)
    server = RouterServer(config, app, reuse_port=workers > 1)
    await server.start()
    if on_ready is not None:
        on_ready()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("router draining", extra={"grace_s": config.router.shutdown_grace_s})
    await server.stop()
