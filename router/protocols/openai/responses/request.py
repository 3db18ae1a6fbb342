"""A CreateResponse body to the neutral request (TRANSLATION §9.1, §9.6), and back.

Read: ``instructions`` lead as a system message (this request's only: a previous response's are
not carried over, the handler expands ``previous_response_id`` into ``input`` before reading);
``input`` as in :mod:`.items`; tools as in :mod:`.tools` (function and custom tools, namespaces
flattened, the tools of ``additional_tools`` items; OpenAI's built-in tools as ``Tool.builtin``,
which the router leaves out where the upstream cannot run them); ``tool_choice`` and
``parallel_tool_calls`` only travel with function tools (chat upstreams reject them alone);
``text.format`` is the flat ``json_schema``/``json_object``; ``reasoning.effort`` is the effort and
a ``summary`` asks for the thoughts; ``max_output_tokens``, ``temperature``, ``top_p`` as they are;
``user`` or else ``safety_identifier`` is the end user. ``store``, ``metadata``, ``include`` and the
other fields are the gateway's (stored, echoed), not the upstream's: they stay in ``extra``, which
no other dialect's writer sends (Codex's ``client_metadata``, ``prompt_cache_key``, ``text.verbosity``
and ``reasoning.context`` go no further).

Refused with a 400: ``background`` (no job runner behind a chat upstream), ``conversation``
objects and stored ``prompt`` templates (OpenAI-side state a chat upstream does not have).

Written (a Responses upstream serving another protocol's caller): the same fields the other way,
system and developer messages as ``instructions``/``developer`` items, ``store: false`` (the
caller's protocol keeps its own history).
"""

from __future__ import annotations

from typing import Any, Final, cast

