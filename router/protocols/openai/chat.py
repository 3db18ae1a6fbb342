"""OpenAI Chat Completions (``POST /v1/chat/completions``): requests, responses and streams.

What the neutral form cannot hold stays in ``extra`` dicts shaped like the JSON it came from (a
*residual*): the keys the reader did not take, with a nested object's leftovers under that
object's key (a tool's unknown ``function`` keys sit in ``tool.extra["function"]``). When the
neutral object's dialect is ``"openai"``, writers start from the residual and then write what the
neutral form says, so an untouched round trip gives back equal JSON, while a neutral value that
was changed since always wins. Two rules make that exact:

* a null value stays in the residual (the neutral form cannot tell null from absent);
* a value the neutral form normalises keeps its original in the residual (a string ``stop``,
  the deprecated ``max_tokens`` / ``functions`` / ``function_call``, role ``function``, finish
  reason ``function_call``, ...), and the writer reuses the original while it agrees with the
  neutral value.

Objects of another dialect have their extras ignored: their OpenAI JSON is built from the
neutral fields alone (TRANSLATION §7). Readers raise ``GatewayError`` naming the offending field
(400 for a caller's request, 502 for an upstream's response); the stream reader never raises and
reports a ``StreamFailure`` instead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

import orjson

from ...errors import ErrorCode, GatewayError, code_for_status
from ...ir import (
    AudioPart,
    CacheHint,
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    FilePart,
    Finish,
    FinishReason,
    ImagePart,
    JSONDict,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    RefusalDelta,
    RefusalPart,
    ResponseFormat,
    Role,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    Usage,
    UsageReport,
)
from ..sse import SSEEvent, format_event
from .errors import error_object

DIALECT: Final = "openai"

_T = TypeVar("_T")

_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")
_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
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
_CHUNK_OBJECT: Final = "chat.completion.chunk"
_DONE_FRAME: Final = format_event(b"[DONE]")
_MAX_CHOICES: Final = 128  # OpenAI's limit on n; bounds the choices a writer introduces at once


# ============================================================================ the codec


class OpenAIChatCodec:
    """The ChatCodec of OpenAI Chat Completions (also serves OpenAI-compatible upstreams)."""

    dialect: str = DIALECT

    def read_request(self, body: JSONDict) -> ChatRequest:
        raw: object = body
        try:
            return _read_request(_obj(raw, "body"))
        except _Malformed as exc:
            raise GatewayError(ErrorCode.INVALID_REQUEST, exc.message, param=exc.param) from None

    def write_request(self, request: ChatRequest) -> JSONDict:
        return _write_request(request)

    def read_response(self, body: JSONDict) -> ChatResponse:
        raw: object = body
        try:
            return _read_response(_obj(raw, "body"))
        except _Malformed as exc:
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR, f"The upstream sent a malformed chat completion: {exc.message}"
            ) from None

    def write_response(self, response: ChatResponse) -> JSONDict:
        return _write_response(response)

    def stream_reader(self) -> OpenAIChatStreamReader:
        return OpenAIChatStreamReader()

    def stream_writer(self, request: ChatRequest) -> OpenAIChatStreamWriter:
        return OpenAIChatStreamWriter(request)


# ============================================================================ validation


class _Malformed(Exception):
    """A JSON value of the wrong shape; ``param`` is its path (``messages[2].role``)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _wrong(path: str, expected: str, value: object) -> _Malformed:
    got = _json_type(value)
    return _Malformed(path, f"Invalid type for '{path}': expected {expected}, but got {got} instead.")


def _invalid(path: str, value: object, allowed: tuple[str, ...]) -> _Malformed:
    listed = ", ".join(repr(a) for a in allowed)
    return _Malformed(path, f"Invalid value for '{path}': {value!r}. Supported values are: {listed}.")


def _obj(value: object, path: str) -> JSONDict:
    if not isinstance(value, dict):
        raise _wrong(path, "an object", value)
    return value


def _required(obj: JSONDict, key: str, parent: str) -> None:
    if key not in obj:
        path = _path(parent, key)
        raise _Malformed(path, f"Missing required parameter: '{path}'.")


