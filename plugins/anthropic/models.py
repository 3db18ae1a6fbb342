"""What Anthropic's models accept (the kind's ``capabilities``, which the Anthropic codec fits a
request to): the largest completion, where it differs by model — :data:`OUTPUT_LIMITS` holds
Anthropic's published limits by model family; a model it does not know is sent what was asked."""

from __future__ import annotations

import re
from typing import Final

from torouter.router.capabilities import Capabilities

OUTPUT_LIMITS: Final = (
    (re.compile(r"claude-opus-4-(?:0|1)\b|claude-opus-4-2025"), 32_000),
    (re.compile(r"claude-(?:opus-4-[5-9]|sonnet-4|haiku-4|3-7-sonnet)"), 64_000),
    (re.compile(r"claude-3-5-(?:sonnet|haiku)"), 8_192),
    (re.compile(r"claude-3-(?:haiku|opus|sonnet)"), 4_096),
)


def output_limit(model: str) -> int | None:
    name = model.rpartition("/")[2]
    return next((limit for pattern, limit in OUTPUT_LIMITS if pattern.match(name)), None)


def capabilities(model: str) -> Capabilities:
    return Capabilities(output_limit=output_limit(model))
