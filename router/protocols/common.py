"""Helpers every JSON codec shares: shape checks that name a field by its path, residuals, and
``data:`` URLs. Nothing here knows a protocol.

Shape checks raise ``Malformed`` naming the offending field by its path (``messages[2].role``);
a codec turns it into a 400 for a caller's request, a 502 for an upstream's response, or a
``StreamFailure`` in a stream.

``drop_hosted_tools`` leaves out the built-in tools an upstream cannot run (``hosted_kind`` says
which it can); ``reject_builtin_tools`` is the one check every writer of a foreign request makes
on the tools left, ``reject_opaque`` the one on content its reader could only keep verbatim,
``reject_refused`` the one on fields the upstream's kind refuses;
``failure_error`` turns a stream's failure back into the error a stream writer reports;
``own_signature`` keeps a reasoning signature only for the provider that made it; ``fill_slots``
puts opaque items back among written parts.

Residuals keep what the neutral form cannot hold, shaped like the JSON it came from: a reader
copies an object and takes out of the copy what the neutral form holds (``take``, ``nest``,
``without``); a writer of its own dialect starts from that copy and writes the neutral values over
it (``sub``, ``put``, ``drop_stale``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import orjson

from ..capabilities import NO_REFUSALS, Capabilities, Refusal
from ..errors import ErrorCode, GatewayError, code_for_status
from ..ir import ChatRequest, JSONDict, StreamFailure, Tool

_MAX_SHOWN: Final = 100  # characters of an offending value quoted in a message

_T = TypeVar("_T")


# ---------------------------------------------------------------------------- shape checks


class Malformed(Exception):
    """A JSON value of the wrong shape; ``param`` is its path (``messages[2].role``)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def json_type(value: object) -> str:
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
    return "an array" if isinstance(value, list) else "an object"


def shown(value: object) -> str:
    """A value as the client sent it (JSON), cut short when long."""
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # not from a JSON parse (an integer beyond 64 bits, ...)
        text = json_type(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}…"


def compact_json(value: object, path: str) -> str:
    """``value`` (from a JSON parse) as compact JSON text; a value orjson cannot write again
    (nested more than 255 levels deep, an integer beyond 64 bits) is malformed."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        raise Malformed(
            path, f"Invalid value for '{path}': it is nested too deeply or holds a number out of range."
        ) from None


def join_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def wrong(path: str, expected: str, value: object) -> Malformed:
    got = json_type(value)
    return Malformed(path, f"Invalid type for '{path}': expected {expected}, but got {got} instead.")


def invalid(path: str, value: object, allowed: tuple[str, ...]) -> Malformed:
    listed = ", ".join(shown(a) for a in allowed)
    return Malformed(path, f"Invalid value for '{path}': {shown(value)}. Supported values are: {listed}.")


def obj(value: object, path: str) -> JSONDict:
    if not isinstance(value, dict):
        raise wrong(path, "an object", value)
    return value


def required(obj: JSONDict, key: str, parent: str) -> None:
    if key not in obj:
        path = join_path(parent, key)
        raise Malformed(path, f"Missing required parameter: '{path}'.")


def opt_str(obj: JSONDict, key: str, parent: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise wrong(join_path(parent, key), "a string", value)


def req_str(obj: JSONDict, key: str, parent: str) -> str:
    required(obj, key, parent)
    value = opt_str(obj, key, parent)
    if value is None:
        raise wrong(join_path(parent, key), "a string", None)
    return value


def opt_int(obj: JSONDict, key: str, parent: str) -> int | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise wrong(join_path(parent, key), "an integer", value)


def opt_num(obj: JSONDict, key: str, parent: str) -> float | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise wrong(join_path(parent, key), "a number", value)


def opt_bool(obj: JSONDict, key: str, parent: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong(join_path(parent, key), "a boolean", value)


def opt_dict(obj: JSONDict, key: str, parent: str) -> JSONDict | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise wrong(join_path(parent, key), "an object", value)


def req_dict(obj: JSONDict, key: str, parent: str) -> JSONDict:
    required(obj, key, parent)
    value = opt_dict(obj, key, parent)
    if value is None:
        raise wrong(join_path(parent, key), "an object", None)
    return value


def opt_list(obj: JSONDict, key: str, parent: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, list):
        return value
    raise wrong(join_path(parent, key), "an array", value)


def req_list(obj: JSONDict, key: str, parent: str) -> list[Any]:
    required(obj, key, parent)
    value = opt_list(obj, key, parent)
    if value is None:
        raise wrong(join_path(parent, key), "an array", None)
    return value


# ---------------------------------------------------------------------------- residuals


def take(rest: JSONDict, key: str, value: _T | None) -> _T | None:
    """``value`` (read from ``key``); the key leaves the residual when the neutral form holds it."""
    if value is not None:
        rest.pop(key, None)
    return value


def nest(rest: JSONDict, key: str, leftover: JSONDict) -> None:
    """Keep a nested object's leftovers under its key, or drop the key when nothing is left."""
    if leftover:
        rest[key] = leftover
    else:
        rest.pop(key, None)


