"""The chat completion (``chat.completion``), read and written: choices, finish reasons, usage."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ....ir import (
    ChatResponse,
    Choice,
    FinishReason,
    JSONDict,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
)
from .messages import _LegacyCalls, _read_assistant, _write_legacy_call, _write_tool_call
from .parts import _text
from .residual import DIALECT, _nest, _put, _sub, _take, _without
from .validate import _obj, _opt_dict, _opt_int, _opt_str, _req_dict, _req_list

# ---------------------------------------------------------------------------- finish reasons


_FINISH_FROM_WIRE: Final[Mapping[str, FinishReason]] = MappingProxyType(
    {
        "stop": FinishReason.STOP,
        "length": FinishReason.LENGTH,
        "tool_calls": FinishReason.TOOL_CALLS,
        "function_call": FinishReason.TOOL_CALLS,
        "content_filter": FinishReason.CONTENT_FILTER,
        "error": FinishReason.ERROR,  # OpenRouter and others; not in OpenAI's enum
    }
)
_FINISH_TO_WIRE: Final[Mapping[FinishReason, str]] = MappingProxyType(
    {
        FinishReason.STOP: "stop",
        FinishReason.LENGTH: "length",
        FinishReason.TOOL_CALLS: "tool_calls",
        FinishReason.CONTENT_FILTER: "content_filter",
        FinishReason.ERROR: "stop",  # OpenAI has no error finish reason
    }
)


def _finish_from_wire(value: str) -> FinishReason:
    return _FINISH_FROM_WIRE.get(value, FinishReason.STOP)


def _finish_to_wire(reason: FinishReason | None, original: object) -> str | None:
    """The wire finish reason; an original spelling (``function_call``) wins while it agrees."""
    if reason is None:
        return None
    if isinstance(original, str) and _finish_from_wire(original) is reason:
        return original
    return _FINISH_TO_WIRE[reason]


# ---------------------------------------------------------------------------- reading


def _read_response(body: JSONDict) -> ChatResponse:
    rest = _without(body, "choices")
    response_id = _take(rest, "id", _opt_str(body, "id", ""))
    model = _take(rest, "model", _opt_str(body, "model", ""))
    created = _take(rest, "created", _opt_int(body, "created", ""))
    if body.get("object") == "chat.completion":
        del rest["object"]
    choices = [_read_choice(c, i) for i, c in enumerate(_req_list(body, "choices", ""))]
    raw_usage = body.get("usage")
    usage = None if raw_usage is None else read_usage(raw_usage, "usage")
    if usage is not None:
        del rest["usage"]
    return ChatResponse(response_id or "", model or "", created or 0, choices, DIALECT, usage, rest)


def _read_choice(raw: object, position: int) -> Choice:
    path = f"choices[{position}]"
    choice = _obj(raw, path)
    rest = _without(choice, "index", "message")
    index = _opt_int(choice, "index", path)
    message = _req_dict(choice, "message", path)
    message_rest = dict(message)
    if message.get("role") == "assistant":
        del message_rest["role"]
    parsed = _read_assistant(message, message_rest, f"{path}.message", _LegacyCalls(), position)
    finish = _opt_str(choice, "finish_reason", path)
    reason = None if finish is None else _finish_from_wire(finish)
    if reason is not None and _FINISH_TO_WIRE[reason] == finish:
        del rest["finish_reason"]
    return Choice(position if index is None else index, parsed, reason, rest)


def read_usage(raw: object, path: str) -> Usage:
    usage = _obj(raw, path)
    rest = dict(usage)
    out = Usage(
        input_tokens=_take(rest, "prompt_tokens", _opt_int(usage, "prompt_tokens", path)) or 0,
        output_tokens=_take(rest, "completion_tokens", _opt_int(usage, "completion_tokens", path)) or 0,
        total_tokens=_take(rest, "total_tokens", _opt_int(usage, "total_tokens", path)),
    )
    prompt = _opt_dict(usage, "prompt_tokens_details", path)
    if prompt is not None:
        sub, inner = f"{path}.prompt_tokens_details", dict(prompt)
        out.cache_read_tokens = _take(inner, "cached_tokens", _opt_int(prompt, "cached_tokens", sub))
        out.cache_write_tokens = _take(
            inner, "cache_write_tokens", _opt_int(prompt, "cache_write_tokens", sub)
        )
        if len(inner) < len(prompt):
            _nest(rest, "prompt_tokens_details", inner)
    completion = _opt_dict(usage, "completion_tokens_details", path)
    if completion is not None:
        sub, inner = f"{path}.completion_tokens_details", dict(completion)
        out.reasoning_tokens = _take(inner, "reasoning_tokens", _opt_int(completion, "reasoning_tokens", sub))
        if len(inner) < len(completion):
            _nest(rest, "completion_tokens_details", inner)
    out.extra = rest
    return out


# ---------------------------------------------------------------------------- writing


def _write_response(response: ChatResponse) -> JSONDict:
    native = response.dialect == DIALECT
    out = dict(response.extra) if native else {}
    _put_identity(out, "id", response.id, "")
    out.setdefault("object", "chat.completion")
    _put_identity(out, "created", response.created, 0)
    _put_identity(out, "model", response.model, "")
    out["choices"] = [_write_choice(c, native) for c in response.choices]
    if response.usage is not None:
        out["usage"] = _write_usage(response.usage, native)
    return out


def _put_identity(out: JSONDict, key: str, value: object, unset: object) -> None:
    """Write an identity field, unless it was null (kept in the residual) and still reads as unset."""
    if value != unset or out.get(key, unset) is not None:
        out[key] = value


def _write_choice(choice: Choice, native: bool) -> JSONDict:
    out = dict(choice.extra) if native else {}
    out["index"] = choice.index
    out["message"] = _write_response_message(choice.message, native)
    finish = _finish_to_wire(choice.finish_reason, out.get("finish_reason"))
    if finish is not None:
        out["finish_reason"] = finish
    elif not native:  # required by the spec; a relayed OpenAI answer keeps what it had
        out["finish_reason"] = "stop"
    if not native:
        out["logprobs"] = None
    return out


def _write_response_message(message: Message, native: bool) -> JSONDict:
    """The choice's message. ``content`` and ``refusal`` are required, but some OpenAI-compatible
    upstreams leave them out: a relayed message keeps their absence (its residual knows)."""
    out = dict(message.extra) if native else {}
    out.setdefault("role", "assistant")
    texts = [p for p in message.parts if isinstance(p, TextPart)]
    if texts or message.as_text:
        out["content"] = _text(texts)
    elif not native:
        out["content"] = None
    refusals = [p.text for p in message.parts if isinstance(p, RefusalPart)]
    if refusals:
        out["refusal"] = "".join(refusals)
    elif not native:
        out["refusal"] = None
    reasoning = [p.text for p in message.parts if isinstance(p, ReasoningPart)]
    if reasoning and (native or any(reasoning)):  # the DeepSeek / LiteLLM extension
        out["reasoning_content"] = "".join(reasoning)
    calls = [p for p in message.parts if isinstance(p, ToolCall)]
    if native:
        calls = _write_legacy_call(out, calls)
    if calls:
        out["tool_calls"] = [_write_tool_call(c, native) for c in calls]
    return out


def _write_usage(usage: Usage, native: bool) -> JSONDict:
    out = dict(usage.extra) if native else {}
    out["prompt_tokens"] = usage.input_tokens
    out["completion_tokens"] = usage.output_tokens
    out["total_tokens"] = usage.total()
    if usage.cache_read_tokens is not None or usage.cache_write_tokens is not None:
        prompt = _sub(out, "prompt_tokens_details")
        _put(prompt, "cached_tokens", usage.cache_read_tokens)
        _put(prompt, "cache_write_tokens", usage.cache_write_tokens)
        out["prompt_tokens_details"] = prompt
    if usage.reasoning_tokens is not None:
        completion = _sub(out, "completion_tokens_details")
        completion["reasoning_tokens"] = usage.reasoning_tokens
        out["completion_tokens_details"] = completion
    return out
