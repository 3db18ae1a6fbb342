"""Tools of a CreateResponse for a chat upstream: function and custom tools, namespaces, and the
tools that input items add.

A ``namespace`` groups function and custom tools the client runs itself (Codex's
``multi_agent_v1``, ``functions``, MCP servers): each becomes a tool of its own named
``<namespace>__<name>`` (:func:`flat_name`), and a call of that name goes back to the client as a
call of ``name`` in its namespace (:class:`CalledTools`, read from the request's own tools, so the
mapping never guesses); a custom (free-text) tool, offered as a function of one string, is called
back as a ``custom_tool_call`` with that string. An ``additional_tools`` input item (Codex's way
with newer models) and a ``tool_search_output`` item add their tools to the request's. Every
other tool type is built into OpenAI's API and is kept as a ``Tool.builtin`` (its wire type); the
router leaves out those the upstream cannot run natively (``web_search`` runs on Anthropic and
Gemini upstreams).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ....ir import JSONDict, Tool
from ...common import CUSTOM_INPUT, obj, opt_bool, opt_dict, opt_list, opt_str, req_list, req_str

NAMESPACE: Final = "namespace"  # Tool.extra key: the namespace a flattened tool belongs to
SEPARATOR: Final = "__"
TOOL_ITEMS: Final = ("additional_tools", "tool_search_output")  # input items that carry tools


def flat_name(namespace: str, name: str) -> str:
    """The name a namespaced tool is offered under to a chat upstream."""
    return f"{namespace}{SEPARATOR}{name}"


def read_tools(body: JSONDict, items: list[Any]) -> list[Tool]:
    """The request's tools: ``tools``, then those of its tool-carrying input items."""
    tools: list[Tool] = []
    for i, raw in enumerate(opt_list(body, "tools", "") or ()):
        tools += read_tool(raw, f"tools[{i}]")
    for i, raw in enumerate(items):
        if isinstance(raw, dict) and raw.get("type") in TOOL_ITEMS:
            path = f"input[{i}]"
            for j, tool in enumerate(req_list(raw, "tools", path)):
                tools += read_tool(tool, f"{path}.tools[{j}]")
    seen: set[str] = set()
    unique = []  # a tool offered twice (in tools and again by an item) is offered once
    for tool in tools:
        if tool.name not in seen:
            seen.add(tool.name)
            unique.append(tool)
    return unique


def read_tool(raw: object, path: str) -> list[Tool]:
    """One wire tool as neutral tools (a namespace as its members)."""
    tool = obj(raw, path)
    kind = req_str(tool, "type", path)
    if kind == NAMESPACE:
        namespace = req_str(tool, "name", path)
        members: list[Tool] = []
        for i, member in enumerate(req_list(tool, "tools", path)):
            for read in read_tool(member, f"{path}.tools[{i}]"):
                read.extra[NAMESPACE] = namespace
                read.name = flat_name(namespace, read.name)
                members.append(read)
        return members
    if kind == "custom":  # free text: written as a function of one string where there are none
        extra = {k: v for k, v in tool.items() if k not in ("name", "description")}
        return [Tool(req_str(tool, "name", path), opt_str(tool, "description", path), extra=extra)]
    if kind != "function":  # built into OpenAI's API
        name = tool.get("name") if isinstance(tool.get("name"), str) else kind
        return [Tool(str(name), extra=dict(tool), builtin=kind)]
    extra = {
        k: v for k, v in tool.items() if k not in ("type", "name", "description", "parameters", "strict")
    }
    return [
        Tool(
            req_str(tool, "name", path),
            opt_str(tool, "description", path),
            opt_dict(tool, "parameters", path),
            opt_bool(tool, "strict", path),
            extra=extra,
        )
    ]


class CalledTools:
    """How a call of each of a request's tools goes back to the client: a namespaced function's
    flattened name as its namespace and name, a custom tool's call as a ``custom_tool_call``."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._names: dict[str, tuple[str | None, str]] = {}
        self._custom: set[str] = set()
        for tool in tools or ():
            namespace = tool.extra.get(NAMESPACE)
            if isinstance(namespace, str):
                self._names[tool.name] = (namespace, tool.name[len(namespace) + len(SEPARATOR) :])
            if tool.extra.get("type") == "custom":
                self._custom.add(tool.name)

    def split(self, name: str) -> tuple[str | None, str]:
        """``(namespace, name)`` of a called tool (``(None, name)`` for a tool of no namespace)."""
        return self._names.get(name, (None, name))

    def is_custom(self, name: str) -> bool:
        """Whether the called tool takes free text (its call is a ``custom_tool_call``)."""
        return name in self._custom


def custom_input(arguments: str) -> str:
    """A custom tool's free-text input from the arguments of its function form (``{"input": …}``)."""
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    value = parsed.get(CUSTOM_INPUT) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else arguments
