"""The request body, read and written: model, streaming, sampling, response format, reasoning
effort, user and metadata (messages and tools are read and written by their own modules)."""

from __future__ import annotations

from typing import Any, Final, cast

from ....ir import ChatRequest, JSONDict, Reasoning, ReasoningEffort, ResponseFormat
from ...common import as_function_tools, reject_opaque
from .fit import fitted_to_model
from .messages import _LegacyCalls, _read_message, _write_messages
from .residual import DIALECT, _nest, _put, _sub, _take, _take_pair, _without, _write_pair
from .tools import _read_tool_fields, _write_tool_choice_field, _write_tools
from .validate import (
    _invalid,
    _Malformed,
    _opt_bool,
    _opt_dict,
    _opt_int,
    _opt_num,
    _opt_str,
    _req_dict,
    _req_list,
    _req_str,
    _wrong,
)

_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


# ---------------------------------------------------------------------------- reading


def _read_request(body: JSONDict) -> ChatRequest:
    rest = dict(body)
    model = _req_str(body, "model", "")
    if not model:
        raise _Malformed("model", "Invalid value for 'model': it must not be empty.")
    raw_messages = _req_list(body, "messages", "")
    if not raw_messages:
        raise _Malformed("messages", "Invalid value for 'messages': at least one message is required.")
    legacy = _LegacyCalls()
    messages = [_read_message(m, i, legacy) for i, m in enumerate(raw_messages)]
    del rest["model"], rest["messages"]
    request = ChatRequest(model=model, messages=messages, dialect=DIALECT)
    _read_stream_fields(body, rest, request)
    _read_sampling(body, rest, request)
    _read_tool_fields(body, rest, request)
    request.response_format = _take(rest, "response_format", _read_response_format(body))
    effort = _opt_str(body, "reasoning_effort", "")
    if effort is not None:
        if effort not in _EFFORTS:
            raise _invalid("reasoning_effort", effort, _EFFORTS)
        request.reasoning = Reasoning(effort=cast(ReasoningEffort, effort))
        del rest["reasoning_effort"]
    request.user = _take(rest, "user", _opt_str(body, "user", ""))
    request.metadata = _take(rest, "metadata", _read_metadata(body))
    request.extra = rest
    return request


