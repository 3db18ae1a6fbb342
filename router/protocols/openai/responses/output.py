"""The Response object (TRANSLATION §9.3, §9.4): output items from a neutral assistant turn,
status from the finish reason, usage with its details, and the request's parameters echoed.

Output items keep the order the model produced its parts in: a reasoning item per reasoning part
(its text as the summary; ``encrypted_content`` the gateway's envelope when the part is signed or
redacted, so that a client replaying the item statelessly gives the upstream its state back), a
message item for text and refusals in a row, a function_call item per tool call. The gateway's
stored history gets the same items plus each call's signature (:data:`.ids.CALL_SIGNATURE`).

An :class:`Exchange` is one request in flight: its response id, creation time and the caller's
body (for the echo), and what the writers produced (the final Response object and the history
version of its output), which the handler stores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

from ....errors import ErrorCode, GatewayError
from ....ir import (
    Citation,
    FinishReason,
    JSONDict,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
    WebSearch,
)
from .ids import CALL_SIGNATURE, new_id, seal
from .tools import CalledTools, custom_input

# Response fields echoed from the request, with the API's defaults when the caller left them out.
_ECHO_DEFAULTS: Final[tuple[tuple[str, Any], ...]] = (
    ("instructions", None),
    ("max_output_tokens", None),
    ("max_tool_calls", None),
    ("parallel_tool_calls", True),
    ("previous_response_id", None),
    ("reasoning", None),
    ("service_tier", "default"),
    ("store", True),
    ("temperature", 1.0),
    ("tool_choice", "auto"),
    ("top_logprobs", 0),
    ("top_p", 1.0),
    ("truncation", "disabled"),
)
_ECHO_IF_TEXT: Final = ("user", "safety_identifier", "prompt_cache_key")
_ERROR_CODES: Final = {ErrorCode.RATE_LIMITED: "rate_limit_exceeded"}


@dataclass(slots=True)
class Exchange:
    """One Responses request in flight, and what its writer produced."""

    id: str
    created_at: int
    body: JSONDict  # the caller's CreateResponse (echoed in the Response object)
    response: JSONDict | None = None  # the last Response object written (final once the answer is over)
    history_output: list[JSONDict] = field(default_factory=list)  # output items with signatures
    called: CalledTools = field(default_factory=CalledTools)  # how calls of its tools go back

    @classmethod
    def new(cls, body: JSONDict) -> Exchange:
        return cls(new_id("resp"), int(time.time()), body)


def status_of(finish: FinishReason | None) -> tuple[str, JSONDict | None, JSONDict | None]:
    """``(status, incomplete_details, error)`` for a chat finish reason (TRANSLATION §9.4)."""
    if finish is FinishReason.LENGTH:
        return "incomplete", {"reason": "max_output_tokens"}, None
    if finish is FinishReason.CONTENT_FILTER:
        return "incomplete", {"reason": "content_filter"}, None
    if finish is FinishReason.ERROR:
        return (
            "failed",
            None,
            {"code": "server_error", "message": "The upstream ended the response abnormally."},
        )
    return "completed", None, None


def error_of(error: GatewayError) -> JSONDict:
    """A Response's ``error`` for a gateway error (codes from ``ResponseErrorCode``)."""
    return {"code": _ERROR_CODES.get(error.code, "server_error"), "message": error.message}


def usage_object(usage: Usage) -> JSONDict:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens or 0,
            "cache_write_tokens": usage.cache_write_tokens or 0,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": usage.total(),
    }


def response_object(
    exchange: Exchange,
    *,
    model: str,
    status: str,
    output: list[JSONDict],
    usage: Usage | None = None,
    incomplete: JSONDict | None = None,
    error: JSONDict | None = None,
) -> JSONDict:
    """The Response object; ``usage`` is left out while the response is in progress."""
    body = exchange.body
    out: JSONDict = {
        "id": exchange.id,
        "object": "response",
        "created_at": exchange.created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": incomplete,
    }
    for key, default in _ECHO_DEFAULTS:
        value = body.get(key)
        out[key] = default if value is None else value
    out["metadata"] = body.get("metadata") or {}
    out["model"] = model
    out["output"] = output
    out["text"] = _echo_text(body.get("text"))
    out["tools"] = [_echo_tool(t) for t in body.get("tools") or () if isinstance(t, dict)]
    if out["reasoning"] is None:
        out["reasoning"] = {"effort": None, "summary": None}
    for key in _ECHO_IF_TEXT:
        if isinstance(body.get(key), str):
            out[key] = body[key]
    if usage is not None:
        out["usage"] = usage_object(usage)
    return out