def without(obj: JSONDict, *keys: str) -> JSONDict:
    return {k: v for k, v in obj.items() if k not in keys}


def sub(obj: JSONDict, key: str) -> JSONDict:
    """A copy of the nested residual under ``key`` (empty when there is none)."""
    value = obj.get(key)
    return dict(value) if isinstance(value, dict) else {}


def put(out: JSONDict, key: str, value: object) -> None:
    if value is not None:
        out[key] = value


def drop_stale(out: JSONDict, *keys: str) -> None:
    """Remove originals kept for a value the neutral form no longer has (nulls stay)."""
    for key in keys:
        if out.get(key) is not None:
            del out[key]


# ---------------------------------------------------------------------------- data URLs


def split_data_url(url: str) -> tuple[str, str] | None:
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


def data_url(media_type: str | None, data: str) -> str:
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


# ---------------------------------------------------------------------------- foreign tools

CUSTOM_INPUT: Final = "input"  # the one parameter of a custom tool written as a function


def is_custom_tool(tool: Tool) -> bool:
    """An OpenAI custom (free-text) tool: its input is text, maybe held to a grammar."""
    return tool.extra.get("type") == "custom"


def as_function_tools(tools: list[Tool] | None) -> list[Tool] | None:
    """Tools for a provider without free-text tools: each custom tool as a function taking one
    string, ``input`` (the shape of Codex's own function form of ``apply_patch``), its format
    (a grammar, say) told in the parameter's description. Its calls come back as function calls
    with that argument."""
    if not tools or not any(is_custom_tool(t) for t in tools):
        return tools
    written: list[Tool] = []
    for tool in tools:
        if not is_custom_tool(tool):
            written.append(tool)
            continue
        fmt = tool.extra.get("custom", {}).get("format") or tool.extra.get("format")
        about = "The tool's whole input, as free text."
        if isinstance(fmt, dict) and fmt.get("type") == "grammar":
            about += f" It must follow this {fmt.get('syntax', '')} grammar:\n{fmt.get('definition', '')}"
        schema = {
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": about}},
            "required": [CUSTOM_INPUT],
        }
        written.append(Tool(tool.name, tool.description, schema, cache=tool.cache))
    return written


WEB_SEARCH: Final = "web_search"  # a hosted web search, run by the upstream itself


def hosted_kind(tool: Tool) -> str | None:
    """What a tool built into a provider's API does, in words shared by every provider that runs
    the same (``web_search``: OpenAI's ``web_search``/``web_search_preview``, Anthropic's
    ``web_search_20250305``, Gemini's ``googleSearch``); its wire type for any other; None for a
    tool the client runs."""
    builtin = tool.builtin
    if builtin is None:
        return None
    if builtin.startswith("web_search") or builtin in ("googleSearch", "google_search"):
        return WEB_SEARCH
    return builtin


