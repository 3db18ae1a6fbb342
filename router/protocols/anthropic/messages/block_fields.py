"""Small pieces every module of the codec shares: the dialect name, ``cache_control``, tool-use ids,
tool inputs, slot lists (where opaque blocks sit among a content list) and the 400 of a request
an Anthropic upstream cannot honour."""

from __future__ import annotations

import hashlib
import re
from typing import Final

import orjson

from ....errors import ErrorCode, GatewayError
from ....ir import CacheHint, JSONDict
from ...common import compact_json, invalid, obj, opt_str, req_str

DIALECT: Final = "anthropic"

# Marks a neutral message that continues the wire message before it: one Anthropic message may
# become several neutral ones (its tool results go to ``tool`` messages), and a writer of this
# dialect joins them again. Anthropic messages have only ``role`` and ``content``, so the key
# cannot collide with one a caller sent.
CONTINUES: Final = "_continues"

_TTLS: Final = ("5m", "1h")
_ID_OK: Final = re.compile(r"[A-Za-z0-9_-]+")
_ID_BAD: Final = re.compile(r"[^A-Za-z0-9_-]")


# ---------------------------------------------------------------------------- cache_control


def take_cache(block: JSONDict, rest: JSONDict, path: str) -> CacheHint | None:
    """``cache_control`` as a CacheHint; a non-canonical original (unknown keys, a null ttl) stays
    in the residual, and so does a null."""
    value = block.get("cache_control")
    if value is None:
        return None
    sub = f"{path}.cache_control"
    control = obj(value, sub)
    kind = req_str(control, "type", sub)
    if kind != "ephemeral":
        raise invalid(f"{sub}.type", kind, ("ephemeral",))
    ttl = opt_str(control, "ttl", sub)
    if ttl is not None and ttl not in _TTLS:
        raise invalid(f"{sub}.ttl", ttl, _TTLS)
    if set(control) <= {"type", "ttl"} and ("ttl" not in control or ttl is not None):
        del rest["cache_control"]
    return CacheHint(ttl)


def cache_control(hint: CacheHint) -> JSONDict:
    """A hint as Anthropic writes it; a TTL Anthropic does not offer falls back to its default."""
    out: JSONDict = {"type": "ephemeral"}
    if hint.ttl in _TTLS:
        out["ttl"] = hint.ttl
    return out


def write_cache(out: JSONDict, hint: CacheHint | None, native: bool) -> None:
    """Write ``cache_control``; a native original is kept while it says the same TTL."""
    original = out.get("cache_control") if native else None
    if hint is None:
        if isinstance(original, dict):
            del out["cache_control"]  # the hint was removed from the neutral form
        return
    if isinstance(original, dict) and original.get("ttl") == hint.ttl:
        return
    out["cache_control"] = cache_control(hint)


# ---------------------------------------------------------------------------- tool calls


def tool_id(call_id: str) -> str:
    """An id Anthropic accepts (``^[a-zA-Z0-9_-]+$``). Others are rewritten the same way wherever
    they appear (a call and its result), with a hash of the original so that two ids that differ
    only in rejected characters stay apart."""
    if _ID_OK.fullmatch(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:12]
    cleaned = _ID_BAD.sub("_", call_id)
    return f"{cleaned}_{digest}" if cleaned else f"toolu_{digest}"


def arguments_json(value: object, path: str = "input") -> str:
    """A tool input as the neutral form holds it: compact JSON text."""
    return compact_json(value, path)


def input_object(arguments: str) -> JSONDict:
    """The ``input`` object of a tool call's JSON arguments. Anthropic needs an object: empty
    arguments are ``{}``; anything else that is not a JSON object is kept as ``{"_raw": text}``."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


# ---------------------------------------------------------------------------- errors


def unsupported(message: str, param: str | None = None) -> GatewayError:
    """A 400 for a request an Anthropic upstream cannot honour."""
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)
