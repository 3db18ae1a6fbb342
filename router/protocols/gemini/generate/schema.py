"""Gemini's ``Schema`` (an OpenAPI 3.0 subset, for ``parameters`` and ``responseSchema``) and JSON
Schema (what the neutral form holds, and what ``parametersJsonSchema``/``responseJsonSchema`` take).

Reading (``json_schema``): a Schema becomes the JSON Schema it means: lower-case types, ``nullable``
as a ``null`` type, 64-bit integers (decimal strings in proto JSON) as numbers; keys this codec does
not know (newer API fields) pass through unchanged. Only the shapes are checked (objects, lists,
strings, a known ``type``): a 400 names the field.

Writing (``function_parameters``): a JSON Schema for a function is sent as a cleaned ``parameters``
Schema when every keyword has a Schema equivalent (TRANSLATION §6.4), else unchanged as
``parametersJsonSchema`` (never both; the JSON form loses nothing). These send the schema as JSON
Schema: ``$ref``/``$defs``/``definitions``, ``oneOf``/``allOf``/``not``, ``anyOf`` beyond a
``null`` alternative, ``const``, ``additionalProperties``, ``patternProperties``, ``if``/``then``/
``else``, exclusive bounds, ``multipleOf``, ``uniqueItems``, tuples (``prefixItems``, array
``items``), non-string enums, several non-null types, a node without a type Gemini can infer, and an
object without properties below the root (Gemini rejects an OBJECT Schema with no properties).
Annotations (``$schema``, ``$id``, ``$comment``, ``examples``, ``deprecated``, ``readOnly``,
``writeOnly``) and ``format`` values Gemini does not list are dropped from a cleaned Schema. A
function whose parameters have no properties gets no ``parameters`` at all.
"""

from __future__ import annotations

from typing import Any, Final

from ....ir import JSONDict
from ...common import Malformed, join_path, obj, wrong
from .proto_json import fields, proto_int, unsupported

TYPES: Final = ("TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL")
_INT64_KEYS: Final = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_STRING_KEYS: Final = ("format", "title", "description", "pattern")
_NUMBER_KEYS: Final = ("minimum", "maximum")
_PLAIN_KEYS: Final = ("default", "example")
_ANNOTATIONS: Final = frozenset(
    {"$schema", "$id", "$comment", "examples", "deprecated", "readOnly", "writeOnly"}
)
_FORMATS: Final = {
    "STRING": frozenset({"enum", "date-time"}),
    "INTEGER": frozenset({"int32", "int64"}),
    "NUMBER": frozenset({"float", "double"}),
}
_JSON_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})


# ---------------------------------------------------------------------------- Schema → JSON Schema


