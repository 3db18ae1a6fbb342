"""Dispatch: key → group → model → upstream, then passthrough or translation, answered in the
caller's protocol. Everything a request needs happens inside the one RPC that carries it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .catalog import THINKING_SUFFIX, Catalog, ModelEntry, Resolution, Route
from .errors import ErrorCode, GatewayError
from .ir import ChatRequest, JSONDict, Reasoning, ReasoningEffort
from .keys import Caller, KeyRing
from .logs import RequestSink, logging_sink
from .model_lists import FORMATS
from .protocols.base import WireProtocol
from .protocols.sse import SSEParser
from .upstream import Upstream, UpstreamRequest, UpstreamResponse

log = logging.getLogger("torouter.router")

DEFAULT_DEADLINE_S = 600.0
THINKING_EFFORT: ReasoningEffort = "high"  # what a `-thinking` model id asks for
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
JSON_HEADERS = {"content-type": "application/json"}


@dataclass(slots=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Call:
    """One caller request, as the edge hands it over (protobuf stops at the server)."""

    protocol: str
    operation: str
    body: bytes
    key: str
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    deadline_unix_ms: int = 0
    files: list[UploadedFile] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    """The answer: a whole body, or a stream of ready-to-write chunks."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    error_code: str = ""


@dataclass(slots=True)
class Context:
    """What dispatch learns about a request as it goes; logged once at its end."""

    call: Call
    protocol: WireProtocol
    started: float
    deadline: float
    caller: Caller | None = None
    model: str | None = None
    upstream: str | None = None
    stream: bool = False
    error_code: str = ""

    def entry(self, status: int) -> dict[str, Any]:
        """The request's one structured log line: who, what, where, how it ended. No key, no body."""
        return {
            "request_id": self.call.request_id,
            "route": f"{self.call.protocol}.{self.call.operation}",
            "key": self.caller.name if self.caller else None,
            "group": self.caller.group if self.caller else None,
            "model": self.model,
            "upstream": self.upstream,
            "stream": self.stream,
            "status": status,
            "error": self.error_code or None,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }


