"""Small pieces every module of the codec shares: the dialect name, the markers a reader leaves in
residuals, proto-JSON field names and numbers, function-call ids and arguments, and the 400 of a
request a Gemini upstream cannot honour.

Gemini's JSON is the proto3 JSON mapping of its API: a field may be spelled ``lowerCamelCase`` (what
the API writes) or ``snake_case`` (what the proto file says), both accepted on input; integers may
come as JSON numbers, integral floats (the Python SDK sends ``topK`` as a float) or decimal strings
(the canonical form of 64-bit integers); enum values are names, accepted here in any case.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Final

import orjson

from ....errors import ErrorCode, GatewayError
from ....ir import JSONDict
from ...common import Malformed, compact_json, invalid, join_path, obj, wrong

DIALECT: Final = "gemini"

# Markers a reader leaves in a residual for what the JSON says by an absence or by a shape the
# neutral form flattens. Gemini's field names never start with "_", so writers drop every key that
# does (``clean``).
CONTINUES: Final = "_continues"  # this neutral message / tool continues the wire one before it
SYNTHETIC_ID: Final = "_synthetic_id"  # the id was made up by the reader: a native writer omits it
ON_TEXT: Final = "_on_text"  # a signature that rode on the (non-thought) text part after it
NO_ARGS: Final = "_no_args"  # a functionCall without ``args``
WRAPPED: Final = "_wrapped"  # a functionResponse ``{"output"|"error": value}``: which key
WRAPPED_JSON: Final = "_json"  # ... and the value was JSON, not a string
NO_PARTS: Final = "_no_parts"  # a Content without ``parts``
NO_CONTENT: Final = "_no_content"  # a Candidate without ``content``
NO_MODE: Final = "_no_mode"  # a functionCallingConfig without ``mode``
BLOCKED: Final = "_blocked"  # the choice stands for a blocked prompt (no candidates)

_SNAKE: Final = re.compile(r"_([a-z0-9])")


def clean(extra: JSONDict) -> JSONDict:
    """A residual without the reader's markers."""
    return {k: v for k, v in extra.items() if not k.startswith("_")}


# ---------------------------------------------------------------------------- proto JSON


def camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name) if "_" in name[1:] else name


def fields(value: object, path: str) -> JSONDict:
    """A proto message as an object with its field names in lowerCamelCase. Free-form values
    (``args``, ``response``, JSON schemas, ``labels``) must not go through here."""
    message = obj(value, path)
    if not any("_" in key[1:] for key in message):
        return message
    out: JSONDict = {}
    for key, item in message.items():
        name = camel(key)
        if name in out:
            raise Malformed(
                join_path(path, name), f"Invalid JSON payload: '{join_path(path, name)}' is given twice."
            )
        out[name] = item
    return out


_INT64: Final = range(-(2**63), 2**63)
_DECIMAL: Final = re.compile(r"-?[0-9]{1,20}")  # no 64-bit integer has more digits


def proto_int(message: JSONDict, key: str, path: str) -> int | None:
    """An integer field: a JSON integer, an integral number or a decimal string, within 64 bits
    (as proto-JSON's int64; an integer beyond them is parsed as a float, and travels nowhere)."""
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif _integral(value):
        number = int(value)
    else:
        raise wrong(join_path(path, key), "an integer", value)
    if number not in _INT64:
        field = join_path(path, key)
        raise Malformed(field, f"Invalid value for '{field}': it is out of range (64-bit integers).")
    return number


def _integral(value: object) -> bool:
    """An integral float, or a decimal string of at most 20 digits."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and _DECIMAL.fullmatch(value.strip()) is not None


def take_int(message: JSONDict, rest: JSONDict, key: str, path: str) -> int | None:
    """An integer field; taken from the residual unless written in another form (``40.0``), which
    stays so that a writer of this dialect gives it back (``write_int``)."""
    value = proto_int(message, key, path)
    if value is not None and isinstance(message[key], int):
        del rest[key]
    return value


def write_int(out: JSONDict, key: str, value: int | None, *, stale: bool = True) -> None:
    """Write an integer field, keeping an original in another form while it says the same;
    ``stale``: an original the neutral form no longer has is removed."""
    original = out.get(key)
    if value is None:
        if stale and original is not None:
            del out[key]
        return
    try:
        same = original is not None and int(float(original)) == value
    except (TypeError, ValueError, OverflowError):
        same = False
    if not same:
        out[key] = value


def enum_name(message: JSONDict, key: str, path: str, allowed: tuple[str, ...]) -> str | None:
    """An enum field's canonical (upper-case) name; any case is accepted."""
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong(join_path(path, key), "a string", value)
    name = value.upper()
    if name not in allowed:
        raise invalid(join_path(path, key), value, allowed)
    return name


def same_enum(original: object, name: str) -> bool:
    return isinstance(original, str) and original.upper() == name


# ---------------------------------------------------------------------------- function calls


def arguments_json(value: object, path: str = "args") -> str:
    """Function-call ``args`` as the neutral form holds them: compact JSON text."""
    return compact_json(value, path)


def args_object(arguments: str) -> JSONDict:
    """The ``args`` object of JSON arguments: empty arguments are ``{}``; anything that is not a
    JSON object is kept as ``{"_raw": text}`` (Gemini needs an object)."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def json_or_text(text: str) -> object:
    """Text that holds JSON as its value, other text as itself."""
    try:
        return orjson.loads(text) if text.strip() else text
    except orjson.JSONDecodeError:
        return text


def request_call_id(n: int) -> str:
    return f"call_{n}"


def response_call_id(_: int) -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class CallIds:
    """Ids for function calls that came without one (most Gemini callers send none) and the call a
    function response answers: by its id, else the first unanswered call of that name."""

    __slots__ = ("_count", "_make", "_pending")

    def __init__(self, make: Callable[[int], str]) -> None:
        self._make = make
        self._count = 0
        self._pending: list[tuple[str, str]] = []  # (id, name) of calls not answered yet

    def call(self, given: str | None, name: str) -> tuple[str, bool]:
        """(id, whether it was made up) of a function call."""
        n, self._count = self._count, self._count + 1
        call_id = given if given is not None else self._make(n)
        self._pending.append((call_id, name))
        return call_id, given is None

    def result(self, given: str | None, name: str) -> tuple[str, bool]:
        """(id, whether it was made up) of the call a function response answers."""
        for i, (call_id, call_name) in enumerate(self._pending):
            if call_id == given or (given is None and call_name == name):
                del self._pending[i]
                return call_id, given is None
        if given is not None:
            return given, False
        n, self._count = self._count, self._count + 1
        return self._make(n), True


# ---------------------------------------------------------------------------- errors


def unsupported(message: str, param: str | None = None) -> GatewayError:
    """A 400 for a request a Gemini upstream cannot honour."""
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)