def json_schema(value: object, path: str) -> JSONDict:
    """The JSON Schema a Gemini ``Schema`` stands for (see the module docstring)."""
    schema = fields(value, path)
    out: JSONDict = {}
    nullable = False
    for key, item in schema.items():
        sub = join_path(path, key)
        if key == "type":
            name = _type_name(item, sub)
            if name != "TYPE_UNSPECIFIED":
                out["type"] = name.lower()
        elif key == "nullable":
            if not isinstance(item, bool):
                raise wrong(sub, "a boolean", item)
            nullable = item
        elif key == "properties":
            props = obj(item, sub)
            out[key] = {name: json_schema(p, f"{sub}.{name}") for name, p in props.items()}
        elif key == "items":
            out[key] = json_schema(item, sub)
        elif key == "anyOf":
            out[key] = [json_schema(s, f"{sub}[{i}]") for i, s in enumerate(_list(item, sub))]
        elif key in ("required", "enum", "propertyOrdering"):
            out[key] = _strings(item, sub)
        elif key in _INT64_KEYS:
            out[key] = proto_int(schema, key, path)
        elif key in _STRING_KEYS:
            if not isinstance(item, str):
                raise wrong(sub, "a string", item)
            out[key] = item
        elif key in _NUMBER_KEYS:
            if not isinstance(item, int | float) or isinstance(item, bool):
                raise wrong(sub, "a number", item)
            out[key] = item
        else:
            out[key] = item  # default, example, and fields newer than this codec
    if nullable:
        kind = out.get("type")
        if isinstance(kind, str) and kind != "null":
            out["type"] = [kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def camel_schema(value: object) -> object:
    """A (checked) Schema with its field names in lowerCamelCase, property names untouched."""
    if not isinstance(value, dict):
        return value
    out: JSONDict = {}
    for key, item in fields(value, "").items():
        if key == "properties" and isinstance(item, dict):
            out[key] = {name: camel_schema(p) for name, p in item.items()}
        elif key in ("items", "anyOf"):
            out[key] = [camel_schema(s) for s in item] if isinstance(item, list) else camel_schema(item)
        else:
            out[key] = item
    return out


def _type_name(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise wrong(path, "a string", value)
    name = value.upper()
    if name not in TYPES:
        listed = ", ".join(TYPES)
        raise Malformed(path, f"Invalid value for '{path}': {value!r}. Supported values are: {listed}.")
    return name


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise wrong(path, "an array", value)
    return value


def _strings(value: object, path: str) -> list[str]:
    items = _list(value, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise wrong(f"{path}[{i}]", "a string", item)
    return list(items)


# ---------------------------------------------------------------------------- JSON Schema → Schema


class _NeedsJsonSchema(Exception):
    """The JSON Schema says something a Gemini Schema cannot."""


def function_parameters(parameters: JSONDict | None, path: str) -> tuple[str, JSONDict] | None:
    """(field, value) for a function's parameters: ``("parameters", Schema)`` or
    ``("parametersJsonSchema", JSON Schema)``; None when the function takes no arguments."""
    if not parameters:
        return None
    kind = parameters.get("type")
    if kind not in (None, "object") and not (isinstance(kind, list) and "object" in kind):
        raise unsupported(
            "Gemini upstreams need each tool's parameters to be a JSON Schema of type 'object'.",
            f"{path}.parameters",
        )
    if _no_arguments(parameters):
        return None
    try:
        return "parameters", gemini_schema(parameters, root=True)
    except _NeedsJsonSchema:
        return "parametersJsonSchema", parameters


def _no_arguments(schema: JSONDict) -> bool:
    """An object schema with no properties and nothing that could add any."""
    composed = ("anyOf", "oneOf", "allOf", "$ref", "patternProperties", "if", "not")
    return (
        not schema.get("properties")
        and not isinstance(schema.get("additionalProperties"), dict)
        and not any(k in schema for k in composed)
    )


def gemini_schema(node: object, *, root: bool = False) -> JSONDict:
    """A cleaned Gemini Schema for a JSON Schema node, or _NeedsJsonSchema."""
    if not isinstance(node, dict):
        raise _NeedsJsonSchema
    schema: JSONDict = dict(node)
    nullable = schema.pop("nullable", False) is True
    if "anyOf" in schema:
        schema, nullable = _null_alternative(schema), True
    kind, null_type = _single_type(schema.pop("type", None), schema)
    nullable = nullable or null_type
    out: JSONDict = {"type": kind}
    if nullable and kind != "NULL":
        out["nullable"] = True
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "properties":
            if not isinstance(value, dict):
                raise _NeedsJsonSchema
            out[key] = {name: gemini_schema(p) for name, p in value.items()}
        elif key == "items":
            out[key] = gemini_schema(value)
        elif key == "enum":
            out[key] = _enum(value)
            if None in value and kind != "NULL":
                out["nullable"] = True
        elif key == "format":
            if isinstance(value, str) and value in _FORMATS.get(kind, ()):
                out[key] = value
        elif key in ("required", "propertyOrdering"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _NeedsJsonSchema
            out[key] = value
        elif key in _INT64_KEYS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _NeedsJsonSchema
            out[key] = str(value)  # int64: a decimal string in proto JSON
        elif key in ("title", "description", "pattern"):
            if not isinstance(value, str):
                raise _NeedsJsonSchema
            out[key] = value
        elif key in _NUMBER_KEYS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _NeedsJsonSchema
            out[key] = value
        elif key in _PLAIN_KEYS:
            out[key] = value
        else:
            raise _NeedsJsonSchema
    if kind == "OBJECT" and not out.get("properties") and not root:
        raise _NeedsJsonSchema  # Gemini rejects an OBJECT Schema without properties
    return out


def _null_alternative(schema: JSONDict) -> JSONDict:
    """``anyOf: [X, {"type": "null"}]`` (either order) merged into its parent as X."""
    members = schema.pop("anyOf")
    if not isinstance(members, list) or len(members) != 2:
        raise _NeedsJsonSchema
    others = [m for m in members if m != {"type": "null"}]
    if len(others) != 1 or not isinstance(others[0], dict) or set(others[0]) & set(schema):
        raise _NeedsJsonSchema
    return {**schema, **others[0]}


def _single_type(kind: object, schema: JSONDict) -> tuple[str, bool]:
    """(Gemini type, whether ``null`` is allowed too) of a JSON Schema ``type``."""
    null = False
    if isinstance(kind, list):
        null = "null" in kind
        others = [k for k in kind if k != "null"]
        if len(others) > 1:
            raise _NeedsJsonSchema
        kind = others[0] if others else "null"
    if kind is None:
        kind = _inferred_type(schema)
    if not isinstance(kind, str) or kind not in _JSON_TYPES:
        raise _NeedsJsonSchema
    return kind.upper(), null


def _inferred_type(schema: JSONDict) -> str:
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) or v is None for v in enum):
        return "string"
    raise _NeedsJsonSchema


def _enum(value: object) -> list[str]:
    if not isinstance(value, list):
        raise _NeedsJsonSchema
    names = [v for v in value if v is not None]
    if not all(isinstance(v, str) for v in names):
        raise _NeedsJsonSchema  # Gemini enums are strings
    return names


_SUBSCHEMA_MAPS: Final = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SUBSCHEMA_LISTS: Final = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS: Final = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def lower_types(schema: JSONDict) -> JSONDict:
    """A JSON Schema given with Gemini's upper-case type names (``OBJECT``, ``STRING``: Gemini
    CLI's ``responseJsonSchema``, which the Gemini API takes) with JSON Schema's own, everywhere
    in it; the schema itself when it has none (the common case costs one walk, no copy)."""
    return _lowered(schema) if _has_upper(schema) else schema


def _has_upper(node: Any) -> bool:
    if isinstance(node, dict):
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(isinstance(k, str) and k in TYPES for k in kinds):
            return True
        return any(_has_upper(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_upper(v) for v in node)
    return False


def _lowered(node: Any) -> Any:
    if isinstance(node, list):
        return [_lowered(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: JSONDict = {}
    for key, value in node.items():
        if key == "type":
            out[key] = [_lower(k) for k in value] if isinstance(value, list) else _lower(value)
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _lowered(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS or key in _SUBSCHEMAS:
            out[key] = _lowered(value)
        else:
            out[key] = value
    return out


def _lower(kind: Any) -> Any:
    return kind.lower() if isinstance(kind, str) and kind in TYPES and kind != "TYPE_UNSPECIFIED" else kind