def drop_hosted_tools(request: ChatRequest, runs: frozenset[str]) -> list[str]:
    """Leaves out of ``request`` the built-in tools of another provider that the upstream cannot run
    (``runs`` holds the :func:`hosted_kind` of those it can); the names of those left out. A tool
    choice goes with the last tool."""
    tools = request.tools or []
    kept = [t for t in tools if t.builtin is None or hosted_kind(t) in runs]
    if len(kept) == len(tools):
        return []
    dropped = [t.name for t in tools if t not in kept]
    request.tools = kept or None
    if not kept:
        request.tool_choice, request.parallel_tool_calls = None, None
    return dropped


def reject_builtin_tools(tools: list[Tool] | None, upstream: str, runs: frozenset[str] = frozenset()) -> None:
    """Raise a 400 naming the first tool built into another provider's API (``Tool.builtin``)
    that the upstream (``upstream`` names it) does not run as well (``runs``, as in
    :func:`drop_hosted_tools`): a writer of a foreign request cannot give it such a tool."""
    for i, tool in enumerate(tools or ()):
        if tool.builtin is not None and hosted_kind(tool) not in runs:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                f"The tool '{tool.name}' (type '{tool.builtin}') runs inside another provider's API and "
                f"cannot be sent to {upstream}; remove it from 'tools' or use a model of that provider.",
                param=f"tools[{i}]",
            )


def reject_refused(
    fields: JSONDict, capabilities: Capabilities, protocol: Mapping[str, Refusal] = NO_REFUSALS
) -> None:
    """Raise a 400 naming a field of ``fields`` (an OpenAI caller's, kept in a request's ``extra``)
    that the upstream refuses: one its wire ``protocol`` cannot carry (the codec's own table, which
    holds for every kind speaking it), or one its kind refuses besides (``Capabilities.refused``).
    Written without it, the request would be answered without what the caller asked for."""
    for refused in (protocol, capabilities.refused):
        for name, refusal in refused.items():
            if refusal.refuses(fields.get(name)):
                raise GatewayError(ErrorCode.INVALID_REQUEST, refusal.message, param=name)


def reject_opaque(request: ChatRequest, upstream: str) -> None:
    """Raise a 400 naming the content the caller's reader could only keep verbatim
    (``ChatRequest.opaque``): a writer of a foreign request cannot give it to its upstream
    (``upstream`` names it), and dropping it would answer a request that was not the one sent."""
    if request.opaque:
        kinds = ", ".join(f"'{kind}'" for kind in dict.fromkeys(request.opaque))
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"The request holds content of a kind that cannot be translated for {upstream}: {kinds}. "
            "Remove it, or use a model of the provider whose API defines it.",
            param="messages",
        )


# ---------------------------------------------------------------------------- stream failures


def failure_error(failure: StreamFailure) -> GatewayError:
    """The gateway error a StreamFailure stands for, for a writer's terminal error event."""
    try:
        code = ErrorCode(failure.code)
    except ValueError:
        code = code_for_status(failure.status)
    return GatewayError(code, failure.message, status=failure.status)


# ---------------------------------------------------------------------------- signatures


def own_signature(signature: str | None, signer: str | None, dialect: str, *, unsigned: bool) -> str | None:
    """``signature`` when ``dialect`` produced it, else None: a provider rejects another one's
    reasoning signatures. ``unsigned`` says whether a signature of unknown origin (no signer) is
    taken as the dialect's own."""
    if not signature:
        return None
    if signer == dialect or (signer is None and unsigned):
        return signature
    return None


# ---------------------------------------------------------------------------- slot lists


def fill_slots(written: Iterable[JSONDict], slots: object) -> list[Any]:
    """A list of wire parts: ``slots`` (``None`` where a neutral part goes, else an opaque item
    kept as it came) filled with the written parts, in order; parts beyond the slots go last."""
    parts = iter(written)
    if not isinstance(slots, list):
        return list(parts)
    out: list[Any] = []
    for slot in slots:
        if slot is None:
            part = next(parts, None)
            if part is not None:
                out.append(part)
        else:
            out.append(slot)
    out.extend(parts)
    return out