def _opt_str(obj: JSONDict, key: str, parent: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _wrong(_path(parent, key), "a string", value)


def _req_str(obj: JSONDict, key: str, parent: str) -> str:
    _required(obj, key, parent)
    value = _opt_str(obj, key, parent)
    if value is None:
        raise _wrong(_path(parent, key), "a string", None)
    return value


def _opt_int(obj: JSONDict, key: str, parent: str) -> int | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _wrong(_path(parent, key), "an integer", value)


def _opt_num(obj: JSONDict, key: str, parent: str) -> float | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise _wrong(_path(parent, key), "a number", value)


def _opt_bool(obj: JSONDict, key: str, parent: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _wrong(_path(parent, key), "a boolean", value)


def _opt_dict(obj: JSONDict, key: str, parent: str) -> JSONDict | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _wrong(_path(parent, key), "an object", value)


def _req_dict(obj: JSONDict, key: str, parent: str) -> JSONDict:
    _required(obj, key, parent)
    value = _opt_dict(obj, key, parent)
    if value is None:
        raise _wrong(_path(parent, key), "an object", None)
    return value


def _opt_list(obj: JSONDict, key: str, parent: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, list):
        return value
    raise _wrong(_path(parent, key), "an array", value)


def _req_list(obj: JSONDict, key: str, parent: str) -> list[Any]:
    _required(obj, key, parent)
    value = _opt_list(obj, key, parent)
    if value is None:
        raise _wrong(_path(parent, key), "an array", None)
    return value


# ============================================================================ residuals


def _take(rest: JSONDict, key: str, value: _T | None) -> _T | None:
    """``value`` (read from ``key``); the key leaves the residual when the neutral form holds it."""
    if value is not None:
        rest.pop(key, None)
    return value


def _nest(rest: JSONDict, key: str, leftover: JSONDict) -> None:
    """Keep a nested object's leftovers under its key, or drop the key when nothing is left."""
    if leftover:
        rest[key] = leftover
    else:
        rest.pop(key, None)


def _without(obj: JSONDict, *keys: str) -> JSONDict:
    return {k: v for k, v in obj.items() if k not in keys}


def _sub(obj: JSONDict, key: str) -> JSONDict:
    """A copy of the nested residual under ``key`` (empty when there is none)."""
    value = obj.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _put(out: JSONDict, key: str, value: object) -> None:
    if value is not None:
        out[key] = value


def _drop_stale(out: JSONDict, *keys: str) -> None:
    """Remove originals kept for a value the neutral form no longer has (nulls stay)."""
    for key in keys:
        if out.get(key) is not None:
            del out[key]


def _use_legacy(out: JSONDict, new: str, legacy: str) -> bool:
    """True when the caller used only the deprecated spelling (its original sits in ``out``)."""
    return out.get(legacy) is not None and out.get(new) is None


def _split_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL, else None."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        return None
    media_type = header[: -len(";base64")]
    if not media_type or ";" in media_type:
        return None  # parameters (charset=...) would not survive the split: keep the URL
    return media_type, data


def _data_url(media_type: str | None, data: str) -> str:
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def _finish_from_wire(value: str) -> FinishReason:
    return _FINISH_FROM_WIRE.get(value, FinishReason.STOP)


def _finish_to_wire(reason: FinishReason | None, original: object) -> str | None:
    """The wire finish reason; an original spelling (``function_call``) wins while it agrees."""
    if reason is None:
        return None
    if isinstance(original, str) and _finish_from_wire(original) is reason:
        return original
    return _FINISH_TO_WIRE[reason]


# ============================================================================ requests: reading


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


def _read_request(body: JSONDict) -> ChatRequest:
    rest = dict(body)
    model = _req_str(body, "model", "")
    if not model:
        raise _Malformed("model", "Invalid value for 'model': it must not be empty.")
    raw_messages = _req_list(body, "messages", "")
    if not raw_messages:
        raise _Malformed("messages", "Invalid value for 'messages': at least one message is required.")
    legacy = _LegacyCalls()
    messages = [_read_message(m, i, legacy) for i, m in enumerate(raw_messages)]
    del rest["model"], rest["messages"]
    request = ChatRequest(model=model, messages=messages, dialect=DIALECT)
    _read_stream_fields(body, rest, request)
    _read_sampling(body, rest, request)
    _read_tool_fields(body, rest, request)
    request.response_format = _take(rest, "response_format", _read_response_format(body))
    effort = _opt_str(body, "reasoning_effort", "")
    if effort is not None:
        if effort not in _EFFORTS:
            raise _invalid("reasoning_effort", effort, _EFFORTS)
        request.reasoning = Reasoning(effort=cast(ReasoningEffort, effort))
        del rest["reasoning_effort"]
    request.user = _take(rest, "user", _opt_str(body, "user", ""))
    request.metadata = _take(rest, "metadata", _read_metadata(body))
    request.extra = rest
    return request


def _read_stream_fields(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    if _opt_bool(body, "stream", ""):
        request.stream = True
        del rest["stream"]  # false and null stay: the neutral form cannot tell them from absent
    options = _opt_dict(body, "stream_options", "")
    if options is not None and _opt_bool(options, "include_usage", "stream_options"):
        request.include_usage = True
        _nest(rest, "stream_options", _without(options, "include_usage"))


def _read_sampling(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    request.max_output_tokens = _take_pair(
        rest,
        "max_completion_tokens",
        _opt_int(body, "max_completion_tokens", ""),
        "max_tokens",
        _opt_int(body, "max_tokens", ""),
    )
    request.temperature = _take(rest, "temperature", _opt_num(body, "temperature", ""))
    request.top_p = _take(rest, "top_p", _opt_num(body, "top_p", ""))
    request.n = _take(rest, "n", _opt_int(body, "n", ""))
    request.seed = _take(rest, "seed", _opt_int(body, "seed", ""))
    request.presence_penalty = _take(rest, "presence_penalty", _opt_num(body, "presence_penalty", ""))
    request.frequency_penalty = _take(rest, "frequency_penalty", _opt_num(body, "frequency_penalty", ""))
    stop = body.get("stop")
    if isinstance(stop, str):
        request.stop = [stop]  # the string stays in the residual, so the writer can give it back
    elif stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _wrong("stop", "a string or an array of strings", stop)
        request.stop = list(stop)
        del rest["stop"]


def _take_pair(
    rest: JSONDict, new: str, new_value: _T | None, legacy: str, legacy_value: _T | None
) -> _T | None:
    """A field with a deprecated twin: ``new`` wins; when only ``legacy`` is set, its original
    stays in the residual so that the writer uses the old spelling again."""
    if new_value is not None:
        if legacy_value is None:
            del rest[new]
        return new_value
    return legacy_value


def _read_tool_fields(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    tools = _opt_list(body, "tools", "")
    functions = _opt_list(body, "functions", "")
    request.tools = _take_pair(
        rest,
        "tools",
        None if tools is None else [_read_tool(t, f"tools[{i}]") for i, t in enumerate(tools)],
        "functions",
        None
        if functions is None
        else [_read_function(f, f"functions[{i}]") for i, f in enumerate(functions)],
    )
    choice = body.get("tool_choice")
    legacy_choice = body.get("function_call")
    request.tool_choice = _take_pair(
        rest,
        "tool_choice",
        None if choice is None else _read_tool_choice(choice, "tool_choice"),
        "function_call",
        None if legacy_choice is None else _read_legacy_tool_choice(legacy_choice),
    )
    request.parallel_tool_calls = _take(
        rest, "parallel_tool_calls", _opt_bool(body, "parallel_tool_calls", "")
    )


def _read_metadata(body: JSONDict) -> dict[str, str] | None:
    metadata = _opt_dict(body, "metadata", "")
    if metadata is None:
        return None
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _wrong(f"metadata.{key}", "a string", value)
    return dict(metadata)


# ---------------------------------------------------------------------------- tools


def _read_tool(raw: object, path: str) -> Tool:
    tool = _obj(raw, path)
    kind = _req_str(tool, "type", path)
    if kind not in ("function", "custom"):
        raise _invalid(f"{path}.type", kind, ("function", "custom"))
    rest = dict(tool)
    spec = _req_dict(tool, kind, path)
    sub = f"{path}.{kind}"
    inner = _without(spec, "name")
    name = _req_str(spec, "name", sub)
    description = _take(inner, "description", _opt_str(spec, "description", sub))
    parameters = strict = None
    if kind == "function":
        del rest["type"]  # a custom tool keeps ``type`` in its residual: that is how it is told apart
        parameters = _take(inner, "parameters", _opt_dict(spec, "parameters", sub))
        strict = _take(inner, "strict", _opt_bool(spec, "strict", sub))
    _nest(rest, kind, inner)
    return Tool(name, description, parameters, strict, extra=rest)


def _read_function(raw: object, path: str) -> Tool:
    """A deprecated ``functions[]`` entry: ``{name, description, parameters}``."""
    spec = _obj(raw, path)
    rest = _without(spec, "name")
    name = _req_str(spec, "name", path)
    description = _take(rest, "description", _opt_str(spec, "description", path))
    parameters = _take(rest, "parameters", _opt_dict(spec, "parameters", path))
    return Tool(name, description, parameters, extra=rest)


def _read_tool_choice(value: object, path: str) -> ToolChoice:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise _invalid(path, value, ("auto", "none", "required"))
        return ToolChoice(cast(Any, value))
    choice = _obj(value, path)
    kind = _req_str(choice, "type", path)
    rest = _without(choice, "type", kind)
    if kind in ("function", "custom"):
        spec = _req_dict(choice, kind, path)
        name = _req_str(spec, "name", f"{path}.{kind}")
        _nest(rest, kind, _without(spec, "name"))
        if kind == "custom":
            rest["type"] = kind
        return ToolChoice("tool", name=name, extra=rest)
    if kind == "allowed_tools":
        return _read_allowed_tools(_req_dict(choice, kind, path), f"{path}.{kind}", rest)
    raise _invalid(f"{path}.type", kind, ("function", "custom", "allowed_tools"))


def _read_allowed_tools(allowed: JSONDict, path: str, rest: JSONDict) -> ToolChoice:
    mode = _req_str(allowed, "mode", path)
    if mode not in ("auto", "required"):
        raise _invalid(f"{path}.mode", mode, ("auto", "required"))
    tools = _req_list(allowed, "tools", path)
    names = [_allowed_name(t, f"{path}.tools[{i}]") for i, t in enumerate(tools)]
    canonical = all(t == _allowed_entry(n) for t, n in zip(tools, names, strict=True))
    _nest(rest, "allowed_tools", _without(allowed, "mode", *(("tools",) if canonical else ())))
    return ToolChoice(cast(Any, mode), allowed=names, extra=rest)


def _allowed_name(raw: object, path: str) -> str:
    item = _obj(raw, path)
    kind = _req_str(item, "type", path)
    return _req_str(_req_dict(item, kind, path), "name", f"{path}.{kind}")


def _allowed_entry(name: str) -> JSONDict:
    return {"type": "function", "function": {"name": name}}


def _read_legacy_tool_choice(value: object) -> ToolChoice:
    """The deprecated ``function_call``: ``"none"``, ``"auto"`` or ``{"name": ...}``."""
    if isinstance(value, str):
        if value not in ("none", "auto"):
            raise _invalid("function_call", value, ("none", "auto"))
        return ToolChoice(cast(Any, value))
    spec = _obj(value, "function_call")
    return ToolChoice("tool", name=_req_str(spec, "name", "function_call"))


def _read_response_format(body: JSONDict) -> ResponseFormat | None:
    spec = _opt_dict(body, "response_format", "")
    if spec is None:
        return None
    kind = _req_str(spec, "type", "response_format")
    rest = _without(spec, "type")
    if kind in ("text", "json_object"):
        return ResponseFormat(cast(Any, kind), extra=rest)
    if kind != "json_schema":
        raise _invalid("response_format.type", kind, ("text", "json_object", "json_schema"))
    schema = _req_dict(spec, "json_schema", "response_format")
    path = "response_format.json_schema"
    inner = _without(schema, "name")
    name = _req_str(schema, "name", path)
    description = _take(inner, "description", _opt_str(schema, "description", path))
    json_schema = _take(inner, "schema", _opt_dict(schema, "schema", path))
    strict = _take(inner, "strict", _opt_bool(schema, "strict", path))
    _nest(rest, "json_schema", inner)
    return ResponseFormat("json_schema", name, json_schema, strict, description, extra=rest)


# ---------------------------------------------------------------------------- messages


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


_PART_TYPES: Final = ("text", "image_url", "input_audio", "file", "refusal")


def _read_part(raw: object, path: str) -> ContentPart:
    part = _obj(raw, path)
    kind = _req_str(part, "type", path)
    if kind not in _PART_TYPES:
        raise _invalid(f"{path}.type", kind, _PART_TYPES)
    rest = _without(part, "type", kind)
    if kind == "text":
        return TextPart(_req_str(part, "text", path), _take_cache(part, rest), rest)
    if kind == "refusal":
        rest["type"] = kind  # tells a content-list refusal from the message's ``refusal`` field
        return RefusalPart(_req_str(part, "refusal", path), rest)
    spec = _req_dict(part, kind, path)
    sub = f"{path}.{kind}"
    if kind == "image_url":
        url = _req_str(spec, "url", sub)
        inner = _without(spec, "url")
        detail = _take(inner, "detail", _opt_str(spec, "detail", sub))
        _nest(rest, kind, inner)
        split = _split_data_url(url)
        if split is None:
            return ImagePart(url=url, detail=detail, cache=_take_cache(part, rest), extra=rest)
        return ImagePart(
            data_b64=split[1], media_type=split[0], detail=detail, cache=_take_cache(part, rest), extra=rest
        )
    if kind == "input_audio":
        audio = AudioPart(_req_str(spec, "data", sub), _req_str(spec, "format", sub), rest)
        _nest(rest, kind, _without(spec, "data", "format"))
        return audio
    return _read_file_part(part, spec, sub, rest)


def _read_file_part(part: JSONDict, spec: JSONDict, path: str, rest: JSONDict) -> FilePart:
    inner = dict(spec)
    filename = _take(inner, "filename", _opt_str(spec, "filename", path))
    file_data = _take(inner, "file_data", _opt_str(spec, "file_data", path))
    file_id = _take(inner, "file_id", _opt_str(spec, "file_id", path))
    _nest(rest, "file", inner)
    split = None if file_data is None else _split_data_url(file_data)
    return FilePart(
        data_b64=file_data if split is None else split[1],
        media_type=None if split is None else split[0],
        file_id=file_id,
        filename=filename,
        cache=_take_cache(part, rest),
        extra=rest,
    )


def _take_cache(part: JSONDict, rest: JSONDict) -> CacheHint | None:
    """``prompt_cache_breakpoint`` as a CacheHint; a non-canonical original stays in the residual."""
    breakpoint_ = part.get("prompt_cache_breakpoint")
    if not isinstance(breakpoint_, dict):
        return None  # absent, or null (kept)
    if breakpoint_ == {"mode": "explicit"}:
        del rest["prompt_cache_breakpoint"]
    return CacheHint()


def _read_assistant(
    message: JSONDict, rest: JSONDict, path: str, legacy: _LegacyCalls, index: int
) -> Message:
    """An assistant turn (request history, or a response's message)."""
    name = _take(rest, "name", _opt_str(message, "name", path))
    parts: list[Part] = []
    reasoning = _take(rest, "reasoning_content", _opt_str(message, "reasoning_content", path))
    if reasoning is not None:
        parts.append(ReasoningPart(reasoning))
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


# ============================================================================ requests: writing


def _write_request(request: ChatRequest) -> JSONDict:
    native = request.dialect == DIALECT
    out: JSONDict = dict(request.extra) if native else {}
    out["model"] = request.model
    out["messages"] = _write_messages(request.messages, native)
    if request.stream:
        out["stream"] = True
    if request.include_usage and (request.stream or native):
        options = _sub(out, "stream_options")
        options["include_usage"] = True
        out["stream_options"] = options
    _write_pair(
        out, request.max_output_tokens, "max_completion_tokens", "max_tokens", request.max_output_tokens
    )
    _put(out, "temperature", request.temperature)
    _put(out, "top_p", request.top_p)
    _write_stop(out, request.stop)
    _put(out, "n", request.n)
    _put(out, "seed", request.seed)
    _put(out, "presence_penalty", request.presence_penalty)
    _put(out, "frequency_penalty", request.frequency_penalty)
    _write_tools(out, request.tools, native)
    _write_tool_choice_field(out, request.tool_choice, native)
    _put(out, "parallel_tool_calls", request.parallel_tool_calls)
    if request.response_format is not None:
        out["response_format"] = _write_response_format(request.response_format, native)
    _put(out, "reasoning_effort", _effort(request.reasoning))
    _put(out, "user", request.user)
    if request.metadata is not None:
        out["metadata"] = dict(request.metadata)
    return out


def _write_pair(out: JSONDict, value: object, new: str, legacy: str, legacy_value: object) -> None:
    """Write a field with a deprecated twin under the spelling the caller used.

    ``legacy_value`` is the value in the deprecated form, None when that form cannot express it.
    """
    if value is None:
        _drop_stale(out, new, legacy)
    elif legacy_value is not None and _use_legacy(out, new, legacy):
        out[legacy] = legacy_value
    else:
        if _use_legacy(out, new, legacy):
            del out[legacy]  # the deprecated form cannot say it: switch to the current one
        out[new] = value


def _write_stop(out: JSONDict, stop: list[str] | None) -> None:
    original = out.get("stop")
    if stop is None:
        if isinstance(original, str):
            del out["stop"]
    elif not (isinstance(original, str) and stop == [original]):
        out["stop"] = list(stop)


def _effort(reasoning: Reasoning | None) -> str | None:
    """``reasoning_effort`` for the neutral reasoning (budget thresholds from TRANSLATION §7.1)."""
    if reasoning is None:
        return None
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget_tokens
    if budget is None:
        return None
    if budget <= 0:
        return "none"
    if budget < 2048:
        return "low"
    if budget < 8192:
        return "medium"
    return "high" if budget < 24576 else "xhigh"


def _write_tools(out: JSONDict, tools: list[Tool] | None, native: bool) -> None:
    if tools is not None and not tools and not native:
        tools = None  # OpenAI rejects an empty tools array
    current = None if tools is None else [_write_tool(t, native) for t in tools]
    legacy = None if tools is None else [_write_function(t, native) for t in tools]
    _write_pair(out, current, "tools", "functions", legacy)


def _write_tool(tool: Tool, native: bool) -> JSONDict:
    extra = tool.extra if native else {}
    kind = "custom" if extra.get("type") == "custom" else "function"
    out = dict(extra)
    spec = _sub(extra, kind)
    spec["name"] = tool.name
    _put(spec, "description", tool.description)
    if kind == "function":
        _put(spec, "parameters", tool.parameters)
        _put(spec, "strict", tool.strict)
    out["type"] = kind
    out[kind] = spec
    return out


def _write_function(tool: Tool, native: bool) -> JSONDict:
    out = dict(tool.extra) if native else {}
    out["name"] = tool.name
    _put(out, "description", tool.description)
    _put(out, "parameters", tool.parameters)
    return out


def _write_tool_choice_field(out: JSONDict, choice: ToolChoice | None, native: bool) -> None:
    if choice is None:
        _drop_stale(out, "tool_choice", "function_call")
        return
    legacy: str | JSONDict | None = None
    if choice.allowed is None:
        if choice.mode in ("auto", "none"):
            legacy = choice.mode
        elif choice.mode == "tool" and choice.name is not None:
            legacy = {"name": choice.name}
    _write_pair(out, _write_tool_choice(choice, native), "tool_choice", "function_call", legacy)


def _write_tool_choice(choice: ToolChoice, native: bool) -> str | JSONDict:
    extra = choice.extra if native else {}
    if choice.allowed is not None and choice.mode in ("auto", "required"):
        allowed = _sub(extra, "allowed_tools")
        original = allowed.get("tools")
        if not (isinstance(original, list) and _allowed_names(original) == choice.allowed):
            allowed["tools"] = [_allowed_entry(name) for name in choice.allowed]
        allowed["mode"] = choice.mode
        return {**extra, "type": "allowed_tools", "allowed_tools": allowed}
    if choice.mode == "tool" and choice.name is not None:
        kind = "custom" if extra.get("type") == "custom" else "function"
        spec = _sub(extra, kind)
        spec["name"] = choice.name
        return {**extra, "type": kind, kind: spec}
    return "required" if choice.mode == "tool" else choice.mode


def _allowed_names(tools: list[Any]) -> list[str | None]:
    names: list[str | None] = []
    for item in tools:
        spec = item.get(item.get("type")) if isinstance(item, dict) else None
        names.append(spec.get("name") if isinstance(spec, dict) else None)
    return names


def _write_response_format(spec: ResponseFormat, native: bool) -> JSONDict:
    extra = spec.extra if native else {}
    out = dict(extra)
    out["type"] = spec.type
    if spec.type == "json_schema":
        schema = _sub(extra, "json_schema")
        schema["name"] = spec.name or "output"  # required by OpenAI (TRANSLATION §7.1 uses "output")
        _put(schema, "description", spec.description)
        _put(schema, "schema", spec.schema)
        _put(schema, "strict", spec.strict)
        out["json_schema"] = schema
    return out


# ---------------------------------------------------------------------------- messages


def _is_content(part: Part) -> bool:
    return isinstance(part, TextPart | ImagePart | FilePart | AudioPart | RefusalPart)


def _text(parts: list[Any]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def _plain_text(part: JSONDict) -> bool:
    """A written text part with nothing else (no cache breakpoint): it can join a string content."""
    return part.keys() == {"type", "text"}


def _write_messages(messages: list[Message], native: bool) -> list[JSONDict]:
    out: list[JSONDict] = []
    for message in messages:
        if message.role == "tool" or any(isinstance(p, ToolResult) for p in message.parts):
            out.extend(_write_tool_results(message, native))
        elif message.role == "assistant":
            out.append(_write_assistant(message, native))
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
        if message.as_text:
            out["content"] = _text(parts)
        elif parts:
            out["content"] = [_write_part(p, True) for p in parts]
        return out
    media = message.role == "user"
    written = [w for p in parts if (w := _write_foreign_part(p, media)) is not None]
    if message.as_text and all(_plain_text(w) for w in written):
        out["content"] = "".join(w["text"] for w in written)
    else:
        out["content"] = written or ""
    return out


def _write_part(part: Part, native: bool) -> JSONDict:
    """One content part (``native``: the part's residual is written back)."""
    out: JSONDict = dict(part.extra) if native and _is_content(part) else {}
    cache: CacheHint | None = None
    if isinstance(part, TextPart):
        out["type"], out["text"], cache = "text", part.text, part.cache
    elif isinstance(part, RefusalPart):
        out["type"], out["refusal"] = "refusal", part.text
    elif isinstance(part, ImagePart):
        image = _sub(out, "image_url")
        image["url"] = _data_url(part.media_type, part.data_b64) if part.data_b64 is not None else part.url
        _put(image, "detail", part.detail)
        out["type"], out["image_url"], cache = "image_url", image, part.cache
    elif isinstance(part, AudioPart):
        audio = _sub(out, "input_audio")
        audio["data"], audio["format"] = part.data_b64, part.format
        out["type"], out["input_audio"] = "input_audio", audio
    elif isinstance(part, FilePart):
        spec = _sub(out, "file")
        _put(spec, "filename", part.filename)
        if part.data_b64 is not None:
            data = part.data_b64
            spec["file_data"] = data if part.media_type is None else _data_url(part.media_type, data)
        _put(spec, "file_id", part.file_id)
        out["type"], out["file"], cache = "file", spec, part.cache
    if cache is not None:
        out.setdefault("prompt_cache_breakpoint", {"mode": "explicit"})
    elif isinstance(out.get("prompt_cache_breakpoint"), dict):
        del out["prompt_cache_breakpoint"]  # the hint was removed from the neutral form
    return out


def _write_foreign_part(part: Part, media: bool) -> JSONDict | None:
    """A content part of another dialect; ``media``: images, audio and files are allowed."""
    if isinstance(part, TextPart):
        return _write_part(part, False)
    if isinstance(part, FilePart) and part.text is not None:
        title = f"{part.filename}\n\n" if part.filename else ""
        return _write_part(TextPart(title + part.text, part.cache), False)
    if not media:
        return None
    if isinstance(part, ImagePart) and part.url is None and part.data_b64 is None:
        return None
    if isinstance(part, FilePart) and part.data_b64 is None and part.file_id is None:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "OpenAI chat upstreams cannot read a document given by URL; send its content inline instead.",
        )
    return None if isinstance(part, RefusalPart) else _write_part(part, False)


def _write_assistant(message: Message, native: bool) -> JSONDict:
    out = dict(message.extra) if native else {}
    out["role"] = "assistant"
    _put(out, "name", message.name)
    content: list[Part] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for part in message.parts:
        if isinstance(part, ToolCall):
            calls.append(part)
        elif isinstance(part, ReasoningPart):
            reasoning.append(part.text)
        elif isinstance(part, RefusalPart) and not (native and part.extra.get("type") == "refusal"):
            refusals.append(part.text)
        elif _is_content(part):
            content.append(part)
    if native:
        if reasoning:
            out["reasoning_content"] = "".join(reasoning)
        if message.as_text:
            out["content"] = _text(content)
        elif content:
            out["content"] = [_write_part(p, True) for p in content]
        calls = _write_legacy_call(out, calls)
    else:  # foreign reasoning is dropped: OpenAI cannot take another vendor's thoughts (§7.2)
        out["content"] = _foreign_assistant_content(content, bool(calls))
    if refusals:
        out["refusal"] = "".join(refusals)
    if calls:
        out["tool_calls"] = [_write_tool_call(c, native) for c in calls]
    return out


def _foreign_assistant_content(parts: list[Part], has_calls: bool) -> str | list[JSONDict] | None:
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
    kind, field = ("custom", "input") if extra.get("type") == "custom" else ("function", "arguments")
    spec = _sub(extra, kind)
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
        if result.as_text:
            out["content"] = _text(result.content)
        elif result.content:
            out["content"] = [_write_part(p, True) for p in result.content]
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


# ============================================================================ responses


def _read_response(body: JSONDict) -> ChatResponse:
    rest = _without(body, "id", "model", "created", "choices")
    response_id = _opt_str(body, "id", "")
    model = _opt_str(body, "model", "")
    created = _opt_int(body, "created", "")
    if body.get("object") == "chat.completion":
        del rest["object"]
    choices = [_read_choice(c, i) for i, c in enumerate(_req_list(body, "choices", ""))]
    raw_usage = body.get("usage")
    usage = None if raw_usage is None else _read_usage(raw_usage, "usage")
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


def _read_usage(raw: object, path: str) -> Usage:
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


def _write_response(response: ChatResponse) -> JSONDict:
    native = response.dialect == DIALECT
    out = dict(response.extra) if native else {}
    out["id"] = response.id
    out.setdefault("object", "chat.completion")
    out["created"] = response.created
    out["model"] = response.model
    out["choices"] = [_write_choice(c, native) for c in response.choices]
    if response.usage is not None:
        out["usage"] = _write_usage(response.usage, native)
    return out


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


# ============================================================================ streams: reading


class _ToolSlots:
    """One choice's tool calls: wire ``index`` → (neutral index, call id), in order of arrival."""

    __slots__ = ("by_wire", "count")

    def __init__(self) -> None:
        self.by_wire: dict[int, tuple[int, str]] = {}
        self.count = 0

    def open(self, wire: int, call_id: str) -> int:
        index = self.count
        self.count += 1
        self.by_wire[wire] = (index, call_id)
        return index


class OpenAIChatStreamReader:
    """Reads ``chat.completion.chunk`` events: one chunk → one batch.

    The batch's ``extra`` is the chunk's residual: unknown and null top-level keys, identity
    fields that differ from the stream's first chunk, and ``choices``: one residual per choice
    (its ``index``, unknown keys such as ``logprobs``, a non-canonical ``finish_reason``, and a
    ``delta`` residual whose ``tool_calls`` list holds one residual per fragment, by position).

    Each tool-call fragment gives at least one event, so that a same-protocol writer rebuilds the
    fragments one for one: a first fragment gives ToolCallStart, plus ToolCallDelta when it
    carries ``arguments`` (even ``""``); a later fragment gives ToolCallDelta (possibly empty).
    """

    __slots__ = ("_finished", "_start", "_tools")

    def __init__(self) -> None:
        self._finished = False
        self._start: StreamStart | None = None
        self._tools: dict[int, _ToolSlots] = {}

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        if self._finished:
            return None
        data = event.data.strip()
        if data == "[DONE]":
            self._finished = True
            return None
        if not data:
            return None  # keep-alive
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._fail(502, "The upstream sent a stream chunk that is not valid JSON.")
        if not isinstance(chunk, dict):
            return self._fail(502, "The upstream sent a stream chunk that is not a JSON object.")
        if event.event == "error" or chunk.get("error") is not None:
            return self._error(chunk)
        try:
            return self._read_chunk(chunk)
        except _Malformed as exc:
            return self._fail(502, f"The upstream sent a malformed stream chunk: {exc.message}")

    def _fail(self, status: int, message: str, extra: JSONDict | None = None) -> StreamBatch:
        self._finished = True
        failure = StreamFailure(status, code_for_status(status).value, message)
        return StreamBatch([failure], DIALECT, extra or {})

    def _error(self, chunk: JSONDict) -> StreamBatch:
        """An in-stream error: ``{"error": {message, type, param, code}}`` (TRANSLATION §11.3)."""
        error = chunk.get("error", chunk)
        status, message = 502, "The upstream reported an error in the middle of the stream."
        if isinstance(error, dict):
            for key in ("status", "code"):
                value = error.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
                    status = value
                    break
            if isinstance(error.get("message"), str) and error["message"]:
                message = error["message"]
        return self._fail(status, message, {"error": error} if isinstance(error, dict) else None)

    def _read_chunk(self, chunk: JSONDict) -> StreamBatch:
        events: list[StreamEvent] = []
        extra = _without(chunk, "id", "object", "created", "model", "choices", "usage")
        self._read_identity(chunk, events, extra)
        choices = _opt_list(chunk, "choices", "") or []
        extra["choices"] = [self._read_choice(c, f"choices[{j}]", j, events) for j, c in enumerate(choices)]
        if "usage" in chunk:
            if chunk["usage"] is None:
                extra["usage"] = None
            else:
                events.append(UsageReport(_read_usage(chunk["usage"], "usage")))
        return StreamBatch(events, DIALECT, extra)

    def _read_identity(self, chunk: JSONDict, events: list[StreamEvent], extra: JSONDict) -> None:
        chunk_id = _opt_str(chunk, "id", "")
        model = _opt_str(chunk, "model", "")
        created = _opt_int(chunk, "created", "")
        if "object" in chunk and chunk["object"] != _CHUNK_OBJECT:
            extra["object"] = chunk["object"]
        start = self._start
        if start is None and chunk_id:
            self._start = StreamStart(chunk_id, model or "", created or 0)
            events.append(self._start)
            return
        known: tuple[object, object, object] = (None, None, None)
        if start is not None:
            known = (start.id, start.model, start.created)
        for key, value, first in zip(
            ("id", "model", "created"), (chunk_id, model, created), known, strict=True
        ):
            if key in chunk and (start is None or value != first):
                extra[key] = chunk[key]  # differs from the stream's identity (or none is known yet)

    def _read_choice(self, raw: object, path: str, position: int, events: list[StreamEvent]) -> JSONDict:
        choice = _obj(raw, path)
        index = _opt_int(choice, "index", path)
        if index is None:
            index = position
        residual: JSONDict = {"index": index}
        residual.update(_without(choice, "index", "delta", "finish_reason"))
        delta = _opt_dict(choice, "delta", path)
        if delta:
            delta_residual = self._read_delta(delta, index, f"{path}.delta", events)
            if delta_residual:
                residual["delta"] = delta_residual
        finish = _opt_str(choice, "finish_reason", path)
        if finish is not None:
            reason = _finish_from_wire(finish)
            events.append(Finish(reason, index))
            if _FINISH_TO_WIRE[reason] != finish:
                residual["finish_reason"] = finish
        return residual

    def _read_delta(self, delta: JSONDict, choice: int, path: str, events: list[StreamEvent]) -> JSONDict:
        if delta.get("role") == "assistant":
            events.append(RoleStart(choice))
        reasoning = _opt_str(delta, "reasoning_content", path)
        if reasoning is not None:
            events.append(ReasoningDelta(reasoning, choice=choice))
        content = _opt_str(delta, "content", path)
        if content is not None:
            events.append(TextDelta(content, choice))
        refusal = _opt_str(delta, "refusal", path)
        if refusal is not None:
            events.append(RefusalDelta(refusal, choice))
        fragments = _opt_list(delta, "tool_calls", path)
        residual = {k: v for k, v in delta.items() if not _delta_key_read(k, v)}
        if fragments:
            leftovers = self._read_fragments(fragments, choice, f"{path}.tool_calls", events)
            if any(leftovers):
                residual["tool_calls"] = leftovers
        return residual

    def _read_fragments(
        self, fragments: list[Any], choice: int, path: str, events: list[StreamEvent]
    ) -> list[JSONDict]:
        slots = self._tools.get(choice)
        if slots is None:
            slots = self._tools[choice] = _ToolSlots()
        leftovers: list[JSONDict] = []
        for k, raw in enumerate(fragments):
            fragment_path = f"{path}[{k}]"
            fragment = _obj(raw, fragment_path)
            wire = _opt_int(fragment, "index", fragment_path)
            wire = k if wire is None else wire
            call_id = _opt_str(fragment, "id", fragment_path)
            _opt_str(fragment, "type", fragment_path)
            function = _opt_dict(fragment, "function", fragment_path) or {}
            name = _opt_str(function, "name", f"{fragment_path}.function")
            arguments = _opt_str(function, "arguments", f"{fragment_path}.function")
            known = slots.by_wire.get(wire)
            if known is None or (call_id and call_id != known[1]):  # a new call (also a new id)
                index = slots.open(wire, call_id or "")
                events.append(ToolCallStart(index, call_id or "", name or "", choice=choice))
                if arguments is not None:
                    events.append(ToolCallDelta(index, arguments, choice))
            else:  # a continuation: a repeated id, type or name is dropped (§5.2)
                events.append(ToolCallDelta(known[0], arguments or "", choice))
            leftover = _without(fragment, "index", "id", "type", "function")
            _nest(leftover, "function", _without(function, "name", "arguments"))
            leftovers.append(leftover)
        return leftovers


def _delta_key_read(key: str, value: object) -> bool:
    """True when a delta key's value became events (the rest stays in the residual)."""
    if key == "role":
        return value == "assistant"
    if key in ("content", "reasoning_content", "refusal"):
        return isinstance(value, str)
    return key == "tool_calls" and isinstance(value, list) and bool(value)


# ============================================================================ streams: writing


def _new_entry(choice: int) -> JSONDict:
    return {"index": choice, "delta": {}, "finish_reason": None}


def _failure_error(failure: StreamFailure) -> GatewayError:
    try:
        code = ErrorCode(failure.code)
    except ValueError:
        code = code_for_status(failure.status)
    return GatewayError(code, failure.message, status=failure.status)


class OpenAIChatStreamWriter:
    """Writes batches as ``chat.completion.chunk`` frames following TRANSLATION §5.2.

    A batch of this dialect becomes exactly one chunk rebuilt from its events and residual (a
    same-protocol relay). A batch of another dialect is shaped here: the role once per choice
    (with ``content: ""``), a tool call's id/type/name only in its first fragment, dense tool
    indexes per choice, the finish reason in a chunk of its own with an empty delta, and the
    usage in a ``choices: []`` chunk just before ``[DONE]`` when the caller asked for it.
    """

    __slots__ = (
        "_created",
        "_done",
        "_have_start",
        "_id",
        "_include_usage",
        "_model",
        "_started",
        "_tool_count",
        "_tool_wire",
        "_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._include_usage = request.include_usage
        self._model = request.model
        self._id: str | None = None
        self._created = 0
        self._have_start = False
        self._started: set[int] = set()  # choices whose role was sent
        self._tool_wire: dict[tuple[int, int], int] = {}  # (choice, neutral index) → wire index
        self._tool_count: dict[int, int] = {}
        self._usage: Usage | None = None  # another dialect's usage, written before [DONE]
        self._done = False

    # ------------------------------------------------------------------ the ChatStreamWriter API

    def write(self, batch: StreamBatch) -> bytes:
        if self._done:
            return b""
        if batch.dialect == DIALECT:
            return self._write_native(batch)
        return self._write_foreign(batch)

    def close(self) -> bytes:
        if self._done:
            return b""
        self._done = True
        if not (self._include_usage and self._usage is not None):
            return _DONE_FRAME
        chunk = self._base()
        chunk["choices"] = []
        chunk["usage"] = _write_usage(self._usage, False)
        return self._frame(chunk) + _DONE_FRAME

    def fail(self, error: GatewayError) -> bytes:
        if self._done:
            return b""
        self._done = True
        return format_event(orjson.dumps({"error": error_object(error)}))

    # ------------------------------------------------------------------ shared

    def _start(self, event: StreamStart, native: bool) -> None:
        """Take the stream's identity from its first StreamStart; for another dialect, only while
        no chunk went out with a made-up one (every chunk must carry the same id)."""
        if not self._have_start and (native or self._id is None):
            self._have_start = True
            self._id, self._model, self._created = event.id, event.model, event.created

    def _base(self) -> JSONDict:
        if self._id is None:  # no StreamStart came: the chunks still need one identity
            self._id, self._created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        return {"id": self._id, "object": _CHUNK_OBJECT, "created": self._created, "model": self._model}

    def _frame(self, chunk: JSONDict) -> bytes:
        return format_event(orjson.dumps(chunk))

    def _failure(self, failure: StreamFailure, raw: object) -> bytes:
        """The terminal error frame: an OpenAI upstream's own error object is relayed as it came."""
        self._done = True
        error = raw if isinstance(raw, dict) else error_object(_failure_error(failure))
        return format_event(orjson.dumps({"error": error}))

    def _open_tool(self, choice: int, index: int) -> int:
        wire = self._tool_count.get(choice, 0)
        self._tool_count[choice] = wire + 1
        self._tool_wire[(choice, index)] = wire
        return wire

    def _tool(self, choice: int, index: int) -> int:
        wire = self._tool_wire.get((choice, index))
        return self._open_tool(choice, index) if wire is None else wire

    # ------------------------------------------------------------------ same dialect

    def _write_native(self, batch: StreamBatch) -> bytes:
        extra = batch.extra
        residual_choices = extra.get("choices")
        originals: dict[Any, Any] = {}
        if isinstance(residual_choices, list):
            originals = {
                r.get("index"): r.get("finish_reason") for r in residual_choices if isinstance(r, dict)
            }
        entries: dict[int, JSONDict] = {}
        usage: JSONDict | None = None
        usage_dropped = False
        open_start: tuple[int, int, JSONDict] | None = None  # the fragment the last event opened
        for event in batch.events:
            if isinstance(event, StreamStart):
                self._start(event, True)
                continue
            if isinstance(event, StreamFailure):
                return self._failure(event, extra.get("error"))
            if isinstance(event, UsageReport):
                if self._include_usage:
                    usage = _write_usage(event.usage, True)
                else:
                    usage_dropped = True
                continue
            entry = entries.get(event.choice)
            if entry is None:
                entry = entries[event.choice] = _new_entry(event.choice)
            delta = entry["delta"]
            opened, open_start = open_start, None
            if isinstance(event, RoleStart):
                delta["role"] = "assistant"
            elif isinstance(event, TextDelta):
                delta["content"] = delta.get("content", "") + event.text
            elif isinstance(event, ReasoningDelta):
                delta["reasoning_content"] = delta.get("reasoning_content", "") + event.text
            elif isinstance(event, RefusalDelta):
                delta["refusal"] = delta.get("refusal", "") + event.text
            elif isinstance(event, ToolCallStart):
                wire = self._open_tool(event.choice, event.index)
                fragment = {
                    "index": wire,
                    "id": event.id,
                    "type": "function",
                    "function": {"name": event.name},
                }
                delta.setdefault("tool_calls", []).append(fragment)
                open_start = (event.choice, event.index, fragment)
            elif isinstance(event, ToolCallDelta):
                if opened is not None and opened[:2] == (event.choice, event.index):
                    opened[2]["function"]["arguments"] = event.arguments
                else:
                    wire = self._tool(event.choice, event.index)
                    fragment = {"index": wire, "function": {"arguments": event.arguments}}
                    delta.setdefault("tool_calls", []).append(fragment)
            elif isinstance(event, Finish):
                entry["finish_reason"] = _finish_to_wire(event.reason, originals.get(event.choice))
        chunk = self._base()
        for key, value in extra.items():
            if key != "choices" and (key != "usage" or self._include_usage):
                chunk[key] = value
        chunk["choices"] = _native_choices(entries, residual_choices)
        if usage is not None:
            chunk["usage"] = usage
        elif usage_dropped and not chunk["choices"]:
            return b""  # a usage chunk the caller did not ask for
        return self._frame(chunk)

    # ------------------------------------------------------------------ another dialect

    def _write_foreign(self, batch: StreamBatch) -> bytes:
        frames: list[bytes] = []
        pending: dict[int, JSONDict] = {}
        for event in batch.events:
            if isinstance(event, StreamStart):
                self._start(event, False)
            elif isinstance(event, UsageReport):
                self._usage = event.usage
            elif isinstance(event, StreamFailure):
                self._flush(pending, frames)
                frames.append(self._failure(event, None))
                break
            elif isinstance(event, Finish):
                entry = self._entry(pending, event.choice)
                if entry["delta"] or entry["finish_reason"] is not None:
                    self._flush(pending, frames)  # the finish reason gets a chunk with an empty delta
                    entry = self._entry(pending, event.choice)
                entry["finish_reason"] = _FINISH_TO_WIRE[event.reason]
            else:
                self._foreign_delta(event, pending, frames)
        self._flush(pending, frames)
        return b"".join(frames)

    def _foreign_delta(self, event: StreamEvent, pending: dict[int, JSONDict], frames: list[bytes]) -> None:
        if isinstance(event, RoleStart):
            delta = self._delta(pending, event.choice, frames)
            if delta.get("role") == "assistant":
                delta.setdefault("content", "")
        elif isinstance(event, TextDelta):
            delta = self._delta(pending, event.choice, frames)
            delta["content"] = delta.get("content", "") + event.text
        elif isinstance(event, ReasoningDelta):
            if event.text:  # signatures and redacted thinking have no place in OpenAI chat
                delta = self._delta(pending, event.choice, frames)
                delta["reasoning_content"] = delta.get("reasoning_content", "") + event.text
        elif isinstance(event, RefusalDelta):
            delta = self._delta(pending, event.choice, frames)
            delta["refusal"] = delta.get("refusal", "") + event.text
        elif isinstance(event, ToolCallStart):
            delta = self._delta(pending, event.choice, frames)
            wire = self._open_tool(event.choice, event.index)
            function = {"name": event.name, "arguments": ""}
            delta.setdefault("tool_calls", []).append(
                {"index": wire, "id": event.id, "type": "function", "function": function}
            )
        elif isinstance(event, ToolCallDelta) and event.arguments:
            delta = self._delta(pending, event.choice, frames)
            wire = self._tool(event.choice, event.index)
            fragments: list[JSONDict] = delta.setdefault("tool_calls", [])
            for fragment in fragments:
                if fragment["index"] == wire:
                    fragment["function"]["arguments"] += event.arguments
                    return
            fragments.append({"index": wire, "function": {"arguments": event.arguments}})

    def _entry(self, pending: dict[int, JSONDict], choice: int) -> JSONDict:
        """The choice's entry in the chunk being built; a choice's first entry carries the role.

        Lower choices that never appeared are introduced too: the SDK places the choices of the
        first chunk by list position.
        """
        if choice not in self._started:
            for index in (*range(min(choice, _MAX_CHOICES)), choice):
                if index not in self._started:
                    self._started.add(index)
                    pending.setdefault(index, _new_entry(index))["delta"]["role"] = "assistant"
        entry = pending.get(choice)
        if entry is None:
            entry = pending[choice] = _new_entry(choice)
        return entry

    def _delta(self, pending: dict[int, JSONDict], choice: int, frames: list[bytes]) -> JSONDict:
        entry = self._entry(pending, choice)
        if entry["finish_reason"] is not None:  # content after a finish: it needs a new chunk
            self._flush(pending, frames)
            entry = self._entry(pending, choice)
        delta: JSONDict = entry["delta"]
        return delta

    def _flush(self, pending: dict[int, JSONDict], frames: list[bytes]) -> None:
        if not pending:
            return
        chunk = self._base()
        chunk["choices"] = [pending[i] for i in sorted(pending)]
        if self._include_usage:
            chunk["usage"] = None  # OpenAI's chunks say so when usage comes at the end
        frames.append(self._frame(chunk))
        pending.clear()


def _native_choices(entries: dict[int, JSONDict], residuals: object) -> list[JSONDict]:
    """The chunk's choices in the order the upstream sent them, with their residuals merged."""
    out: list[JSONDict] = []
    if isinstance(residuals, list):
        for residual in residuals:
            if not isinstance(residual, dict):
                continue
            index = residual.get("index")
            entry = entries.pop(index, None) if isinstance(index, int) else None
            if entry is None:
                entry = _new_entry(index) if isinstance(index, int) else {"index": index, "delta": {}}
                entry.setdefault("finish_reason", None)
            for key, value in residual.items():
                if key == "delta" and isinstance(value, dict):
                    _merge_delta(entry["delta"], value)
                elif key not in ("index", "finish_reason"):
                    entry[key] = value
            out.append(entry)
    out.extend(entries[i] for i in sorted(entries))
    return out


def _merge_delta(delta: JSONDict, residual: JSONDict) -> None:
    for key, value in residual.items():
        if key == "tool_calls" and isinstance(value, list):
            for fragment, leftover in zip(delta.get("tool_calls") or [], value, strict=False):
                _merge_fragment(fragment, leftover)
        else:
            delta.setdefault(key, value)


def _merge_fragment(fragment: JSONDict, leftover: object) -> None:
    if not isinstance(leftover, dict):
        return
    for key, value in leftover.items():
        if key == "function" and isinstance(value, dict):
            function = fragment.setdefault("function", {})
            for name, item in value.items():
                function.setdefault(name, item)
        else:
            fragment.setdefault(key, value)
