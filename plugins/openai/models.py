"""What OpenAI's own models accept, where it differs by model (TRANSLATION §12 pitfall 33): the
kind's ``capabilities``, which the OpenAI codec fits a translated request to.

- The reasoning models (``o1``, ``o3``, ``o4-mini``, the ``gpt-5`` family but ``gpt-5-chat``) take
  only the default sampling ("Unsupported value: 'temperature' does not support 0.5 with this
  model").
- Every model has a largest completion ("max_tokens is too large: 32000. This model supports at
  most 16384 completion tokens"): :data:`OUTPUT_LIMITS` lists OpenAI's published limits by model
  family; a model it does not know is sent what the caller asked for.
- Stop sequences: at most 4, and none for ``o3`` and ``o4-mini``.
"""

from __future__ import annotations

from typing import Final

from torouter.router.capabilities import Capabilities

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


def capabilities(model: str) -> Capabilities:
    return Capabilities(
        output_limit=output_limit(model),
        default_sampling_only=is_reasoning_model(model),
        max_stop_sequences=0 if _name(model).startswith(NO_STOP_PREFIXES) else MAX_STOP_SEQUENCES,
    )
