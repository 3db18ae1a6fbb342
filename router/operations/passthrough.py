"""Same protocol on both sides: the caller's bytes go up with only the model changed, and the
upstream's bytes come back untouched, streams relayed event by event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..account.metering import UsageFormat, usage_format
from ..call import SSE_HEADERS, Context, Outcome
from ..capabilities import CapabilityTable
from ..errors import ErrorCode, GatewayError
from ..ir import JSONDict
from ..protocols.base import StreamUsage, WireProtocol
from ..protocols.common import reject_refused
from ..protocols.sse import MAX_EVENT_BYTES, event_too_large
from ..routing.catalog import Catalog, Resolution, Route
from ..upstreams.base import Upstream, UpstreamRequest, UpstreamResponse
from ..upstreams.calls import send
from .body_bytes import (
    drop_events,
    encode_request,
    insert_field,
    last_event_end,
    last_event_start,
    parse_json_object,
    replace_model,
)

OPENAI_CHAT = "chat.completions"


@dataclass(slots=True, frozen=True)
class Target:
    """Where a request goes: the caller's body, the model asked for, and the chosen route."""

    body: JSONDict
    model: str
    resolution: Resolution
    route: Route
    upstream: Upstream


def target_of(ctx: Context, catalog: Catalog, upstreams: dict[str, Upstream]) -> Target:
    """Parses the body once, finds the model (URL or body) and the first route of the caller's group."""
    assert ctx.caller is not None
    body = ctx.parsed_body if ctx.parsed_body is not None else parse_json_object(ctx.call.body)
    model = ctx.call.params.get("model") or body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(ErrorCode.INVALID_REQUEST, "you must provide a model parameter", param="model")
    ctx.model = model
    resolution = catalog.resolve(ctx.caller.group, model)
    route = resolution.routes[0]
    ctx.routed(route)
    return Target(body, model, resolution, route, upstreams[route.upstream.name])


async def pass_through(
    ctx: Context,
    target: Target,
    protocols: dict[str, WireProtocol],
    operation: str,
    capabilities: CapabilityTable,
) -> Outcome:
    """``capabilities``: what a model accepts (the fields its kind refuses, a body asked of another
    model fitted to it)."""
    call, route, upstream = ctx.call, target.route, target.upstream
    if operation == OPENAI_CHAT:  # a kind's refusals name OpenAI chat fields (Capabilities.refused)
        reject_refused(target.body, capabilities.of(route.upstream.kind, route.model))
    raw = call.body
    fitted = None
    if "model" in target.body and route.model != target.model:
        refit = ctx.protocol.refit
        if refit is not None:
            fitted = refit(target.body, capabilities.of(route.upstream.kind, route.model))
        if fitted is not None:  # asked of another model: fitted to the one serving it
            raw = orjson.dumps({**fitted, "model": route.model})
        else:
            raw = replace_model(call.body, target.body, route.model)
    usage_asked = _ask_stream_usage(ctx, target, operation)
    if usage_asked is not None:
        if "stream_options" in target.body:  # it changes beyond a field added: written again
            body = fitted if fitted is not None else target.body
            asked = {"stream_options": usage_asked["stream_options"], "model": route.model}
            raw = encode_request({**body, **asked})
        else:
            raw = insert_field(raw, "stream_options", usage_asked["stream_options"])
    request = UpstreamRequest(
        operation=operation,
        model=route.model,
        body=raw,
        stream=ctx.stream,
        request_id=call.request_id,
        deadline=ctx.deadline,
        headers=dict(call.headers),
        params=dict(call.params),
    )
    ctx.reached_upstream = True
    response = await whole_if_not_sse(
        await send(call.protocol, upstream, protocols[upstream.protocol], request)
    )
    headers = route.headers()
    usage = usage_format(upstream.protocol, operation)
    if response.chunks is None:
        headers["content-type"] = response.headers.get("content-type", "application/json")
        if usage is not None:
            ctx.tokens = usage.body(response.body)
        return Outcome(response.status, headers, response.body)
    headers.update(SSE_HEADERS)
    if "content-type" in response.headers:
        headers["content-type"] = response.headers["content-type"]
    dropped = ctx.protocol.stream_usage if usage_asked is not None else None
    return Outcome(response.status, headers, chunks=relay(ctx, upstream, response, dropped, usage))


