"""The OpenAI Responses API on every group (``/v1/responses`` and its sub-resources).

An OpenAI upstream with a Responses endpoint gets the caller's request as it is (passthrough): the
stored state is the upstream's, ids are the upstream's, and the gateway records which upstream
(and group) owns each id it returns, so that retrieve, delete, input items, cancel and
``previous_response_id`` go to the same account, and only keys of the same group see it. Every
other upstream is served through the chat machinery (:meth:`ChatHandler.translate`) with the
Responses codec on the caller's side; the gateway keeps the state itself (``store``, default
true): the Response object, the input items as listed, and the conversation so far, from which
``previous_response_id`` rebuilds the next request (its instructions are not carried over).

Stored records live in the state store for :data:`RESPONSE_TTL_S` (30 days, as OpenAI keeps
them). A conversation moving between kinds of upstream inside one group (a fallback from OpenAI to
Claude and back) continues: a gateway-held conversation is given to an OpenAI upstream inline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Final

import orjson

from ..call import JSON_HEADERS, Context, Handler, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir import JSONDict
from ..protocols.common import Malformed
from ..protocols.openai.responses import (
    TERMINAL_EVENTS,
    Exchange,
    ResponsesCodec,
    ResponsesStreamErrors,
    input_items,
    listed_items,
)
from ..protocols.sse import SSEParser
from ..routing.fallbacks import with_fallbacks
from ..state import StoredResponse
from ..state.outage import StateUnavailable
from ..upstreams.base import Upstream, UpstreamRequest
from ..upstreams.calls import send
from .body_bytes import encode_request
from .chat import ChatHandler
from .passthrough import Target, pass_through, target_of
from .services import Operation, Services

RESPONSE_TTL_S: Final = 30 * 24 * 3600.0
CREATE: Final = "responses.create"
_MAX_PAGE: Final = 100


class ResponsesHandler(Operation):
    """``responses.create``, ``.get``, ``.delete``, ``.input_items`` and ``.cancel``."""

    def __init__(self, services: Services, chat: ChatHandler) -> None:
        super().__init__(services)
        self.chat = chat

    def handlers(self) -> dict[str, Handler]:
        """The handler of each operation."""
        return {
            CREATE: self.create,
            "responses.get": self.get,
            "responses.delete": self.delete,
            "responses.input_items": self.input_items,
            "responses.cancel": self.cancel,
        }

    # ------------------------------------------------------------------ create

    async def create(self, ctx: Context) -> Outcome:
        first = target_of(ctx, self.catalog, self.upstreams)
        ctx.stream = first.body.get("stream") is True
        errors = ResponsesStreamErrors()
        ctx.protocol = replace(
            ctx.protocol,
            errors=errors,
            chat=ResponsesCodec(),
            stream_terminator=None,  # a relayed stream's end is checked here (_relayed)
            upstream_chat_operation=CREATE,
            stream_usage=None,  # a Responses stream reports its usage unasked (response.completed)
        )
        previous = await self._previous(ctx, first.body)
        if previous is not None and previous.upstream is not None:
            first = self._pinned(first, previous.upstream)
        raw = ctx.call.body

        async def attempt(ctx: Context, target: Target) -> Outcome:
            ctx.call.body = raw
            if _serves_responses(target.upstream):
                return await self._pass_through(ctx, target, previous, errors)
            return await self._translate(ctx, target, previous)

        return await with_fallbacks(ctx, first, self.upstreams, attempt, self.cooldowns, self.retry)

    async def _previous(self, ctx: Context, body: JSONDict) -> StoredResponse | None:
        previous_id = body.get("previous_response_id")
        if previous_id is None:
            return None
        if not isinstance(previous_id, str):
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                "Invalid type for 'previous_response_id': expected a string.",
                param="previous_response_id",
            )
        record = await self._find(ctx, previous_id)
        if record is None:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                f"Previous response with id '{previous_id}' not found.",
                param="previous_response_id",
                vendor_code="previous_response_not_found",
            )
        return record

    def _pinned(self, first: Target, upstream_name: str) -> Target:
        """The request's routes narrowed to the upstream holding the previous response."""
        routes = tuple(r for r in first.resolution.routes if r.upstream.name == upstream_name)
        if not routes or upstream_name not in self.upstreams:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                f"The previous response is held by the upstream {upstream_name!r}, which does not serve "
                f"the model `{first.model}`: continue it with a model of that upstream.",
                param="previous_response_id",
            )
        resolution = replace(first.resolution, routes=routes)
        return replace(first, resolution=resolution, route=routes[0], upstream=self.upstreams[upstream_name])

    # ------------------------------------------------------------------ passthrough

    async def _pass_through(
        self, ctx: Context, target: Target, previous: StoredResponse | None, errors: ResponsesStreamErrors
    ) -> Outcome:
        body = target.body
        if previous is not None and previous.upstream is None:  # the gateway holds it: send it inline
            history = _for_openai(_record(previous)["history"])
            body = {k: v for k, v in body.items() if k != "previous_response_id"}
            body["input"] = history + _checked_input(body)
        if target.resolution.thinking and not _has_effort(body):
            given = body.get("reasoning")
            reasoning: JSONDict = given if isinstance(given, dict) else {}
            body = {**body, "reasoning": {"summary": "auto", **reasoning, "effort": "high"}}
        if body is not target.body:
            ctx.call.body = encode_request(body)
            target = replace(target, body=body)
        outcome = await pass_through(ctx, target, self.protocols, CREATE, self.capabilities)
        keep = target.body.get("store") is not False
        name = target.route.upstream.name
        if outcome.chunks is not None:
            outcome.chunks = self._relayed(ctx, outcome.chunks, errors, name if keep else None)
        elif keep and outcome.status == 200:
            try:
                answer = orjson.loads(outcome.body)
            except orjson.JSONDecodeError:
                answer = None
            if isinstance(answer, dict) and isinstance(answer.get("id"), str):
                await self._own(ctx, answer["id"], name)
        return outcome

    async def _relayed(
        self, ctx: Context, chunks: AsyncIterator[bytes], errors: ResponsesStreamErrors, owner: str | None
    ) -> AsyncIterator[bytes]:
        """The upstream's stream as relayed, followed on the side: the response id is recorded when
        ``response.created`` goes by, and a stream that ends without a terminal event gets an
        ``error`` event numbered after the last one."""
        parser = SSEParser()
        ended = False
        try:
            async for chunk in chunks:
                for event in parser.feed(chunk):
                    try:
                        data = orjson.loads(event.data)
                    except orjson.JSONDecodeError:
                        continue
                    if not isinstance(data, dict):
                        continue
                    if isinstance(data.get("sequence_number"), int):
                        errors.sequence = data["sequence_number"] + 1
                    kind = data.get("type")
                    ended = ended or kind in TERMINAL_EVENTS or kind == "error"
                    response = data.get("response")
                    created = (
                        response.get("id")
                        if kind == "response.created" and isinstance(response, dict)
                        else None
                    )
                    if owner and isinstance(created, str):
                        await self._own(ctx, created, owner)
                yield chunk
        finally:
            if hasattr(chunks, "aclose"):
                await chunks.aclose()
        if not ended and not errors.used:
            error = GatewayError(
                ErrorCode.UPSTREAM_ERROR, "The upstream ended the stream before it was complete."
            )
            ctx.error_code = error.code.value
            yield errors.stream_event(error)

    async def _own(self, ctx: Context, response_id: str, upstream: str) -> None:
        assert ctx.caller is not None
        now = time.time()
        record = StoredResponse(response_id, ctx.caller.group, now, upstream, b"", now + RESPONSE_TTL_S)
        try:
            await self.store.put_response(record)
        except StateUnavailable:
            pass  # as in _keep: the answer goes on without its record

    # ------------------------------------------------------------------ translated

    async def _translate(self, ctx: Context, target: Target, previous: StoredResponse | None) -> Outcome:
        body = target.body
        history: list[JSONDict] = _record(previous)["history"] if previous is not None else []
        items = _resolved(_checked_input(body), history)
        exchange = Exchange.new(body)
        expanded = {**body, "input": history + items}
        outcome = await self.chat.translate(ctx, replace(target, body=expanded), ResponsesCodec(exchange))
        if body.get("store") is False:
            return outcome
        if outcome.chunks is None:
            await self._keep(ctx, exchange, items, history)
        else:
            outcome.chunks = self._kept_after(ctx, outcome.chunks, exchange, items, history)
        return outcome

    async def _kept_after(
        self,
        ctx: Context,
        chunks: AsyncIterator[bytes],
        exchange: Exchange,
        items: list[JSONDict],
        history: list[JSONDict],
    ) -> AsyncIterator[bytes]:
        """The stream, the response stored just before the chunk with its terminal event goes out
        (a client continuing the conversation as soon as it reads that event finds it)."""
        kept = False
        try:
            async for chunk in chunks:
                if not kept and _over(exchange):
                    kept = True
                    await self._keep(ctx, exchange, items, history)
                yield chunk
        finally:
            if hasattr(chunks, "aclose"):
                await chunks.aclose()

    async def _keep(
        self, ctx: Context, exchange: Exchange, items: list[JSONDict], history: list[JSONDict]
    ) -> None:
        response = exchange.response
        if response is None or not _over(exchange):
            return  # the answer never got to its end
        assert ctx.caller is not None
        listed = listed_items(items)
        record = {
            "response": response,
            "input": listed,
            "history": history + listed + exchange.history_output,
        }
        now = time.time()
        record_of = StoredResponse(
            exchange.id, ctx.caller.group, now, None, encode_request(record), now + RESPONSE_TTL_S
        )
        try:
            await self.store.put_response(record_of)
        except StateUnavailable:
            pass  # the answer still goes out (the store logs its outage); only its record is lost

    # ------------------------------------------------------------------ stored responses

    async def get(self, ctx: Context) -> Outcome:
        record = await self._owned(ctx)
        if record.upstream is not None:
            return await self._forward(ctx, record, "responses.get")
        return _json(_record(record)["response"])

    async def delete(self, ctx: Context) -> Outcome:
        record = await self._owned(ctx)
        if record.upstream is not None:
            outcome = await self._forward(ctx, record, "responses.delete")
            await self.store.delete_response(record.id)
            return outcome
        await self.store.delete_response(record.id)
        return _json({"id": record.id, "object": "response", "deleted": True})

    async def input_items(self, ctx: Context) -> Outcome:
        record = await self._owned(ctx)
        if record.upstream is not None:
            return await self._forward(ctx, record, "responses.input_items")
        return _json(_page(_record(record)["input"], ctx.call.params))

    async def cancel(self, ctx: Context) -> Outcome:
        record = await self._owned(ctx)
        if record.upstream is not None:
            return await self._forward(ctx, record, "responses.cancel")
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "Only responses created with 'background' set to true can be cancelled.",
        )

    async def _find(self, ctx: Context, response_id: str) -> StoredResponse | None:
        """The record of a response the caller's group may see."""
        assert ctx.caller is not None
        record = await self.store.get_response(response_id)
        return record if record is not None and record.group == ctx.caller.group else None

    async def _owned(self, ctx: Context) -> StoredResponse:
        response_id = ctx.call.params.get("response_id", "")
        record = await self._find(ctx, response_id)
        if record is None:
            raise GatewayError(ErrorCode.NOT_FOUND, f"Response with id '{response_id}' not found.")
        return record

    async def _forward(self, ctx: Context, record: StoredResponse, operation: str) -> Outcome:
        """A stored response's operation, sent to the upstream that holds it."""
        assert record.upstream is not None
        upstream = self.upstreams.get(record.upstream)
        if upstream is None or operation not in upstream.operations:
            raise GatewayError(ErrorCode.NOT_FOUND, f"Response with id '{record.id}' not found.")
        ctx.upstream = record.upstream
        params = {k: v for k, v in ctx.call.params.items() if k not in ("key", "stream")}
        request = UpstreamRequest(
            operation=operation,
            model="",
            body=b"",
            stream=False,
            request_id=ctx.call.request_id,
            deadline=ctx.deadline,
            params=params,
        )
        answer = await send(ctx.call.protocol, upstream, self.protocols[upstream.protocol], request)
        headers = {"x-torouter-upstream": record.upstream}
        headers["content-type"] = answer.headers.get("content-type", "application/json")
        return Outcome(answer.status, headers, answer.body)


