"""Messages, read and written: system, developer and user turns, assistant turns with their tool
calls, tool results, and the deprecated ``function_call`` / ``function`` pair."""

from __future__ import annotations

from typing import Final, cast

from ....ir import (
    ContentPart,
    JSONDict,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    Role,
    TextPart,
    ToolCall,
    ToolResult,
)
from .parts import _is_content, _plain_text, _read_part, _text, _write_foreign_part, _write_native_content
from .reasoning import read_message_reasoning, write_details
from .residual import _nest, _put, _take, _tool_kind, _without
from .validate import _invalid, _obj, _opt_dict, _opt_list, _opt_str, _req_dict, _req_str, _required, _wrong

_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")


# ---------------------------------------------------------------------------- reading


class _LegacyCalls:
    """Ids for deprecated ``function_call`` turns, which have none: a result answers the last call."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: str | None = None

    def new_id(self, index: int) -> str:
        self.pending = f"call_fn_{index}"
        return self.pending

    def answer(self, index: int) -> str:
        call_id, self.pending = self.pending or f"call_fn_{index}", None
        return call_id


def _read_message(raw: object, index: int, legacy: _LegacyCalls) -> Message:
    path = f"messages[{index}]"
    message = _obj(raw, path)
    _required(message, "role", path)
    role = message["role"]
    if role not in _ROLES:
        raise _invalid(f"{path}.role", role, _ROLES)
    rest = _without(message, "role")
    if role == "assistant":
        return _read_assistant(message, rest, path, legacy, index)
    if role == "tool":
        return _read_tool_message(message, rest, path)
    if role == "function":
        return _read_function_message(message, rest, path, legacy.answer(index))
    name = _take(rest, "name", _opt_str(message, "name", path))
    content, as_text = _take_content(message, rest, path, required=True)
    parts: list[Part] = list(content)
    return Message(cast(Role, role), parts, name=name, as_text=as_text, extra=rest)


def _take_content(
    message: JSONDict, rest: JSONDict, path: str, *, required: bool = False
) -> tuple[list[ContentPart], bool]:
    """Parts of ``content`` and whether it was a string; null and ``[]`` stay in the residual."""
    if required:
        _required(message, "content", path)
    value = message.get("content")
    path = f"{path}.content"
    if value is None:
        if required:
            raise _wrong(path, "a string or an array of content parts", None)
        return [], False
    if isinstance(value, str):
        del rest["content"]
        return ([TextPart(value)] if value else []), True
    if not isinstance(value, list):
        raise _wrong(path, "a string or an array of content parts", value)
    if value:
        del rest["content"]
    return [_read_part(p, f"{path}[{j}]") for j, p in enumerate(value)], False


def _read_assistant(
    message: JSONDict, rest: JSONDict, path: str, legacy: _LegacyCalls, index: int
) -> Message:
    """An assistant turn (request history, or a response's message)."""
    name = _take(rest, "name", _opt_str(message, "name", path))
    parts: list[Part] = [*read_message_reasoning(message, rest, path)]
    content, as_text = _take_content(message, rest, path)
    parts.extend(content)
    refusal = _take(rest, "refusal", _opt_str(message, "refusal", path))
    if refusal is not None:
        parts.append(RefusalPart(refusal))
    calls = _opt_list(message, "tool_calls", path)
    if calls:
        parts.extend(_read_tool_call(c, f"{path}.tool_calls[{j}]") for j, c in enumerate(calls))
        del rest["tool_calls"]
    legacy_call = _opt_dict(message, "function_call", path)
    if legacy_call is not None:  # the original stays in the residual: the writer gives it back
        sub = f"{path}.function_call"
        name_, arguments = _req_str(legacy_call, "name", sub), _req_str(legacy_call, "arguments", sub)
        parts.append(ToolCall(legacy.new_id(index), name_, arguments))
    return Message("assistant", parts, name=name, as_text=as_text, extra=rest)


def _read_tool_call(raw: object, path: str) -> ToolCall:
    call = _obj(raw, path)
    call_id = _req_str(call, "id", path)
    kind = _req_str(call, "type", path)
    if kind not in ("function", "custom"):
        raise _invalid(f"{path}.type", kind, ("function", "custom"))
    spec = _req_dict(call, kind, path)
    sub = f"{path}.{kind}"
    field = "arguments" if kind == "function" else "input"
    rest = _without(call, "id", kind, *(("type",) if kind == "function" else ()))
    _nest(rest, kind, _without(spec, "name", field))
    return ToolCall(call_id, _req_str(spec, "name", sub), _req_str(spec, field, sub), extra=rest)


def _read_tool_message(message: JSONDict, rest: JSONDict, path: str) -> Message:
    call_id = _req_str(message, "tool_call_id", path)
    del rest["tool_call_id"]
    content, as_text = _take_content(message, rest, path, required=True)
    return Message("tool", [ToolResult(call_id, content, as_text=as_text)], extra=rest)


def _read_function_message(message: JSONDict, rest: JSONDict, path: str, call_id: str) -> Message:
    """A deprecated ``function`` message: the result of the last ``function_call``."""
    name = _req_str(message, "name", path)
    _required(message, "content", path)
    content = _take(rest, "content", _opt_str(message, "content", path))
    del rest["name"]
    rest["role"] = "function"
    parts: list[ContentPart] = [TextPart(content)] if content else []
    result = ToolResult(call_id, parts, name=name, as_text=content is not None)
    return Message("tool", [result], extra=rest)


# ---------------------------------------------------------------------------- writing


def _write_messages(messages: list[Message], native: bool, details: bool = False) -> list[JSONDict]:
    """``details``: the upstream takes OpenRouter's ``reasoning_details`` back (see ``reasoning.py``)."""
    out: list[JSONDict] = []
    for message in messages:
        if message.role == "tool" or any(isinstance(p, ToolResult) for p in message.parts):
            out.extend(_write_tool_results(message, native))
        elif message.role == "assistant":
            out.append(_write_assistant(message, native, details))
        else:
            out.append(_write_plain(message, native))
    return out


def _write_plain(message: Message, native: bool) -> JSONDict:
    """A system, developer or user message."""
    out = dict(message.extra) if native else {}
    out["role"] = message.role
    _put(out, "name", message.name)
    parts = [p for p in message.parts if _is_content(p)]
    if native:
        _write_native_content(out, parts, message.as_text)
        return out
    media = message.role == "user"
    written = [w for p in parts if (w := _write_foreign_part(p, media)) is not None]
    if message.as_text and all(_plain_text(w) for w in written):
        out["content"] = "".join(w["text"] for w in written)
    else:
        out["content"] = written or ""
    return out


def _write_assistant(message: Message, native: bool, details: bool = False) -> JSONDict:
    out = dict(message.extra) if native else {}
    out["role"] = "assistant"
    _put(out, "name", message.name)
    content: list[ContentPart] = []
    refusals: list[str] = []
    reasoning: list[ReasoningPart] = []
    calls: list[ToolCall] = []
    for part in message.parts:
        if isinstance(part, ToolCall):
            calls.append(part)
        elif isinstance(part, ReasoningPart):
            reasoning.append(part)
        elif isinstance(part, RefusalPart) and not (native and part.extra.get("type") == "refusal"):
            refusals.append(part.text)
        elif _is_content(part):
            content.append(part)
    written_details = write_details(reasoning) if details else []
    if written_details:
        out["reasoning_details"] = written_details
    if native:
        if reasoning and not written_details:
            out["reasoning_content"] = "".join(p.text for p in reasoning)
        _write_native_content(out, content, message.as_text)
        calls = _write_legacy_call(out, calls)
    else:  # other foreign reasoning is dropped: OpenAI cannot take another vendor's thoughts (§7.2)
        out["content"] = _foreign_assistant_content(content, bool(calls))
    if refusals:
        out["refusal"] = "".join(refusals)
    if calls:
        out["tool_calls"] = [_write_tool_call(c, native) for c in calls]
    return out


def _foreign_assistant_content(parts: list[ContentPart], has_calls: bool) -> str | list[JSONDict] | None:
    written = [w for p in parts if (w := _write_foreign_part(p, False)) is not None]
    if not all(_plain_text(w) for w in written):  # a cache breakpoint needs the list form
        return written
    if written:
        return "".join(w["text"] for w in written)
    return None if has_calls else ""


def _write_legacy_call(out: JSONDict, calls: list[ToolCall]) -> list[ToolCall]:
    """Give back a deprecated ``function_call`` while the neutral form still has that call."""
    original = out.get("function_call")
    if not isinstance(original, dict):
        return calls
    for i in range(len(calls) - 1, -1, -1):
        call = calls[i]
        if call.name == original.get("name") and call.arguments == original.get("arguments"):
            return calls[:i] + calls[i + 1 :]
    del out["function_call"]
    return calls


def _write_tool_call(call: ToolCall, native: bool) -> JSONDict:
    extra = call.extra if native else {}
    kind, spec = _tool_kind(extra)
    field = "input" if kind == "custom" else "arguments"
    spec["name"], spec[field] = call.name, call.arguments
    return {**extra, "id": call.id, "type": kind, kind: spec}


def _write_tool_results(message: Message, native: bool) -> list[JSONDict]:
    """One ``tool`` message per result; media the results or the turn carry follow as a user turn."""
    out: list[JSONDict] = []
    media: list[Part] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            out.append(_write_tool_result(part, message, native, media))
    media.extend(p for p in message.parts if _is_content(p))
    if any(not isinstance(p, RefusalPart) for p in media):
        out.append(_write_plain(Message("user", media), False))
    return out


def _write_tool_result(result: ToolResult, message: Message, native: bool, media: list[Part]) -> JSONDict:
    out = dict(message.extra) if native else {}
    if native and out.get("role") == "function":
        out["name"] = result.name or ""
        if result.as_text:
            out["content"] = _text(result.content)
        return out
    out["role"] = "tool"
    out["tool_call_id"] = result.call_id
    if native:
        _write_native_content(out, result.content, result.as_text)
        return out
    texts: list[JSONDict] = []
    for part in result.content:
        written = _write_foreign_part(part, False)
        if written is None:
            media.append(part)  # OpenAI tool messages hold text only (TRANSLATION §7.2)
        else:
            texts.append(written)
    if result.cache is not None and texts:
        texts[-1].setdefault("prompt_cache_breakpoint", {"mode": "explicit"})
    if result.is_error or all(_plain_text(t) for t in texts):
        out["content"] = ("Error: " if result.is_error else "") + "".join(t["text"] for t in texts)
    else:
        out["content"] = texts
    return out
