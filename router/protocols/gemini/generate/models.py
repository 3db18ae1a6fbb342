"""What Gemini's models accept, where it differs by model: the largest completion and the range
of the thinking budget (ai.google.dev/gemini-api/docs/thinking, …/models).

A request translated for Gemini (Claude Code's thinking budget of 31999, an OpenAI caller's
``max_completion_tokens: 100000``) is fitted: ``maxOutputTokens`` lowered to the model's limit, a
thinking budget moved into the model's range (Gemini 2.5 Flash takes 0–24576, Pro 128–32768,
Flash-Lite 512–24576; a dynamic budget, -1, stays). Models not listed are sent what was asked.
"""

from __future__ import annotations

import re
from typing import Final

OUTPUT_LIMITS: Final = (
    (re.compile(r"gemini-(?:2\.5|3)"), 65_536),
    (re.compile(r"gemini-(?:2\.0|1\.5)"), 8_192),
)
BUDGET_RANGES: Final = (
    (re.compile(r"gemini-2\.5-flash-lite"), (512, 24_576)),
    (re.compile(r"gemini-2\.5-flash"), (0, 24_576)),
    (re.compile(r"gemini-2\.5-pro"), (128, 32_768)),
)
DYNAMIC: Final = -1


def _name(model: str) -> str:
    return model.rpartition("/")[2]


def output_limit(model: str) -> int | None:
    return next((limit for pattern, limit in OUTPUT_LIMITS if pattern.match(_name(model))), None)


def budget_range(model: str) -> tuple[int, int] | None:
    return next((span for pattern, span in BUDGET_RANGES if pattern.match(_name(model))), None)


def fitted_output(model: str, max_output_tokens: int | None) -> int | None:
    limit = output_limit(model)
    if limit is None or max_output_tokens is None:
        return max_output_tokens
    return min(max_output_tokens, limit)


def fitted_budget(model: str, budget: int | None) -> int | None:
    span = budget_range(model)
    if span is None or budget is None or budget == DYNAMIC:
        return budget
    low, high = span
    return min(max(budget, low), high)
