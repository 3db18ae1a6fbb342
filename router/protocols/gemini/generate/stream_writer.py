"""Writing a ``streamGenerateContent?alt=sse`` stream for a Gemini caller: ``data: <chunk>\\r\\n\\r\\n``
frames, each chunk a ``GenerateContentResponse`` in camelCase.

A batch of this dialect is rebuilt chunk for chunk (``stream_reader.rebuild`` and the response
writer). A batch of another dialect becomes at most one chunk (TRANSLATION §5.8):
``{"candidates": [{"content": {"role": "model", "parts": [...]}, "index": i}], "modelVersion",
"responseId"}``, with text deltas as text parts; reasoning as ``thought: true`` text parts only
when the request asked to include thoughts (a signature only when Gemini made it); tool calls
buffered until their arguments are complete (the next call of that candidate starts, or it
finishes), then one ``functionCall`` part with the parsed ``args`` (``{"_raw": text}`` when they
are not a JSON object) and the gateway's id; a finish gives its candidate ``finishReason`` (``STOP``,
``MAX_TOKENS``, ``SAFETY``, ``OTHER``) and the chunk the usage as ``usageMetadata``. A finish whose
batch brought no usage is held until the next batch (an OpenAI upstream reports usage in a chunk
after the finish; it joins the held chunk) or the end of the stream, so that the last chunk has both,
as Gemini's own last chunk does; usage that comes later still follows in a chunk of its own.

Gemini streams have no terminator: ``close()`` only writes what is still held, calls still buffered,
or a last chunk with ``finishReason`` STOP for a candidate that got no finish. A StreamFailure, or
``fail()``, ends the stream with ``data: {"error": {...}}`` and nothing after it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson

from ....errors import GatewayError
from ....ir import (
    ChatRequest,
    Finish,
    FinishReason,
    JSONDict,
    ReasoningDelta,
    RefusalDelta,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from ...common import failure_error, own_signature
from ..errors import GeminiErrors
from .parts import write_foreign_call
from .proto_json import DIALECT
from .response import FINISH_TO_WIRE, write_response, write_usage
from .stream_reader import rebuild


def frame(chunk: JSONDict) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


@dataclass(slots=True)
class _Call:
    """A tool call of another dialect, buffered until its arguments are complete."""

    id: str
    name: str
    signature: str | None
    signer: str | None
    arguments: str = ""


class GeminiGenerateStreamWriter:
    """Writes batches as Gemini stream chunks (see the module docstring)."""

    __slots__ = (
        "_calls",
        "_done",
        "_errors",
        "_finished",
        "_foreign",
        "_held",
        "_id",
        "_model",
        "_pending",
        "_seen",
        "_thoughts",
        "_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._errors = GeminiErrors()
        self._model = request.model
        self._id: str | None = None
        self._thoughts = bool(request.reasoning is not None and request.reasoning.include_thoughts)
        self._calls: dict[tuple[int, int], _Call] = {}  # (choice, tool index) → a buffered call
        self._pending: dict[int, list[JSONDict]] = {}  # choice → parts of the chunk being built
        self._seen: set[int] = set()  # choices written to
        self._finished: set[int] = set()  # choices whose finish went out
        self._usage: Usage | None = None
        self._held: JSONDict | None = None  # a finish chunk waiting for the usage after it
        self._foreign = False
        self._done = False

    # ------------------------------------------------------------------ the ChatStreamWriter API

    def write(self, batch: StreamBatch) -> bytes:
        if self._done:
            return b""
        if batch.dialect == DIALECT:
            return self._write_native(batch)
        self._foreign = True
        finishes: dict[int, str] = {}
        usage = False
        for event in batch.events:
            if isinstance(event, StreamFailure):
                return self._release() + self._chunk(finishes, usage) + self._terminal(failure_error(event))
            if isinstance(event, StreamStart):
                if self._id is None:
                    self._id, self._model = event.id, event.model or self._model
            elif isinstance(event, UsageReport):
                self._usage, usage = event.usage, True
            elif isinstance(event, Finish):
                self._complete(event.choice)
                finishes[event.choice] = FINISH_TO_WIRE[event.reason]
            else:
                self._delta(event)
        merged = self._held is not None and usage
        if merged:  # the usage the held finish waited for
            assert self._held is not None and self._usage is not None
            self._held["usageMetadata"] = write_usage(self._usage, False)
            usage = False
        released = self._release() if merged or finishes or self._pending else b""
        if finishes and not (usage or merged):
            self._held = self._build(finishes)  # usage may follow the finish (OpenAI upstreams)
            return released
        return released + self._chunk(finishes, usage)

    def close(self) -> bytes:
        if self._done:
            return b""
        self._done = True
        if not self._foreign:
            return b""
        for choice, _ in list(self._calls):
            self._complete(choice)
        open_choices = (
            self._seen | self._pending.keys() | ({0} if not self._finished else set())
        ) - self._finished
        finishes = dict.fromkeys(open_choices, FINISH_TO_WIRE[FinishReason.STOP])
        return self._release() + self._chunk(finishes, usage=False)

    def fail(self, error: GatewayError) -> bytes:
        if self._done:
            return b""
        return self._release() + self._terminal(error)

    # ------------------------------------------------------------------ same dialect

    def _write_native(self, batch: StreamBatch) -> bytes:
        failure = next((e for e in batch.events if isinstance(e, StreamFailure)), None)
        if failure is not None:
            self._done = True
            error = batch.extra.get("error")
            if isinstance(error, dict):
                return frame({"error": error})  # the upstream's own error, relayed as it came
            return self._terminal(failure_error(failure))
        return frame(write_response(rebuild(batch)))

    # ------------------------------------------------------------------ another dialect

    def _terminal(self, error: GatewayError) -> bytes:
        self._done = True
        return self._errors.stream_event(error)

    def _delta(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta | RefusalDelta):
            if event.text:
                self._pending.setdefault(event.choice, []).append({"text": event.text})
        elif isinstance(event, ReasoningDelta):
            part = self._reasoning(event)
            if part is not None:
                self._pending.setdefault(event.choice, []).append(part)
        elif isinstance(event, ToolCallStart):
            self._complete(event.choice)  # the calls before it cannot grow any more
            self._calls[(event.choice, event.index)] = _Call(
                event.id or f"call_{uuid.uuid4().hex[:24]}", event.name, event.signature, event.signer
            )
        elif isinstance(event, ToolCallDelta) and event.arguments:
            call = self._calls.get((event.choice, event.index))
            if call is None:  # arguments for a call that never started: start it
                call = self._calls[(event.choice, event.index)] = _Call(
                    f"call_{uuid.uuid4().hex[:24]}", "", None, None
                )
            call.arguments += event.arguments

    def _reasoning(self, event: ReasoningDelta) -> JSONDict | None:
        signature = own_signature(event.signature, event.signer, DIALECT, unsigned=False)
        if self._thoughts and event.text:
            part: JSONDict = {"text": event.text, "thought": True}
        elif signature is not None:
            part = {"text": ""}
        else:
            return None
        if signature is not None:
            part["thoughtSignature"] = signature
        return part

    def _complete(self, choice: int) -> None:
        """Write the choice's buffered calls as ``functionCall`` parts, in order."""
        for key in [k for k in self._calls if k[0] == choice]:
            call = self._calls.pop(key)
            part = write_foreign_call(
                ToolCall(call.id, call.name, call.arguments, call.signature, signer=call.signer)
            )
            self._pending.setdefault(choice, []).append(part)

    def _release(self) -> bytes:
        """The held finish chunk, written now."""
        held, self._held = self._held, None
        return b"" if held is None else frame(held)

    def _chunk(self, finishes: dict[int, str], usage: bool) -> bytes:
        """The chunk of what the batch gave, or a usage update after the finish (or b"")."""
        chunk = self._build(finishes, usage)
        return b"" if chunk is None else frame(chunk)

    def _build(self, finishes: dict[int, str], usage: bool = False) -> JSONDict | None:
        pending, self._pending = self._pending, {}
        chunk: JSONDict = {}
        if pending or finishes:
            candidates = []
            for choice in sorted(pending.keys() | finishes.keys()):
                candidate: JSONDict = {}
                if pending.get(choice):
                    candidate["content"] = {"role": "model", "parts": pending[choice]}
                if choice in finishes:
                    candidate["finishReason"] = finishes[choice]
                candidate["index"] = choice
                candidates.append(candidate)
            chunk["candidates"] = candidates
            self._seen.update(pending)
            self._finished.update(finishes)
        elif not (usage and self._finished):
            return None
        if self._usage is not None and (finishes or (usage and self._finished)):
            chunk["usageMetadata"] = write_usage(self._usage, False)
        if self._id is None:
            self._id = uuid.uuid4().hex
        chunk["modelVersion"] = self._model
        chunk["responseId"] = self._id
        return chunk
