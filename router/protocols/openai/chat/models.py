"""What OpenAI's own models accept, where it differs by model (TRANSLATION §7 pitfall 33).

OpenAI's reasoning models (``o1``, ``o3``, ``o4-mini``, the ``gpt-5`` family but ``gpt-5-chat``)
answer 400 to a sampling parameter other than its default ("Unsupported value: 'temperature' does
not support 0.5 with this model"). A caller of another protocol cannot know that (Claude Code sends
a temperature), so a request translated for an OpenAI upstream leaves them out for those models;
an OpenAI caller's own request is passed on as sent, and OpenAI's answer with it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ....ir import ChatRequest

REASONING_PREFIXES: Final = ("o1", "o3", "o4", "gpt-5")
NOT_REASONING_PREFIXES: Final = ("gpt-5-chat",)


def is_reasoning_model(model: str) -> bool:
    name = model.rpartition("/")[2]
    return name.startswith(REASONING_PREFIXES) and not name.startswith(NOT_REASONING_PREFIXES)


def without_unsupported_sampling(request: ChatRequest) -> ChatRequest:
    """The request (a copy when anything goes) without what a reasoning model refuses:
    temperature and top_p other than 1, penalties other than 0."""
    if not is_reasoning_model(request.model):
        return request
    temperature = request.temperature if request.temperature in (None, 1) else None
    top_p = request.top_p if request.top_p in (None, 1) else None
    kept = (temperature, top_p, request.presence_penalty or None, request.frequency_penalty or None)
    if kept == (request.temperature, request.top_p, request.presence_penalty, request.frequency_penalty):
        return request
    return replace(
        request,
        temperature=temperature,
        top_p=top_p,
        presence_penalty=kept[2],
        frequency_penalty=kept[3],
    )
