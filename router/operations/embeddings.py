"""Embeddings on every group, for OpenAI callers (``/v1/embeddings``) and Gemini callers
(``:embedContent``, ``:batchEmbedContents``).

- An upstream of the caller's protocol gets the caller's bytes, only the model changed, and its
  answer comes back untouched (a Gemini request whose model the group maps to another name is
  translated instead: each request of a batch names its model too).
- Otherwise the request is read into the neutral form and written for the upstream: OpenAI
  ``/embeddings`` (floats) or Gemini ``batchEmbedContents`` (100 texts a call, vectors
  L2-normalised as OpenAI's are); the answer is written back in the caller's protocol.
- An upstream with no embeddings (Anthropic) is a 400 that says what to ask for.
"""

from __future__ import annotations

import orjson

from ..account.records import Tokens
from ..call import JSON_HEADERS, Context, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir import EmbeddingRequest, EmbeddingResponse, JSONDict
from ..protocols.gemini import embeddings as gemini_embeddings
from ..protocols.openai import embeddings as openai_embeddings
from ..routing.fallbacks import with_fallbacks
from .body_bytes import encode_request
from .passthrough import Target, call_for_json, pass_through, target_of
from .services import Operation

OPERATIONS = {"openai": ("embeddings",), "gemini": ("embedContent", "batchEmbedContents")}


class EmbeddingsHandler(Operation):
    async def __call__(self, ctx: Context) -> Outcome:
        first = target_of(ctx, self.catalog, self.upstreams)
        request = _read(ctx, first)  # a malformed request fails here, before any upstream

        async def attempt(ctx: Context, target: Target) -> Outcome:
            return await self._attempt(ctx, target, request)

        return await with_fallbacks(ctx, first, self.upstreams, attempt, self.cooldowns, self.retry)

    async def _attempt(self, ctx: Context, target: Target, request: EmbeddingRequest) -> Outcome:
        upstream, route, caller = target.upstream, target.route, ctx.call.protocol
        same = upstream.protocol == caller and ctx.call.operation in upstream.operations
        if same and (caller == "openai" or route.model == target.model):
            return await pass_through(ctx, target, self.protocols, ctx.call.operation, self.capabilities)
        if upstream.protocol == "openai" and "embeddings" in upstream.operations:
            response = await self._openai(ctx, target, request)
        elif upstream.protocol == "gemini" and "batchEmbedContents" in upstream.operations:
            response = await self._gemini(ctx, target, request)
        else:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                f"The model `{target.model}` is served by the {route.upstream.kind} upstream "
                f"{route.upstream.name!r}, which has no embeddings endpoint. Ask for an embedding model "
                "of an OpenAI, Gemini or OpenRouter upstream (e.g. text-embedding-3-small or "
                "gemini-embedding-001).",
                param="model",
            )
        if response.input_tokens is not None:
            ctx.tokens = Tokens(response.input_tokens, 0)
        body = _write(caller, response, request)
        headers = {**JSON_HEADERS, **route.headers()}
        return Outcome(200, headers, orjson.dumps(body))

    async def _call(self, ctx: Context, target: Target, operation: str, body: JSONDict) -> object:
        return await call_for_json(ctx, target, self.protocols, operation, encode_request(body))

    async def _openai(self, ctx: Context, target: Target, request: EmbeddingRequest) -> EmbeddingResponse:
        body = openai_embeddings.write_request(request, target.route.model)
        response = openai_embeddings.read_response(await self._call(ctx, target, "embeddings", body))
        response.model = response.model or target.route.model
        if response.input_tokens is None:
            response.input_tokens = estimated_tokens(request)
        return response

    async def _gemini(self, ctx: Context, target: Target, request: EmbeddingRequest) -> EmbeddingResponse:
        vectors: list[list[float]] = []
        for body in gemini_embeddings.write_batches(request, target.route.model):
            vectors += gemini_embeddings.read_batch(await self._call(ctx, target, "batchEmbedContents", body))
        response = gemini_embeddings.response_of(target.route.model, vectors, request)
        response.input_tokens = estimated_tokens(request)  # Gemini reports no usage for embeddings
        return response


def estimated_tokens(request: EmbeddingRequest) -> int:
    """About four characters a token: what is charged when an upstream reports no usage."""
    texts = sum(max(1, len(text) // 4) for text in request.inputs)
    return texts + sum(len(ids) for ids in request.token_inputs or [])


def _read(ctx: Context, target: Target) -> EmbeddingRequest:
    if ctx.call.protocol == "gemini":
        return gemini_embeddings.read_request(ctx.call.operation, target.body, target.model)
    return openai_embeddings.read_request(target.body)  # the one parse, done by target_of


def _write(caller: str, response: EmbeddingResponse, request: EmbeddingRequest) -> JSONDict:
    if caller == "gemini":
        return gemini_embeddings.write_response(response, request)
    return openai_embeddings.write_response(response, request)