from ....ir import (
    ChatRequest,
    FilePart,
    ImagePart,
    JSONDict,
    Message,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    RefusalPart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from ...common import (
    Malformed,
    data_url,
    invalid,
    obj,
    opt_bool,
    opt_dict,
    opt_int,
    opt_list,
    opt_num,
    opt_str,
    put,
    reject_builtin_tools,
    reject_opaque,
    req_dict,
    req_list,
    req_str,
    wrong,
)
from .items import input_items, read_items
from .tools import read_tools

DIALECT: Final = "openai.responses"
EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_SUMMARIES: Final = ("auto", "concise", "detailed")
_TAKEN: Final = (
    "model",
    "input",
    "instructions",
    "stream",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "user",
)


# ---------------------------------------------------------------------------- reading


def read_request(body: JSONDict) -> ChatRequest:
    model = req_str(body, "model", "")
    if not model:
        raise Malformed("model", "Invalid value for 'model': it must not be empty.")
    _refuse_openai_state(body)
    messages: list[Message] = []
    instructions = opt_str(body, "instructions", "")
    if instructions:
        messages.append(Message("system", [TextPart(instructions)], as_text=True))
    items = input_items(body)
    messages += read_items(items)
    if not any(m.role != "system" for m in messages):
        raise Malformed("input", "Missing required parameter: 'input'.")
    request = ChatRequest(model=model, messages=messages, dialect=DIALECT)
    request.stream = opt_bool(body, "stream", "") is True
    request.max_output_tokens = opt_int(body, "max_output_tokens", "")
    request.temperature = opt_num(body, "temperature", "")
    request.top_p = opt_num(body, "top_p", "")
    tools = read_tools(body, items)
    choice = body.get("tool_choice")
    tool_choice = None if choice is None else _read_tool_choice(choice)
    parallel = opt_bool(body, "parallel_tool_calls", "")
    if tools:  # chat upstreams take neither a tool choice nor parallel_tool_calls without tools
        request.tools, request.tool_choice, request.parallel_tool_calls = tools, tool_choice, parallel
    request.response_format = _read_text(body)
    request.reasoning = _read_reasoning(body)
    user = opt_str(body, "user", "")
    request.user = user if user is not None else opt_str(body, "safety_identifier", "")
    metadata = opt_dict(body, "metadata", "")
    for key, value in (metadata or {}).items():
        if not isinstance(value, str):
            raise wrong(f"metadata.{key}", "a string", value)
    for key in ("store", "background"):
        opt_bool(body, key, "")
    opt_str(body, "previous_response_id", "")
    opt_list(body, "include", "")
    request.extra = {k: v for k, v in body.items() if k not in _TAKEN}
    return request


def _refuse_openai_state(body: JSONDict) -> None:
    if opt_bool(body, "background", ""):
        raise Malformed(
            "background",
            "Background responses are not available for this model: its upstream is not OpenAI's "
            "Responses API. Send the request without 'background' (stream it to see progress).",
        )
    if body.get("conversation") is not None:
        raise Malformed(
            "conversation",
            "Conversation objects are not available for this model; continue a conversation with "
            "'previous_response_id' instead.",
        )
    if body.get("prompt") is not None:
        raise Malformed("prompt", "Stored prompt templates are not available for this model.")


def _read_tool_choice(value: object) -> ToolChoice:
    path = "tool_choice"
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise invalid(path, value, ("auto", "none", "required"))
        return ToolChoice(cast(Any, value))
    choice = obj(value, path)
    kind = req_str(choice, "type", path)
    if kind in ("function", "custom"):  # a custom tool is written as a function where there are none
        return ToolChoice("tool", name=req_str(choice, "name", path))
    if kind == "allowed_tools":
        mode = req_str(choice, "mode", path)
        if mode not in ("auto", "required"):
            raise invalid(f"{path}.mode", mode, ("auto", "required"))
        names: list[str] = []
        for i, raw in enumerate(req_list(choice, "tools", path)):
            entry = obj(raw, f"{path}.tools[{i}]")
            entry_type = req_str(entry, "type", f"{path}.tools[{i}]")
            if entry_type not in ("function", "custom"):
                raise _builtin_choice(f"{path}.tools[{i}].type", entry_type)
            names.append(req_str(entry, "name", f"{path}.tools[{i}]"))
        return ToolChoice(cast(Any, mode), allowed=names)
    raise _builtin_choice(f"{path}.type", kind)


def _builtin_choice(path: str, kind: str) -> Malformed:
    return Malformed(
        path,
        f"The tool choice '{kind}' names a tool built into OpenAI's Responses API, which this model's "
        "upstream cannot run; choose 'auto', 'none', 'required' or a function.",
    )


def _read_text(body: JSONDict) -> ResponseFormat | None:
    text = opt_dict(body, "text", "")
    if text is None:
        return None
    verbosity = opt_str(text, "verbosity", "text")
    if verbosity is not None and verbosity not in ("low", "medium", "high"):
        raise invalid("text.verbosity", verbosity, ("low", "medium", "high"))
    spec = opt_dict(text, "format", "text")
    if spec is None:
        return None
    kind = req_str(spec, "type", "text.format")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise invalid("text.format.type", kind, ("text", "json_object", "json_schema"))
    path = "text.format"
    return ResponseFormat(
        "json_schema",
        req_str(spec, "name", path),
        req_dict(spec, "schema", path),
        opt_bool(spec, "strict", path),
        opt_str(spec, "description", path),
    )


def _read_reasoning(body: JSONDict) -> Reasoning | None:
    spec = opt_dict(body, "reasoning", "")
    if spec is None:
        return None
    effort = opt_str(spec, "effort", "reasoning")
    if effort is not None and effort not in EFFORTS:
        raise invalid("reasoning.effort", effort, EFFORTS)
    summary = opt_str(spec, "summary", "reasoning") or opt_str(spec, "generate_summary", "reasoning")
    if summary is not None and summary not in _SUMMARIES:
        raise invalid("reasoning.summary", summary, _SUMMARIES)
    if effort is None and summary is None:
        return None
    return Reasoning(cast(ReasoningEffort | None, effort), include_thoughts=True if summary else None)


# ---------------------------------------------------------------------------- writing


def write_request(request: ChatRequest) -> JSONDict:
    """A CreateResponse for a Responses upstream (stateless: ``store: false``)."""
    reject_builtin_tools(request.tools, "an OpenAI Responses upstream")
    reject_opaque(request, "an OpenAI Responses upstream")
    out: JSONDict = {"model": request.model}
    instructions: list[str] = []
    items: list[JSONDict] = []
    for message in request.messages:
        if message.role == "system" and not items:
            instructions.append(message.text())
        else:
            items.extend(_write_message(message))
    if instructions:
        out["instructions"] = "\n\n".join(instructions)
    out["input"] = items
    out["store"] = False
    if request.stream:
        out["stream"] = True
    put(out, "max_output_tokens", request.max_output_tokens)
    put(out, "temperature", request.temperature)
    put(out, "top_p", request.top_p)
    if request.tools:
        out["tools"] = [_write_tool(t) for t in request.tools]
        put(out, "tool_choice", _write_tool_choice(request.tool_choice))
        put(out, "parallel_tool_calls", request.parallel_tool_calls)
    spec = request.response_format
    if spec is not None and spec.type != "text":
        out["text"] = {"format": _write_format(spec)}
    reasoning = request.reasoning
    if reasoning is not None and (reasoning.effort is not None or reasoning.include_thoughts):
        written: JSONDict = {}
        put(written, "effort", reasoning.effort)
        if reasoning.include_thoughts:
            written["summary"] = "auto"
        out["reasoning"] = written
    if request.user is not None:
        out["safety_identifier"] = request.user
    return out


def _write_message(message: Message) -> list[JSONDict]:
    if message.role == "assistant":
        return _write_assistant(message)
    if message.role == "tool" or any(isinstance(p, ToolResult) for p in message.parts):
        return [_write_result(p) for p in message.parts if isinstance(p, ToolResult)]
    parts = [w for p in message.parts if (w := _write_input_part(p)) is not None]
    return [{"type": "message", "role": message.role, "content": parts}]


def _write_assistant(message: Message) -> list[JSONDict]:
    items: list[JSONDict] = []
    text: list[str] = []

    def flush() -> None:  # an easy message: its text as a string (the spec's input form)
        if text:
            items.append({"type": "message", "role": "assistant", "content": "".join(text)})
            text.clear()

    for part in message.parts:
        if isinstance(part, TextPart | RefusalPart):
            text.append(part.text)
        elif isinstance(part, ToolCall):
            flush()
            items.append(
                {"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments}
            )
        elif isinstance(part, ReasoningPart):
            flush()
            encrypted = part.extra.get("encrypted_content")
            if isinstance(encrypted, str):  # an OpenAI upstream's own, given back as it came
                summary = [{"type": "summary_text", "text": part.text}] if part.text else []
                items.append({"type": "reasoning", "summary": summary, "encrypted_content": encrypted})
    flush()
    return items


def _write_result(result: ToolResult) -> JSONDict:
    if result.as_text or all(isinstance(p, TextPart) for p in result.content):
        output: str | list[JSONDict] = "".join(p.text for p in result.content if isinstance(p, TextPart))
    else:
        output = [w for p in result.content if (w := _write_input_part(p)) is not None]
    return {"type": "function_call_output", "call_id": result.call_id, "output": output}


def _write_input_part(part: object) -> JSONDict | None:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        url = data_url(part.media_type, part.data_b64) if part.data_b64 is not None else part.url
        if url is None:
            return None
        return {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
    if isinstance(part, FilePart):
        if part.text is not None:
            return {"type": "input_text", "text": part.text}
        out: JSONDict = {"type": "input_file"}
        put(out, "filename", part.filename)
        if part.data_b64 is not None:
            out["file_data"] = data_url(part.media_type, part.data_b64)
        put(out, "file_url", part.url)
        put(out, "file_id", part.file_id)
        return out
    return None


def _write_tool(tool: Tool) -> JSONDict:
    out: JSONDict = {"type": "function", "name": tool.name}
    put(out, "description", tool.description)
    out["parameters"] = tool.parameters
    out["strict"] = tool.strict if tool.strict is not None else False
    return out


def _write_tool_choice(choice: ToolChoice | None) -> str | JSONDict | None:
    if choice is None:
        return None
    if choice.allowed is not None and choice.mode in ("auto", "required"):
        tools = [{"type": "function", "name": name} for name in choice.allowed]
        return {"type": "allowed_tools", "mode": choice.mode, "tools": tools}
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name} if choice.name else "required"
    return choice.mode


def _write_format(spec: ResponseFormat) -> JSONDict:
    if spec.type == "json_object":
        return {"type": "json_object"}
    out: JSONDict = {"type": "json_schema", "name": spec.name or "output", "schema": spec.schema or {}}
    put(out, "description", spec.description)
    put(out, "strict", spec.strict)
    return out
