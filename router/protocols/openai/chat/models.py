"""What OpenAI's own models accept, where it differs by model (TRANSLATION §12 pitfall 33).

A caller of another protocol cannot know OpenAI's per-model rules, so a request translated for an
OpenAI upstream is fitted to the model it goes to; an OpenAI caller's own request is passed on as
sent, and OpenAI's answer with it.

- OpenAI's reasoning models (``o1``, ``o3``, ``o4-mini``, the ``gpt-5`` family but ``gpt-5-chat``)
  answer 400 to a sampling parameter other than its default ("Unsupported value: 'temperature' does
  not support 0.5 with this model"): temperature and top_p other than 1 and penalties other than 0
  are left out for them (Claude Code sends a temperature).
- Every model has a largest completion ("max_tokens is too large: 32000. This model supports at
  most 16384 completion tokens"): a larger ``max_tokens`` is lowered to it (Claude Code asks for
  32000). :data:`OUTPUT_LIMITS` lists OpenAI's published limits by model family; a model it does not
  know is sent what the caller asked for.
- Stop sequences: at most 4, and none for ``o3`` and ``o4-mini`` — a 400 in the caller's protocol,
  since leaving them out would let the answer run past where the caller wanted it to end.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ....errors import ErrorCode, GatewayError
from ....ir import ChatRequest

MAX_STOP_SEQUENCES: Final = 4
NO_STOP_PREFIXES: Final = ("o3", "o4-mini")  # "Not supported with latest reasoning models o3 and o4-mini"
REASONING_PREFIXES: Final = ("o1", "o3", "o4", "gpt-5")
NOT_REASONING_PREFIXES: Final = ("gpt-5-chat",)
# Largest completion by model family, longest prefix first (platform.openai.com/docs/models).
OUTPUT_LIMITS: Final = (
    ("gpt-5-chat", 16_384),
    ("gpt-5", 128_000),
    ("gpt-4.1", 32_768),
    ("gpt-4o", 16_384),
    ("gpt-4-turbo", 4_096),
    ("gpt-3.5-turbo", 4_096),
    ("o1-mini", 65_536),
    ("o1", 100_000),
    ("o3", 100_000),
    ("o4-mini", 100_000),
)


def _name(model: str) -> str:
    return model.rpartition("/")[2]


def is_reasoning_model(model: str) -> bool:
    name = _name(model)
    return name.startswith(REASONING_PREFIXES) and not name.startswith(NOT_REASONING_PREFIXES)


def output_limit(model: str) -> int | None:
    name = _name(model)
    return next((limit for prefix, limit in OUTPUT_LIMITS if name.startswith(prefix)), None)


def fitted_to_model(request: ChatRequest) -> ChatRequest:
    """The request (a shallow copy) as the model it goes to accepts it; more stop
    sequences than OpenAI takes are a 400 (leaving some out would let the answer run past them)."""
    if request.stop is not None and len(request.stop) > MAX_STOP_SEQUENCES:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"OpenAI upstreams take at most {MAX_STOP_SEQUENCES} stop sequences, not {len(request.stop)}.",
            param="stop",
        )
    if request.stop and _name(request.model).startswith(NO_STOP_PREFIXES):
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"OpenAI's {_name(request.model)} takes no stop sequences: send the request without them.",
            param="stop",
        )
    limit = output_limit(request.model)
    size = request.max_output_tokens
    if limit is not None and size is not None and size > limit:
        size = limit
    temperature, top_p = request.temperature, request.top_p
    presence, frequency = request.presence_penalty, request.frequency_penalty
    if is_reasoning_model(request.model):
        temperature = temperature if temperature in (None, 1) else None
        top_p = top_p if top_p in (None, 1) else None
        presence, frequency = presence or None, frequency or None
    return replace(
        request,
        max_output_tokens=size,
        temperature=temperature,
        top_p=top_p,
        presence_penalty=presence,
        frequency_penalty=frequency,
    )
