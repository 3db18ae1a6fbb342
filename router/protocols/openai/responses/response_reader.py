"""A Response object read into the neutral form: what an OpenAI Responses upstream answered (its
usage for token limits in passthrough, or its turn for a caller of another protocol).

Output items become the parts of one assistant message in their order (reasoning with the
gateway's envelope unsealed, or with an OpenAI ``encrypted_content`` kept in ``extra``; message
text and refusals; function calls). The finish reason comes from the status: ``incomplete`` for
``max_output_tokens`` is LENGTH, for ``content_filter`` CONTENT_FILTER, ``failed`` is ERROR, and a
completed response with function calls is TOOL_CALLS.
"""

from __future__ import annotations

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
from ...common import obj, opt_dict, opt_int, opt_list, opt_num, opt_str, req_list, req_str
from .ids import unseal
from .request import DIALECT

_INCOMPLETE: Final = {"max_output_tokens": FinishReason.LENGTH, "content_filter": FinishReason.CONTENT_FILTER}


def read_response(body: JSONDict) -> ChatResponse:
    parts: list[Part] = []
    for index, raw in enumerate(req_list(body, "output", "")):
        parts.extend(read_output_item(obj(raw, f"output[{index}]"), f"output[{index}]"))
    usage_body = opt_dict(body, "usage", "")
    created = opt_num(body, "created_at", "")
    message = Message("assistant", parts)
    choice = Choice(0, message, finish_of(body, any(isinstance(p, ToolCall) for p in parts)))
    return ChatResponse(
        id=opt_str(body, "id", "") or "",
        model=opt_str(body, "model", "") or "",
        created=int(created or 0),
        choices=[choice],
        dialect=DIALECT,
        usage=None if usage_body is None else read_usage(usage_body),
    )


def finish_of(body: JSONDict, has_calls: bool) -> FinishReason:
    status = opt_str(body, "status", "")
    if status == "incomplete":
        details = opt_dict(body, "incomplete_details", "") or {}
        return _INCOMPLETE.get(str(details.get("reason")), FinishReason.LENGTH)
    if status in ("failed", "cancelled"):
        return FinishReason.ERROR
    return FinishReason.TOOL_CALLS if has_calls else FinishReason.STOP


def read_output_item(item: JSONDict, path: str) -> list[Part]:
    kind = req_str(item, "type", path)
    if kind == "message":
        parts: list[Part] = []
        for j, raw in enumerate(opt_list(item, "content", path) or ()):
            content = obj(raw, f"{path}.content[{j}]")
            content_type = opt_str(content, "type", f"{path}.content[{j}]")
            if content_type == "output_text":
                parts.append(TextPart(req_str(content, "text", f"{path}.content[{j}]")))
            elif content_type == "refusal":
                parts.append(RefusalPart(req_str(content, "refusal", f"{path}.content[{j}]")))
        return parts
    if kind == "function_call":
        return [
            ToolCall(
                req_str(item, "call_id", path), req_str(item, "name", path), req_str(item, "arguments", path)
            )
        ]
    if kind == "reasoning":
        texts = [
            str(entry.get("text", ""))
            for entry in opt_list(item, "summary", path) or ()
            if isinstance(entry, dict) and entry.get("type") == "summary_text"
        ]
        text = "\n\n".join(texts)
        encrypted = opt_str(item, "encrypted_content", path)
        sealed = unseal(encrypted)
        if sealed is not None:
            return [ReasoningPart(text, sealed.signature, sealed.redacted_data, signer=sealed.signer)]
        extra: JSONDict = {} if encrypted is None else {"encrypted_content": encrypted}
        return [ReasoningPart(text, extra=extra)]
    return []  # built-in tool calls and the like: nothing the neutral form can hold


def read_usage(usage: JSONDict) -> Usage:
    out = Usage(
        input_tokens=opt_int(usage, "input_tokens", "usage") or 0,
        output_tokens=opt_int(usage, "output_tokens", "usage") or 0,
        total_tokens=opt_int(usage, "total_tokens", "usage"),
    )
    details = opt_dict(usage, "input_tokens_details", "usage")
    if details is not None:
        out.cache_read_tokens = opt_int(details, "cached_tokens", "usage.input_tokens_details")
        out.cache_write_tokens = opt_int(details, "cache_write_tokens", "usage.input_tokens_details")
    output = opt_dict(usage, "output_tokens_details", "usage")
    if output is not None:
        out.reasoning_tokens = opt_int(output, "reasoning_tokens", "usage.output_tokens_details")
    return out
