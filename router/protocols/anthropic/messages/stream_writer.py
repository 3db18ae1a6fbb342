"""Writing a Messages stream: stream batches to Anthropic's SSE events, every frame with its
``event:`` line (the Anthropic SDK drops frames without one).

A batch of this dialect is rebuilt event for event (``stream_relay``). A batch of another dialect
is shaped into Anthropic's event sequence (TRANSLATION §5.3, §5.6): ``message_start`` first (an
empty message; usage known so far, else zeros); then content blocks with dense indexes, one open
at a time: ``content_block_start`` (text ``""``, thinking ``""`` with signature ``""``, tool use
with input ``{}``), its deltas, ``content_block_stop`` before the next block opens. Thinking that
follows a signature opens a new thinking block; redacted thinking is a block of its own; empty
text and empty argument fragments are skipped. ``close()`` ends the stream with
``message_delta`` (stop reason and the latest usage) and ``message_stop``.

Anthropic blocks cannot interleave, but an OpenAI upstream may open a second tool call before the
first one's arguments arrived. A call that starts while another is open (or others wait) waits in
turn, its argument fragments buffered, until the calls before it have arguments that are a
complete JSON object (or until text, a finish or the end of the stream), and then streams. A
fragment that still arrives for a call whose block is closed is lost: its upstream sent arguments
after they were complete, or interrupted them with text.

Only choice 0 is written (an Anthropic message has one). A StreamFailure, or ``fail()``, ends the
stream with one ``error`` event and nothing after it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Final

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
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from ...common import failure_error as _failure_error
from ...common import own_signature
from ...sse import format_event
from ..errors import AnthropicErrors
from .block_fields import DIALECT, tool_id
from .response import STOP_TO_WIRE, message_id, write_usage
from .stream_rebuild import rebuild

_STOP_FRAME: Final = format_event(orjson.dumps({"type": "message_stop"}), "message_stop")
# The usage fields a message_delta restates (cumulative totals, TRANSLATION §5.6).
_DELTA_USAGE: Final = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "output_tokens_details",
)


@dataclass(slots=True)
class _Call:
    """A tool call of another dialect: its block index once opened, its arguments so far."""

    id: str
    name: str
    block: int | None = None
    closed: bool = False
    arguments: str = ""
    buffered: list[str] = field(default_factory=list)
    complete: bool = False

    def add(self, fragment: str) -> None:
        self.arguments += fragment
        if fragment.rstrip().endswith("}"):
            try:
                self.complete = isinstance(orjson.loads(self.arguments), dict)
            except orjson.JSONDecodeError:
                self.complete = False
        elif fragment.strip():
            self.complete = False


class AnthropicMessagesStreamWriter:
    """Writes batches as Anthropic stream events (see the module docstring)."""

    __slots__ = (
        "_calls",
        "_done",
        "_errors",
        "_finish",
        "_id",
        "_model",
        "_next_block",
        "_open",
        "_pending",
        "_signed",
        "_started",
        "_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._errors = AnthropicErrors()
        self._model = request.model
        self._id: str | None = None
        self._started = False
        self._done = False
        self._next_block = 0
        self._open: tuple[str, int] | None = None  # (kind, block index): "text", "thinking" or "tool"
        self._signed = False  # the open thinking block got its signature
        self._calls: dict[int, _Call] = {}  # neutral tool index → call
        self._pending: list[int] = []  # calls started while another was open, in order
        self._usage: Usage | None = None
        self._finish: FinishReason | None = None

    # ------------------------------------------------------------------ the ChatStreamWriter API

    def write(self, batch: StreamBatch) -> bytes:
        if self._done:
            return b""
        if batch.dialect == DIALECT:
            return self._write_native(batch)
        frames: list[bytes] = []
        for event in batch.events:
            if isinstance(event, StreamFailure):
                frames.append(self._terminal(_failure_error(event)))
                break
            self._event(event, frames)
        if not self._started and not self._done and batch.events:
            self._start(frames)
        return b"".join(frames)

    def close(self) -> bytes:
        if self._done:
            return b""
        frames: list[bytes] = []
        self._start(frames)
        self._flush(frames)
        self._done = True
        stop = STOP_TO_WIRE[self._finish] if self._finish is not None else None
        if stop is None:
            stop = "tool_use" if self._calls else "end_turn"
        usage: JSONDict = {"output_tokens": 0}
        if self._usage is not None:
            written = write_usage(self._usage, False)
            usage = {k: written[k] for k in _DELTA_USAGE if k in written}
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": usage,
        }
        frames.append(self._frame(delta))
        frames.append(_STOP_FRAME)
        return b"".join(frames)

    def fail(self, error: GatewayError) -> bytes:
        if self._done:
            return b""
        return self._terminal(error)

    # ------------------------------------------------------------------ same dialect

    def _write_native(self, batch: StreamBatch) -> bytes:
        name, data = rebuild(batch)
        if any(isinstance(e, StreamFailure) for e in batch.events):
            if data.get("type") != "error":
                failure = next(e for e in batch.events if isinstance(e, StreamFailure))
                return self._terminal(_failure_error(failure))
            self._done = True
        elif data.get("type") == "message_stop":
            self._done = True
        self._started = True
        return format_event(orjson.dumps(data), name)

    # ------------------------------------------------------------------ another dialect

    def _terminal(self, error: GatewayError) -> bytes:
        self._done = True
        return self._errors.stream_event(error)

    def _frame(self, data: JSONDict) -> bytes:
        return format_event(orjson.dumps(data), data["type"])

    def _event(self, event: StreamEvent, frames: list[bytes]) -> None:
        if isinstance(event, StreamStart):
            if not self._started:
                self._id, self._model = event.id, event.model or self._model
            return
        if isinstance(event, UsageReport):
            self._usage = event.usage
            return
        if getattr(event, "choice", 0) != 0:
            return  # an Anthropic message is one choice
        if isinstance(event, TextDelta | RefusalDelta):
            if event.text:
                self._text(event.text, frames)
        elif isinstance(event, ReasoningDelta):
            self._reasoning(event, frames)
        elif isinstance(event, ToolCallStart):
            self._tool_start(event, frames)
        elif isinstance(event, ToolCallDelta):
            self._tool_delta(event, frames)
        elif isinstance(event, Finish):
            self._flush(frames)
            self._finish = event.reason

    def _start(self, frames: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message: JSONDict = {
            "id": message_id(self._id or uuid.uuid4().hex),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": write_usage(self._usage or Usage(), False),
            "container": None,
        }
        frames.append(self._frame({"type": "message_start", "message": message}))

    def _open_block(self, kind: str, block: JSONDict, frames: list[bytes]) -> int:
        self._start(frames)
        self._close_block(frames)
        index = self._next_block
        self._next_block += 1
        self._open = (kind, index)
        self._signed = False
        frames.append(self._frame({"type": "content_block_start", "index": index, "content_block": block}))
        return index

    def _close_block(self, frames: list[bytes]) -> None:
        if self._open is None:
            return
        kind, index = self._open
        self._open = None
        if kind == "tool":
            for call in self._calls.values():
                if call.block == index:
                    call.closed = True
        frames.append(self._frame({"type": "content_block_stop", "index": index}))

    def _delta(self, delta: JSONDict, frames: list[bytes]) -> None:
        assert self._open is not None
        frames.append(self._frame({"type": "content_block_delta", "index": self._open[1], "delta": delta}))

    def _flush(self, frames: list[bytes]) -> None:
        """Close the open block and stream every waiting tool call in turn."""
        self._close_block(frames)
        while self._pending:
            self._open_call(self._pending.pop(0), frames)
            self._close_block(frames)

    # ------------------------------------------------------------------ text and thinking

    def _text(self, text: str, frames: list[bytes]) -> None:
        if self._open is None or self._open[0] != "text":
            self._flush(frames)
            self._open_block("text", {"type": "text", "text": "", "citations": None}, frames)
        self._delta({"type": "text_delta", "text": text}, frames)

    def _reasoning(self, event: ReasoningDelta, frames: list[bytes]) -> None:
        if event.redacted_data:
            self._flush(frames)
            self._open_block("redacted", {"type": "redacted_thinking", "data": event.redacted_data}, frames)
            self._close_block(frames)
        # another provider's signature is no signature here
        signature = own_signature(event.signature, event.signer, DIALECT, unsigned=True)
        if not event.text and not signature:
            return
        if self._open is None or self._open[0] != "thinking" or self._signed:
            self._flush(frames)
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, frames)
        if event.text:
            self._delta({"type": "thinking_delta", "thinking": event.text}, frames)
        if signature:
            self._delta({"type": "signature_delta", "signature": signature}, frames)
            self._signed = True

    # ------------------------------------------------------------------ tool calls

    def _tool_start(self, event: ToolCallStart, frames: list[bytes]) -> None:
        self._calls[event.index] = _Call(event.id, event.name)
        if self._pending or (self._open is not None and self._open[0] == "tool"):
            self._pending.append(event.index)  # its turn comes when the calls before it are done
            self._advance(frames)
            return
        self._close_block(frames)
        self._open_call(event.index, frames)

    def _tool_delta(self, event: ToolCallDelta, frames: list[bytes]) -> None:
        call = self._calls.get(event.index)
        if call is None:  # arguments for a call that never started: start it
            self._tool_start(ToolCallStart(event.index, f"call_{event.index}", ""), frames)
            call = self._calls[event.index]
        if not event.arguments or call.closed:
            return
        if call.block is None:
            call.buffered.append(event.arguments)
            self._advance(frames)
            return
        call.add(event.arguments)
        self._delta({"type": "input_json_delta", "partial_json": event.arguments}, frames)
        self._advance(frames)

    def _open_call_complete(self) -> bool:
        assert self._open is not None
        return any(c.block == self._open[1] and c.complete for c in self._calls.values())

    def _advance(self, frames: list[bytes]) -> None:
        """Give the waiting calls their turn, in order, while the open call's arguments are a
        complete JSON object (it cannot grow any more)."""
        while self._pending and (self._open is None or self._open[0] != "tool" or self._open_call_complete()):
            self._close_block(frames)
            self._open_call(self._pending.pop(0), frames)

    def _open_call(self, index: int, frames: list[bytes]) -> None:
        call = self._calls[index]
        block = {
            "type": "tool_use",
            "id": tool_id(call.id) if call.id else f"toolu_{uuid.uuid4().hex[:24]}",
            "name": call.name,
            "input": {},
            "caller": {"type": "direct"},
        }
        call.block = self._open_block("tool", block, frames)
        for fragment in call.buffered:
            call.add(fragment)
            self._delta({"type": "input_json_delta", "partial_json": fragment}, frames)
        call.buffered.clear()
