"""Dispatch: authenticate the key, pick the operation's handler, answer in the caller's protocol,
log one line. Everything a request needs happens inside the one RPC that carries it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from functools import partial

import orjson

from . import body_log
from .account.admin import ADMIN_PROTOCOL, AdminAPI
from .account.recorder import UsageRecorder
from .call import ANSWER_OVER, JSON_HEADERS, Call, Context, Handler, Outcome, UploadedFile
from .capabilities import CapabilityTable
from .errors import ErrorCode, GatewayError
from .key_rules import THINKING_SUFFIX, KeyRules
from .logs import RequestSink, logging_sink
from .operations.body_bytes import parse_json_object
from .operations.chat import ChatHandler
from .operations.embeddings import EmbeddingsHandler
from .operations.images import ImagesHandler
from .operations.model_lists import FORMATS
from .operations.reasoning_memo import ReasoningMemo
from .operations.responses import ResponsesHandler
from .operations.services import Services
from .operations.token_count import TokenCounter
from .protocols.base import WireProtocol
from .routing.caller_keys import KeyRing
from .routing.catalog import Catalog, ModelEntry, Route
from .routing.cooldown import Cooldowns
from .routing.fallbacks import RetryPolicy
from .routing.limits import Limiter
from .routing.restrictions import KeyBlocked, check_key, check_model
from .state import StateStore
from .state.outage import StateUnavailable
from .upstreams.base import Upstream

__all__ = ["Call", "Dispatcher", "Outcome", "UploadedFile"]

log = logging.getLogger("torouter.router")

DEFAULT_DEADLINE_S = 600.0


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        keys: KeyRing,
        upstreams: dict[str, Upstream],
        protocols: dict[str, WireProtocol],
        store: StateStore,
        request_log: RequestSink = logging_sink,
        memo: ReasoningMemo | None = None,
        retry: RetryPolicy | None = None,
        usage: UsageRecorder | None = None,
        admin: AdminAPI | None = None,
        capabilities: CapabilityTable | None = None,
    ) -> None:
        self.request_log = request_log
        self.usage = usage
        self._in_flight = 0  # requests handled and not yet accounted for
        self.admin = admin
        self.limiter = Limiter(store)
        self.memo = memo or ReasoningMemo(store)
        self.catalog = catalog
        self.keys = keys
        self.upstreams = upstreams
        self.protocols = protocols
        self._handlers: dict[tuple[str, str], Handler] = {}
        for protocol_name in FORMATS:
            self._handlers[(protocol_name, "models.list")] = self._models_list
            self._handlers[(protocol_name, "models.get")] = self._models_get
        self.cooldowns = Cooldowns()
        services = Services(
            catalog,
            upstreams,
            protocols,
            self.cooldowns,
            retry or RetryPolicy(),
            store,
            self.memo,
            capabilities or CapabilityTable({}),
        )
        counter = TokenCounter(services)
        for protocol in protocols.values():
            if protocol.token_counting is not None:
                self._handlers[(protocol.name, protocol.token_counting.operation)] = counter
        embeddings = EmbeddingsHandler(services)
        for protocol in protocols.values():
            for operation in protocol.embeddings.operations if protocol.embeddings is not None else ():
                self._handlers[(protocol.name, operation)] = embeddings
        images = ImagesHandler(services)
        for operation in ("images.generations", "images.edits"):
            self._handlers[("openai", operation)] = images
        chat = ChatHandler(services)
        for protocol in protocols.values():
            for operation in protocol.chat_operations:
                self._handlers[(protocol.name, operation)] = chat
        responses = ResponsesHandler(services, chat)
        for operation, handler in responses.handlers().items():
            self._handlers[("openai", operation)] = handler

    async def handle(self, call: Call, *, answer_first: bool = False) -> Outcome:
        """Answers a call. Never raises (but for cancellation): failures become error outcomes.
        ``answer_first``: a whole answer may be sent before the request's accounting, which its
        sender then runs (``Outcome.accounting``) when ``_answers_first`` allows it."""
        if call.protocol == ADMIN_PROTOCOL and self.admin is not None:
            return await self.admin.handle(call)
        protocol = self.protocols.get(call.protocol) or self.protocols["openai"]
        self._in_flight += 1  # until _finish
        loop = asyncio.get_running_loop()
        budget = DEFAULT_DEADLINE_S
        if call.deadline_unix_ms:
            budget = max(0.0, call.deadline_unix_ms / 1000 - time.time())
        ctx = Context(call, protocol, time.perf_counter(), loop.time() + budget)
        if self.usage is not None:
            ctx.on_route = self._price_early
        try:
            if call.protocol not in self.protocols:
                raise GatewayError(ErrorCode.INVALID_REQUEST, f"unknown protocol {call.protocol!r}")
            ctx.caller = await self.keys.authenticate(call.key)
            if ctx.caller.rules is not None:
                self._check_restrictions(ctx, ctx.caller.rules)
            ctx.metered = ctx.caller.tpm is not None
            try:
                ctx.limit_headers = await self.limiter.admit(ctx.caller)
            except GatewayError as refused:
                ctx.limit_headers = refused.headers
                raise
            handler = self._handlers.get((call.protocol, call.operation))
            if handler is None:
                raise GatewayError(
                    ErrorCode.NOT_IMPLEMENTED,
                    f"{call.protocol} {call.operation} is not available in this version of the gateway.",
                )
            outcome = await handler(ctx)
        except GatewayError as failure:
            outcome = self.error_outcome(ctx, failure)
        except RecursionError:  # a body nested deeper than a reader's or writer's walk can go
            error = GatewayError(ErrorCode.INVALID_REQUEST, "The request body is nested too deeply.")
            outcome = self.error_outcome(ctx, error)
        except Exception:
            log.exception("unhandled error", extra={"request_id": call.request_id})
            outcome = self.error_outcome(
                ctx,
                GatewayError(ErrorCode.INTERNAL, f"Internal gateway error (request id {call.request_id})."),
            )
        except BaseException:  # cancelled (its caller went away): no accounting follows
            self._in_flight -= 1
            raise
        if ctx.limit_headers:
            outcome.headers.update(ctx.limit_headers)
        if body_log.enabled():
            self._log_bodies(ctx, outcome)
        if outcome.chunks is None:
            if answer_first and self._answers_first(ctx):
                outcome.accounting = partial(self._finish, ctx, outcome)
            else:
                await self._finish(ctx, outcome)
        else:
            outcome.chunks = self._logged(ctx, outcome, outcome.chunks)
        return outcome

    @staticmethod
    def _check_restrictions(ctx: Context, rules: KeyRules) -> None:
        """Expiry, IP rules and the model allowlist: refused before anything is counted or sent."""
        call = ctx.call
        check_key(rules, call.client_ip)
        if rules.models is None:
            return
        model = call.params.get("model")
        if not model and call.body:
            ctx.parsed_body = parse_json_object(call.body)
            named = ctx.parsed_body.get("model")
            model = named if isinstance(named, str) else None
        if model:
            ctx.model = model
            check_model(rules, model)

    @staticmethod
    def _log_bodies(ctx: Context, outcome: Outcome) -> None:
        call = ctx.call
        fields = {"route": f"{call.protocol}.{call.operation}"}
        body_log.body("caller.request", call.body, call.request_id, **fields)
        if outcome.chunks is not None:
            outcome.chunks = body_log.chunks("caller.chunk", outcome.chunks, call.request_id, **fields)
        else:
            body_log.body("caller.response", outcome.body, call.request_id, status=outcome.status, **fields)

    def error_outcome(self, ctx: Context, error: GatewayError) -> Outcome:
        ctx.error_code = error.code.value
        if isinstance(error, KeyBlocked):
            ctx.blocked = error.reason
        rendered = ctx.protocol.errors.render(error, ctx.call.request_id)
        headers = dict(rendered.headers)
        if ctx.upstream:
            headers["x-torouter-upstream"] = ctx.upstream
        return Outcome(rendered.status, headers, rendered.body, error_code=error.code.value)

    def _answers_first(self, ctx: Context) -> bool:
        """Whether the request's answer may reach its caller before its accounting (usage record,
        log line). Not when the key's next request waits for the accounting (a token limit is
        charged there, a spend cap's spend added), nor when other requests are in flight, in the
        router or at the edge (``Call.alone``): the core is busy anyway, and the usage then goes
        with the answer, in one message, where a message of its own costs CPU under load (a
        stream 5–15 % more at concurrency 32)."""
        if not ctx.call.alone or self._in_flight != 1 or ctx.metered:
            return False
        rules = ctx.caller.rules if ctx.caller is not None else None
        return rules is None or rules.spend_cap_usd is None

    async def _logged(
        self, ctx: Context, outcome: Outcome, chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """The answer's chunks, then ``ANSWER_OVER`` when ``_answers_first``: its caller may have it
        all before the accounting (``_finish``, once the stream is closed)."""
        over = False
        try:
            async for chunk in chunks:
                if ctx.first_byte is None:
                    ctx.first_byte = time.perf_counter()
                yield chunk
            over = True
            if self._answers_first(ctx):
                yield ANSWER_OVER
        except (asyncio.CancelledError, GeneratorExit):
            if not over:  # (the caller had all of it otherwise)
                ctx.error_code = ctx.error_code or "cancelled"
            raise
        finally:
            outcome.error_code = ctx.error_code
            if hasattr(chunks, "aclose"):
                await chunks.aclose()
            await self._finish(ctx, outcome)

    def _price_early(self, route: Route) -> None:
        """A model met for the first time (a wildcard upstream) has its price read while its
        upstream answers, rather than after (``LibraryPrices.pending``)."""
        assert self.usage is not None
        self.usage.prices.pending(route.upstream.name, route.model)

    async def _finish(self, ctx: Context, outcome: Outcome) -> None:
        """Once a request is over: token limits charged, its usage recorded, its line logged."""
        try:
            if ctx.caller is not None and ctx.metered and ctx.usage_tokens:
                try:
                    await self.limiter.charge(ctx.caller, ctx.usage_tokens)
                except StateUnavailable:
                    pass  # the answer went out; the store's outage is logged once, by the store
            if self.usage is not None and ctx.reached_upstream:
                record = await self.usage.record(ctx, outcome.status)
                if record is not None:
                    outcome.usage = record
                    outcome.usage_kept = self.usage.keep(record)
            self.request_log(ctx.entry(outcome.status))
        finally:
            self._in_flight -= 1

    # ------------------------------------------------------------------ models

    async def _models_list(self, ctx: Context) -> Outcome:
        assert ctx.caller is not None
        entries = self.catalog.models(ctx.caller.group)
        rules = ctx.caller.rules
        if rules is not None and rules.models is not None:
            entries = [e for e in entries if rules.model_allowed(e.id)]
        body = FORMATS[ctx.call.protocol].listing(entries, ctx.call.params)
        return Outcome(200, dict(JSON_HEADERS), orjson.dumps(body))

    async def _models_get(self, ctx: Context) -> Outcome:
        assert ctx.caller is not None
        wanted = ctx.call.params.get("model", "")
        entry = next((e for e in self.catalog.models(ctx.caller.group) if e.id == wanted), None)
        if entry is None:  # not listed, but served (a wildcard upstream, a -thinking id): say so
            route = self.catalog.resolve(ctx.caller.group, wanted).routes[0]  # or 403 / 404
            entry = ModelEntry(
                wanted, route.upstream.kind, route.upstream.name, wanted.endswith(THINKING_SUFFIX)
            )
        return Outcome(200, dict(JSON_HEADERS), orjson.dumps(FORMATS[ctx.call.protocol].single(entry)))
