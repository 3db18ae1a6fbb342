"""What Gemini's models accept, where it differs by model: the largest completion and the range of
the thinking budget (ai.google.dev/gemini-api/docs/thinking, …/models) — the kind's
``capabilities``, which the Gemini codec fits a translated request to. Gemini 2.5 Flash takes
budgets of 0–24576, Pro 128–32768, Flash-Lite 512–24576. Models not listed are sent what was asked.
"""

from __future__ import annotations

import re
from typing import Final

from torouter.router.capabilities import Capabilities

OUTPUT_LIMITS: Final = (
    (re.compile(r"gemini-(?:2\.5|3)"), 65_536),
    (re.compile(r"gemini-(?:2\.0|1\.5)"), 8_192),
)
BUDGET_RANGES: Final = (
    (re.compile(r"gemini-2\.5-flash-lite"), (512, 24_576)),
    (re.compile(r"gemini-2\.5-flash"), (0, 24_576)),
    (re.compile(r"gemini-2\.5-pro"), (128, 32_768)),
)


def _name(model: str) -> str:
    return model.rpartition("/")[2]


def output_limit(model: str) -> int | None:
    return next((limit for pattern, limit in OUTPUT_LIMITS if pattern.match(_name(model))), None)


def budget_range(model: str) -> tuple[int, int] | None:
    return next((span for pattern, span in BUDGET_RANGES if pattern.match(_name(model))), None)


def capabilities(model: str) -> Capabilities:
    limit, budgets = output_limit(model), budget_range(model)
    return Capabilities(output_limit=limit, thinking_budget=budgets)
