"""Gemini's ``:countTokens`` for an upstream of another protocol: the body holds ``contents`` or a
whole ``generateContentRequest``; the answer is ``{"totalTokens": n}``."""

from __future__ import annotations

from ...ir import JSONDict
from ..base import TokenCounting


def chat_body(body: JSONDict) -> JSONDict:
    inner = body.get("generateContentRequest")
    if isinstance(inner, dict):
        return {k: v for k, v in inner.items() if k != "model"}
    return {"contents": body.get("contents", [])}


def answer(count: int) -> JSONDict:
    return {"totalTokens": count}


COUNTING = TokenCounting("countTokens", chat_body, answer)