Handler = Callable[[Context], Awaitable[Outcome]]


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        keys: KeyRing,
        upstreams: dict[str, Upstream],
        protocols: dict[str, WireProtocol],
        request_log: RequestSink = logging_sink,
    ) -> None:
        self.request_log = request_log
        self.catalog = catalog
        self.keys = keys
        self.upstreams = upstreams
        self.protocols = protocols
        self._handlers: dict[tuple[str, str], Handler] = {}
        for protocol_name in FORMATS:
            self._handlers[(protocol_name, "models.list")] = self._models_list
            self._handlers[(protocol_name, "models.get")] = self._models_get
        for protocol in protocols.values():
            for operation in protocol.chat_operations:
                self._handlers[(protocol.name, operation)] = self._chat

    async def handle(self, call: Call) -> Outcome:
        """Answers a call. Never raises (but for cancellation): failures become error outcomes."""
        protocol = self.protocols.get(call.protocol) or self.protocols["openai"]
        loop = asyncio.get_running_loop()
        budget = DEFAULT_DEADLINE_S
        if call.deadline_unix_ms:
            budget = max(0.0, call.deadline_unix_ms / 1000 - time.time())
        ctx = Context(call, protocol, time.perf_counter(), loop.time() + budget)
        try:
            if call.protocol not in self.protocols:
                raise GatewayError(ErrorCode.INVALID_REQUEST, f"unknown protocol {call.protocol!r}")
            ctx.caller = await self.keys.authenticate(call.key)
            handler = self._handlers.get((call.protocol, call.operation))
            if handler is None:
                raise GatewayError(
                    ErrorCode.NOT_IMPLEMENTED,
                    f"{call.protocol} {call.operation} is not available in this version of the gateway.",
                )
            outcome = await handler(ctx)
        except GatewayError as failure:
            outcome = self.error_outcome(ctx, failure)
        except Exception:
            log.exception("unhandled error", extra={"request_id": call.request_id})
            outcome = self.error_outcome(
                ctx,
                GatewayError(ErrorCode.INTERNAL, f"Internal gateway error (request id {call.request_id})."),
            )
        if outcome.chunks is None:
            self.request_log(ctx.entry(outcome.status))
        else:
            outcome.chunks = self._logged(ctx, outcome, outcome.chunks)
        return outcome

    def error_outcome(self, ctx: Context, error: GatewayError) -> Outcome:
        ctx.error_code = error.code.value
        rendered = ctx.protocol.errors.render(error, ctx.call.request_id)
        headers = dict(rendered.headers)
        if ctx.upstream:
            headers["x-torouter-upstream"] = ctx.upstream
        return Outcome(rendered.status, headers, rendered.body, error_code=error.code.value)

    async def _logged(
        self, ctx: Context, outcome: Outcome, chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            ctx.error_code = ctx.error_code or "cancelled"
            raise
        finally:
            outcome.error_code = ctx.error_code
            if hasattr(chunks, "aclose"):
                await chunks.aclose()
            self.request_log(ctx.entry(outcome.status))

    # ------------------------------------------------------------------ models

    async def _models_list(self, ctx: Context) -> Outcome:
        assert ctx.caller is not None
        entries = self.catalog.models(ctx.caller.group)
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

    # ------------------------------------------------------------------ chat

    async def _chat(self, ctx: Context) -> Outcome:
        assert ctx.caller is not None
        call = ctx.call
        body = parse_json_object(call.body)
        model = call.params.get("model") or body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(ErrorCode.INVALID_REQUEST, "you must provide a model parameter", param="model")
        ctx.model = model
        ctx.stream = call.operation == "streamGenerateContent" or body.get("stream") is True
        resolution = self.catalog.resolve(ctx.caller.group, model)
        route = resolution.routes[0]
        upstream = self.upstreams[route.upstream.name]
        ctx.upstream = route.upstream.name
        if upstream.protocol == call.protocol and not resolution.thinking:
            return await self._passthrough(ctx, body, model, route, upstream)
        return await self._translate(ctx, body, resolution, route, upstream)

    async def _passthrough(
        self, ctx: Context, body: JSONDict, model: str, route: Route, upstream: Upstream
    ) -> Outcome:
        """Same protocol both sides: the caller's bytes go up with only the model changed, and the
        upstream's bytes come back untouched."""
        call = ctx.call
        raw = (
            call.body
            if "model" not in body or route.model == model
            else replace_model(call.body, body, route.model)
        )
        request = UpstreamRequest(
            operation=ctx.protocol.upstream_chat_operation
            if call.operation in ctx.protocol.chat_operations
            else call.operation,
            model=route.model,
            body=raw,
            stream=ctx.stream,
            request_id=call.request_id,
            deadline=ctx.deadline,
            headers=dict(call.headers),
            params=dict(call.params),
        )
        response = await self._send(ctx, upstream, request)
        headers = {"x-torouter-upstream": route.upstream.name}
        if response.chunks is None:
            headers["content-type"] = response.headers.get("content-type", "application/json")
            return Outcome(response.status, headers, response.body)
        headers.update(SSE_HEADERS)
        return Outcome(response.status, headers, chunks=self._relay(ctx, upstream, response))

    async def _relay(
        self, ctx: Context, upstream: Upstream, response: UpstreamResponse
    ) -> AsyncIterator[bytes]:
        """Relays complete SSE events as they arrive; a stream cut short ends with an error event."""
        assert response.chunks is not None
        terminator = ctx.protocol.stream_terminator
        pending = b""
        last_event = b""
        try:
            async for chunk in response.chunks:
                data = pending + chunk
                cut = _last_event_end(data)
                if cut == 0:
                    pending = data
                    continue
                ready, pending = data[:cut], data[cut:]
                last_event = ready[-512:]
                yield ready
        except GatewayError as failure:
            ctx.error_code = failure.code.value
            yield ctx.protocol.errors.stream_event(failure)
            return
        finally:
            await response.aclose()
        if terminator is not None and terminator not in last_event:
            error = GatewayError(
                ErrorCode.UPSTREAM_ERROR,
                f"upstream {upstream.config.name!r} ended the stream before it was complete",
            )
            ctx.error_code = error.code.value
            yield ctx.protocol.errors.stream_event(error)

    async def _translate(
        self, ctx: Context, body: JSONDict, resolution: Resolution, route: Route, upstream: Upstream
    ) -> Outcome:
        """Different protocols: caller → neutral form → upstream, and back, event by event."""
        caller_codec = ctx.protocol.chat
        target = self.protocols[upstream.protocol]
        upstream_codec = target.chat
        if caller_codec is None or upstream_codec is None:
            raise GatewayError(
                ErrorCode.NOT_IMPLEMENTED,
                f"translating {ctx.call.protocol} to {upstream.protocol} is not available in this version.",
            )
        request = caller_codec.read_request(body)
        if ctx.call.params.get("model"):
            request.model = ctx.call.params["model"]
        request.stream = ctx.stream
        request.model = route.model
        if resolution.thinking and (request.reasoning is None or request.reasoning.effort is None):
            budget = request.reasoning.budget_tokens if request.reasoning else None
            request.reasoning = Reasoning(effort=None if budget else THINKING_EFFORT, budget_tokens=budget)
        upstream_body = orjson.dumps(upstream_codec.write_request(request))
        response = await self._send(
            ctx,
            upstream,
            UpstreamRequest(
                operation=target.upstream_chat_operation,
                model=route.model,
                body=upstream_body,
                stream=ctx.stream,
                request_id=ctx.call.request_id,
                deadline=ctx.deadline,
            ),
        )
        headers = {"x-torouter-upstream": route.upstream.name}
        if response.chunks is None:
            try:
                parsed = upstream_codec.read_response(parse_json_object(response.body))
            except GatewayError:
                raise GatewayError(
                    ErrorCode.UPSTREAM_ERROR, f"upstream {route.upstream.name!r} sent a malformed response"
                ) from None
            headers.update(JSON_HEADERS)
            return Outcome(200, headers, orjson.dumps(caller_codec.write_response(parsed)))
        headers.update(SSE_HEADERS)
        return Outcome(200, headers, chunks=self._translate_stream(ctx, upstream, target, request, response))

    async def _translate_stream(
        self,
        ctx: Context,
        upstream: Upstream,
        target: WireProtocol,
        request: ChatRequest,
        response: UpstreamResponse,
    ) -> AsyncIterator[bytes]:
        assert response.chunks is not None and target.chat is not None and ctx.protocol.chat is not None
        parser = SSEParser()
        reader = target.chat.stream_reader()
        writer = ctx.protocol.chat.stream_writer(request)
        try:
            async for chunk in response.chunks:
                out = b""
                for event in parser.feed(chunk):
                    batch = reader.feed(event)
                    if batch is not None:
                        out += writer.write(batch)
                if out:
                    yield out
        except GatewayError as failure:
            ctx.error_code = failure.code.value
            yield writer.fail(failure)
            return
        finally:
            await response.aclose()
        if reader.finished:
            yield writer.close()
        else:
            error = GatewayError(
                ErrorCode.UPSTREAM_ERROR,
                f"upstream {upstream.config.name!r} ended the stream before it was complete",
            )
            ctx.error_code = error.code.value
            yield writer.fail(error)

    # ------------------------------------------------------------------ upstream calls

    async def _send(self, ctx: Context, upstream: Upstream, request: UpstreamRequest) -> UpstreamResponse:
        try:
            response = await upstream.send(request)
        except GatewayError as failure:
            raise _scrubbed(failure, upstream) from None
        if response.status < 300:
            return response
        target = self.protocols[upstream.protocol]
        error = target.errors.read_upstream(response.status, response.body, response.headers)
        raise upstream_failure(error, upstream, same_protocol=upstream.protocol == ctx.call.protocol)


def upstream_failure(error: GatewayError, upstream: Upstream, *, same_protocol: bool) -> GatewayError:
    """What a caller sees of an upstream's error response.

    4xx caused by the request keep their status and message (and the vendor's type and code when
    the caller speaks the upstream's protocol); 401/403 mean the gateway's own credential is wrong
    and become 502; 5xx become 502/503/504 without the upstream's internals.
    """
    name = upstream.config.name
    status = error.status
    if status in (401, 403):
        return GatewayError(
            ErrorCode.UPSTREAM_AUTH,
            f"The upstream {name!r} rejected the gateway's credentials (HTTP {status}). "
            "This is a gateway configuration problem, not a problem with your API key.",
        )
    if status >= 500 or status == 408:
        code = (
            error.code
            if error.code in (ErrorCode.UPSTREAM_OVERLOADED, ErrorCode.UPSTREAM_TIMEOUT)
            else ErrorCode.UPSTREAM_ERROR
        )
        return GatewayError(
            code, f"The upstream {name!r} failed (HTTP {status}).", retry_after=error.retry_after
        )
    return GatewayError(
        error.code,
        scrub(error.message, upstream.config.api_key),
        param=error.param,
        status=status,
        retry_after=error.retry_after,
        vendor_type=error.vendor_type if same_protocol else None,
        vendor_code=error.vendor_code if same_protocol else None,
    )


def _scrubbed(error: GatewayError, upstream: Upstream) -> GatewayError:
    error.message = scrub(error.message, upstream.config.api_key)
    return error


def scrub(text: str, secret: str) -> str:
    """The text with every occurrence of the secret (and of long pieces of it) masked."""
    if not secret or len(secret) < 8:
        return text
    if secret in text:
        text = text.replace(secret, "[redacted]")
    return text


def parse_json_object(raw: bytes) -> JSONDict:
    """The one parse of a request body; anything but a JSON object is a 400."""
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"We could not parse the JSON body of your request: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}).",
        ) from None
    if not isinstance(value, dict):
        raise GatewayError(ErrorCode.INVALID_REQUEST, "The request body must be a JSON object.")
    return value


def replace_model(raw: bytes, body: JSONDict, model: str) -> bytes:
    """The caller's bytes with the top-level ``model`` value replaced, re-encoding only when the
    value cannot be found exactly once."""
    old = orjson.dumps(body["model"])
    pattern = re.compile(rb'"model"\s*:\s*' + re.escape(old))
    matches = pattern.findall(raw)
    if len(matches) == 1:
        return pattern.sub(lambda _: b'"model":' + orjson.dumps(model), raw, count=1)
    return orjson.dumps({**body, "model": model})


def _last_event_end(data: bytes) -> int:
    """The offset just past the last complete SSE event in ``data`` (0 if there is none)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
