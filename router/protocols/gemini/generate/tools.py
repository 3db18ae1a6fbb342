"""Tools and the tool config, read and written.

Reading: each ``functionDeclarations`` entry is a neutral Tool; its ``parametersJsonSchema`` is the
Tool's parameters as they are, a ``parameters`` Schema the JSON Schema it means (``schema``), its
original kept in the residual and given back while the neutral schema still says the same. Every
other key of a wire Tool (``googleSearch``, ``codeExecution``, ``urlContext``, ``googleMaps``,
``fileSearch``, ...) is a Tool whose ``builtin`` and name are that key and whose residual is its
config: a writer of this dialect gives it back, writers of other dialects reject it. Neutral tools
after the first of one wire Tool carry ``CONTINUES``, so that the wire grouping comes back.

``toolConfig.functionCallingConfig`` (TRANSLATION §6.5): ``NONE`` is ``none``; ``ANY`` is
``required``, or ``tool`` with one allowed name; ``AUTO``, ``VALIDATED`` and an unspecified mode are
``auto`` (a mode other than the canonical one stays in the residual); ``allowedFunctionNames`` is
the neutral ``allowed``.

Writing another dialect's tools: one wire Tool with every function declaration (``parameters`` or
``parametersJsonSchema`` per ``schema.function_parameters``; ``description`` always, as the spec
requires it); a tool choice ``allowed`` list filters the declarations when the mode is ``auto``
(``allowedFunctionNames`` only goes with ``ANY``); ``strict`` has no Gemini switch and is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from ....ir import ChatRequest, JSONDict, Tool, ToolChoice
from ...common import (
    WEB_SEARCH,
    Malformed,
    hosted_kind,
    obj,
    opt_dict,
    opt_list,
    opt_str,
    reject_builtin_tools,
    req_str,
    take,
    without,
    wrong,
)
from .proto_json import CONTINUES, NO_MODE, clean, enum_name, fields, unsupported
from .schema import camel_schema, function_parameters, json_schema, lower_types

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_MODES: Final = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")
_MODE_FROM_WIRE: Final[Mapping[str, Literal["auto", "none", "required"]]] = MappingProxyType(
    {"MODE_UNSPECIFIED": "auto", "AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
)
_MODE_TO_WIRE: Final[Mapping[str, str]] = MappingProxyType(
    {"auto": "AUTO", "required": "ANY", "tool": "ANY", "none": "NONE"}
)


# ---------------------------------------------------------------------------- reading


def read_tool_fields(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    tools = opt_list(body, "tools", "")
    if tools is not None:
        request.tools = [t for i, raw in enumerate(tools) for t in _read_tool(raw, f"tools[{i}]")]
        del rest["tools"]
    config = body.get("toolConfig")
    if config is None:
        return
    tool_config = fields(config, "toolConfig")
    inner = dict(tool_config)
    calling = opt_dict(tool_config, "functionCallingConfig", "toolConfig")
    if calling is not None:
        request.tool_choice = _read_choice(fields(calling, "toolConfig.functionCallingConfig"))
        del inner["functionCallingConfig"]
    rest["toolConfig"] = inner  # kept even when empty, so that a writer fills the same object


def _read_tool(raw: object, path: str) -> list[Tool]:
    tool = fields(raw, path)
    out: list[Tool] = []
    for key, value in tool.items():
        if key == "functionDeclarations":
            if value is None:
                continue
            if not isinstance(value, list):
                raise wrong(f"{path}.{key}", "an array", value)
            out.extend(_read_declaration(d, f"{path}.{key}[{k}]") for k, d in enumerate(value))
        elif value is not None:
            out.append(Tool(key, extra=dict(obj(value, f"{path}.{key}")), builtin=key))
    for later in out[1:]:
        later.extra[CONTINUES] = True
    return out


def _read_declaration(raw: object, path: str) -> Tool:
    spec = fields(raw, path)
    rest = without(spec, "name")
    name = req_str(spec, "name", path)
    description = take(rest, "description", opt_str(spec, "description", path))
    schema = spec.get("parameters")
    raw_json = spec.get("parametersJsonSchema")
    if schema is not None and raw_json is not None:
        raise Malformed(
            f"{path}.parametersJsonSchema",
            f"Invalid value for '{path}': 'parameters' and 'parametersJsonSchema' are mutually exclusive.",
        )
    parameters = None
    if schema is not None:
        parameters = json_schema(schema, f"{path}.parameters")
        rest["parameters"] = camel_schema(schema)  # the original stays, given back while it agrees
    elif raw_json is not None:
        parameters = lower_types(obj(raw_json, f"{path}.parametersJsonSchema"))
        del rest["parametersJsonSchema"]
    return Tool(name, description, parameters, extra=rest)


def _read_choice(calling: JSONDict) -> ToolChoice:
    path = "toolConfig.functionCallingConfig"
    rest = dict(calling)
    mode = enum_name(calling, "mode", path, _MODES)
    names = opt_list(calling, "allowedFunctionNames", path)
    if names is not None:
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise wrong(f"{path}.allowedFunctionNames[{i}]", "a string", name)
        del rest["allowedFunctionNames"]
    if mode is None:
        rest[NO_MODE] = True
    neutral = _MODE_FROM_WIRE[mode or "AUTO"]
    if mode is not None and _MODE_TO_WIRE[neutral] == calling["mode"]:
        del rest["mode"]  # canonical: the neutral mode gives it back
    if neutral == "required" and names is not None and len(names) == 1:
        return ToolChoice("tool", name=names[0], extra=rest)
    return ToolChoice(neutral, allowed=None if names is None else list(names), extra=rest)


# ---------------------------------------------------------------------------- writing: native


def write_native_tool_fields(out: JSONDict, request: ChatRequest) -> None:
    if request.tools is not None:
        out["tools"] = _write_native_tools(request.tools)
    had = isinstance(out.get("toolConfig"), dict)
    config = clean(out["toolConfig"]) if had else {}
    if request.tool_choice is not None:
        config["functionCallingConfig"] = _write_native_choice(request.tool_choice)
    if config or had:
        out["toolConfig"] = config


def _write_native_tools(tools: list[Tool]) -> list[JSONDict]:
    out: list[JSONDict] = []
    for tool in tools:
        if not out or not tool.extra.get(CONTINUES):
            out.append({})
        wire = out[-1]
        if tool.builtin is not None:
            wire[tool.builtin] = clean(tool.extra)
        else:
            wire.setdefault("functionDeclarations", []).append(_write_native_declaration(tool))
    return out


def _write_native_declaration(tool: Tool) -> JSONDict:
    out = clean(tool.extra)
    out["name"] = tool.name
    if tool.description is not None:
        out["description"] = tool.description
    original = out.get("parameters")
    if original is not None:
        try:
            same = json_schema(original, "parameters") == tool.parameters
        except Malformed:
            same = False
        if same:
            return out
        del out["parameters"]
    if tool.parameters is not None:
        out["parametersJsonSchema"] = tool.parameters
    return out


def _write_native_choice(choice: ToolChoice) -> JSONDict:
    out = clean(choice.extra)
    mode = _MODE_TO_WIRE[choice.mode]
    original = out.get("mode")
    agrees = isinstance(original, str) and _MODE_FROM_WIRE.get(original.upper()) == (
        "required" if choice.mode == "tool" else choice.mode
    )
    if not agrees and not (choice.extra.get(NO_MODE) and mode == "AUTO"):
        out["mode"] = mode
    if choice.mode == "tool" and choice.name is not None:
        out["allowedFunctionNames"] = [choice.name]
    elif choice.allowed is not None:
        out["allowedFunctionNames"] = list(choice.allowed)
    return out


# ---------------------------------------------------------------------------- writing: foreign


def write_foreign_tools(tools: list[Tool] | None, choice: ToolChoice | None) -> list[JSONDict] | None:
    """Another dialect's tools as one wire Tool (see the module docstring)."""
    reject_builtin_tools(tools, "a Gemini upstream", frozenset({WEB_SEARCH}))
    if not tools:
        return None
    allowed = None
    if choice is not None and choice.mode == "auto" and choice.allowed is not None:
        allowed = set(choice.allowed)
    declarations = [
        _write_foreign_declaration(t, f"tools[{i}]")
        for i, t in enumerate(tools)
        if t.builtin is None and (allowed is None or t.name in allowed)
    ]
    out: list[JSONDict] = [{"functionDeclarations": declarations}] if declarations else []
    if any(hosted_kind(t) == WEB_SEARCH for t in tools):  # grounding with Google Search
        out.append({"googleSearch": {}})
    return out or None


def _write_foreign_declaration(tool: Tool, path: str) -> JSONDict:
    if tool.extra.get("type") == "custom":
        raise unsupported(f"The custom (free-text) tool '{tool.name}' has no Gemini equivalent.", path)
    if not _NAME.fullmatch(tool.name):
        raise unsupported(
            "Gemini upstreams need function names of at most 128 letters, digits, '_', '.', ':' or '-', "
            f"starting with a letter or '_', not '{tool.name}'.",
            f"{path}.name",
        )
    out: JSONDict = {"name": tool.name, "description": tool.description or ""}
    parameters = function_parameters(tool.parameters, path)
    if parameters is not None:
        out[parameters[0]] = parameters[1]
    return out


def write_foreign_tool_config(choice: ToolChoice | None) -> JSONDict | None:
    """``toolConfig`` for another dialect's tool choice (call only when tools are written)."""
    if choice is None:
        return None
    calling: JSONDict = {"mode": _MODE_TO_WIRE[choice.mode]}
    if choice.mode == "tool" and choice.name is not None:
        calling["allowedFunctionNames"] = [choice.name]
    elif choice.mode == "required" and choice.allowed is not None:
        calling["allowedFunctionNames"] = list(choice.allowed)
    return {"functionCallingConfig": calling}
