"""How to call OpenRouter: the openai plugin's wire code (Bearer auth, ``base_url`` ending in
``/api/v1``, the same paths), plus OpenRouter's differences.

- Model ids are OpenRouter's full ids (``anthropic/claude-sonnet-4.5``), listed as they are in
  the upstream's ``models``; the catalog matches them exactly before any provider prefix.
- Attribution (``HTTP-Referer``, ``X-Title``) comes from the upstream's ``headers:`` in the config;
  nothing is sent by default.
- OpenRouter's own request fields (``models``, ``provider``, ``transforms``, ``plugins``,
  ``reasoning``, ``usage``) pass through in the caller's bytes. A translated request carries
  ``reasoning_effort``, which OpenRouter documents as the shorthand of ``reasoning.effort``, or a
  thinking budget as ``reasoning.max_tokens``, and its assistant turns their ``reasoning_details``
  (the kind's capabilities: the OpenAI codec writes both only for a kind that declares them).
- ``: OPENROUTER PROCESSING`` comment lines are valid SSE: relayed as keep-alives in passthrough,
  skipped by the SSE parser in translation.
- Errors inside a 200 answer become the gateway's own (see :mod:`.errors`): a whole body
  ``{"error": …}`` gets its status back (so it is mapped, and falls back, like any upstream
  error), and an error event mid-stream ends the stream with one terminal error in the caller's
  protocol instead of being relayed as a chunk followed by "ended before it was complete".
- ``usage.cost`` and ``usage.is_byok`` are kept: relayed in passthrough, and in the usage residual
  for OpenAI callers of a translated request.
"""

from __future__ import annotations

from torouter.plugins.openai.upstream import OpenAIUpstream
from torouter.router.capabilities import Capabilities
from torouter.router.config import UpstreamConfig
from torouter.router.errors import ErrorCode, GatewayError, code_for_status
from torouter.router.upstreams import UpstreamRequest, UpstreamResponse
from torouter.router.upstreams.calls import scrub

from .errors import body_error, error_message, error_status, watch_stream

# OpenRouter's own endpoints among the openai plugin's paths: no /images/* (its image models answer
# chat completions asked with `modalities`, which is how router/images.py calls them) and no
# /models/{id} (ids hold a slash).
OPERATIONS = frozenset({"chat.completions", "embeddings", "models.list"})
# Every model: reasoning_details taken back (what continues a Claude tool-use turn), and a thinking
# budget taken as it is (`reasoning.max_tokens`, for Claude's and Gemini's models).
CAPABILITIES = Capabilities(reasoning_details=True, reasoning_max_tokens=True)


class OpenRouterUpstream(OpenAIUpstream):
    reports_stream_usage = True  # OpenRouter ends every stream with its usage, asked or not

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        response = await super().send(request)
        if response.chunks is not None:
            response.chunks = watch_stream(response.chunks, self._stream_failure)
        elif response.status < 300:
            error = body_error(response.body)
            if error is not None:
                response.status = error_status(error)
        return response

    def _stream_failure(self, error: object) -> GatewayError:
        status = error_status(error)
        message = error_message(error) or "no message"
        return GatewayError(
            _code(status),
            scrub(
                f"The upstream {self.config.name!r} reported an error mid-stream: {message}",
                self.config.api_key,
            ),
        )


def _code(status: int) -> ErrorCode:
    if status in (401, 402):  # the gateway's key, or its account's credits
        return ErrorCode.UPSTREAM_AUTH
    if status == 403:  # a guardrail or moderation flag: the request's content
        return ErrorCode.INVALID_REQUEST
    return code_for_status(status)


class OpenRouterKind:
    name = "openrouter"
    # model-id prefixes of the models that accept extended reasoning (a ``-thinking`` id)
    thinking_models: tuple[str, ...] = (
        "openai/gpt-5",
        "anthropic/claude",
        "google/gemini-2.5",
        "google/gemini-3",
    )
    protocol = "openai"
    price_provider = "openrouter"
    operations = OPERATIONS

    def capabilities(self, model: str) -> Capabilities:
        return CAPABILITIES

    def create(self, config: UpstreamConfig) -> OpenRouterUpstream:
        return OpenRouterUpstream(config, self)
