"""The request body (``GenerateContentRequest``), read and written.

The model is in the URL (``models/{model}:generateContent``), not the body: a body without
``model`` is the rule, and one that has it keeps it in the residual (the neutral ``model`` is set by
the dispatcher). Field names may be camelCase or snake_case (both proto-JSON spellings); writers
use camelCase. Reading takes every field the neutral form models; the rest (``safetySettings``,
``cachedContent``, ``labels``, ``toolConfig.retrievalConfig``, ``generationConfig``'s
``responseModalities``, ``speechConfig``, ``mediaResolution``, ``responseLogprobs``, ...) stays in
``extra``, and so do the objects ``generationConfig`` and ``thinkingConfig`` themselves, even
emptied, so that a writer of this dialect fills the same objects. ``thinkingConfig`` is the neutral
Reasoning: ``thinkingBudget`` its budget (``-1``, dynamic, stays in the residual: no budget),
``thinkingLevel`` its effort (the original stays: a writer of this dialect gives it back while the
effort agrees), ``includeThoughts``. ``responseMimeType`` ``application/json`` with
``responseJsonSchema`` or ``responseSchema`` is a json_schema ResponseFormat, alone json_object;
``text/plain`` is text. ``include_usage`` is always set: Gemini reports usage on every stream.

Writing a request of another dialect for a Gemini upstream (TRANSLATION §6), field by field:

=========================  ===============================================  ==========
neutral field              Gemini                                           decision
=========================  ===============================================  ==========
model                      – (the URL; the upstream plugin puts it there)   mapped
messages                   ``systemInstruction`` + ``contents`` (§6.2)      mapped
stream                     – (the operation: ``streamGenerateContent``)     mapped
include_usage              – (usage is always reported)                     dropped
max_output_tokens          ``generationConfig.maxOutputTokens``             mapped
temperature                ``temperature`` (same 0–2 range)                 mapped
top_p / top_k              ``topP`` / ``topK``                              mapped
stop                       ``stopSequences``; more than 5 is a 400          mapped
n                          ``candidateCount``                               mapped
seed                       ``seed``                                         mapped
presence/frequency_penalty ``presencePenalty`` / ``frequencyPenalty``       mapped
tools                      one Tool of ``functionDeclarations`` (tools.py,  mapped
                           schema.py); other providers' built-in tools
                           and custom (free-text) tools are a 400
tool_choice                ``toolConfig.functionCallingConfig`` (§6.5)      mapped
parallel_tool_calls        – (Gemini has no switch; calls are not cut)      dropped
response_format            json_object → ``responseMimeType``               mapped
                           application/json; json_schema → that and
                           ``responseJsonSchema``; text → nothing
reasoning                  ``thinkingConfig.thinkingBudget`` (budget as     mapped
                           given, else by effort: none 0, minimal 512,
                           low 1024, medium 8192, high 24576, xhigh and
                           max -1 = dynamic); ``includeThoughts`` as asked,
                           else true when reasoning was asked for
user, metadata             – (Gemini has no such fields)                    dropped
=========================  ===============================================  ==========

Fields of an OpenAI chat request the neutral form does not model: those no Gemini upstream can
honour here (:data:`PROTOCOL_REFUSED`; a kind adds its own in ``Capabilities.refused``):
``logprobs``/``top_logprobs`` — Gemini offers
``responseLogprobs``, but the neutral form cannot carry log probabilities back —, ``audio``/
``modalities`` with audio, a non-empty ``logit_bias`` and ``web_search_options``) change what the
caller gets and are a 400 naming the field; ``prediction``, ``store``, ``service_tier``,
``prompt_cache_key``, ``safety_identifier``, ``verbosity`` and the rest are dropped. Extras of
other dialects (Anthropic ``cache_control``, ``service_tier``, ``container``, ...) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ....capabilities import refusing_openai_extras
from ....ir import ChatRequest, JSONDict, Reasoning, ReasoningEffort, ResponseFormat
from ...common import (
    Malformed,
    as_function_tools,
    obj,
    opt_bool,
    opt_dict,
    opt_list,
    opt_num,
    opt_str,
    put,
    reject_opaque,
    reject_refused,
    req_list,
    req_str,
    sub,
    take,
    wrong,
)
from .contents import (
    opaque_parts,
    read_contents,
    read_system,
    write_foreign_contents,
    write_native_contents,
    write_native_system,
)
from .fit import fitted_budget, fitted_output
from .proto_json import (
    DIALECT,
    CallIds,
    enum_name,
    fields,
    request_call_id,
    same_enum,
    take_int,
    unsupported,
    write_int,
)
from .schema import camel_schema, json_schema, lower_types
from .tools import read_tool_fields, write_foreign_tool_config, write_foreign_tools, write_native_tool_fields

MAX_STOP_SEQUENCES: Final = 5
JSON: Final = "application/json"
TEXT: Final = "text/plain"
DYNAMIC_BUDGET: Final = -1
BUDGETS: Final[Mapping[str, int]] = MappingProxyType(
    {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": -1, "max": -1}
)
_LEVELS: Final = ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")
_LEVEL_FROM_WIRE: Final[Mapping[str, ReasoningEffort]] = MappingProxyType(
    {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high", "XHIGH": "xhigh"}
)
_LEVEL_TO_WIRE: Final[Mapping[str, str]] = MappingProxyType(
    {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
    | {"xhigh": "XHIGH", "max": "XHIGH"}
)
_SAMPLING: Final = ("temperature", "topP", "presencePenalty", "frequencyPenalty")


# ---------------------------------------------------------------------------- reading


# OpenAI chat fields a Gemini upstream cannot honour through the neutral form, whatever the kind
# speaking the protocol (Gemini offers responseLogprobs, but the neutral form cannot carry log
# probabilities back): a translated request asking for one is refused rather than answered without
# what the caller asked for. A kind adds its own in ``Capabilities.refused``.
PROTOCOL_REFUSED: Final = refusing_openai_extras(
    logprobs="Log probabilities cannot be returned from a Gemini upstream.",
    audio="Audio output cannot be requested from a Gemini upstream here.",
    logit_bias="Gemini upstreams do not support logit_bias.",
    web_search="Web search options cannot be sent to a Gemini upstream.",
)


def read_request(raw: JSONDict) -> ChatRequest:
    body = fields(raw, "body")
    rest = dict(body)
    model = opt_str(body, "model", "")  # stays in the residual
    ids = CallIds(request_call_id)
    messages = read_system(body, rest, ids) + read_contents(req_list(body, "contents", ""), ids)
    del rest["contents"]
    request = ChatRequest((model or "").removeprefix("models/"), messages, DIALECT, include_usage=True)
    read_tool_fields(body, rest, request)
    config = body.get("generationConfig")
    if config is not None:
        rest["generationConfig"] = _read_generation_config(fields(config, "generationConfig"), request)
    _check_residual(body)
    request.extra = rest
    request.opaque = opaque_parts(messages)
    return request


def _check_residual(body: JSONDict) -> None:
    """Shapes of the top-level fields that stay in the residual."""
    opt_str(body, "cachedContent", "")
    for i, raw in enumerate(opt_list(body, "safetySettings", "") or ()):
        setting = fields(raw, f"safetySettings[{i}]")
        req_str(setting, "category", f"safetySettings[{i}]")
        req_str(setting, "threshold", f"safetySettings[{i}]")
    for key, value in (opt_dict(body, "labels", "") or {}).items():
        if not isinstance(value, str):
            raise wrong(f"labels.{key}", "a string", value)


def _read_generation_config(config: JSONDict, request: ChatRequest) -> JSONDict:
    path = "generationConfig"
    rest = dict(config)
    request.temperature = take(rest, "temperature", opt_num(config, "temperature", path))
    request.top_p = take(rest, "topP", opt_num(config, "topP", path))
    request.presence_penalty = take(rest, "presencePenalty", opt_num(config, "presencePenalty", path))
    request.frequency_penalty = take(rest, "frequencyPenalty", opt_num(config, "frequencyPenalty", path))
    request.top_k = take_int(config, rest, "topK", path)
    request.max_output_tokens = take_int(config, rest, "maxOutputTokens", path)
    request.n = take_int(config, rest, "candidateCount", path)
    request.seed = take_int(config, rest, "seed", path)
    stop = config.get("stopSequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise wrong(f"{path}.stopSequences", "an array of strings", stop)
        request.stop = list(stop)
        del rest["stopSequences"]
    request.response_format = _read_response_format(config, rest)
    thinking = config.get("thinkingConfig")
    if thinking is not None:
        rest["thinkingConfig"] = _read_thinking(fields(thinking, f"{path}.thinkingConfig"), request)
    return rest


def _read_response_format(config: JSONDict, rest: JSONDict) -> ResponseFormat | None:
    path = "generationConfig"
    mime = opt_str(config, "responseMimeType", path)
    schema = config.get("responseSchema")
    raw_json = config.get("responseJsonSchema")
    if schema is not None and raw_json is not None:
        raise Malformed(
            f"{path}.responseJsonSchema",
            f"Invalid value for '{path}': 'responseSchema' and 'responseJsonSchema' are mutually exclusive.",
        )
    converted = None if schema is None else json_schema(schema, f"{path}.responseSchema")
    if raw_json is not None:
        converted = lower_types(obj(raw_json, f"{path}.responseJsonSchema"))
    if mime == TEXT and converted is None:
        del rest["responseMimeType"]
        return ResponseFormat("text")
    if mime != JSON:
        return None  # another type (text/x.enum, ...) stays in the residual with its schema
    del rest["responseMimeType"]
    if converted is None:
        return ResponseFormat("json_object")
    if raw_json is not None:
        del rest["responseJsonSchema"]
    else:
        rest["responseSchema"] = camel_schema(schema)  # given back while it agrees
    return ResponseFormat("json_schema", schema=converted)


def _read_thinking(thinking: JSONDict, request: ChatRequest) -> JSONDict:
    path = "generationConfig.thinkingConfig"
    rest = dict(thinking)
    reasoning = Reasoning()
    budget = take_int(thinking, rest, "thinkingBudget", path)
    if budget == DYNAMIC_BUDGET:
        rest["thinkingBudget"] = thinking["thinkingBudget"]  # dynamic: no neutral budget
    else:
        reasoning.budget_tokens = budget
    level = enum_name(thinking, "thinkingLevel", path, _LEVELS)
    if level is not None:
        reasoning.effort = _LEVEL_FROM_WIRE.get(level)  # the original stays in the residual
    reasoning.include_thoughts = take(rest, "includeThoughts", opt_bool(thinking, "includeThoughts", path))
    request.reasoning = reasoning
    return rest


# ---------------------------------------------------------------------------- writing


def write_request(request: ChatRequest) -> JSONDict:
    if request.dialect == DIALECT:
        return _write_native(request)
    return _write_foreign(request)


def _write_native(request: ChatRequest) -> JSONDict:
    out = dict(request.extra)
    original = out.get("model")
    if isinstance(original, str) and request.model and original.removeprefix("models/") != request.model:
        out["model"] = ("models/" if original.startswith("models/") else "") + request.model
    system = write_native_system(request.messages)
    if system is not None:
        out["systemInstruction"] = system
    out["contents"] = write_native_contents(request.messages)
    write_native_tool_fields(out, request)
    had = isinstance(out.get("generationConfig"), dict)
    config = sub(out, "generationConfig")
    _write_sampling(config, request)
    _write_native_format(config, request.response_format)
    _write_native_thinking(config, request.reasoning)
    if config or had:
        out["generationConfig"] = config
    return out


def _write_sampling(config: JSONDict, request: ChatRequest) -> None:
    for key, value in zip(
        _SAMPLING,
        (request.temperature, request.top_p, request.presence_penalty, request.frequency_penalty),
        strict=True,
    ):
        put(config, key, value)
    write_int(config, "topK", request.top_k)
    write_int(config, "maxOutputTokens", request.max_output_tokens)
    write_int(config, "candidateCount", request.n)
    write_int(config, "seed", request.seed)
    if request.stop is not None:
        config["stopSequences"] = list(request.stop)


def _write_native_format(config: JSONDict, spec: ResponseFormat | None) -> None:
    if spec is None:
        return
    if spec.type == "text":
        config["responseMimeType"] = TEXT
        return
    config["responseMimeType"] = JSON
    if spec.type != "json_schema":
        return
    original = config.get("responseSchema")
    if original is not None:
        try:
            if json_schema(original, "responseSchema") == spec.schema:
                return
        except Malformed:
            pass
        del config["responseSchema"]
    config["responseJsonSchema"] = spec.schema or {"type": "object"}


def _write_native_thinking(config: JSONDict, reasoning: Reasoning | None) -> None:
    had = isinstance(config.get("thinkingConfig"), dict)
    thinking = sub(config, "thinkingConfig")
    if reasoning is not None:
        # a dynamic budget (-1) has no neutral value and stays
        write_int(thinking, "thinkingBudget", reasoning.budget_tokens, stale=False)
        effort = reasoning.effort
        level = thinking.get("thinkingLevel")
        if effort is not None and not same_enum(level, _LEVEL_TO_WIRE[effort]):
            if level is not None:
                thinking["thinkingLevel"] = _LEVEL_TO_WIRE[effort]
            elif reasoning.budget_tokens is None:
                thinking["thinkingBudget"] = BUDGETS[effort]  # what Gemini 2.5 and 3 both take
        put(thinking, "includeThoughts", reasoning.include_thoughts)
    if thinking or had:
        config["thinkingConfig"] = thinking


def _write_foreign(request: ChatRequest) -> JSONDict:
    reject_opaque(request, "a Gemini upstream")
    extra = request.extra if request.dialect == "openai" else {}
    reject_refused(extra, request.capabilities, PROTOCOL_REFUSED)
    system, contents = write_foreign_contents(request.messages)
    out: JSONDict = {}
    if system:
        out["systemInstruction"] = {"parts": system}
    out["contents"] = contents
    tools = write_foreign_tools(as_function_tools(request.tools), request.tool_choice)
    if tools:
        out["tools"] = tools
        put(out, "toolConfig", write_foreign_tool_config(request.tool_choice))
    config: JSONDict = {}
    stops = [s for s in request.stop or () if s]
    if len(stops) > MAX_STOP_SEQUENCES:
        raise unsupported(f"Gemini upstreams take at most {MAX_STOP_SEQUENCES} stop sequences.", "stop")
    _write_sampling(config, request)
    if stops:
        config["stopSequences"] = stops
    else:
        config.pop("stopSequences", None)
    spec = request.response_format
    if spec is not None and spec.type != "text":
        config["responseMimeType"] = JSON
        if spec.type == "json_schema":
            config["responseJsonSchema"] = spec.schema or {"type": "object"}
    thinking = _foreign_thinking(request.reasoning)
    capabilities = request.capabilities
    if thinking is not None and "thinkingBudget" in thinking:
        thinking["thinkingBudget"] = fitted_budget(capabilities.thinking_budget, thinking["thinkingBudget"])
    put(config, "thinkingConfig", thinking)
    write_int(config, "maxOutputTokens", fitted_output(capabilities.output_limit, request.max_output_tokens))
    if config:
        out["generationConfig"] = config
    return out


def _foreign_thinking(reasoning: Reasoning | None) -> JSONDict | None:
    if reasoning is None:
        return None
    budget = reasoning.budget_tokens
    if budget is None and reasoning.effort is not None:
        budget = BUDGETS[reasoning.effort]
    out: JSONDict = {}
    if budget is not None:
        out["thinkingBudget"] = budget
    include = reasoning.include_thoughts if reasoning.include_thoughts is not None else budget != 0
    if include:
        out["includeThoughts"] = True
    return out or None
