"""Reading a Chat Completions stream: ``chat.completion.chunk`` events to stream batches."""

from __future__ import annotations

from typing import Any, Final

import orjson

from ....errors import code_for_status
from ....ir import (
    Finish,
    JSONDict,
    RefusalDelta,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
)
from ...sse import SSEEvent
from .reasoning import DELTA_KEYS, read_delta_reasoning
from .residual import DIALECT, _nest, _without
from .response import _FINISH_TO_WIRE, _finish_from_wire, read_usage
from .validate import _Malformed, _obj, _opt_dict, _opt_int, _opt_list, _opt_str

_CHUNK_OBJECT: Final = "chat.completion.chunk"


class _ToolSlots:
    """One choice's tool calls: wire ``index`` → (neutral index, call id), in order of arrival,
    and the neutral index of its deprecated ``function_call`` (a choice has at most one)."""

    __slots__ = ("by_wire", "count", "legacy")

    def __init__(self) -> None:
        self.by_wire: dict[int, tuple[int, str]] = {}
        self.count = 0
        self.legacy: int | None = None

    def open(self) -> int:
        index = self.count
        self.count += 1
        return index


class OpenAIChatStreamReader:
    """Reads ``chat.completion.chunk`` events: one chunk → one batch.

    The batch's ``extra`` is the chunk's residual: unknown and null top-level keys, identity
    fields that differ from the stream's first chunk, and ``choices`` (null when the chunk's was):
    one residual per choice (its ``index``, unknown keys such as ``logprobs``, a null ``delta``, a
    null or non-canonical ``finish_reason``, and a ``delta`` residual whose ``tool_calls`` list
    holds one residual per fragment, by position).

    Each tool-call fragment gives at least one event, so that a same-protocol writer rebuilds the
    fragments one for one: a first fragment gives ToolCallStart, plus ToolCallDelta when it
    carries ``arguments`` (even ``""``); a later fragment gives ToolCallDelta (possibly empty). A
    custom tool call's fragments (``custom: {name, input}``) are read the same way; their residual
    keeps a ``custom`` object, even an empty one, so that the writer gives back that shape.

    A deprecated ``function_call`` delta is the choice's one tool call (id ``call_fn_<choice>``,
    as the non-streamed reader names it): its name gives ToolCallStart, its ``arguments``
    ToolCallDelta; the delta residual keeps a ``function_call`` object (its unknown keys, and a
    repeated name) that tells the writer to write the call back in that form.
    """

    __slots__ = ("_finished", "_start", "_tools")

    def __init__(self) -> None:
        self._finished = False
        self._start: StreamStart | None = None
        self._tools: dict[int, _ToolSlots] = {}

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        if self._finished:
            return None
        data = event.data.strip()
        if data == "[DONE]":
            self._finished = True
            return None
        if not data:
            return None  # keep-alive
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._fail(502, "The upstream sent a stream chunk that is not valid JSON.")
        if not isinstance(chunk, dict):
            return self._fail(502, "The upstream sent a stream chunk that is not a JSON object.")
        if event.event == "error" or chunk.get("error") is not None:
            return self._error(chunk)
        try:
            return self._read_chunk(chunk)
        except _Malformed as exc:
            return self._fail(502, f"The upstream sent a malformed stream chunk: {exc.message}")

    def _fail(self, status: int, message: str, extra: JSONDict | None = None) -> StreamBatch:
        self._finished = True
        failure = StreamFailure(status, code_for_status(status).value, message)
        return StreamBatch([failure], DIALECT, extra or {})

    def _error(self, chunk: JSONDict) -> StreamBatch:
        """An in-stream error: ``{"error": {message, type, param, code}}`` (TRANSLATION §11.3)."""
        error = chunk.get("error", chunk)
        status, message = 502, "The upstream reported an error in the middle of the stream."
        if isinstance(error, dict):
            for key in ("status", "code"):
                value = error.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
                    status = value
                    break
            if isinstance(error.get("message"), str) and error["message"]:
                message = error["message"]
        return self._fail(status, message, {"error": error} if isinstance(error, dict) else None)

    def _read_chunk(self, chunk: JSONDict) -> StreamBatch:
        events: list[StreamEvent] = []
        extra = _without(chunk, "id", "object", "created", "model", "choices", "usage")
        self._read_identity(chunk, events, extra)
        choices = _opt_list(chunk, "choices", "")
        if choices is None and "choices" in chunk:
            extra["choices"] = None
        else:
            extra["choices"] = [
                self._read_choice(c, f"choices[{j}]", j, events) for j, c in enumerate(choices or [])
            ]
        if "usage" in chunk:
            if chunk["usage"] is None:
                extra["usage"] = None
            else:
                events.append(UsageReport(read_usage(chunk["usage"], "usage")))
        return StreamBatch(events, DIALECT, extra)

    def _read_identity(self, chunk: JSONDict, events: list[StreamEvent], extra: JSONDict) -> None:
        chunk_id = _opt_str(chunk, "id", "")
        model = _opt_str(chunk, "model", "")
        created = _opt_int(chunk, "created", "")
        if "object" in chunk and chunk["object"] != _CHUNK_OBJECT:
            extra["object"] = chunk["object"]
        start = self._start
        if start is None and chunk_id:
            self._start = StreamStart(chunk_id, model or "", created or 0)
            events.append(self._start)
            return
        known: tuple[object, object, object] = (None, None, None)
        if start is not None:
            known = (start.id, start.model, start.created)
        for key, value, first in zip(
            ("id", "model", "created"), (chunk_id, model, created), known, strict=True
        ):
            if key in chunk and (start is None or value != first):
                extra[key] = chunk[key]  # differs from the stream's identity (or none is known yet)

    def _read_choice(self, raw: object, path: str, position: int, events: list[StreamEvent]) -> JSONDict:
        choice = _obj(raw, path)
        index = _opt_int(choice, "index", path)
        if index is None:
            index = position
        residual: JSONDict = {"index": index}
        residual.update(_without(choice, "index", "delta", "finish_reason"))
        delta = _opt_dict(choice, "delta", path)
        if delta:
            delta_residual = self._read_delta(delta, index, f"{path}.delta", events)
            if delta_residual:
                residual["delta"] = delta_residual
        elif delta is None and "delta" in choice:
            residual["delta"] = None
        finish = _opt_str(choice, "finish_reason", path)
        if finish is not None:
            reason = _finish_from_wire(finish)
            events.append(Finish(reason, index))
            if _FINISH_TO_WIRE[reason] != finish:
                residual["finish_reason"] = finish
        elif "finish_reason" in choice:
            residual["finish_reason"] = None
        return residual

    def _read_delta(self, delta: JSONDict, choice: int, path: str, events: list[StreamEvent]) -> JSONDict:
        if delta.get("role") == "assistant":
            events.append(RoleStart(choice))
        events.extend(read_delta_reasoning(delta, choice, path))
        content = _opt_str(delta, "content", path)
        if content is not None:
            events.append(TextDelta(content, choice))
        refusal = _opt_str(delta, "refusal", path)
        if refusal is not None:
            events.append(RefusalDelta(refusal, choice))
        fragments = _opt_list(delta, "tool_calls", path)
        legacy = _opt_dict(delta, "function_call", path)
        residual = {k: v for k, v in delta.items() if not _delta_key_read(k, v)}
        if fragments:
            leftovers = self._read_fragments(fragments, choice, f"{path}.tool_calls", events)
            if any(leftovers):
                residual["tool_calls"] = leftovers
        if legacy is not None:
            residual["function_call"] = self._read_legacy_call(
                legacy, choice, f"{path}.function_call", events
            )
        return residual

    def _slots(self, choice: int) -> _ToolSlots:
        slots = self._tools.get(choice)
        if slots is None:
            slots = self._tools[choice] = _ToolSlots()
        return slots

    def _read_fragments(
        self, fragments: list[Any], choice: int, path: str, events: list[StreamEvent]
    ) -> list[JSONDict]:
        slots = self._slots(choice)
        leftovers: list[JSONDict] = []
        for k, raw in enumerate(fragments):
            fragment_path = f"{path}[{k}]"
            fragment = _obj(raw, fragment_path)
            wire = _opt_int(fragment, "index", fragment_path)
            wire = k if wire is None else wire
            call_id = _opt_str(fragment, "id", fragment_path)
            kind = _opt_str(fragment, "type", fragment_path)
            # a continuation has no ``type``: its key tells
            custom = kind == "custom" or (
                kind is None and "custom" in fragment and "function" not in fragment
            )
            kind, field = ("custom", "input") if custom else ("function", "arguments")
            spec = _opt_dict(fragment, kind, fragment_path) or {}
            name = _opt_str(spec, "name", f"{fragment_path}.{kind}")
            arguments = _opt_str(spec, field, f"{fragment_path}.{kind}")
            known = slots.by_wire.get(wire)
            if known is None or (call_id and call_id != known[1]):  # a new call (also a new id)
                index = slots.open()
                slots.by_wire[wire] = (index, call_id or "")
                events.append(ToolCallStart(index, call_id or "", name or "", choice=choice))
                if arguments is not None:
                    events.append(ToolCallDelta(index, arguments, choice))
            else:  # a continuation: a repeated id, type or name is dropped (§5.2)
                events.append(ToolCallDelta(known[0], arguments or "", choice))
            leftover = _without(fragment, "index", "id", "type", kind)
            spec_leftover = _without(spec, "name", field)
            if custom:
                leftover[kind] = spec_leftover  # kept even when empty: it marks a custom call
            else:
                _nest(leftover, kind, spec_leftover)
            leftovers.append(leftover)
        return leftovers

    def _read_legacy_call(
        self, call: JSONDict, choice: int, path: str, events: list[StreamEvent]
    ) -> JSONDict:
        """A deprecated ``function_call`` delta; its residual (possibly empty) is returned."""
        name = _opt_str(call, "name", path)
        arguments = _opt_str(call, "arguments", path)
        slots = self._slots(choice)
        index = slots.legacy
        if index is None:
            index = slots.legacy = slots.open()
            events.append(ToolCallStart(index, f"call_fn_{choice}", name or "", choice=choice))
            leftover = _without(call, "name", "arguments")
        else:  # a repeated name is no event: it stays in the residual
            leftover = _without(call, "arguments")
        if arguments is not None:
            events.append(ToolCallDelta(index, arguments, choice))
        return leftover


def _delta_key_read(key: str, value: object) -> bool:
    """True when a delta key's value became events (the rest stays in the residual)."""
    if key == "role":
        return value == "assistant"
    if key in ("content", "refusal"):
        return isinstance(value, str)
    if key in DELTA_KEYS:
        return True
    return key == "tool_calls" and isinstance(value, list) and bool(value)