# ---------------------------------------------------------------------------- helpers


def _over(exchange: Exchange) -> bool:
    """True once the writer produced the response's final state (completed, incomplete, failed)."""
    return exchange.response is not None and exchange.response.get("status") != "in_progress"


def _serves_responses(upstream: Upstream) -> bool:
    return upstream.protocol == "openai" and CREATE in upstream.operations


def _has_effort(body: JSONDict) -> bool:
    reasoning = body.get("reasoning")
    return isinstance(reasoning, dict) and reasoning.get("effort") is not None


def _record(stored: StoredResponse) -> Any:
    return orjson.loads(stored.data)


def _json(body: object) -> Outcome:
    return Outcome(200, dict(JSON_HEADERS), orjson.dumps(body))


def _checked_input(body: JSONDict) -> list[Any]:
    try:
        return input_items(body)
    except Malformed as exc:
        raise GatewayError(ErrorCode.INVALID_REQUEST, exc.message, param=exc.param) from None


def _resolved(items: list[Any], history: list[JSONDict]) -> list[Any]:
    """The input with ``item_reference`` items replaced by the history's items they name."""
    if not any(isinstance(i, dict) and i.get("type") == "item_reference" for i in items):
        return items
    by_id = {item["id"]: item for item in history if isinstance(item.get("id"), str)}
    return [
        by_id.get(item.get("id"), item)
        if isinstance(item, dict) and item.get("type") == "item_reference"
        else item
        for item in items
    ]


