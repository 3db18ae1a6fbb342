"""Tools and the tool choice, read and written.

A custom tool (``type`` absent, null or ``custom``) is a neutral Tool with its ``input_schema`` as
``parameters``. A server tool (``web_search_20250305``, ``bash_20250124``, ...) is a Tool whose
``builtin`` holds its wire type, its other fields in the residual: a writer of this dialect gives
it back, writers of other dialects reject it (``common.reject_builtin_tools``).

``tool_choice`` maps ``auto``/``any``/``tool``/``none`` to the neutral ``auto``/``required``/
``tool``/``none``, and ``disable_parallel_tool_use`` to ``parallel_tool_calls`` (negated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from ....ir import ChatRequest, JSONDict, Tool, ToolChoice
from ...common import (
    WEB_SEARCH,
    hosted_kind,
    invalid,
    obj,
    opt_bool,
    opt_dict,
    opt_list,
    opt_str,
    put,
    reject_builtin_tools,
    req_dict,
    req_str,
    take,
    without,
)
from .block_fields import cache_control, take_cache, unsupported, write_cache

_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_EMPTY_SCHEMA: Final[JSONDict] = {"type": "object", "properties": {}}

_CHOICE_FROM_WIRE: Final[Mapping[str, Literal["auto", "none", "required", "tool"]]] = MappingProxyType(
    {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}
)
HOSTED: Final = frozenset({WEB_SEARCH})  # the hosted tools of other providers written natively
WEB_SEARCH_TOOL: Final = "web_search_20250305"
_LOCATION: Final = ("city", "region", "country", "timezone")
_CHOICE_TO_WIRE: Final[Mapping[str, str]] = MappingProxyType(
    {"auto": "auto", "required": "any", "tool": "tool", "none": "none"}
)


# ---------------------------------------------------------------------------- reading


def read_tool_fields(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    tools = opt_list(body, "tools", "")
    if tools is not None:
        request.tools = [_read_tool(t, f"tools[{i}]") for i, t in enumerate(tools)]
        del rest["tools"]
    choice = opt_dict(body, "tool_choice", "")
    if choice is not None:
        request.tool_choice, request.parallel_tool_calls = _read_tool_choice(choice)
        del rest["tool_choice"]


def _read_tool(raw: object, path: str) -> Tool:
    tool = obj(raw, path)
    kind = opt_str(tool, "type", path)
    name = req_str(tool, "name", path)
    rest = without(tool, "name")
    cache = take_cache(tool, rest, path)
    if kind is not None and kind != "custom":
        del rest["type"]
        return Tool(name, cache=cache, extra=rest, builtin=kind)
    # a custom tool: its ``type`` (null or "custom") stays in the residual
    schema = req_dict(tool, "input_schema", path)
    del rest["input_schema"]
    description = take(rest, "description", opt_str(tool, "description", path))
    strict = take(rest, "strict", opt_bool(tool, "strict", path))
    return Tool(name, description, schema, strict, cache, rest)


def _read_tool_choice(choice: JSONDict) -> tuple[ToolChoice, bool | None]:
    kind = req_str(choice, "type", "tool_choice")
    if kind not in _CHOICE_FROM_WIRE:
        raise invalid("tool_choice.type", kind, tuple(_CHOICE_FROM_WIRE))
    rest = without(choice, "type")
    name = None
    if kind == "tool":
        name = req_str(choice, "name", "tool_choice")
        del rest["name"]
    disable = take(
        rest, "disable_parallel_tool_use", opt_bool(choice, "disable_parallel_tool_use", "tool_choice")
    )
    parallel = None if disable is None else not disable
    return ToolChoice(_CHOICE_FROM_WIRE[kind], name, extra=rest), parallel


# ---------------------------------------------------------------------------- writing: native


def write_native_tool_fields(out: JSONDict, request: ChatRequest) -> None:
    if request.tools is not None:
        out["tools"] = [_write_native_tool(t) for t in request.tools]
    choice = request.tool_choice
    if choice is None:
        if request.parallel_tool_calls is False and request.tools:
            out["tool_choice"] = {"type": "auto", "disable_parallel_tool_use": True}
        return
    written: JSONDict = {"type": _CHOICE_TO_WIRE[choice.mode], **choice.extra}
    if choice.mode == "tool":
        if choice.name is None:
            written["type"] = "any"
        else:
            written["name"] = choice.name
    if request.parallel_tool_calls is not None:
        written["disable_parallel_tool_use"] = not request.parallel_tool_calls
    out["tool_choice"] = written


def _write_native_tool(tool: Tool) -> JSONDict:
    if tool.builtin is not None:
        out: JSONDict = {"type": tool.builtin, **tool.extra, "name": tool.name}
    else:
        out = {**tool.extra, "name": tool.name}
        put(out, "description", tool.description)
        out["input_schema"] = tool.parameters if tool.parameters is not None else dict(_EMPTY_SCHEMA)
        put(out, "strict", tool.strict)
    write_cache(out, tool.cache, True)
    return out


# ---------------------------------------------------------------------------- writing: foreign


def write_foreign_tools(tools: list[Tool] | None, choice: ToolChoice | None) -> list[JSONDict] | None:
    """Another dialect's tools (only those a tool choice ``allowed`` names, TRANSLATION §4.4)."""
    reject_builtin_tools(tools, "an Anthropic upstream", HOSTED)
    if not tools:
        return None
    allowed = None if choice is None or choice.allowed is None else set(choice.allowed)
    out = [
        _web_search(t) if hosted_kind(t) == WEB_SEARCH else _write_foreign_tool(t, f"tools[{i}]")
        for i, t in enumerate(tools)
        if allowed is None or t.name in allowed or t.builtin is not None
    ]
    return out or None


