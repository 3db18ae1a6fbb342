"""Tools and the tool choice, read and written, with their deprecated spellings (``functions``,
``function_call``)."""

from __future__ import annotations

from typing import Any, cast

from ....ir import ChatRequest, JSONDict, Tool, ToolChoice
from ...common import reject_builtin_tools
from .residual import _drop_stale, _nest, _put, _sub, _take, _take_pair, _tool_kind, _without, _write_pair
from .validate import (
    _invalid,
    _obj,
    _opt_bool,
    _opt_dict,
    _opt_list,
    _opt_str,
    _req_dict,
    _req_list,
    _req_str,
    _wrong,
)

# ---------------------------------------------------------------------------- reading


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
    if not isinstance(value, dict):
        raise _wrong(path, "a string or an object", value)
    choice: JSONDict = value
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
    if not isinstance(value, dict):
        raise _wrong("function_call", "a string or an object", value)
    spec: JSONDict = value
    return ToolChoice("tool", name=_req_str(spec, "name", "function_call"))


# ---------------------------------------------------------------------------- writing


def _write_tools(out: JSONDict, tools: list[Tool] | None, native: bool) -> None:
    if not native:
        reject_builtin_tools(tools, "an OpenAI chat upstream")
    if tools is not None and not tools and not native:
        tools = None  # OpenAI rejects an empty tools array
    current = None if tools is None else [_write_tool(t, native) for t in tools]
    legacy = None if tools is None else [_write_function(t, native) for t in tools]
    _write_pair(out, current, "tools", "functions", legacy)


def _write_tool(tool: Tool, native: bool) -> JSONDict:
    extra = tool.extra if native else {}
    out = dict(extra)
    kind, spec = _tool_kind(extra)
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
        kind, spec = _tool_kind(extra)
        spec["name"] = choice.name
        return {**extra, "type": kind, kind: spec}
    return "required" if choice.mode == "tool" else choice.mode


def _allowed_names(tools: list[Any]) -> list[str | None]:
    names: list[str | None] = []
    for item in tools:
        spec = item.get(item.get("type")) if isinstance(item, dict) else None
        names.append(spec.get("name") if isinstance(spec, dict) else None)
    return names
