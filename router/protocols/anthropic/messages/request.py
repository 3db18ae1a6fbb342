"""The request body (``CreateMessageParams``), read and written.

Reading takes every field the neutral form models; the rest (``service_tier``, top-level
``cache_control``, ``container``, ``inference_geo``, ``thinking.display``, beta fields, nulls)
stays in ``extra``. ``max_tokens`` is required, as Anthropic requires it. ``thinking`` becomes
``Reasoning``: ``enabled`` its ``budget_tokens``, ``disabled`` effort ``none``, and
``output_config.effort`` the effort (with ``adaptive`` thinking, or alone); ``adaptive`` itself
stays in the residual. ``include_usage`` is always set: Anthropic streams always report usage, so
an upstream of another dialect is asked for it too (TRANSLATION §5.6).

Writing a request of another dialect for an Anthropic upstream (TRANSLATION §4), field by field:

=========================  ===============================================  ==========
neutral field              Anthropic                                        decision
=========================  ===============================================  ==========
model                      ``model``                                        mapped
messages                   ``system`` + ``messages`` (§4.2, messages.py)    mapped
stream                     ``stream``                                       mapped
include_usage              – (usage is always reported)                     dropped
max_output_tokens          ``max_tokens``; 4096 when absent; raised above   mapped
                           the thinking budget (budget + the asked size)
temperature                ``temperature`` clamped to [0, 1]; dropped when  mapped
                           thinking is on and it is not 1
top_p                      ``top_p``                                        mapped
top_k                      ``top_k``; dropped when thinking is on           mapped
stop                       ``stop_sequences`` without whitespace-only ones  mapped
n                          – (one message per request): n > 1 is a 400      rejected
seed                       – (no equivalent; sampling is not reproducible)  dropped
presence_penalty           – (no equivalent)                                dropped
frequency_penalty          – (no equivalent)                                dropped
tools                      ``tools`` (``input_schema`` defaults to an       mapped
                           empty object schema); built-in tools of
                           another provider are a 400
tool_choice                ``tool_choice`` auto/any/tool/none; ``allowed``  mapped
                           filters ``tools``; forced → auto with thinking
parallel_tool_calls        ``tool_choice.disable_parallel_tool_use``        mapped
response_format            json_schema → ``output_config.format``;          mapped
                           json_object → a system instruction
reasoning                  ``thinking`` enabled with a budget (§4.6:        mapped
                           minimal 1024, low 2048, medium 8192, high
                           16384, xhigh 32768, max 63999); effort none →
                           no thinking
user                       ``metadata.user_id`` (hashed beyond 512 chars)   mapped
metadata                   – (Anthropic has no free-form metadata)          dropped
=========================  ===============================================  ==========

Fields the neutral form does not model stay in the other dialect's ``extra``; those of an OpenAI
chat request are decided here (§4.1): the fields the Messages API cannot carry
(:data:`PROTOCOL_REFUSED`: ``logprobs``/``top_logprobs``, ``audio``/``modalities`` with audio,
``web_search_options``, a non-empty ``logit_bias``), those the upstream's kind refuses besides
(``Capabilities.refused``) and custom
(free-text) tools change what the caller gets back and are a 400 naming the field;
``safety_identifier`` stands in for ``user``; ``service_tier`` maps (auto/priority → auto,
default → standard_only, others dropped); ``prediction``, ``store``, ``prompt_cache_key``,
``verbosity`` and the rest are dropped.

Thinking is turned off when the last assistant turn has tool calls but no signed thinking to start
it (reasoning from another provider, or none), and when the conversation ends with an assistant
turn (a prefill): Anthropic rejects both while thinking is on (§4.6). At most four cache
breakpoints are kept, the last four (§4.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, cast

from ....capabilities import refusing_openai_extras
from ....ir import ChatRequest, JSONDict, Reasoning, ReasoningEffort, ResponseFormat
from ...common import (
    Malformed,
    as_function_tools,
    invalid,
    opt_bool,
    opt_dict,
    opt_int,
    opt_num,
    opt_str,
    put,
    reject_opaque,
    reject_refused,
    req_dict,
    req_list,
    req_str,
    required,
    sub,
    take,
    without,
    wrong,
)
from .block_fields import DIALECT, unsupported
from .fit import fitted
from .messages import (
    opaque_blocks,
    read_messages,
    read_system,
    write_foreign_messages,
    write_native_messages,
    write_native_system,
)
from .tools import read_tool_fields, write_foreign_tool_choice, write_foreign_tools, write_native_tool_fields

DEFAULT_MAX_TOKENS: Final = 4096
MAX_BREAKPOINTS: Final = 4
_MAX_USER_ID: Final = 512
_EFFORT_LEVELS: Final = ("low", "medium", "high", "xhigh", "max")
_THINKING_TYPES: Final = ("enabled", "disabled", "adaptive")
BUDGETS: Final[Mapping[str, int]] = MappingProxyType(
    {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768, "max": 63999}
)
_MIN_BUDGET: Final = 1024
JSON_OBJECT_INSTRUCTION: Final = "Respond with a single JSON object and nothing else."


# ---------------------------------------------------------------------------- reading


# OpenAI chat fields the Messages API cannot carry (whatever the kind speaking it): a translated
# request asking for one is refused rather than answered without what the caller asked for. A kind
# adds its own in ``Capabilities.refused``.
PROTOCOL_REFUSED: Final = refusing_openai_extras(
    logprobs="Anthropic upstreams do not return log probabilities.",
    audio="Anthropic upstreams do not produce audio.",
    logit_bias="Anthropic upstreams do not support logit_bias.",
    web_search="Web search options cannot be sent to an Anthropic upstream.",
)


def read_request(body: JSONDict) -> ChatRequest:
    rest = dict(body)
    model = req_str(body, "model", "")
    if not model:
        raise Malformed("model", "Invalid value for 'model': it must not be empty.")
    raw_messages = req_list(body, "messages", "")
    required(body, "max_tokens", "")
    max_tokens = opt_int(body, "max_tokens", "")
    if max_tokens is None:
        raise wrong("max_tokens", "an integer", None)
    _at_least(max_tokens, "max_tokens", 0)
    messages = read_system(body, rest) + read_messages(raw_messages)
    del rest["model"], rest["messages"], rest["max_tokens"]
    request = ChatRequest(model, messages, DIALECT, include_usage=True, max_output_tokens=max_tokens)
    if opt_bool(body, "stream", ""):
        request.stream = True
        del rest["stream"]  # false and null stay: the neutral form cannot tell them from absent
    request.temperature = take(rest, "temperature", _unit(body, "temperature"))
    request.top_p = take(rest, "top_p", _unit(body, "top_p"))
    request.top_k = take(rest, "top_k", opt_int(body, "top_k", ""))
    if request.top_k is not None:
        _at_least(request.top_k, "top_k", 0)
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise wrong("stop_sequences", "an array of strings", stop)
        request.stop = list(stop)
        del rest["stop_sequences"]
    read_tool_fields(body, rest, request)
    _read_reasoning(body, rest, request)
    metadata = opt_dict(body, "metadata", "")
    if metadata is not None:
        inner = dict(metadata)
        request.user = take(inner, "user_id", opt_str(metadata, "user_id", "metadata"))
        rest["metadata"] = inner
    request.extra = rest
    request.opaque = opaque_blocks(messages)
    return request


def _at_least(value: float, path: str, minimum: float) -> None:
    if value < minimum:
        raise Malformed(path, f"Invalid value for '{path}': {value}. It must be at least {minimum}.")


def _unit(body: JSONDict, key: str) -> float | None:
    value = opt_num(body, key, "")
    if value is not None and not 0 <= value <= 1:
        raise Malformed(key, f"Invalid value for '{key}': {value}. It must be between 0 and 1.")
    return value


def _read_reasoning(body: JSONDict, rest: JSONDict, request: ChatRequest) -> None:
    """``thinking`` and ``output_config`` (effort and format). What is left of each object stays
    in the residual, even when empty, so that a writer of this dialect fills the same object."""
    reasoning: Reasoning | None = None
    thinking = opt_dict(body, "thinking", "")
    if thinking is not None:
        kind = req_str(thinking, "type", "thinking")
        if kind not in _THINKING_TYPES:
            raise invalid("thinking.type", kind, _THINKING_TYPES)
        inner = dict(thinking)
        reasoning = Reasoning()
        if kind == "enabled":
            required(thinking, "budget_tokens", "thinking")
            budget = opt_int(thinking, "budget_tokens", "thinking")
            if budget is None:
                raise wrong("thinking.budget_tokens", "an integer", None)
            reasoning.budget_tokens = budget
            del inner["type"], inner["budget_tokens"]
        elif kind == "disabled":
            reasoning.effort = "none"
            del inner["type"]
        rest["thinking"] = inner  # adaptive keeps its type here
    output = opt_dict(body, "output_config", "")
    if output is None:
        request.reasoning = reasoning
        return
    inner = dict(output)
    effort = opt_str(output, "effort", "output_config")
    if effort is not None:
        if effort not in _EFFORT_LEVELS:
            raise invalid("output_config.effort", effort, _EFFORT_LEVELS)
        reasoning = reasoning or Reasoning()
        if reasoning.effort is None:
            reasoning.effort = cast(ReasoningEffort, effort)
            del inner["effort"]
    spec = opt_dict(output, "format", "output_config")
    if spec is not None:
        kind = req_str(spec, "type", "output_config.format")
        if kind != "json_schema":
            raise invalid("output_config.format.type", kind, ("json_schema",))
        schema = req_dict(spec, "schema", "output_config.format")
        request.response_format = ResponseFormat(
            "json_schema", schema=schema, extra=without(spec, "type", "schema")
        )
        del inner["format"]
    rest["output_config"] = inner
    request.reasoning = reasoning


# ---------------------------------------------------------------------------- writing


def write_request(request: ChatRequest) -> JSONDict:
    if request.dialect == DIALECT:
        return _write_native(request)
    return _write_foreign(request)


def _write_native(request: ChatRequest) -> JSONDict:
    out = dict(request.extra)
    out["model"] = request.model
    out["max_tokens"] = (
        request.max_output_tokens if request.max_output_tokens is not None else DEFAULT_MAX_TOKENS
    )
    system = write_native_system(request.messages)
    if system is not None:
        out["system"] = system
    out["messages"] = write_native_messages(request.messages)
    if request.stream:
        out["stream"] = True
    put(out, "temperature", request.temperature)
    put(out, "top_p", request.top_p)
    put(out, "top_k", request.top_k)
    if request.stop is not None:
        out["stop_sequences"] = list(request.stop)
    write_native_tool_fields(out, request)
    _write_native_reasoning(out, request.reasoning, request.response_format)
    if request.user is not None:
        metadata = sub(out, "metadata")
        metadata["user_id"] = request.user
        out["metadata"] = metadata
    elif isinstance(out.get("metadata"), dict) and out["metadata"].get("user_id") is not None:
        out["metadata"] = without(out["metadata"], "user_id")
    return out


def _write_native_reasoning(out: JSONDict, reasoning: Reasoning | None, spec: ResponseFormat | None) -> None:
    original = out.get("thinking")
    thinking = sub(out, "thinking")
    if reasoning is not None and reasoning.budget_tokens is not None:
        thinking.update(type="enabled", budget_tokens=reasoning.budget_tokens)
    elif reasoning is not None and reasoning.effort == "none":
        thinking["type"] = "disabled"
    elif thinking.get("type") != "adaptive":
        thinking.clear()
    if "type" in thinking:
        out["thinking"] = thinking
    elif isinstance(original, dict):
        del out["thinking"]  # thinking was turned off since
    had_output = isinstance(out.get("output_config"), dict)
    output = sub(out, "output_config")
    effort = None if reasoning is None else reasoning.effort
    if effort in _EFFORT_LEVELS or effort == "minimal":
        output["effort"] = "low" if effort == "minimal" else effort
    if spec is not None and spec.type == "json_schema":
        output["format"] = {**spec.extra, "type": "json_schema", "schema": spec.schema or {"type": "object"}}
    if output or had_output:
        out["output_config"] = output


def _write_foreign(request: ChatRequest) -> JSONDict:
    reject_opaque(request, "an Anthropic upstream")
    if request.n is not None and request.n > 1:
        raise unsupported("Anthropic upstreams return one message per request: 'n' must be 1.", "n")
    extra = request.extra if request.dialect == "openai" else {}
    reject_refused(extra, request.capabilities, PROTOCOL_REFUSED)
    system, messages = write_foreign_messages(request.messages)
    budget = _budget(request.reasoning)
    if budget is not None and not _thinking_allowed(messages):
        budget = None
    spec = request.response_format
    if spec is not None and spec.type == "json_object":
        system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    limit = request.capabilities.output_limit
    max_tokens, budget = fitted(limit, _max_tokens(request.max_output_tokens, budget), budget)
    out: JSONDict = {"model": request.model, "max_tokens": max_tokens}
    if system:
        out["system"] = system
    out["messages"] = messages
    if request.stream:
        out["stream"] = True
    _write_foreign_sampling(out, request, thinking=budget is not None)
    tools = write_foreign_tools(as_function_tools(request.tools), request.tool_choice)
    if tools:
        out["tools"] = tools
        put(
            out,
            "tool_choice",
            write_foreign_tool_choice(request.tool_choice, request.parallel_tool_calls, budget is not None),
        )
    if budget is not None:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if spec is not None and spec.type == "json_schema":
        out["output_config"] = {
            "format": {"type": "json_schema", "schema": spec.schema or {"type": "object"}}
        }
    user = request.user if request.user is not None else _opt_text(extra.get("safety_identifier"))
    if user is not None:
        hashed = user if len(user) <= _MAX_USER_ID else hashlib.sha256(user.encode()).hexdigest()
        out["metadata"] = {"user_id": hashed}
    put(out, "service_tier", _SERVICE_TIERS.get(_opt_text(extra.get("service_tier")) or ""))
    _limit_breakpoints(out)
    return out


def _max_tokens(asked: int | None, budget: int | None) -> int:
    """``max_tokens``: the asked size or a default; with thinking, room for the budget on top."""
    size = asked if asked is not None else DEFAULT_MAX_TOKENS
    if budget is not None and size <= budget:
        return budget + (asked or DEFAULT_MAX_TOKENS)
    return size


def _write_foreign_sampling(out: JSONDict, request: ChatRequest, *, thinking: bool) -> None:
    """Temperature clamped to Anthropic's [0, 1]; with thinking only 1 is allowed, and no top_k."""
    if request.temperature is not None and (not thinking or request.temperature >= 1):
        out["temperature"] = min(max(request.temperature, 0.0), 1.0)
    put(out, "top_p", request.top_p)
    if not thinking:
        put(out, "top_k", request.top_k)
    stops = [s for s in request.stop or () if s.strip()]  # Anthropic rejects whitespace-only ones
    if stops:
        out["stop_sequences"] = stops


