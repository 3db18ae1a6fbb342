"""The ``Message`` response, read and written: content blocks, stop reasons and usage.

Stop reasons (TRANSLATION §4.9): ``end_turn``, ``stop_sequence``, ``pause_turn`` and
``compaction`` are a neutral STOP, ``max_tokens`` and ``model_context_window_exceeded`` LENGTH,
``tool_use`` TOOL_CALLS, ``refusal`` CONTENT_FILTER; an original spelling other than the canonical
one stays in the residual and wins while it agrees (``stop_sequence``, and the matched sequence in
``stop_sequence``, are given back to a caller of this dialect).

Usage (TRANSLATION §4.10): Anthropic's ``input_tokens`` leaves out the cached tokens, the neutral
form's includes them: ``input = input_tokens + cache_read_input_tokens +
cache_creation_input_tokens``, and writing subtracts them again (never below 0).
``output_tokens_details.thinking_tokens`` is the neutral ``reasoning_tokens``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ....ir import (
    ChatResponse,
    Choice,
    FinishReason,
    JSONDict,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
)
from ...common import (
    fill_slots,
    nest,
    obj,
    opt_dict,
    opt_int,
    opt_str,
    own_signature,
    put,
    req_list,
    sub,
    take,
    without,
)
from .block_fields import DIALECT, input_object, tool_id
from .content import read_block, write_block
from .web_search import citations_of, searches_of

# ---------------------------------------------------------------------------- stop reasons

STOP_FROM_WIRE: Final[Mapping[str, FinishReason]] = MappingProxyType(
    {
        "end_turn": FinishReason.STOP,
        "stop_sequence": FinishReason.STOP,
        "max_tokens": FinishReason.LENGTH,
        "tool_use": FinishReason.TOOL_CALLS,
        "refusal": FinishReason.CONTENT_FILTER,
        "pause_turn": FinishReason.STOP,
        "model_context_window_exceeded": FinishReason.LENGTH,
        "compaction": FinishReason.STOP,
    }
)
STOP_TO_WIRE: Final[Mapping[FinishReason, str]] = MappingProxyType(
    {
        FinishReason.STOP: "end_turn",
        FinishReason.LENGTH: "max_tokens",
        FinishReason.TOOL_CALLS: "tool_use",
        FinishReason.CONTENT_FILTER: "refusal",
        FinishReason.ERROR: "end_turn",  # Anthropic has no error stop reason
    }
)


def stop_from_wire(value: str) -> FinishReason:
    return STOP_FROM_WIRE.get(value, FinishReason.STOP)


def stop_to_wire(reason: FinishReason, original: object) -> str:
    """The wire stop reason; an original spelling (``stop_sequence``, ...) wins while it agrees."""
    if isinstance(original, str) and stop_from_wire(original) is reason:
        return original
    return STOP_TO_WIRE[reason]


def is_canonical(value: str) -> bool:
    """True when the neutral reason gives ``value`` back without help from the residual."""
    return STOP_TO_WIRE[stop_from_wire(value)] == value


# ---------------------------------------------------------------------------- usage


def read_usage(raw: object, path: str) -> Usage:
    usage = obj(raw, path)
    rest = dict(usage)
    uncached = take(rest, "input_tokens", opt_int(usage, "input_tokens", path)) or 0
    read = take(rest, "cache_read_input_tokens", opt_int(usage, "cache_read_input_tokens", path))
    written = take(rest, "cache_creation_input_tokens", opt_int(usage, "cache_creation_input_tokens", path))
    output = take(rest, "output_tokens", opt_int(usage, "output_tokens", path)) or 0
    out = Usage(uncached + (read or 0) + (written or 0), output, read, written)
    details = opt_dict(usage, "output_tokens_details", path)
    if details is not None:
        inner = dict(details)
        sub_path = f"{path}.output_tokens_details"
        out.reasoning_tokens = take(inner, "thinking_tokens", opt_int(details, "thinking_tokens", sub_path))
        if len(inner) < len(details):
            nest(rest, "output_tokens_details", inner)
    out.extra = rest
    return out


def write_usage(usage: Usage, native: bool) -> JSONDict:
    """Usage as Anthropic reports it; for another dialect with every field the spec requires."""
    out = dict(usage.extra) if native else {}
    read, written = usage.cache_read_tokens, usage.cache_write_tokens
    out["input_tokens"] = max(0, usage.input_tokens - (read or 0) - (written or 0))
    if native:
        put(out, "cache_creation_input_tokens", written)
        put(out, "cache_read_input_tokens", read)
    else:
        out["cache_creation_input_tokens"] = written or 0
        out["cache_read_input_tokens"] = read or 0
        # the TTL split is unknown: cache writes are counted at Anthropic's default TTL
        out["cache_creation"] = {"ephemeral_5m_input_tokens": written or 0, "ephemeral_1h_input_tokens": 0}
    out["output_tokens"] = usage.output_tokens
    if usage.reasoning_tokens is not None:
        details = sub(out, "output_tokens_details")
        details["thinking_tokens"] = usage.reasoning_tokens
        out["output_tokens_details"] = details
    if not native:
        out.update(inference_geo=None, server_tool_use=None, service_tier="standard")
    return out


# ---------------------------------------------------------------------------- reading


def read_response(body: JSONDict) -> ChatResponse:
    rest = without(body, "content")
    response_id = take(rest, "id", opt_str(body, "id", ""))
    model = take(rest, "model", opt_str(body, "model", ""))
    for key, value in (("type", "message"), ("role", "assistant")):
        if body.get(key) == value:
            del rest[key]
    parts: list[Part] = []
    slots: list[object] = []
    opaque = False
    blocks = req_list(body, "content", "")
    for j, raw in enumerate(blocks):
        block = obj(raw, f"content[{j}]")
        part = read_block(block, f"content[{j}]")
        if isinstance(part, TextPart):
            part.citations = citations_of(block)  # the block keeps them too (its residual)
        if part is None:
            slots.append(block)
            opaque = True
        else:
            parts.append(part)
            slots.append(None)
    stop = opt_str(body, "stop_reason", "")
    finish = None if stop is None else stop_from_wire(stop)
    if stop is not None and is_canonical(stop):
        del rest["stop_reason"]
    usage = None
    if body.get("usage") is not None:
        usage = read_usage(body["usage"], "usage")
        del rest["usage"]
    message = Message("assistant", parts, extra={"content": slots} if opaque else {})
    if opaque:
        message.searches = searches_of(blocks)
    return ChatResponse(
        response_id or "", model or "", int(time.time()), [Choice(0, message, finish)], DIALECT, usage, rest
    )


# ---------------------------------------------------------------------------- writing


def message_id(response_id: str) -> str:
    """A ``msg_`` id for a response of another dialect (TRANSLATION §7.3)."""
    if response_id.startswith("msg_"):
        return response_id
    return f"msg_{response_id or uuid.uuid4().hex}"


def write_response(response: ChatResponse) -> JSONDict:
    native = response.dialect == DIALECT
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice is not None else Message("assistant", [])
    if native:
        out = {"id": response.id, "type": "message", "role": "assistant", **response.extra}
        out["id"], out["model"] = response.id, response.model
        out["content"] = fill_slots((_response_block(p) for p in message.parts), message.extra.get("content"))
        if choice is not None and choice.finish_reason is not None:
            out["stop_reason"] = stop_to_wire(choice.finish_reason, out.get("stop_reason"))
        if response.usage is not None:
            out["usage"] = write_usage(response.usage, True)
        return out
    content = [b for p in message.parts if (b := _foreign_block(p)) is not None]
    refusals = [p.text for p in message.parts if isinstance(p, RefusalPart)]
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": _foreign_stop(choice, message, bool(refusals)),
        "stop_sequence": None,
        "stop_details": (
            {"type": "refusal", "category": None, "explanation": "".join(refusals)} if refusals else None
        ),
        "usage": write_usage(response.usage or Usage(), False),
        "container": None,
    }


def _response_block(part: Part) -> JSONDict:
    """A block of this dialect in a response, where the spec requires ``citations`` on text and
    ``caller`` on tool use (a current upstream sends both; a part added since gets the defaults)."""
    block = write_block(part)
    if block["type"] == "text":
        block.setdefault("citations", None)
    elif block["type"] == "tool_use":
        block.setdefault("caller", {"type": "direct"})
    return block


def _foreign_stop(choice: Choice | None, message: Message, refused: bool) -> str:
    if refused:
        return "refusal"
    if choice is not None and choice.finish_reason is not None:
        return STOP_TO_WIRE[choice.finish_reason]
    return "tool_use" if any(isinstance(p, ToolCall) for p in message.parts) else "end_turn"


def _foreign_block(part: Part) -> JSONDict | None:
    """A response block of another dialect (TRANSLATION §7.3); media parts have no place here."""
    if isinstance(part, TextPart | RefusalPart):
        return {"type": "text", "text": part.text, "citations": None} if part.text else None
    if isinstance(part, ReasoningPart):
        if part.redacted_data:
            return {"type": "redacted_thinking", "data": part.redacted_data}
        signature = own_signature(part.signature, part.signer, DIALECT, unsigned=True)
        if part.text or signature:  # another provider's signature is no signature here
            return {"type": "thinking", "thinking": part.text, "signature": signature or ""}
        return None
    if isinstance(part, ToolCall):
        return foreign_tool_use(part.id, part.name, input_object(part.arguments))
    return None


def foreign_tool_use(call_id: str, name: str, arguments: JSONDict) -> JSONDict:
    """A ``tool_use`` block of another dialect's call; ``caller`` is required by the spec."""
    return {
        "type": "tool_use",
        "id": tool_id(call_id),
        "name": name,
        "input": arguments,
        "caller": {"type": "direct"},
    }
