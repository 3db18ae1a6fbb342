"""Input items (``input`` of a CreateResponse, TRANSLATION §9.2) to neutral messages, and the same
items in the shape the API lists them (``ItemResource``: ids, statuses, content as parts).

A turn of the assistant is every assistant-side item in a row (reasoning, assistant messages,
function calls): they become one assistant message, reasoning first as the model produced it,
so that an upstream that needs its signed reasoning before its tool calls (Anthropic, Gemini)
gets it there. A ``function_call_output`` is one ``tool`` message; its result carries the
function's name, found from the call it answers (Gemini needs it).

Item ids are opaque and never checked (a client may replay ids the gateway never issued).
Reasoning is replayed only from envelopes the gateway wrote (:mod:`.ids`); a reasoning item of
another origin keeps its text (which upstreams without a signature drop) and its opaque
``encrypted_content`` in ``extra``. A call of a namespaced function is read under its flattened
name (:mod:`.tools`); items that carry tools, client-side tool searches and web search calls are
no turn. Items only OpenAI can run (other built-in tool calls, item references the gateway could
not resolve, compaction items) are a 400 naming the item.
"""

from __future__ import annotations

from typing import Any, Final, cast

import orjson

from ....ir import (
    CacheHint,
    ContentPart,
    FilePart,
    ImagePart,
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
from ...common import (
    CUSTOM_INPUT,
    Malformed,
    invalid,
    obj,
    opt_list,
    opt_str,
    req_str,
    required,
    split_data_url,
)
from .ids import CALL_SIGNATURE, new_id, unseal
from .tools import TOOL_ITEMS, flat_name

_ROLES: Final = ("user", "assistant", "system", "developer")
_INPUT_PARTS: Final = ("input_text", "input_image", "input_file")
_OUTPUT_PARTS: Final = ("output_text", "refusal")
# Items that are no turn: tools for the request (read with the tools), a client-side tool search,
# and a web search the upstream ran (its findings are in the text that follows it).
_SKIPPED: Final = (*TOOL_ITEMS, "tool_search_call", "web_search_call")
_ITEM_TYPES: Final = (
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    *_SKIPPED,
)


def input_items(body: JSONDict) -> list[Any]:
    """``input`` as a list of items (a string is one user message); [] when absent."""
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return value
    raise Malformed(
        "input", f"Invalid type for 'input': expected a string or an array of input items, but got {value!r}."
    )


def item_type(item: JSONDict, path: str) -> str:
    """An item's type; an item without one is a message (the "easy" form ``{role, content}``)."""
    kind = opt_str(item, "type", path)
    if kind is None:
        required(item, "role", path)
        return "message"
    return kind


# ---------------------------------------------------------------------------- to messages


class _Turns:
    """Builds the message list, merging assistant-side items in a row into one assistant turn."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.names: dict[str, str] = {}  # call id -> function name
        self._assistant: Message | None = None

    def assistant(self) -> Message:
        if self._assistant is None:
            self._assistant = Message("assistant", [])
            self.messages.append(self._assistant)
        return self._assistant

    def add(self, message: Message) -> None:
        self._assistant = None
        self.messages.append(message)


def read_items(items: list[Any], parent: str = "input") -> list[Message]:
    """Neutral messages for input items (``parent`` prefixes the paths named in errors)."""
    turns = _Turns()
    for index, raw in enumerate(items):
        path = f"{parent}[{index}]"
        item = obj(raw, path)
        kind = item_type(item, path)
        if kind == "message":
            _read_message(item, path, turns)
        elif kind == "function_call":
            call_id, name = req_str(item, "call_id", path), _called(item, path)
            call = ToolCall(call_id, name, req_str(item, "arguments", path))
            sealed = unseal(item.get(CALL_SIGNATURE))
            if sealed is not None:
                call.signature, call.signer = sealed.signature, sealed.signer
            turns.names[call_id] = name
            turns.assistant().parts.append(call)
        elif kind == "custom_tool_call":  # a free-text call, as a call of its function form
            call_id, name = req_str(item, "call_id", path), _called(item, path)
            arguments = orjson.dumps({CUSTOM_INPUT: req_str(item, "input", path)}).decode()
            turns.names[call_id] = name
            turns.assistant().parts.append(ToolCall(call_id, name, arguments))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = req_str(item, "call_id", path)
            content, as_text = _read_output(item, path)
            result = ToolResult(call_id, content, name=turns.names.get(call_id), as_text=as_text)
            turns.add(Message("tool", [result]))
        elif kind == "reasoning":
            part = _read_reasoning(item, path)
            if part is not None:
                turns.assistant().parts.append(part)
        elif kind in _SKIPPED:
            continue
        elif kind == "item_reference":
            raise Malformed(
                f"{path}.id",
                f"Item with id '{opt_str(item, 'id', path)}' not found. Item references are resolved only "
                "among the items of the response named by 'previous_response_id'.",
            )
        else:
            raise Malformed(
                f"{path}.type",
                f"Input items of type '{kind}' are only understood by OpenAI's own Responses API, and this "
                "model is served by another upstream; supported types are: " + ", ".join(_ITEM_TYPES) + ".",
            )
    return turns.messages


def _called(item: JSONDict, path: str) -> str:
    """The name a call was offered under: a namespaced function's flattened name."""
    name = req_str(item, "name", path)
    namespace = opt_str(item, "namespace", path)
    return flat_name(namespace, name) if namespace else name


def _read_message(item: JSONDict, path: str, turns: _Turns) -> None:
    required(item, "role", path)
    role = item["role"]
    if role not in _ROLES:
        raise invalid(f"{path}.role", role, _ROLES)
    required(item, "content", path)
    content = item["content"]
    if isinstance(content, str):
        parts: list[Part] = [TextPart(content)] if content else []
        as_text = True
    elif isinstance(content, list):
        allowed = (*_OUTPUT_PARTS, "input_text") if role == "assistant" else _INPUT_PARTS
        parts = [_read_part(p, f"{path}.content[{j}]", allowed) for j, p in enumerate(content)]
        as_text = False
    else:
        raise Malformed(
            f"{path}.content",
            f"Invalid type for '{path}.content': expected a string or an array of content parts.",
        )
    if role == "assistant":
        turns.assistant().parts.extend(parts)
    else:
        turns.add(Message(cast(Role, role), parts, as_text=as_text))


def _read_part(raw: object, path: str, allowed: tuple[str, ...]) -> ContentPart:
    part = obj(raw, path)
    kind = req_str(part, "type", path)
    if kind not in allowed:
        raise invalid(f"{path}.type", kind, allowed)
    cache = CacheHint() if isinstance(part.get("prompt_cache_breakpoint"), dict) else None
    if kind in ("input_text", "output_text"):
        return TextPart(req_str(part, "text", path), cache)
    if kind == "refusal":
        return RefusalPart(req_str(part, "refusal", path))
    if kind == "input_image":
        return _read_image(part, path, cache)
    return _read_file(part, path, cache)


def _read_image(part: JSONDict, path: str, cache: CacheHint | None) -> ImagePart:
    url, detail = opt_str(part, "image_url", path), opt_str(part, "detail", path)
    if url is None:
        if opt_str(part, "file_id", path) is not None:
            raise Malformed(
                f"{path}.file_id",
                "Images given by OpenAI file id can only be read by OpenAI upstreams; "
                "send the image as 'image_url' (an https or data: URL) instead.",
            )
        raise Malformed(f"{path}.image_url", f"Missing required parameter: '{path}.image_url'.")
    split = split_data_url(url)
    if split is None:
        return ImagePart(url=url, detail=detail, cache=cache)
    return ImagePart(data_b64=split[1], media_type=split[0], detail=detail, cache=cache)


def _read_file(part: JSONDict, path: str, cache: CacheHint | None) -> FilePart:
    data = opt_str(part, "file_data", path)
    url = opt_str(part, "file_url", path)
    file_id = opt_str(part, "file_id", path)
    filename = opt_str(part, "filename", path)
    if data is None and url is None:
        if file_id is not None:
            raise Malformed(
                f"{path}.file_id",
                "Files given by OpenAI file id can only be read by OpenAI upstreams; "
                "send the file inline as 'file_data' (a data: URL) instead.",
            )
        raise Malformed(f"{path}.file_data", f"Missing required parameter: '{path}.file_data'.")
    split = None if data is None else split_data_url(data)
    return FilePart(
        data_b64=data if split is None else split[1],
        media_type=None if split is None else split[0],
        url=url,
        filename=filename,
        cache=cache,
    )


def _read_output(item: JSONDict, path: str) -> tuple[list[ContentPart], bool]:
    required(item, "output", path)
    output = item["output"]
    if isinstance(output, str):
        return ([TextPart(output)] if output else []), True
    if not isinstance(output, list):
        raise Malformed(
            f"{path}.output",
            f"Invalid type for '{path}.output': expected a string or an array of content parts.",
        )
    return [_read_part(p, f"{path}.output[{j}]", _INPUT_PARTS) for j, p in enumerate(output)], False


def _read_reasoning(item: JSONDict, path: str) -> ReasoningPart | None:
    texts: list[str] = []
    for key, part_type in (("content", "reasoning_text"), ("summary", "summary_text")):
        entries = opt_list(item, key, path) or []
        for j, raw in enumerate(entries):
            entry = obj(raw, f"{path}.{key}[{j}]")
            kind = req_str(entry, "type", f"{path}.{key}[{j}]")
            if kind != part_type:
                raise invalid(f"{path}.{key}[{j}].type", kind, (part_type,))
            texts.append(req_str(entry, "text", f"{path}.{key}[{j}]"))
        if texts:
            break  # the raw reasoning when given, else its summary
    text = "\n\n".join(texts)
    encrypted = opt_str(item, "encrypted_content", path)
    sealed = unseal(encrypted)
    if sealed is None:
        if not text:
            return None  # nothing another provider could use
        extra: JSONDict = {} if encrypted is None else {"encrypted_content": encrypted}
        return ReasoningPart(text, extra=extra)
    return ReasoningPart(
        text, signature=sealed.signature, redacted_data=sealed.redacted_data, signer=sealed.signer
    )


# ---------------------------------------------------------------------------- as listed


def listed_items(items: list[Any]) -> list[JSONDict]:
    """The input items as ``GET /responses/{id}/input_items`` lists them (``ItemResource``): every
    item with an id and a status, message content as parts. The items were read already."""
    out: list[JSONDict] = []
    for raw in items:
        item = dict(raw)
        kind = item_type(item, "input")
        item["type"] = kind
        if kind == "message":
            _list_message(item)
        elif kind in ("function_call", "function_call_output"):
            item.setdefault("id", new_id("fc" if kind == "function_call" else "fco"))
            item.setdefault("status", "completed")
        elif kind == "reasoning":
            item.setdefault("id", new_id("rs"))
            item.setdefault("summary", [])
        item.pop(CALL_SIGNATURE, None)
        out.append(item)
    return out


def _list_message(item: JSONDict) -> None:
    assistant = item["role"] == "assistant"
    item.setdefault("id", new_id("msg"))
    item.setdefault("status", "completed")
    if not assistant:
        item.pop("phase", None)  # only an assistant's (output) message has a phase
    content = item["content"]
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    parts: list[JSONDict] = []
    for raw in content:
        part = dict(raw)
        if assistant and part.get("type") in ("input_text", "output_text"):
            part["type"] = "output_text"
            part.setdefault("annotations", [])
            part.setdefault("logprobs", [])
        elif part.get("type") == "input_image":
            part.setdefault("detail", "auto")
        parts.append(part)
    item["content"] = parts
