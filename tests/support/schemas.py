"""Validate JSON objects against the vendored OpenAI, Anthropic and Gemini OpenAPI specs.

The specs are vendored in ``tests/specs`` (their provenance is in its README; the environment
variable ``TOROUTER_SPECS`` overrides the folder). Each spec's ``components`` section becomes one
JSON Schema 2020-12 resource in a ``referencing.Registry``, so ``#/components/schemas/X`` refs
resolve. OpenAPI quirks are rewritten once, when a spec is loaded:

- ``nullable: true`` (OpenAPI 3.0, but also left in places of the OpenAI 3.1 spec, e.g. the
  stream chunk's ``finish_reason`` and ``usage``) becomes ``type: [T, "null"]`` (plus ``null``
  in ``enum``) or, next to ``$ref``/``allOf``/``oneOf``/``anyOf``/``const``,
  ``anyOf: [schema, {type: null}]``;
- ``$recursiveRef: "#"`` (2019-09, meaningless in 2020-12) becomes a ``$ref`` to the component
  it sits in; ``$recursiveAnchor`` is dropped;
- OpenAPI 3.0 only: boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numbers and the
  siblings of ``$ref`` are dropped (3.0 ignores them), except ``nullable``, which is honoured.

``format`` is an annotation (not asserted): OpenAPI's formats (int64, float, unixtime, …) are
not JSON Schema formats. ``discriminator`` is not a validation keyword either; plain
``oneOf``/``anyOf`` semantics apply, and :func:`primary_error` uses the discriminator only to
pick the most useful error to report.

``closed=True`` validates in a closed world: every object schema that declares ``properties``
and does not say otherwise (``additionalProperties``/``patternProperties``) rejects properties it
does not declare, the way the real OpenAI API answers ``Unknown parameter: 'x'.``. Plain object
schemas get ``additionalProperties: false``; schemas used as ``allOf`` mixins stay open and their
composing parent gets ``propertyNames: {enum: [every name the composition declares]}`` instead
(cheaper than ``unevaluatedProperties``, and it does not cascade). Free-form objects stay open,
and so do objects declaring ``properties: {}`` (OpenAI's ``EmptyModelParam``, a JSON Schema's
place in a namespace's function tools: the SDKs type it as a free-form map).

Validators are built once per (spec, schema name, closed) and cached: validating thousands of
objects in a test run costs well under a millisecond each.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Literal, get_args

import orjson
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

Spec = Literal["openai", "anthropic", "gemini"]

SPEC_FILES: Final[dict[str, str]] = {
    "openai": "openai-subset-gateway.json",
    "anthropic": "anthropic-subset-gateway.json",
    "gemini": "gemini-v1beta-openapi3.json",
}
_BASE_URI: Final = "https://torouter.invalid/specs/"
_MAX_LISTED_ERRORS: Final = 10
_MAX_TEXT: Final = 400

# JSON Schema keywords whose value is a schema, a list of schemas, or a map of name -> schema.
_ONE_SCHEMA: Final = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SCHEMA_LIST: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP: Final = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_OPEN_MARKERS: Final = ("additionalProperties", "unevaluatedProperties", "patternProperties")


def specs_dir() -> Path:
    """The folder holding the spec files: ``$TOROUTER_SPECS`` or ``<repo>/tests/specs``."""
    override = os.environ.get("TOROUTER_SPECS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "specs"


def _check_spec(spec: str) -> None:
    if spec not in get_args(Spec):
        raise ValueError(f"unknown spec {spec!r}; expected one of {', '.join(get_args(Spec))}")


# --------------------------------------------------------------------------- loading


@functools.cache
def load_document(spec: Spec, closed: bool = False) -> dict[str, Any]:
    """The spec's ``components``, converted to JSON Schema 2020-12 (cached: do not mutate)."""
    _check_spec(spec)
    if closed:
        open_doc = load_document(spec)
        closer = _Closer(open_doc["components"]["schemas"])
        closed_schemas = {
            name: closer.close(schema, mixin=name in closer.mixins) for name, schema in closer.schemas.items()
        }
        return {**open_doc, "components": {**open_doc["components"], "schemas": closed_schemas}}
    raw = orjson.loads((specs_dir() / SPEC_FILES[spec]).read_bytes())
    openapi30 = str(raw.get("openapi", "")).startswith("3.0")
    components: dict[str, Any] = dict(raw.get("components", {}))
    components["schemas"] = {
        name: convert_openapi_schema(schema, component=name, openapi30=openapi30)
        for name, schema in components.get("schemas", {}).items()
    }
    return {"openapi": raw.get("openapi"), "components": components}


