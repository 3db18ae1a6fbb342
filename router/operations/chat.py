"""Chat requests of every protocol: passthrough when the upstream speaks the caller's protocol,
translation through the neutral form when it does not, streams translated event by event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson

from ..account.metering import usage_of
from ..account.records import tokens_of
from ..call import JSON_HEADERS, SSE_HEADERS, Context, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir import ChatRequest, JSONDict, Reasoning, ReasoningEffort, Usage
from ..protocols.base import CallerChatCodec, WireProtocol
from ..protocols.common import drop_hosted_tools
from ..routing.catalog import Resolution, Route
from ..routing.fallbacks import with_fallbacks
from ..upstreams.base import Upstream, UpstreamRequest, UpstreamResponse
from ..upstreams.calls import send
from .body_bytes import encode_request, parse_json_object
from .passthrough import Target, pass_through, target_of
from .reasoning_memo import StreamRecorder
from .services import Operation

THINKING_EFFORT: ReasoningEffort = "high"  # what a `-thinking` model id asks for
DROPPED_TOOLS_HEADER = "x-torouter-dropped-tools"
log = logging.getLogger("torouter.router")


class ChatHandler(Operation):
    """The handler of every protocol's chat operation."""

    async def __call__(self, ctx: Context) -> Outcome:
        first = target_of(ctx, self.catalog, self.upstreams)
        ctx.stream = ctx.call.operation == "streamGenerateContent" or first.body.get("stream") is True
        outcome = await with_fallbacks(ctx, first, self.upstreams, self._attempt, self.cooldowns, self.retry)
        framing = ctx.protocol.stream_framing
        if outcome.chunks is not None and framing is not None and framing.applies(ctx.call.params):
            outcome.headers["content-type"] = framing.content_type
            outcome.chunks = framing.frame(outcome.chunks)
        return outcome

    async def _attempt(self, ctx: Context, target: Target) -> Outcome:
        if target.upstream.protocol == ctx.call.protocol and not target.resolution.thinking:
            return await pass_through(
                ctx, target, self.protocols, ctx.protocol.upstream_chat_operation, self.capabilities
            )
        return await self._translate(ctx, target.body, target.resolution, target.route, target.upstream)

    async def translate(self, ctx: Context, target: Target, codec: CallerChatCodec) -> Outcome:
        """One translated attempt with ``codec`` on the caller's side instead of the protocol's chat
        codec: how the Responses API is served by chat upstreams (see ``responses.py``)."""
        return await self._translate(
            ctx, target.body, target.resolution, target.route, target.upstream, codec
        )

    async def _translate(
        self,
        ctx: Context,
        body: JSONDict,
        resolution: Resolution,
        route: Route,
        upstream: Upstream,
        codec: CallerChatCodec | None = None,
    ) -> Outcome:
        """Different protocols: caller → neutral form → upstream, and back, event by event."""
        caller_codec = codec or ctx.protocol.caller_codec
        target = self.protocols[upstream.protocol]
        upstream_codec = target.upstream_codec
        if caller_codec is None or upstream_codec is None:
            raise GatewayError(
                ErrorCode.NOT_IMPLEMENTED,
                f"translating {ctx.call.protocol} to {upstream.protocol} is not available in this version.",
            )
        request = caller_codec.read_request(body)
        dropped = drop_hosted_tools(request, upstream_codec.hosted_tools)
        request.stream = ctx.stream
        request.model = route.model
        request.capabilities = self.capabilities.of(route.upstream.kind, route.model)
        if resolution.thinking and (request.reasoning is None or request.reasoning.effort is None):
            budget = request.reasoning.budget_tokens if request.reasoning else None
            effort = None if budget else THINKING_EFFORT
            request.reasoning = Reasoning(effort=effort, budget_tokens=budget, include_thoughts=True)
        assert ctx.caller is not None
        await self.memo.restore(ctx.caller.group, request)
        upstream_body = encode_request(upstream_codec.write_request(request))
        ctx.reached_upstream = True
        response = await send(
            ctx.call.protocol,
            upstream,
            target,
            UpstreamRequest(
                operation=target.upstream_chat_operation,
                model=route.model,
                body=upstream_body,
                stream=ctx.stream,
                request_id=ctx.call.request_id,
                deadline=ctx.deadline,
            ),
        )
        headers = route.headers()
        if dropped:  # built-in tools of the caller's provider that this upstream cannot run
            headers[DROPPED_TOOLS_HEADER] = ",".join(dropped)
            log.info(
                "hosted tools left out",
                extra={"request_id": ctx.call.request_id, "upstream": route.upstream.name, "tools": dropped},
            )
        if response.chunks is None:
            try:
                parsed = upstream_codec.read_response(parse_json_object(response.body))
            except GatewayError:
                raise GatewayError(
                    ErrorCode.UPSTREAM_ERROR, f"upstream {route.upstream.name!r} sent a malformed response"
                ) from None
            if parsed.choices:
                await self.memo.remember(ctx.caller.group, parsed.choices[0].message.parts)
            if parsed.usage is not None:
                ctx.tokens = tokens_of(parsed.usage)
            headers.update(JSON_HEADERS)
            return Outcome(200, headers, orjson.dumps(caller_codec.write_response(parsed)))
        headers.update(SSE_HEADERS)
        return Outcome(
            200,
            headers,
            chunks=self._translate_stream(ctx, upstream, target, request, response, caller_codec),
        )

    async def _translate_stream(
        self,
        ctx: Context,
        upstream: Upstream,
        target: WireProtocol,
        request: ChatRequest,
        response: UpstreamResponse,
        caller_codec: CallerChatCodec,
    ) -> AsyncIterator[bytes]:
        upstream_codec = target.upstream_codec
        assert response.chunks is not None and upstream_codec is not None
        parser = target.stream_decoder()
        reader = upstream_codec.stream_reader()
        writer = caller_codec.stream_writer(request)
        recorder = StreamRecorder()
        usage: Usage | None = None
        try:
            async for chunk in response.chunks:
                out = b""
                for event in parser.feed(chunk):
                    batch = reader.feed(event)
                    if batch is not None:
                        recorder.feed(batch)
                        usage = usage_of(batch, usage)
                        out += writer.write(batch)
                if out:
                    yield out
        except GatewayError as failure:
            ctx.error_code = failure.code.value
            yield writer.fail(failure)
            return
        finally:
            await response.aclose()
            if usage is not None:
                ctx.tokens = tokens_of(usage)
        if reader.finished:
            assert ctx.caller is not None
            await self.memo.remember(ctx.caller.group, recorder.parts())
            yield writer.close()
        else:
            error = GatewayError(
                ErrorCode.UPSTREAM_ERROR,
                f"upstream {upstream.config.name!r} ended the stream before it was complete",
            )
            ctx.error_code = error.code.value
            yield writer.fail(error)
