"""The OpenRouter-flavoured MockOpenAI's reasoning of Claude models: ``reasoning`` and
``reasoning_details`` in answers and in the messages sent back
(openrouter.ai/docs/guides/best-practices/reasoning-tokens).

- A model whose id starts with :data:`SIGNING_PREFIX` (``anthropic/claude``) that reasons — a
  reasoning model of the mock, unless ``reasoning: {effort: "none"}``, ``reasoning: {enabled:
  false}`` or ``reasoning_effort: "none"`` — answers with its reasoning: the text is
  :func:`reasoning_text` (``"Mock reasoning about: <text of the last user message>"``), signed by
  :func:`signature_of` (``"mocksig-"`` + the first 32 hex digits of the text's SHA-256).
- Non-stream: ``message.reasoning`` is the text and ``message.reasoning_details`` is
  :func:`details` of it: ``[{type: "reasoning.text", text, signature, format:
  "anthropic-claude-v1", index: 0}]``. Other models keep ``message.reasoning: null`` and no
  ``reasoning_details``.
- Stream: after the first (role) chunk of every choice and before any content or tool-call chunk,
  two chunks per choice (round-robin like the others, ``finish_reason``/``native_finish_reason``
  null): ``delta {reasoning: <text>, reasoning_details: [{type: "reasoning.text", text, format,
  index: 0}]}``, then ``delta {reasoning: "", reasoning_details: [{type: "reasoning.text",
  signature, format, index: 0}]}``. A client merges the pieces by ``index`` into the one detail the
  non-stream answer has.
- Requests: assistant messages may carry ``reasoning`` (a string or null) and ``reasoning_details``
  (an array of objects, each with a string ``type``: ``reasoning.text``/``reasoning.summary``/
  ``reasoning.encrypted``); anything else → 400. Both are taken out (:func:`without_message_fields`)
  before the closed-world check against OpenAI's schema; on other roles they stay and are refused
  there as unknown parameters.
- The signed-thinking rule (Anthropic's, behind OpenRouter): for a signing model that reasons, when
  the conversation ends in a tool-use loop — the last assistant message has ``tool_calls`` and every
  message after it is a ``tool`` message — that assistant message must carry a ``reasoning.text``
  detail whose ``signature`` is :func:`signature_of` its ``text``; else 400 (OpenRouter's error
  shape) "messages.<i>.content.0.type: Expected `thinking` or `redacted_thinking`, but found
  `tool_use`. …" (:func:`unsigned_message`; ``<i>`` is the index of that assistant message in
  ``messages``). Reasoning turned off asks for nothing.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

SIGNING_PREFIX: Final = "anthropic/claude"
FORMAT: Final = "anthropic-claude-v1"
TEXT_PREFIX: Final = "Mock reasoning about: "
DETAIL_TYPES: Final = ("reasoning.text", "reasoning.summary", "reasoning.encrypted")
MESSAGE_FIELDS: Final = ("reasoning", "reasoning_details")
"""The fields OpenRouter adds to assistant messages (requests and answers)."""


def signs(model: str) -> bool:
    """True for the models whose reasoning comes signed and must be sent back (Claude)."""
    return model.startswith(SIGNING_PREFIX)


def signature_of(text: str) -> str:
    """The mock's signature of a reasoning text."""
    return "mocksig-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def reasoning_text(user_text: str) -> str:
    """The reasoning the mock writes for the text of the last user message."""
    return TEXT_PREFIX + user_text


def details(text: str) -> list[dict[str, Any]]:
    """``reasoning_details`` of a non-stream answer whose reasoning is ``text``."""
    return [
        {
            "type": "reasoning.text",
            "text": text,
            "signature": signature_of(text),
            "format": FORMAT,
            "index": 0,
        }
    ]


def unsigned_message(index: int) -> str:
    """Anthropic's 400 message for the assistant message ``index`` sent back without its thinking."""
    return (
        f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        "`tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
        "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
    )


# --------------------------------------------------------------------------- requests


def messages_problem(body: Mapping[str, Any]) -> str | None:
    """Type checks of ``reasoning``/``reasoning_details`` on assistant messages (a 400 message)."""
    messages = body.get("messages")
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            continue
        reasoning = message.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, str):
            return f"Invalid type for 'messages[{index}].reasoning': expected a string or null."
        if "reasoning_details" not in message:
            continue
        items = message["reasoning_details"]
        if not isinstance(items, list):
            return f"Invalid type for 'messages[{index}].reasoning_details': expected an array."
        for at, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
                return (
                    f"Invalid 'messages[{index}].reasoning_details[{at}]': expected an object with a "
                    "string 'type'."
                )
    return None


def without_message_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request with :data:`MESSAGE_FIELDS` taken out of its assistant messages."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return dict(body)
    kept = [
        {k: v for k, v in m.items() if k not in MESSAGE_FIELDS}
        if isinstance(m, Mapping) and m.get("role") == "assistant"
        else m
        for m in messages
    ]
    return {**body, "messages": kept}


def tool_loop_problem(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The signed-thinking rule for a model that signs and reasons (a 400 message, or None)."""
    at = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"), None)
    if at is None or not messages[at].get("tool_calls"):
        return None
    if any(m.get("role") != "tool" for m in messages[at + 1 :]):
        return None
    for item in messages[at].get("reasoning_details") or []:
        text = item.get("text")
        signed = isinstance(text, str) and item.get("signature") == signature_of(text)
        if item.get("type") == "reasoning.text" and signed:
            return None
    return unsigned_message(at)


# --------------------------------------------------------------------------- answers


def add_reasoning(completion: dict[str, Any], text: str) -> None:
    """Give every choice of a non-stream answer (OpenRouter's shape) the signed reasoning."""
    for choice in completion["choices"]:
        choice["message"]["reasoning"] = text
        choice["message"]["reasoning_details"] = details(text)


def with_reasoning_chunks(chunks: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The stream's chunks (OpenRouter's shape) with the reasoning chunks after the role chunks."""
    starts = [i for i, c in enumerate(chunks) if c["choices"] and "role" in c["choices"][0]["delta"]]
    if not starts:
        return chunks
    added = [
        _reasoning_chunk(chunks[i], delta)
        for delta in (_text_delta(text), _signature_delta(text))
        for i in starts
    ]
    return [*chunks[: starts[-1] + 1], *added, *chunks[starts[-1] + 1 :]]


def _text_delta(text: str) -> dict[str, Any]:
    item = {"type": "reasoning.text", "text": text, "format": FORMAT, "index": 0}
    return {"reasoning": text, "reasoning_details": [item]}


def _signature_delta(text: str) -> dict[str, Any]:
    item = {"type": "reasoning.text", "signature": signature_of(text), "format": FORMAT, "index": 0}
    return {"reasoning": "", "reasoning_details": [item]}


def _reasoning_chunk(start: Mapping[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A chunk like ``start`` (same fields, same order) whose one choice carries ``delta``."""
    choice = {
        "index": start["choices"][0]["index"],
        "delta": copy.deepcopy(delta),
        "logprobs": None,
        "finish_reason": None,
        "native_finish_reason": None,
    }
    return {k: [choice] if k == "choices" else v for k, v in start.items()}


def without_reasoning(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message or stream delta with :data:`MESSAGE_FIELDS` taken out (for the OpenAI schema)."""
    return {k: v for k, v in message.items() if k not in MESSAGE_FIELDS}