def _echo_text(text: object) -> JSONDict:
    out: JSONDict = dict(text) if isinstance(text, dict) else {}
    if out.get("format") is None:
        out["format"] = {"type": "text"}
    if out.get("verbosity") is None:
        out["verbosity"] = "medium"
    return out


def _echo_tool(tool: JSONDict) -> JSONDict:
    out = dict(tool)
    if out.get("type") == "function":
        out.setdefault("parameters", None)
        out.setdefault("strict", None)
    return out


# ---------------------------------------------------------------------------- output items


def message_item(item_id: str, content: list[JSONDict], status: str) -> JSONDict:
    return {"id": item_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def text_part(text: str) -> JSONDict:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def reasoning_item(item_id: str, text: str, envelope: str | None) -> JSONDict:
    item: JSONDict = {"id": item_id, "type": "reasoning", "summary": []}
    if text:
        item["summary"] = [{"type": "summary_text", "text": text}]
    if envelope is not None:
        item["encrypted_content"] = envelope
    return item


def call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str, called: CalledTools
) -> JSONDict:
    """A function_call item, or a custom_tool_call for a custom tool; a namespaced tool's call
    names its namespace and its own name."""
    namespace, own = called.split(name)
    item: JSONDict = {"id": item_id}
    if called.is_custom(name):
        item.update(type="custom_tool_call", call_id=call_id, name=own, input=custom_input(arguments))
    else:
        item.update(type="function_call", status=status, arguments=arguments, call_id=call_id, name=own)
    if namespace is not None:
        item["namespace"] = namespace
    return item


def web_search_item(item_id: str, search: WebSearch, status: str) -> JSONDict:
    """A ``web_search_call`` item for a search the upstream ran (its queries and sources)."""
    action: JSONDict = {"type": "search"}
    if search.queries:
        action["query"] = search.queries[0]
        action["queries"] = list(search.queries)
    action["sources"] = [{"type": "url", "url": url} for url, _ in search.sources]
    return {"id": item_id, "type": "web_search_call", "status": status, "action": action}


def url_citation(citation: Citation, start: int, end: int) -> JSONDict:
    """A ``url_citation`` annotation of ``[start, end)`` of an output_text."""
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "url": citation.url,
        "title": citation.title,
    }


def with_signature(item: JSONDict, signature: str | None, signer: str | None) -> JSONDict:
    """The history version of a function_call item: with the call's signature, when it has one."""
    envelope = seal(signature, signer)
    return item if envelope is None else {**item, CALL_SIGNATURE: envelope}


def output_items(message: Message, status: str, called: CalledTools) -> tuple[list[JSONDict], list[JSONDict]]:
    """The output items of an assistant turn (the web searches the upstream ran first), and their
    history version (signatures kept)."""
    items: list[JSONDict] = [web_search_item(new_id("ws"), s, "completed") for s in message.searches]
    history: list[JSONDict] = list(items)
    content: list[JSONDict] | None = None  # the open message item's content
    turn = 0  # characters of the turn's text so far (the offsets of spanned citations)
    base = 0  # where the open output_text starts in the turn's text
    for part in message.parts:
        if isinstance(part, TextPart | RefusalPart):
            if content is None:
                content = []
                item = message_item(new_id("msg"), content, status)
                items.append(item)
                history.append(item)
            if isinstance(part, RefusalPart):
                content.append({"type": "refusal", "refusal": part.text})
                continue
            if not content or content[-1]["type"] != "output_text":
                content.append(text_part(""))
                base = turn
            text = content[-1]
            for citation in part.citations:
                if citation.start is None or citation.end is None:  # the whole part
                    start, end = len(text["text"]), len(text["text"]) + len(part.text)
                else:
                    start, end = citation.start - base, citation.end - base
                if 0 <= start < end:
                    text["annotations"].append(url_citation(citation, start, end))
            text["text"] += part.text
            turn += len(part.text)
            continue
        if isinstance(part, ReasoningPart):
            content = None
            envelope = seal(part.signature, part.signer, part.redacted_data)
            if part.text or envelope is not None:
                item = reasoning_item(new_id("rs"), part.text, envelope)
                items.append(item)
                history.append(item)
        elif isinstance(part, ToolCall):
            content = None
            item = call_item(new_id("fc"), part.id, part.name, part.arguments, "completed", called)
            items.append(item)
            history.append(with_signature(item, part.signature, part.signer))
    return items, history
