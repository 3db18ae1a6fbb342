"""Reasoning on the OpenAI chat wire, which OpenAI itself does not send: DeepSeek's (and LiteLLM's)
``reasoning_content``, and OpenRouter's ``reasoning`` (text) with ``reasoning_details``.

``reasoning_details`` are the provider's own blocks: ``reasoning.text`` (``text``, optionally
``signature``), ``reasoning.summary`` (``summary``), ``reasoning.encrypted`` (``data``), each with
a ``format`` naming whose they are (``anthropic-claude-v1``, ``google-gemini-v1``,
``openai-responses-v1``, ...), an ``index`` and maybe an ``id``
(openrouter.ai/docs/guides/best-practices/reasoning-tokens).

Read: one ``ReasoningPart`` per detail — its text or summary, its signature signed by the provider
its format names (Anthropic's and Gemini's signatures are theirs; other formats' are OpenRouter's),
Anthropic's encrypted blocks as redacted data — with the detail itself kept in the part's
``extra`` so that it goes back unchanged. When a message has details, its ``reasoning`` string
(the same text) is not read again. In a stream, details arrive in pieces: text, then the
signature.

Written (for an upstream that takes them: OpenRouter): each part's kept detail as it came, and
thinking that Anthropic signed (from an Anthropic caller, or put back by the reasoning memo) as a
``reasoning.text`` detail of format ``anthropic-claude-v1``: what OpenRouter needs back to continue a
Claude tool-use turn. Unsigned reasoning is not sent back.
"""

from __future__ import annotations

from typing import Any, Final

from ....ir import JSONDict, ReasoningDelta, ReasoningPart
from .residual import _take
from .validate import _obj, _opt_list, _opt_str

DETAIL: Final = "reasoning_detail"  # the key of a part's ``extra`` that keeps its detail
SIGNERS: Final = {"anthropic-claude-v1": "anthropic", "google-gemini-v1": "gemini"}
FORMATS: Final = {signer: name for name, signer in SIGNERS.items()}
OPENROUTER: Final = "openrouter"  # the signer of a signature in any other format


def _signer(detail: JSONDict) -> str:
    return SIGNERS.get(str(detail.get("format") or ""), OPENROUTER)


def _str(detail: JSONDict, key: str) -> str | None:
    value = detail.get(key)
    return value if isinstance(value, str) else None


def _part(detail: JSONDict) -> ReasoningPart:
    kind = detail.get("type")
    signer = _signer(detail)
    part = ReasoningPart(extra={DETAIL: detail})
    if kind == "reasoning.encrypted":
        if signer == "anthropic":  # Anthropic's redacted_thinking, carried by OpenRouter
            part.redacted_data = _str(detail, "data")
        return part
    part.text = (_str(detail, "summary") if kind == "reasoning.summary" else _str(detail, "text")) or ""
    signature = _str(detail, "signature")
    if signature:
        part.signature, part.signer = signature, signer
    return part


def read_message_reasoning(message: JSONDict, rest: JSONDict, path: str) -> list[ReasoningPart]:
    """The reasoning of an assistant message (taken out of its residual ``rest``)."""
    content = _take(rest, "reasoning_content", _opt_str(message, "reasoning_content", path))
    text = _take(rest, "reasoning", _opt_str(message, "reasoning", path))
    details = _take(rest, "reasoning_details", _opt_list(message, "reasoning_details", path))
    if details:
        return [_part(_obj(d, f"{path}.reasoning_details[{i}]")) for i, d in enumerate(details)]
    if content is not None:
        return [ReasoningPart(content)]
    return [ReasoningPart(text)] if text else []


def read_delta_reasoning(delta: JSONDict, choice: int, path: str) -> list[ReasoningDelta]:
    """The reasoning events of one stream delta."""
    details = _opt_list(delta, "reasoning_details", path)
    if details:
        events = []
        for i, raw in enumerate(details):
            part = _part(_obj(raw, f"{path}.reasoning_details[{i}]"))
            if part.text or part.signature or part.redacted_data:
                events.append(
                    ReasoningDelta(part.text, part.signature, part.redacted_data, choice, part.signer)
                )
        return events
    content = _opt_str(delta, "reasoning_content", path)  # kept even when empty: the key round-trips
    if content is not None:
        return [ReasoningDelta(content, choice=choice)]
    text = _opt_str(delta, "reasoning", path)
    return [ReasoningDelta(text, choice=choice)] if text else []


DELTA_KEYS: Final = frozenset({"reasoning_content", "reasoning", "reasoning_details"})


def write_details(parts: list[ReasoningPart]) -> list[JSONDict]:
    """``reasoning_details`` of an assistant message (module docstring)."""
    out: list[JSONDict] = []
    for part in parts:
        kept: Any = part.extra.get(DETAIL)
        if isinstance(kept, dict):
            out.append(kept)
        elif part.signature and part.signer == "anthropic":
            detail = {"type": "reasoning.text", "text": part.text, "signature": part.signature}
            out.append({**detail, "format": FORMATS["anthropic"], "index": len(out)})
        elif part.redacted_data and part.signer in (None, "anthropic"):
            detail = {"type": "reasoning.encrypted", "data": part.redacted_data}
            out.append({**detail, "format": FORMATS["anthropic"], "index": len(out)})
    return out