def _read_stream_fields(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    if _opt_bool(body, "stream", ""):
        request.stream = True
        del rest["stream"]  # false and null stay: the neutral form cannot tell them from absent
    options = _opt_dict(body, "stream_options", "")
    if options is not None and _opt_bool(options, "include_usage", "stream_options"):
        request.include_usage = True
        _nest(rest, "stream_options", _without(options, "include_usage"))


def _read_sampling(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    request.max_output_tokens = _take_pair(
        rest,
        "max_completion_tokens",
        _opt_int(body, "max_completion_tokens", ""),
        "max_tokens",
        _opt_int(body, "max_tokens", ""),
    )
    request.temperature = _take(rest, "temperature", _opt_num(body, "temperature", ""))
    request.top_p = _take(rest, "top_p", _opt_num(body, "top_p", ""))
    request.n = _take(rest, "n", _opt_int(body, "n", ""))
    request.seed = _take(rest, "seed", _opt_int(body, "seed", ""))
    request.presence_penalty = _take(rest, "presence_penalty", _opt_num(body, "presence_penalty", ""))
    request.frequency_penalty = _take(rest, "frequency_penalty", _opt_num(body, "frequency_penalty", ""))
    stop = body.get("stop")
    if isinstance(stop, str):
        request.stop = [stop]  # the string stays in the residual, so the writer can give it back
    elif stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _wrong("stop", "a string or an array of strings", stop)
        request.stop = list(stop)
        del rest["stop"]


def _read_metadata(body: JSONDict) -> dict[str, str] | None:
    metadata = _opt_dict(body, "metadata", "")
    if metadata is None:
        return None
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _wrong(f"metadata.{key}", "a string", value)
    return dict(metadata)


def _read_response_format(body: JSONDict) -> ResponseFormat | None:
    spec = _opt_dict(body, "response_format", "")
    if spec is None:
        return None
    kind = _req_str(spec, "type", "response_format")
    rest = _without(spec, "type")
    if kind in ("text", "json_object"):
        return ResponseFormat(cast(Any, kind), extra=rest)
    if kind != "json_schema":
        raise _invalid("response_format.type", kind, ("text", "json_object", "json_schema"))
    schema = _req_dict(spec, "json_schema", "response_format")
    path = "response_format.json_schema"
    inner = _without(schema, "name")
    name = _req_str(schema, "name", path)
    description = _take(inner, "description", _opt_str(schema, "description", path))
    json_schema = _take(inner, "schema", _opt_dict(schema, "schema", path))
    strict = _take(inner, "strict", _opt_bool(schema, "strict", path))
    _nest(rest, "json_schema", inner)
    return ResponseFormat("json_schema", name, json_schema, strict, description, extra=rest)


# ---------------------------------------------------------------------------- writing


def _write_request(request: ChatRequest) -> JSONDict:
    native = request.dialect == DIALECT
    if not native:
        reject_opaque(request, "an OpenAI chat upstream")
    capabilities = request.capabilities
    if not native:
        request = fitted_to_model(request)
    out: JSONDict = dict(request.extra) if native else {}
    out["model"] = request.model
    out["messages"] = _write_messages(request.messages, native, capabilities.reasoning_details)
    if request.stream:
        out["stream"] = True
    if request.include_usage and (request.stream or native):
        options = _sub(out, "stream_options")
        options["include_usage"] = True
        out["stream_options"] = options
    _write_pair(
        out, request.max_output_tokens, "max_completion_tokens", "max_tokens", request.max_output_tokens
    )
    _put(out, "temperature", request.temperature)
    _put(out, "top_p", request.top_p)
    _write_stop(out, request.stop)
    _put(out, "n", request.n)
    _put(out, "seed", request.seed)
    _put(out, "presence_penalty", request.presence_penalty)
    _put(out, "frequency_penalty", request.frequency_penalty)
    _write_tools(out, request.tools if native else as_function_tools(request.tools), native)
    _write_tool_choice_field(out, request.tool_choice, native)
    _put(out, "parallel_tool_calls", request.parallel_tool_calls)
    if request.response_format is not None:
        out["response_format"] = _write_response_format(request.response_format, native)
    takes_budget = capabilities.reasoning_max_tokens and "reasoning" not in out
    budget = _budget_as_is(request.reasoning) if takes_budget else None
    if budget is not None:  # e.g. OpenRouter's: a thinking budget as it is (Claude's, Gemini's)
        out["reasoning"] = {"max_tokens": budget}
    else:
        _put(out, "reasoning_effort", _effort(request.reasoning))
    _put(out, "user", request.user)
    if request.metadata is not None:
        out["metadata"] = dict(request.metadata)
    return out


def _write_stop(out: JSONDict, stop: list[str] | None) -> None:
    original = out.get("stop")
    if stop is None:
        if isinstance(original, str):
            del out["stop"]
    elif not (isinstance(original, str) and stop == [original]):
        out["stop"] = list(stop)


def _budget_as_is(reasoning: Reasoning | None) -> int | None:
    """A thinking budget asked for without an effort, for ``reasoning.max_tokens`` (OpenRouter's)."""
    if reasoning is None or reasoning.effort is not None or not reasoning.budget_tokens:
        return None
    return reasoning.budget_tokens if reasoning.budget_tokens > 0 else None


def _effort(reasoning: Reasoning | None) -> str | None:
    """``reasoning_effort`` for the neutral reasoning (budget thresholds from TRANSLATION §7.1)."""
    if reasoning is None:
        return None
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget_tokens
    if budget is None:
        return None
    if budget <= 0:
        return "none"
    if budget < 2048:
        return "low"
    if budget < 8192:
        return "medium"
    return "high" if budget < 24576 else "xhigh"


def _write_response_format(spec: ResponseFormat, native: bool) -> JSONDict:
    extra = spec.extra if native else {}
    out = dict(extra)
    out["type"] = spec.type
    if spec.type == "json_schema":
        schema = _sub(extra, "json_schema")
        schema["name"] = spec.name or "output"  # required by OpenAI (TRANSLATION §7.1 uses "output")
        _put(schema, "description", spec.description)
        _put(schema, "schema", spec.schema)
        _put(schema, "strict", spec.strict)
        out["json_schema"] = schema
    return out
