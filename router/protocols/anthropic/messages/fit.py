"""A Messages body fitted to the model's largest completion (``Capabilities.output_limit``, which the
upstream's kind declares).

Anthropic answers 400 to a ``max_tokens`` over the model's limit ("max_tokens: 68095 > 64000, which
is the maximum allowed number of output tokens"), and the thinking budget must stay below
``max_tokens``. A request translated for an Anthropic upstream (an OpenAI caller asking for
``max_completion_tokens: 100000``, or ``reasoning_effort: "max"`` whose budget plus the answer's room
passes the limit) is fitted: ``max_tokens`` lowered to the limit, and the budget lowered to leave
the answer room. A model with no declared limit is sent what was asked. A passthrough request whose
model the router replaced (a family's stand-in: Claude Code's ``max_tokens: 128000`` for its newest
opus, served by ``claude-opus-4-1``) is fitted the same way (:func:`refitted`).
"""

from __future__ import annotations

from typing import Final

from ....capabilities import Capabilities
from ....ir import JSONDict

MIN_BUDGET: Final = 1024  # Anthropic's smallest thinking budget
ANSWER_ROOM: Final = 4096  # what a lowered budget leaves for the answer, at most half the limit


def fitted(limit: int | None, max_tokens: int, budget: int | None) -> tuple[int, int | None]:
    """``(max_tokens, budget)`` within the model's ``limit`` (module docstring)."""
    if limit is None or max_tokens <= limit:
        return max_tokens, budget
    if budget is not None and budget >= limit:
        budget = max(MIN_BUDGET, limit - min(ANSWER_ROOM, limit // 2))
    return limit, budget


def refitted(body: JSONDict, capabilities: Capabilities) -> JSONDict | None:
    """A Messages body written for another model, fitted to the one serving it instead (whose
    ``capabilities``): ``max_tokens`` and an enabled thinking budget lowered as :func:`fitted` says;
    None when they fit (the body then goes as it is)."""
    max_tokens, thinking = body.get("max_tokens"), body.get("thinking")
    if capabilities.output_limit is None or not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return None
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else None
    new_max, new_budget = fitted(capabilities.output_limit, max_tokens, budget)
    if new_max == max_tokens and new_budget == budget:
        return None
    out = {**body, "max_tokens": new_max}
    if new_budget != budget and isinstance(thinking, dict):
        out["thinking"] = {**thinking, "budget_tokens": new_budget}
    return out
