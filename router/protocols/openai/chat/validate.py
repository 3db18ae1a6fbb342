"""Shape checks for OpenAI JSON: each failure is a ``_Malformed`` naming the field by its path.

The codec turns ``_Malformed`` into a 400 for a caller's request and a 502 for an upstream's
response; the stream reader turns it into a ``StreamFailure``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ....ir import JSONDict

_MAX_SHOWN: Final = 100  # characters of an offending value quoted in a message


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
    return "an array" if isinstance(value, list) else "an object"


def _shown(value: object) -> str:
    """A value as the client sent it (JSON), cut short when long."""
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # not from a JSON parse (an integer beyond 64 bits, ...)
        text = _json_type(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}…"


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _wrong(path: str, expected: str, value: object) -> _Malformed:
    got = _json_type(value)
    return _Malformed(path, f"Invalid type for '{path}': expected {expected}, but got {got} instead.")


def _invalid(path: str, value: object, allowed: tuple[str, ...]) -> _Malformed:
    listed = ", ".join(_shown(a) for a in allowed)
    return _Malformed(path, f"Invalid value for '{path}': {_shown(value)}. Supported values are: {listed}.")


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
