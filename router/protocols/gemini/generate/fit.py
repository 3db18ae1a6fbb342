"""A translated request fitted to the Gemini model it goes to, as the upstream's kind declares the
model (``ChatRequest.capabilities``): the largest completion and the range of the thinking budget.

A request translated for Gemini (Claude Code's thinking budget of 31999, an OpenAI caller's
``max_completion_tokens: 100000``) is fitted: ``maxOutputTokens`` lowered to the model's limit, a
thinking budget moved into the model's range (a dynamic budget, -1, stays). A model with nothing
declared is sent what was asked.
"""

from __future__ import annotations

from typing import Final

DYNAMIC: Final = -1


def fitted_output(limit: int | None, max_output_tokens: int | None) -> int | None:
    if limit is None or max_output_tokens is None:
        return max_output_tokens
    return min(max_output_tokens, limit)


def fitted_budget(span: tuple[int, int] | None, budget: int | None) -> int | None:
    if span is None or budget is None or budget == DYNAMIC:
        return budget
    low, high = span
    return min(max(budget, low), high)