async def whole_if_not_sse(response: UpstreamResponse) -> UpstreamResponse:
    """A stream the upstream answered with a whole body instead of SSE (it ignored ``stream``, or
    a proxy in front of it did), read whole: relayed as events it would reach the caller as a
    malformed stream."""
    if response.chunks is None or response.headers.get("content-type", "").startswith("text/event-stream"):
        return response
    try:
        body = b"".join([chunk async for chunk in response.chunks])
    finally:
        await response.aclose()
    return UpstreamResponse(response.status, response.headers, body)


async def call_for_json(
    ctx: Context, target: Target, protocols: dict[str, WireProtocol], operation: str, body: bytes
) -> object:
    """One non-stream call of ``target``'s upstream with a body already in its protocol (a
    translated request): the JSON of its 2xx answer, or None when that is not JSON (the codec
    reading it then says the answer is malformed). Error answers raise, as ``send`` does."""
    upstream = target.upstream
    request = UpstreamRequest(
        operation=operation,
        model=target.route.model,
        body=body,
        stream=False,
        request_id=ctx.call.request_id,
        deadline=ctx.deadline,
    )
    ctx.reached_upstream = True
    answer = await send(ctx.call.protocol, upstream, protocols[upstream.protocol], request)
    try:
        parsed: object = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None
    return parsed


def _ask_stream_usage(ctx: Context, target: Target, operation: str) -> JSONDict | None:
    """The body of a chat stream asking the upstream for the usage it would not report otherwise
    (None: nothing to ask). Every request is metered: the usage record needs it."""
    hook = ctx.protocol.stream_usage
    if hook is None or not ctx.stream or target.upstream.reports_stream_usage:
        return None
    if operation != ctx.protocol.upstream_chat_operation:
        return None
    return hook.ask(target.body)


async def relay(
    ctx: Context,
    upstream: Upstream,
    response: UpstreamResponse,
    drop: StreamUsage | None = None,
    usage: UsageFormat | None = None,
) -> AsyncIterator[bytes]:
    """Relays complete SSE events as they arrive; a stream cut short ends with an error event.
    ``usage`` reads the events for the request's usage; with ``drop``, the usage event the router
    asked for is left out."""
    assert response.chunks is not None
    terminator = ctx.protocol.stream_terminator
    unended: list[bytes] = []  # the event begun, in the pieces it came in (not copied for each one)
    unended_size = 0
    tail = b""  # the last bytes received: an event's end may straddle two chunks
    last_event = b""
    tap = usage.tap() if usage is not None else None
    try:
        async for chunk in response.chunks:
            may_end = not unended or last_event_end(tail + chunk) > 0  # in this chunk
            tail = (tail + chunk)[-3:]
            if not may_end:
                unended.append(chunk)
                unended_size += len(chunk)
            else:
                data = b"".join((*unended, chunk)) if unended else chunk
                cut = last_event_end(data)
                unended, unended_size = ([data[cut:]], len(data) - cut) if cut < len(data) else ([], 0)
            if unended_size > MAX_EVENT_BYTES:
                unended = []
                raise event_too_large()
            if not may_end or cut == 0:
                continue
            ready = data[:cut]
            last_event = ready[last_event_start(ready) :]
            if drop is not None and drop.may_hold(ready):
                taken: list[Any] = []
                kept = drop_events(ready, drop.usage_only, drop.marker, taken)
                if tap is not None:
                    if taken and not tap.marks(kept):  # every report here was dropped: read once
                        for event in taken:
                            tap.take(event)
                    else:
                        tap.feed(ready)
                ready = kept
                if not ready:
                    continue
            elif tap is not None:
                tap.feed(ready)
            yield ready
    except GatewayError as failure:
        ctx.error_code = failure.code.value
        yield ctx.protocol.errors.stream_event(failure)
        return
    finally:
        await response.aclose()
        pending = b"".join(unended)
        if tap is not None:
            if pending.strip():
                tap.feed(pending.rstrip(b"\r\n") + b"\n\n")
            ctx.tokens = tap.tokens()
    if pending.strip():  # a last event the upstream did not end with a blank line
        last_event = pending.rstrip(b"\r\n") + b"\n\n"
        yield last_event
    if terminator is not None and terminator not in last_event:
        error = GatewayError(
            ErrorCode.UPSTREAM_ERROR,
            f"upstream {upstream.config.name!r} ended the stream before it was complete",
        )
        ctx.error_code = error.code.value
        yield ctx.protocol.errors.stream_event(error)
