"""Writing a Chat Completions stream: stream batches to ``chat.completion.chunk`` events."""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

import orjson

from ....errors import GatewayError
from ....ir import (
    ChatRequest,
    Finish,
    JSONDict,
    ReasoningDelta,
    RefusalDelta,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from ...common import failure_error as _failure_error
from ...sse import format_event
from ..errors import error_object
from .residual import DIALECT
from .response import _FINISH_TO_WIRE, _finish_to_wire, _write_usage
from .stream_reader import _CHUNK_OBJECT

_DONE_FRAME: Final = format_event(b"[DONE]")
_MAX_CHOICES: Final = 128  # OpenAI's limit on n; bounds the choices a writer introduces at once


def _new_entry(choice: int) -> JSONDict:
    return {"index": choice, "delta": {}, "finish_reason": None}


def _add_text(delta: JSONDict, event: TextDelta | ReasoningDelta | RefusalDelta) -> None:
    """Append the event's text to the delta's ``content``, ``reasoning_content`` or ``refusal``."""
    if isinstance(event, TextDelta):
        key = "content"
    elif isinstance(event, ReasoningDelta):
        key = "reasoning_content"
    else:
        key = "refusal"
    delta[key] = delta.get(key, "") + event.text


class OpenAIChatStreamWriter:
    """Writes batches as ``chat.completion.chunk`` frames following TRANSLATION §5.2.

    A batch of this dialect becomes exactly one chunk rebuilt from its events and residual (a
    same-protocol relay): tool calls go back under ``function_call`` or ``custom`` where the
    residual says the upstream sent them so, and a choice has a ``finish_reason`` only when the
    upstream's had one (its null stays in the residual). A batch of another dialect is shaped
    here: the role once per choice (with ``content: ""``), a tool call's id/type/name only in its
    first fragment, dense tool indexes per choice, the finish reason in a chunk of its own with an
    empty delta, and the usage in a ``choices: []`` chunk just before ``[DONE]`` when the caller
    asked for it.
    """

    __slots__ = (
        "_created",
        "_done",
        "_have_start",
        "_id",
        "_include_usage",
        "_model",
        "_started",
        "_tool_count",
        "_tool_wire",
        "_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._include_usage = request.include_usage
        self._model = request.model
        self._id: str | None = None
        self._created = 0
        self._have_start = False
        self._started: set[int] = set()  # choices whose role was sent
        self._tool_wire: dict[tuple[int, int], int] = {}  # (choice, neutral index) → wire index
        self._tool_count: dict[int, int] = {}
        self._usage: Usage | None = None  # another dialect's usage, written before [DONE]
        self._done = False

    # ------------------------------------------------------------------ the ChatStreamWriter API

    def write(self, batch: StreamBatch) -> bytes:
        if self._done:
            return b""
        if batch.dialect == DIALECT:
            return self._write_native(batch)
        return self._write_foreign(batch)

    def close(self) -> bytes:
        if self._done:
            return b""
        self._done = True
        if not (self._include_usage and self._usage is not None):
            return _DONE_FRAME
        chunk = self._base()
        chunk["choices"] = []
        chunk["usage"] = _write_usage(self._usage, False)
        return self._frame(chunk) + _DONE_FRAME

    def fail(self, error: GatewayError) -> bytes:
        if self._done:
            return b""
        self._done = True
        return format_event(orjson.dumps({"error": error_object(error)}))

    # ------------------------------------------------------------------ shared

    def _start(self, event: StreamStart, native: bool) -> None:
        """Take the stream's identity from its first StreamStart; for another dialect, only while
        no chunk went out with a made-up one (every chunk must carry the same id)."""
        if not self._have_start and (native or self._id is None):
            self._have_start = True
            self._id, self._model, self._created = event.id, event.model, event.created

    def _base(self) -> JSONDict:
        if self._id is None:  # no StreamStart came: the chunks still need one identity
            self._id, self._created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        return {"id": self._id, "object": _CHUNK_OBJECT, "created": self._created, "model": self._model}

    def _frame(self, chunk: JSONDict) -> bytes:
        return format_event(orjson.dumps(chunk))

    def _failure(self, failure: StreamFailure, raw: object) -> bytes:
        """The terminal error frame: an OpenAI upstream's own error object is relayed as it came."""
        self._done = True
        error = raw if isinstance(raw, dict) else error_object(_failure_error(failure))
        return format_event(orjson.dumps({"error": error}))

    def _open_tool(self, choice: int, index: int) -> int:
        wire = self._tool_count.get(choice, 0)
        self._tool_count[choice] = wire + 1
        self._tool_wire[(choice, index)] = wire
        return wire

    def _tool(self, choice: int, index: int) -> int:
        wire = self._tool_wire.get((choice, index))
        return self._open_tool(choice, index) if wire is None else wire

    # ------------------------------------------------------------------ same dialect

    def _write_native(self, batch: StreamBatch) -> bytes:
        extra = batch.extra
        residual_choices = extra.get("choices")
        originals, legacy = _choice_residuals(residual_choices)
        entries: dict[int, JSONDict] = {}
        usage: JSONDict | None = None
        usage_dropped = False
        open_start: tuple[int, int, JSONDict] | None = None  # the fragment the last event opened
        for event in batch.events:
            if isinstance(event, StreamStart):
                self._start(event, True)
                continue
            if isinstance(event, StreamFailure):
                return self._failure(event, extra.get("error"))
            if isinstance(event, UsageReport):
                if self._include_usage:
                    usage = _write_usage(event.usage, True)
                else:
                    usage_dropped = True
                continue
            entry = entries.get(event.choice)
            if entry is None:
                entry = entries[event.choice] = {"index": event.choice, "delta": {}}
            delta = entry["delta"]
            opened, open_start = open_start, None
            if isinstance(event, RoleStart):
                delta["role"] = "assistant"
            elif isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
                _add_text(delta, event)
            elif isinstance(event, ToolCallStart | ToolCallDelta) and event.choice in legacy:
                call = delta.setdefault("function_call", {})
                if isinstance(event, ToolCallStart):
                    call["name"] = event.name
                else:
                    call["arguments"] = call.get("arguments", "") + event.arguments
            elif isinstance(event, ToolCallStart):
                wire = self._open_tool(event.choice, event.index)
                fragment = {
                    "index": wire,
                    "id": event.id,
                    "type": "function",
                    "function": {"name": event.name},
                }
                delta.setdefault("tool_calls", []).append(fragment)
                open_start = (event.choice, event.index, fragment)
            elif isinstance(event, ToolCallDelta):
                if opened is not None and opened[:2] == (event.choice, event.index):
                    opened[2]["function"]["arguments"] = event.arguments
                else:
                    wire = self._tool(event.choice, event.index)
                    fragment = {"index": wire, "function": {"arguments": event.arguments}}
                    delta.setdefault("tool_calls", []).append(fragment)
            elif isinstance(event, Finish):
                entry["finish_reason"] = _finish_to_wire(event.reason, originals.get(event.choice))
        chunk = self._base()
        for key, value in extra.items():
            if key != "choices" and (key != "usage" or self._include_usage):
                chunk[key] = value
        if residual_choices is None and "choices" in extra and not entries:
            chunk["choices"] = None  # the upstream's chunk said so
        else:
            chunk["choices"] = _native_choices(entries, residual_choices)
        if usage is not None:
            chunk["usage"] = usage
        elif usage_dropped and not chunk["choices"]:
            return b""  # a usage chunk the caller did not ask for
        return self._frame(chunk)

    # ------------------------------------------------------------------ another dialect

    def _write_foreign(self, batch: StreamBatch) -> bytes:
        frames: list[bytes] = []
        pending: dict[int, JSONDict] = {}
        for event in batch.events:
            if isinstance(event, StreamStart):
                self._start(event, False)
            elif isinstance(event, UsageReport):
                self._usage = event.usage
            elif isinstance(event, StreamFailure):
                self._flush(pending, frames)
                frames.append(self._failure(event, None))
                break
            elif isinstance(event, Finish):
                entry = self._entry(pending, event.choice)
                if entry["delta"] or entry["finish_reason"] is not None:
                    self._flush(pending, frames)  # the finish reason gets a chunk with an empty delta
                    entry = self._entry(pending, event.choice)
                entry["finish_reason"] = _FINISH_TO_WIRE[event.reason]
            else:
                self._foreign_delta(event, pending, frames)
        self._flush(pending, frames)
        return b"".join(frames)

    def _foreign_delta(self, event: StreamEvent, pending: dict[int, JSONDict], frames: list[bytes]) -> None:
        if isinstance(event, RoleStart):
            delta = self._delta(pending, event.choice, frames)
            if delta.get("role") == "assistant":
                delta.setdefault("content", "")
        elif isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
            # signatures and redacted thinking have no place in OpenAI chat
            if event.text or not isinstance(event, ReasoningDelta):
                _add_text(self._delta(pending, event.choice, frames), event)
        elif isinstance(event, ToolCallStart):
            delta = self._delta(pending, event.choice, frames)
            wire = self._open_tool(event.choice, event.index)
            function = {"name": event.name, "arguments": ""}
            delta.setdefault("tool_calls", []).append(
                {"index": wire, "id": event.id, "type": "function", "function": function}
            )
        elif isinstance(event, ToolCallDelta) and event.arguments:
            delta = self._delta(pending, event.choice, frames)
            wire = self._tool(event.choice, event.index)
            fragments: list[JSONDict] = delta.setdefault("tool_calls", [])
            for fragment in fragments:
                if fragment["index"] == wire:
                    fragment["function"]["arguments"] += event.arguments
                    return
            fragments.append({"index": wire, "function": {"arguments": event.arguments}})

    def _entry(self, pending: dict[int, JSONDict], choice: int) -> JSONDict:
        """The choice's entry in the chunk being built; a choice's first entry carries the role.

        Lower choices that never appeared are introduced too: the SDK places the choices of the
        first chunk by list position.
        """
        if choice not in self._started:
            for index in (*range(min(choice, _MAX_CHOICES)), choice):
                if index not in self._started:
                    self._started.add(index)
                    pending.setdefault(index, _new_entry(index))["delta"]["role"] = "assistant"
        entry = pending.get(choice)
        if entry is None:
            entry = pending[choice] = _new_entry(choice)
        return entry

    def _delta(self, pending: dict[int, JSONDict], choice: int, frames: list[bytes]) -> JSONDict:
        entry = self._entry(pending, choice)
        if entry["finish_reason"] is not None:  # content after a finish: it needs a new chunk
            self._flush(pending, frames)
            entry = self._entry(pending, choice)
        delta: JSONDict = entry["delta"]
        return delta

    def _flush(self, pending: dict[int, JSONDict], frames: list[bytes]) -> None:
        if not pending:
            return
        chunk = self._base()
        chunk["choices"] = [pending[i] for i in sorted(pending)]
        if self._include_usage:
            chunk["usage"] = None  # OpenAI's chunks say so when usage comes at the end
        frames.append(self._frame(chunk))
        pending.clear()


def _choice_residuals(residuals: object) -> tuple[dict[Any, Any], set[Any]]:
    """Per choice index, the upstream's finish reason; and the choices whose tool call the
    upstream sent as a deprecated ``function_call``."""
    originals: dict[Any, Any] = {}
    legacy: set[Any] = set()
    if isinstance(residuals, list):
        for residual in residuals:
            if isinstance(residual, dict):
                index = residual.get("index")
                originals[index] = residual.get("finish_reason")
                delta = residual.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("function_call"), dict):
                    legacy.add(index)
    return originals, legacy


def _native_choices(entries: dict[int, JSONDict], residuals: object) -> list[JSONDict]:
    """The chunk's choices in the order the upstream sent them, with their residuals merged.

    A choice with a residual has ``finish_reason`` when the upstream's had one (a Finish event, or
    the residual's null); a choice without one gets the null the spec requires.
    """
    out: list[JSONDict] = []
    if isinstance(residuals, list):
        for residual in residuals:
            if not isinstance(residual, dict):
                continue
            index = residual.get("index")
            entry = entries.pop(index, None) if isinstance(index, int) else None
            if entry is None:
                entry = {"index": index, "delta": {}}
            for key, value in residual.items():
                if key == "delta":
                    if isinstance(value, dict):
                        _merge_delta(entry["delta"], value)
                    elif value is None and not entry["delta"]:
                        entry["delta"] = None
                elif key == "finish_reason":
                    entry.setdefault(key, None)  # null, or an original whose Finish was removed
                elif key != "index":
                    entry[key] = value
            out.append(entry)
    for i in sorted(entries):
        entries[i].setdefault("finish_reason", None)
        out.append(entries[i])
    return out


def _merge_delta(delta: JSONDict, residual: JSONDict) -> None:
    for key, value in residual.items():
        if key == "tool_calls" and isinstance(value, list):
            for fragment, leftover in zip(delta.get("tool_calls") or [], value, strict=False):
                _merge_fragment(fragment, leftover)
        elif key == "function_call" and isinstance(value, dict):
            _merge_into(delta.setdefault(key, {}), value)
        else:
            delta.setdefault(key, value)


def _merge_fragment(fragment: JSONDict, leftover: object) -> None:
    if not isinstance(leftover, dict):
        return
    if isinstance(leftover.get("custom"), dict):
        _as_custom(fragment)
    for key, value in leftover.items():
        if key in ("function", "custom") and isinstance(value, dict):
            _merge_into(fragment.setdefault(key, {}), value)
        else:
            fragment.setdefault(key, value)


def _as_custom(fragment: JSONDict) -> None:
    """Rewrite a fragment built as a function call as the custom tool call it was read from."""
    function = fragment.pop("function", {})
    spec: JSONDict = {}
    if "name" in function:
        spec["name"] = function["name"]
    if "arguments" in function:
        spec["input"] = function["arguments"]
    fragment["custom"] = spec
    if "type" in fragment:
        fragment["type"] = "custom"


def _merge_into(target: JSONDict, leftover: JSONDict) -> None:
    for key, value in leftover.items():
        target.setdefault(key, value)
