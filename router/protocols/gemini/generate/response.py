"""The response (``GenerateContentResponse``), read and written: candidates, finish reasons, a
blocked prompt, and usage.

Finish reasons (TRANSLATION §4.9): ``STOP`` is a neutral STOP, or TOOL_CALLS when the candidate
has function calls (Gemini has no tool-call reason); ``MAX_TOKENS`` is LENGTH; ``SAFETY``,
``RECITATION``, ``LANGUAGE``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``MODEL_ARMOR`` and
the ``IMAGE_*`` blocks are CONTENT_FILTER; ``MALFORMED_FUNCTION_CALL``, ``UNEXPECTED_TOOL_CALL``,
``TOO_MANY_TOOL_CALLS``, ``MISSING_THOUGHT_SIGNATURE`` and ``MALFORMED_RESPONSE`` are ERROR (the
turn ended abnormally); anything else (``OTHER``, ``NO_IMAGE``, unspecified, newer values) is STOP.
A reason other than the canonical one stays in the residual and wins while it agrees. Written for
another dialect's response: STOP, TOOL_CALLS → ``STOP``, LENGTH → ``MAX_TOKENS``, CONTENT_FILTER →
``SAFETY``, ERROR → ``OTHER``.

A prompt blocked by safety (``promptFeedback.blockReason`` and no candidates) is one choice with no
content and CONTENT_FILTER, marked ``BLOCKED`` so that a writer of this dialect gives back no
candidates (TRANSLATION §6.8, pitfall 29).

Usage (TRANSLATION §4.10, §6.9): ``promptTokenCount`` (cached tokens included) is the input,
``cachedContentTokenCount`` the cache reads, ``candidatesTokenCount + thoughtsTokenCount`` the
output, ``thoughtsTokenCount`` the reasoning tokens, ``totalTokenCount`` the total; the modality
breakdowns and ``toolUsePromptTokenCount`` stay in the residual. Gemini leaves zero counts out (proto
JSON): a writer of this dialect writes non-zero counts, and a zero the upstream did send stays in
the residual.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from ....ir import (
    AudioPart,
    ChatResponse,
    Choice,
    FilePart,
    FinishReason,
    ImagePart,
    JSONDict,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    Usage,
)
from ...common import fill_slots, opt_list, opt_str, own_signature, take
from .grounding import citations_of, search_of
from .parts import read_part, write_foreign_call, write_native_parts
from .proto_json import (
    BLOCKED,
    DIALECT,
    NO_CONTENT,
    NO_PARTS,
    CallIds,
    clean,
    fields,
    proto_int,
    response_call_id,
)

_FILTERED: Final = (
    "SAFETY",
    "RECITATION",
    "LANGUAGE",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "MODEL_ARMOR",
)
_FAILED: Final = (
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "MISSING_THOUGHT_SIGNATURE",
    "MALFORMED_RESPONSE",
)
FINISH_FROM_WIRE: Final[Mapping[str, FinishReason]] = MappingProxyType(
    {"STOP": FinishReason.STOP, "MAX_TOKENS": FinishReason.LENGTH}
    | dict.fromkeys(_FILTERED, FinishReason.CONTENT_FILTER)
    | dict.fromkeys(_FAILED, FinishReason.ERROR)
)
FINISH_TO_WIRE: Final[Mapping[FinishReason, str]] = MappingProxyType(
    {
        FinishReason.STOP: "STOP",
        FinishReason.TOOL_CALLS: "STOP",  # Gemini has no tool-call finish reason
        FinishReason.LENGTH: "MAX_TOKENS",
        FinishReason.CONTENT_FILTER: "SAFETY",
        FinishReason.ERROR: "OTHER",
    }
)
_ALWAYS: Final = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")
_COUNTS: Final = (
    "promptTokenCount",
    "cachedContentTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
)


def finish_from_wire(value: str) -> FinishReason:
    return FINISH_FROM_WIRE.get(value.upper(), FinishReason.STOP)


def finish_to_wire(reason: FinishReason, original: object) -> str:
    """The wire finish reason; an original spelling (``RECITATION``, ...) wins while it agrees."""
    if isinstance(original, str):
        read = finish_from_wire(original)
        if read is reason or (read is FinishReason.STOP and reason is FinishReason.TOOL_CALLS):
            return original
    return FINISH_TO_WIRE[reason]


# ---------------------------------------------------------------------------- usage


def read_usage(raw: object, path: str) -> Usage:
    usage = fields(raw, path)
    rest = dict(usage)
    counts = {key: proto_int(usage, key, path) for key in _COUNTS}
    for key, value in counts.items():
        if value and isinstance(usage[key], int):
            del rest[key]  # zeros, and counts in another form, stay
    prompt, cached, candidates, thoughts, total = counts.values()
    return Usage(
        input_tokens=prompt or 0,
        output_tokens=(candidates or 0) + (thoughts or 0),
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
        total_tokens=total,
        extra=rest,
    )


def write_usage(usage: Usage, native: bool) -> JSONDict:
    """``usageMetadata``; for another dialect with the prompt, candidate and total counts always."""
    out = dict(usage.extra) if native else {}
    reasoning = usage.reasoning_tokens
    values = (
        usage.input_tokens,
        usage.cache_read_tokens,
        max(0, usage.output_tokens - (reasoning or 0)),
        reasoning,
        usage.total_tokens if native else usage.total(),
    )
    for key, value in zip(_COUNTS, values, strict=True):
        if value is None:
            continue
        wanted = value or (not native and key in _ALWAYS)
        if wanted and not (out.get(key) is not None and proto_int(out, key, "usageMetadata") == value):
            out[key] = value
    return out


# ---------------------------------------------------------------------------- reading


def read_response(body: JSONDict, ids: CallIds | None = None) -> ChatResponse:
    """A response (or one stream chunk; ``ids`` then makes call ids unique across the stream)."""
    body = fields(body, "body")
    rest = dict(body)
    response_id = take(rest, "responseId", opt_str(body, "responseId", ""))
    model = take(rest, "modelVersion", opt_str(body, "modelVersion", ""))
    ids = ids or CallIds(response_call_id)
    candidates = opt_list(body, "candidates", "")
    choices = [_read_candidate(c, f"candidates[{j}]", j, ids) for j, c in enumerate(candidates or ())]
    if choices:
        del rest["candidates"]  # an empty list stays
    else:
        feedback = body.get("promptFeedback")
        block = None if feedback is None else fields(feedback, "promptFeedback").get("blockReason")
        if block:
            message = Message("assistant", [], extra={NO_CONTENT: True})
            choices = [Choice(0, message, FinishReason.CONTENT_FILTER, {BLOCKED: True})]
    usage = None
    if body.get("usageMetadata") is not None:
        usage = read_usage(body["usageMetadata"], "usageMetadata")
        del rest["usageMetadata"]
    return ChatResponse(response_id or "", model or "", int(time.time()), choices, DIALECT, usage, rest)


def _read_candidate(raw: object, path: str, position: int, ids: CallIds) -> Choice:
    candidate = fields(raw, path)
    rest = dict(candidate)  # ``index`` stays: the writer gives back what was sent
    index = proto_int(candidate, "index", path)
    message = _read_message(candidate, rest, path, ids)
    grounding = candidate.get("groundingMetadata")  # stays in the residual too
    if grounding is not None:
        _read_grounding(grounding, message)
    finish = opt_str(candidate, "finishReason", path)
    reason = None
    if finish is not None:
        reason = finish_from_wire(finish)
        if reason is FinishReason.STOP and any(isinstance(p, ToolCall) for p in message.parts):
            reason = FinishReason.TOOL_CALLS
        if FINISH_TO_WIRE[reason] == finish:
            del rest["finishReason"]
    return Choice(position if index is None else index, message, reason, rest)


def _read_grounding(grounding: object, message: Message) -> None:
    search = search_of(grounding)
    if search is not None:
        message.searches = [search]
    text = next((p for p in message.parts if isinstance(p, TextPart)), None)
    if text is not None:  # the spans are of the turn's text: they ride on its first part
        text.citations = citations_of(grounding, message.text())


def _read_message(candidate: JSONDict, rest: JSONDict, path: str, ids: CallIds) -> Message:
    raw = candidate.get("content")
    if raw is None:
        return Message("assistant", [], extra={} if "content" in candidate else {NO_CONTENT: True})
    del rest["content"]
    content = fields(raw, f"{path}.content")
    extra = {k: v for k, v in content.items() if k != "parts"}  # ``role`` stays, like ``index``
    raw_parts = opt_list(content, "parts", f"{path}.content")
    if raw_parts is None:
        extra[NO_PARTS] = True
    parts: list[Part] = []
    slots: list[Any] = []
    for j, item in enumerate(raw_parts or ()):
        read = read_part(item, f"{path}.content.parts[{j}]", ids)
        if read is None:
            slots.append(item)
        else:
            parts.extend(read)
            slots.append(None)
    if any(s is not None for s in slots):
        extra["parts"] = slots
    return Message("assistant", parts, extra=extra)


# ---------------------------------------------------------------------------- writing


def write_response(response: ChatResponse) -> JSONDict:
    if response.dialect == DIALECT:
        return _write_native(response)
    out: JSONDict = {"candidates": [_foreign_candidate(c) for c in response.choices]}
    out["usageMetadata"] = write_usage(response.usage or Usage(), False)
    if response.model:
        out["modelVersion"] = response.model
    if response.id:
        out["responseId"] = response.id
    return out


def _write_native(response: ChatResponse) -> JSONDict:
    out = clean(response.extra)
    candidates = [c for c in response.choices if not c.extra.get(BLOCKED)]
    if candidates:
        out["candidates"] = [_native_candidate(c, i) for i, c in enumerate(candidates)]
    if response.usage is not None:
        out["usageMetadata"] = write_usage(response.usage, True)
    if response.model:
        out["modelVersion"] = response.model
    if response.id:
        out["responseId"] = response.id
    return out


def _native_candidate(choice: Choice, position: int) -> JSONDict:
    out = clean(choice.extra)
    message = choice.message
    if message.parts or not message.extra.get(NO_CONTENT):
        content = clean({k: v for k, v in message.extra.items() if k != "parts"})
        parts = fill_slots(write_native_parts(message.parts), message.extra.get("parts"))
        if parts or not message.extra.get(NO_PARTS):
            content["parts"] = parts
        out["content"] = content
    if choice.finish_reason is not None:
        out["finishReason"] = finish_to_wire(choice.finish_reason, out.get("finishReason"))
    given = "index" in out or choice.index != position
    if given and proto_int(out, "index", "candidate") != choice.index:
        out["index"] = choice.index
    return out


def _foreign_candidate(choice: Choice) -> JSONDict:
    parts: list[JSONDict] = []
    pending: str | None = None  # a Gemini signature without text rides on the part after it
    for part in choice.message.parts:
        if isinstance(part, ReasoningPart) and not part.text:
            pending = own_signature(part.signature, part.signer, DIALECT, unsigned=False) or pending
            continue
        written = foreign_response_part(part)
        if written is None:
            continue
        if pending is not None and "thoughtSignature" not in written:
            written["thoughtSignature"] = pending
        pending = None
        parts.append(written)
    if pending is not None:
        parts.append({"text": "", "thoughtSignature": pending})
    reason = choice.finish_reason or FinishReason.STOP
    return {
        "content": {"role": "model", "parts": parts},
        "finishReason": FINISH_TO_WIRE[reason],
        "index": choice.index,
    }


def foreign_response_part(part: Part) -> JSONDict | None:
    """A response part of another dialect; reasoning as thought text (signed only by Gemini)."""
    if isinstance(part, TextPart | RefusalPart):
        return {"text": part.text} if part.text else None
    if isinstance(part, ReasoningPart):
        signature = own_signature(part.signature, part.signer, DIALECT, unsigned=False)
        if not part.text:
            return None
        out: JSONDict = {"text": part.text, "thought": True}
        if signature is not None:
            out["thoughtSignature"] = signature
        return out
    if isinstance(part, ToolCall):
        return write_foreign_call(part)
    if isinstance(part, ImagePart | FilePart | AudioPart):
        data = part.data_b64
        if data is None:
            return None
        media_type = part.media_type if not isinstance(part, AudioPart) else f"audio/{part.format}"
        return {"inlineData": {"mimeType": media_type or "application/octet-stream", "data": data}}
    return None