def _web_search(tool: Tool) -> JSONDict:
    """Another provider's hosted web search as Anthropic's server-side web search tool: OpenAI's
    ``filters.allowed_domains`` and approximate ``user_location`` carried over."""
    out: JSONDict = {"type": WEB_SEARCH_TOOL, "name": "web_search"}
    filters = tool.extra.get("filters")
    domains = filters.get("allowed_domains") if isinstance(filters, dict) else None
    if isinstance(domains, list) and domains:
        out["allowed_domains"] = domains
    location = tool.extra.get("user_location")
    if isinstance(location, dict):
        fields = {k: v for k, v in location.items() if k in _LOCATION and isinstance(v, str) and v}
        if fields:
            out["user_location"] = {"type": "approximate", **fields}
    return out


def _write_foreign_tool(tool: Tool, path: str) -> JSONDict:
    if not _NAME.fullmatch(tool.name):
        raise unsupported(
            f"Anthropic upstreams need tool names of 1 to 128 letters, digits, '_' or '-', "
            f"not '{tool.name}'.",
            f"{path}.name",
        )
    out: JSONDict = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = _input_schema(tool.parameters, path)
    put(out, "strict", tool.strict)
    if tool.cache is not None:
        out["cache_control"] = cache_control(tool.cache)
    return out


def _input_schema(parameters: JSONDict | None, path: str) -> JSONDict:
    """A JSON Schema for ``input_schema``, which must describe an object."""
    if not parameters:
        return dict(_EMPTY_SCHEMA)
    kind = parameters.get("type")
    if kind is None:
        return {"type": "object", **parameters}
    if kind != "object":
        raise unsupported(
            "Anthropic upstreams need each tool's parameters to be a JSON Schema of type 'object'.",
            f"{path}.parameters",
        )
    return parameters


def write_foreign_tool_choice(
    choice: ToolChoice | None, parallel: bool | None, thinking: bool
) -> JSONDict | None:
    """``tool_choice`` for another dialect's choice (call only when tools are written).

    A forced choice (``any``/``tool``) is downgraded to ``auto`` when thinking is on: Anthropic
    rejects the pair. ``parallel_tool_calls: false`` needs a choice object to ride on, and cannot
    ride on ``none``.
    """
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True} if parallel is False else None
    kind = _CHOICE_TO_WIRE[choice.mode]
    if kind == "tool" and choice.name is None:
        kind = "any"
    if thinking and kind in ("any", "tool"):
        kind = "auto"
    out: JSONDict = {"type": kind}
    if kind == "tool":
        out["name"] = choice.name
    if parallel is False and kind != "none":
        out["disable_parallel_tool_use"] = True
    return out
