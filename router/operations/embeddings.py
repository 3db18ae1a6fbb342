"""Embeddings on every group, for OpenAI callers (``/v1/embeddings``) and Gemini callers
(``:embedContent``, ``:batchEmbedContents``).

- An upstream of the caller's protocol gets the caller's bytes, only the model changed, and its
  answer comes back untouched (a Gemini request whose model the group maps to another name is
  translated instead: each request of a batch names its model too).
- Otherwise the request is read into the neutral form and written for the upstream by its
  protocol's codec (``WireProtocol.embeddings``): OpenAI ``/embeddings`` (floats) or Gemini
  ``batchEmbedContents`` (100 texts a call, vectors L2-normalised as OpenAI's are); the answer is
  written back in the caller's protocol.
- An upstream with no embeddings (Anthropic) is a 400 that says what to ask for.
"""

from __future__ import annotations

import orjson

from ..account.records import Tokens
from ..call import JSON_HEADERS, Context, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir import EmbeddingRequest, EmbeddingResponse
from ..protocols.base import EmbeddingsCodec, UpstreamEmbeddings
from ..routing.fallbacks import with_fallbacks
from .body_bytes import encode_request
from .passthrough import Target, call_for_json, pass_through, target_of
from .services import Operation


class EmbeddingsHandler(Operation):
    """The handler of each protocol's embeddings operations (its ``embeddings`` codec's)."""

    async def __call__(self, ctx: Context) -> Outcome:
        first = target_of(ctx, self.catalog, self.upstreams)
        caller = _caller_codec(ctx)
        # a malformed request fails here, before any upstream (the one parse, done by target_of)
        request = caller.read_request(ctx.call.operation, first.body, first.model)

        async def attempt(ctx: Context, target: Target) -> Outcome:
            return await self._attempt(ctx, target, caller, request)

        return await with_fallbacks(ctx, first, self.upstreams, attempt, self.cooldowns, self.retry)

    async def _attempt(
        self, ctx: Context, target: Target, caller: EmbeddingsCodec, request: EmbeddingRequest
    ) -> Outcome:
        upstream, route = target.upstream, target.route
        same = upstream.protocol == ctx.call.protocol and ctx.call.operation in upstream.operations
        if same and (caller.model_named_once or route.model == target.model):
            return await pass_through(ctx, target, self.protocols, ctx.call.operation, self.capabilities)
        embedder = self.protocols[upstream.protocol].embedder
        if embedder is None or embedder.operation not in upstream.operations:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                f"The model `{target.model}` is served by the {route.upstream.kind} upstream "
                f"{route.upstream.name!r}, which has no embeddings endpoint. Ask for an embedding model "
                "of an OpenAI, Gemini or OpenRouter upstream (e.g. text-embedding-3-small or "
                "gemini-embedding-001).",
                param="model",
            )
        response = await self._embed(ctx, target, embedder, request)
        if response.input_tokens is not None:
            ctx.tokens = Tokens(response.input_tokens, 0)
        body = caller.write_response(response, request)
        headers = {**JSON_HEADERS, **route.headers()}
        return Outcome(200, headers, orjson.dumps(body))

    async def _embed(
        self, ctx: Context, target: Target, embedder: UpstreamEmbeddings, request: EmbeddingRequest
    ) -> EmbeddingResponse:
        """Translated: the calls the upstream's protocol makes of the request, one after another."""
        answers: list[EmbeddingResponse] = []
        for body in embedder.write_requests(request, target.route.model):
            sent = encode_request(body)
            answer = await call_for_json(ctx, target, self.protocols, embedder.operation, sent)
            answers.append(embedder.read_response(answer))
        response = embedder.joined(answers, request, target.route.model)
        if response.input_tokens is None:  # the upstream reported none (Gemini never does)
            response.input_tokens = estimated_tokens(request)
        return response


def estimated_tokens(request: EmbeddingRequest) -> int:
    """About four characters a token: what is charged when an upstream reports no usage."""
    texts = sum(max(1, len(text) // 4) for text in request.inputs)
    return texts + sum(len(ids) for ids in request.token_inputs or [])


def _caller_codec(ctx: Context) -> EmbeddingsCodec:
    codec = ctx.protocol.embeddings
    if codec is None:  # dispatch routes only the operations of a protocol's codec here
        raise GatewayError(ErrorCode.NOT_IMPLEMENTED, f"embeddings for {ctx.call.protocol} are not available")
    return codec
