"""OpenAI ``/v1/embeddings`` on every group: passthrough to OpenAI upstreams, translated to
``batchEmbedContents`` for Gemini upstreams, a clear 400 where the upstream has no embeddings."""

from __future__ import annotations

import orjson

from .call import JSON_HEADERS, Context, Outcome
from .catalog import Catalog
from .cooldown import Cooldowns
from .errors import ErrorCode, GatewayError
from .fallbacks import RetryPolicy, with_fallbacks
from .passthrough import Target, pass_through, target_of
from .protocols.base import WireProtocol
from .protocols.gemini import embeddings as gemini_embeddings
from .protocols.openai import embeddings as openai_embeddings
from .upstream import Upstream, UpstreamRequest
from .upstream_errors import send


class EmbeddingsHandler:
    def __init__(
        self,
        catalog: Catalog,
        upstreams: dict[str, Upstream],
        protocols: dict[str, WireProtocol],
        cooldowns: Cooldowns,
        retry: RetryPolicy,
    ) -> None:
        self.catalog = catalog
        self.upstreams = upstreams
        self.protocols = protocols
        self.cooldowns = cooldowns
        self.retry = retry

    async def __call__(self, ctx: Context) -> Outcome:
        first = target_of(ctx, self.catalog, self.upstreams)
        openai_embeddings.read_request(first.body)  # a malformed request fails here, before any upstream
        return await with_fallbacks(ctx, first, self.upstreams, self._attempt, self.cooldowns, self.retry)

    async def _attempt(self, ctx: Context, target: Target) -> Outcome:
        upstream, route = target.upstream, target.route
        if upstream.protocol == "openai" and "embeddings" in upstream.operations:
            return await pass_through(ctx, target, self.protocols, "embeddings")
        if upstream.protocol == "gemini" and "batchEmbedContents" in upstream.operations:
            return await self._gemini(ctx, target)
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"The model `{target.model}` is served by the {route.upstream.kind} upstream "
            f"{route.upstream.name!r}, which has no embeddings endpoint. Ask for an embedding model of "
            "an OpenAI or Gemini upstream (e.g. text-embedding-3-small or gemini-embedding-001).",
            param="model",
        )

    async def _gemini(self, ctx: Context, target: Target) -> Outcome:
        request = openai_embeddings.read_request(target.body)  # the one parse, done by target_of
        request.model = target.route.model
        vectors: list[list[float]] = []
        for body in gemini_embeddings.write_batches(request):
            upstream_request = UpstreamRequest(
                operation="batchEmbedContents",
                model=target.route.model,
                body=orjson.dumps(body),
                stream=False,
                request_id=ctx.call.request_id,
                deadline=ctx.deadline,
            )
            answer = await send(
                ctx.call.protocol, target.upstream, self.protocols["gemini"], upstream_request
            )
            try:
                parsed = orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                parsed = None
            vectors += gemini_embeddings.read_batch(parsed)
        response = gemini_embeddings.response_of(target.route.model, vectors, request)
        ctx.usage_tokens = response.input_tokens
        body = openai_embeddings.write_response(response, request)
        headers = {**JSON_HEADERS, "x-torouter-upstream": target.route.upstream.name}
        return Outcome(200, headers, orjson.dumps(body))