def convert_openapi_schema(node: Any, *, component: str, openapi30: bool) -> Any:
    """Rewrite one schema (recursively) from OpenAPI's dialect to JSON Schema 2020-12 (module doc)."""
    if isinstance(node, list):
        return [convert_openapi_schema(item, component=component, openapi30=openapi30) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {
        key: convert_openapi_schema(value, component=component, openapi30=openapi30)
        for key, value in node.items()
    }
    if out.get("$recursiveRef") == "#":
        del out["$recursiveRef"]
        out["$ref"] = f"#/components/schemas/{component}"
    if out.get("$recursiveAnchor") is True:
        del out["$recursiveAnchor"]
    if openapi30:
        if isinstance(out.get("$ref"), str) and len(out) > 1:
            out = {key: out[key] for key in ("$ref", "nullable") if key in out}
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            flag = out.get(exclusive)
            if isinstance(flag, bool):
                del out[exclusive]
                if flag and bound in out:
                    out[exclusive] = out.pop(bound)
    nullable = out.get("nullable")
    if isinstance(nullable, bool):
        del out["nullable"]
        if nullable:
            out = _nullable(out)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if any(k in schema for k in ("$ref", "allOf", "oneOf", "anyOf", "not", "const")):
        return {"anyOf": [schema, {"type": "null"}]}
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "null" not in types:
            schema["type"] = [*types, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _mixin_names(schemas: dict[str, Any]) -> frozenset[str]:
    """Components referenced directly as an ``allOf`` branch somewhere."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            branches = node.get("allOf")
            if isinstance(branches, list):
                for branch in branches:
                    name = _ref_name(branch.get("$ref")) if isinstance(branch, dict) else None
                    if name is not None:
                        found.add(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schemas)
    return frozenset(found)


def _ref_name(ref: object) -> str | None:
    prefix = "#/components/schemas/"
    return ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None


class _Closer:
    """Builds the closed-world copy of a spec's schemas (see the module docstring)."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.mixins = _mixin_names(schemas)
        self._names: dict[str, frozenset[str] | None] = {}

    def declared(self, node: Any, seen: frozenset[str] = frozenset()) -> frozenset[str] | None:
        """Property names an object matching ``node`` may have; None when it is open-ended."""
        if not isinstance(node, dict):
            return frozenset()
        extra = node.get("additionalProperties")
        if (extra is not None and extra is not False) or "patternProperties" in node:
            return None
        names: set[str] = set(node.get("properties", {}))
        parts: list[Any] = list(node.get("allOf", []))
        if "properties" in node:  # unions next to own properties add their own names
            parts += list(node.get("oneOf", [])) + list(node.get("anyOf", []))
        ref = _ref_name(node.get("$ref"))
        if ref is not None and ref not in seen:
            found = self._component(ref, seen | {ref})
            if found is None:
                return None
            names |= found
        for part in parts:
            found = self.declared(part, seen)
            if found is None:
                return None
            names |= found
        if not names and node.get("type") == "object" and extra is not False:
            return None  # a free-form object
        return frozenset(names)

    def _component(self, name: str, seen: frozenset[str]) -> frozenset[str] | None:
        if name not in self._names:
            self._names[name] = self.declared(self.schemas.get(name, {}), seen)
        return self._names[name]

    def close(self, schema: Any, *, mixin: bool) -> Any:
        if not isinstance(schema, dict):
            return schema
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _SCHEMA_MAP and isinstance(value, dict):
                out[key] = {name: self.close(sub, mixin=False) for name, sub in value.items()}
            elif key in _SCHEMA_LIST and isinstance(value, list):
                branch_is_mixin = key == "allOf" or (key in ("oneOf", "anyOf") and "properties" in schema)
                out[key] = [self.close(sub, mixin=branch_is_mixin) for sub in value]
            elif key in _ONE_SCHEMA:
                out[key] = self.close(value, mixin=False)
            else:
                out[key] = value
        if mixin or any(k in out for k in (*_OPEN_MARKERS, "propertyNames")):
            return out
        ref = _ref_name(out.get("$ref"))
        composed = "allOf" in out or (ref is not None and ref in self.mixins)
        composed = composed or ("properties" in out and ("oneOf" in out or "anyOf" in out))
        if composed:
            names = self.declared(schema)
            if names:
                out["propertyNames"] = {"enum": sorted(names)}
        elif out.get("properties"):  # ``properties: {}`` (``EmptyModelParam``): a free-form map
            out["additionalProperties"] = False
        return out


@functools.cache
def registry(spec: Spec, closed: bool = False) -> Registry[Any]:
    """A registry holding the converted spec at ``https://torouter.invalid/specs/<spec>.json``."""
    resource: Resource[Any] = DRAFT202012.create_resource(load_document(spec, closed))
    empty: Registry[Any] = Registry()
    crawled: Registry[Any] = empty.with_resource(_uri(spec, closed), resource).crawl()
    return crawled


def _uri(spec: Spec, closed: bool) -> str:
    return f"{_BASE_URI}{spec}{'-closed' if closed else ''}.json"


# --------------------------------------------------------------------------- validating


@functools.cache
def schema_names(spec: Spec) -> tuple[str, ...]:
    """The names under ``components/schemas`` of one spec, sorted."""
    return tuple(sorted(load_document(spec)["components"]["schemas"]))


@functools.cache
def validator(spec: Spec, schema_name: str, closed: bool = False) -> Draft202012Validator:
    """A cached Draft 2020-12 validator for ``#/components/schemas/<schema_name>``."""
    if schema_name not in load_document(spec)["components"]["schemas"]:
        close = [n for n in schema_names(spec) if schema_name.lower() in n.lower()][:8]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise KeyError(f"{spec} spec has no schema {schema_name!r}{hint}")
    root: dict[str, Any] = {"$ref": f"{_uri(spec, closed)}#/components/schemas/{schema_name}"}
    if closed:
        closer = _Closer(load_document(spec)["components"]["schemas"])
        if schema_name in closer.mixins:
            names = closer.declared({"$ref": f"#/components/schemas/{schema_name}"})
            if names:
                root["propertyNames"] = {"enum": sorted(names)}
    return Draft202012Validator(root, registry=registry(spec, closed))


def errors(spec: Spec, schema_name: str, instance: object, *, closed: bool = False) -> list[ValidationError]:
    """All validation errors of ``instance``, most relevant first (empty when valid)."""
    return sorted(validator(spec, schema_name, closed).iter_errors(instance), key=relevance, reverse=True)


def is_valid(spec: Spec, schema_name: str, instance: object, *, closed: bool = False) -> bool:
    """True when ``instance`` validates against the schema."""
    return bool(validator(spec, schema_name, closed).is_valid(instance))


def validate(spec: Spec, schema_name: str, instance: object, *, closed: bool = False) -> None:
    """Raise ``AssertionError`` listing every error when ``instance`` does not validate."""
    found = errors(spec, schema_name, instance, closed=closed)
    if found:
        raise AssertionError(format_errors(spec, schema_name, instance, found))


def validate_all(spec: Spec, schema_name: str, instances: Iterable[object], *, closed: bool = False) -> None:
    """``validate`` each item; the message names the index of the first invalid one."""
    for index, instance in enumerate(instances):
        found = errors(spec, schema_name, instance, closed=closed)
        if found:
            raise AssertionError(f"item {index}: " + format_errors(spec, schema_name, instance, found))


# --------------------------------------------------------------------------- explaining


def primary_error(error: ValidationError) -> ValidationError:
    """The most specific cause of ``error``, descending through ``oneOf``/``anyOf``.

    For a union with a discriminator (``discriminator.propertyName``, else ``type``/``role`` when
    the instance has them) it follows the branch whose tag matches the instance; when no branch
    accepts the tag it reports the tag itself as an ``enum`` error listing the accepted values.
    When every branch fails on the value's type it reports one ``type`` error listing them all.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    instance = error.instance
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else -1
        by_branch.setdefault(int(branch), []).append(sub)
    if all(sub.validator == "type" and not sub.relative_path for sub in error.context):
        types: list[str] = []
        for sub in error.context:
            values = sub.validator_value if isinstance(sub.validator_value, list) else [sub.validator_value]
            types.extend(str(v) for v in values if str(v) not in types)
        return _synthetic(error, "type", types, f"{instance!r} is not of type {', '.join(map(repr, types))}")
    tag = _discriminator(error)
    if tag is not None and isinstance(instance, dict):
        matching = [
            subs
            for subs in by_branch.values()
            if not any(
                list(sub.relative_path) == [tag] or (sub.validator == "required" and tag not in instance)
                for sub in subs
            )
        ]
        if len(matching) == 1:
            return primary_error(max(matching[0], key=relevance))
        if not matching:
            if tag not in instance:
                return _synthetic(error, "required", [tag], f"{tag!r} is a required property")
            allowed: list[Any] = []
            for sub in error.context:
                if list(sub.relative_path) == [tag] and sub.validator in ("enum", "const"):
                    rule: Any = sub.validator_value
                    values = rule if sub.validator == "enum" else [rule]
                    allowed.extend(v for v in values if v not in allowed)
            if allowed:
                return _synthetic(
                    error,
                    "enum",
                    allowed,
                    f"{instance[tag]!r} is not one of {allowed!r}",
                    path_suffix=tag,
                    instance=instance[tag],
                )
    chosen = best_match(error.context)
    return primary_error(chosen) if chosen is not None else error


def _discriminator(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    disc = schema.get("discriminator")
    if isinstance(disc, dict) and isinstance(disc.get("propertyName"), str):
        return str(disc["propertyName"])
    if isinstance(error.instance, dict):
        for candidate in ("type", "role"):
            if candidate in error.instance:
                return candidate
    return None


def _synthetic(
    parent: ValidationError,
    validator_name: str,
    value: Any,
    message: str,
    *,
    path_suffix: str | None = None,
    instance: Any = None,
) -> ValidationError:
    path = deque(parent.absolute_path)
    if path_suffix is not None:
        path.append(path_suffix)
    return ValidationError(
        message,
        validator=validator_name,
        path=path,
        validator_value=value,
        instance=parent.instance if path_suffix is None else instance,
        schema_path=deque(parent.absolute_schema_path),
    )


def unknown_property(error: ValidationError) -> tuple[list[str | int], str] | None:
    """For a closed-world rejection: (path of the object, first undeclared property name)."""
    closed_object = error.validator == "additionalProperties" and error.validator_value is False
    if closed_object and isinstance(error.instance, dict) and isinstance(error.schema, dict):
        declared = error.schema.get("properties", {})
        extras = [key for key in error.instance if key not in declared]
        if extras:
            return list(error.absolute_path), str(extras[0])
    schema_path = list(error.absolute_schema_path)
    if error.validator == "enum" and schema_path[-2:] == ["propertyNames", "enum"]:
        return list(error.absolute_path), str(error.instance)
    return None


def json_path(path: Iterable[str | int]) -> str:
    """``$.choices[0].message`` style rendering of an error path."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _short(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def format_errors(spec: Spec, schema_name: str, instance: object, found: list[ValidationError]) -> str:
    """Human-readable report of validation errors, with the likeliest cause of each union error."""
    lines = [f"{spec} {schema_name}: {len(found)} validation error(s)"]
    for error in found[:_MAX_LISTED_ERRORS]:
        lines.append(f"  - at {json_path(error.absolute_path)}: {_short(error.message)}")
        cause = primary_error(error)
        unknown = unknown_property(cause)
        if unknown is not None:
            lines.append(f"      undeclared property {unknown[1]!r} at {json_path(unknown[0])}")
        elif cause is not error:
            lines.append(f"      likely cause: at {json_path(cause.absolute_path)}: {_short(cause.message)}")
    if len(found) > _MAX_LISTED_ERRORS:
        lines.append(f"  ... and {len(found) - _MAX_LISTED_ERRORS} more")
    try:
        rendered = orjson.dumps(instance, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        rendered = repr(instance)
    lines.append(f"  instance: {_short(rendered)}")
    return "\n".join(lines)