def _for_openai(history: list[JSONDict]) -> list[JSONDict]:
    """A gateway-held history as an OpenAI upstream takes it: without the gateway's ids (the
    upstream never issued them), statuses and private fields, assistant messages in the easy form
    (their text as a string), and without reasoning items (another provider's reasoning is
    nothing to OpenAI)."""
    out: list[JSONDict] = []
    for item in history:
        kind = item.get("type")
        if kind == "reasoning":
            continue
        if kind == "message":
            content = item.get("content")
            if item.get("role") == "assistant" and isinstance(content, list):
                content = "".join(str(p.get("text") or p.get("refusal") or "") for p in content)
            out.append({"type": "message", "role": item.get("role"), "content": content})
            continue
        out.append({k: v for k, v in item.items() if k != "id" and not k.startswith("x_torouter")})
    return out


def _page(items: list[JSONDict], params: dict[str, str]) -> JSONDict:
    """A page of input items (``limit``, ``order`` — newest first by default —, ``after``, ``before``)."""
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"Invalid value for 'order': '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
        )
    try:
        limit = int(params.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_PAGE:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"Invalid 'limit': expected an integer from 1 to {_MAX_PAGE}.",
            param="limit",
        )
    ordered = items if order == "asc" else items[::-1]
    ids = [item.get("id") for item in ordered]
    start, stop = 0, len(ordered)
    if params.get("after") in ids:
        start = ids.index(params["after"]) + 1
    if params.get("before") in ids:
        stop = ids.index(params["before"])
    window = ordered[start:stop]
    page = window[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(window) > limit,
    }