def _opt_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _budget(reasoning: Reasoning | None) -> int | None:
    """The thinking budget for the neutral reasoning (None: no thinking)."""
    if reasoning is None:
        return None
    if reasoning.budget_tokens is not None:
        return max(reasoning.budget_tokens, _MIN_BUDGET) if reasoning.budget_tokens > 0 else None
    if reasoning.effort is None or reasoning.effort == "none":
        return None
    return BUDGETS[reasoning.effort]


def _thinking_allowed(messages: list[JSONDict]) -> bool:
    """False when the conversation ends with an assistant turn (a prefill), or when the last
    assistant turn has tool calls but does not start with thinking: Anthropic rejects both while
    thinking is on."""
    if messages and messages[-1]["role"] == "assistant":
        return False
    for message in reversed(messages):
        if message["role"] != "assistant":
            continue
        content: list[JSONDict] = message["content"]
        if not any(b["type"] == "tool_use" for b in content):
            return True
        return content[0]["type"] in ("thinking", "redacted_thinking")
    return True


# ---------------------------------------------------------------------------- OpenAI-only fields

_SERVICE_TIERS: Final[Mapping[str, str]] = MappingProxyType(
    {"auto": "auto", "default": "standard_only", "priority": "auto"}
)


# ---------------------------------------------------------------------------- cache breakpoints


def _limit_breakpoints(body: JSONDict) -> None:
    """Keep the last ``MAX_BREAKPOINTS`` cache breakpoints (prefix order: tools, system,
    messages), as Anthropic rejects more."""
    marked = [b for b in _blocks(body) if "cache_control" in b]
    for block in marked[: max(0, len(marked) - MAX_BREAKPOINTS)]:
        del block["cache_control"]


def _blocks(body: JSONDict) -> Iterator[JSONDict]:
    yield from body.get("tools") or ()
    system = body.get("system")
    if isinstance(system, list):
        yield from system
    for message in body["messages"]:
        content: Any = message["content"]
        for block in content if isinstance(content, list) else ():
            yield block
            nested = block.get("content")
            if isinstance(nested, list):
                yield from nested
