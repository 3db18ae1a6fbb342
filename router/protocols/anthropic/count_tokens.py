"""Anthropic's ``/v1/messages/count_tokens`` for an upstream of another protocol: the body is a
Messages request without ``max_tokens``, the answer ``{"input_tokens": n}``."""

from __future__ import annotations

from ...ir import JSONDict
from ..base import TokenCounting


def chat_body(body: JSONDict) -> JSONDict:
    return {**body, "max_tokens": 1}  # count_tokens bodies carry no max_tokens; the reader wants one


def answer(count: int) -> JSONDict:
    return {"input_tokens": count}


COUNTING = TokenCounting("messages.count_tokens", chat_body, answer)
