"""Writing a Responses event stream from batches of neutral events (TRANSLATION §9.5, §9.6).

Every frame is ``event: <type>`` + ``data: <json>`` with a ``sequence_number`` counting from 0.
The stream opens with ``response.created`` and ``response.in_progress`` (status ``in_progress``,
no output), then builds output items as the upstream streams, one open item at a time:

* reasoning deltas open a reasoning item (``output_item.added``) whose text streams as summary
  ``reasoning_summary_part.added`` / ``reasoning_summary_text.delta``; a signature or redacted
  reasoning closes it (``.done`` events, then ``output_item.done`` with the envelope as
  ``encrypted_content``);
* text opens a message item and an ``output_text`` content part (``content_part.added``), then
  ``output_text.delta``; a refusal is a ``refusal`` content part of the same message;
* a tool call opens a function_call item (``arguments: ""``), its arguments stream as
  ``function_call_arguments.delta``, and ``function_call_arguments.done`` closes it.

Whatever comes next closes the open item first (the SDK helper wants items finished in order);
the finish closes the last one. A bare signature riding on the text being streamed (Gemini's
thought signature on a text part) does not cut the message in two: its reasoning item follows
the message. ``close`` ends with ``response.completed`` (``response.incomplete``
after a length or content-filter finish) carrying every output item and the usage; a failure
ends with ``response.failed`` and the error. Nothing follows the terminal event. The final
Response object and the history version of its output are left in the :class:`Exchange`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from ....errors import GatewayError
from ....ir import (
    ChatRequest,
    Citation,
    CitationDelta,
    Finish,
    FinishReason,
    JSONDict,
    ReasoningDelta,
    RefusalDelta,
    StreamBatch,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
    WebSearch,
    WebSearchDone,
)
from ...common import failure_error
from ...sse import format_event
from .ids import new_id, seal
from .output import (
    Exchange,
    call_item,
    error_of,
    message_item,
    reasoning_item,
    response_object,
    status_of,
    text_part,
    url_citation,
    web_search_item,
    with_signature,
)


@dataclass(slots=True)
class _Open:
    """The output item being streamed."""

    kind: str  # "message" | "reasoning" | "function_call"
    index: int  # its output index
    item_id: str
    text: str = ""  # the open content part's text (message), summary text (reasoning), arguments
    part: str | None = None  # the open content part of a message: "output_text" | "refusal"
    content: list[JSONDict] = field(default_factory=list)  # a message's finished content parts
    signature: str | None = None
    signer: str | None = None
    redacted: str | None = None
    call_id: str = ""
    name: str = ""
    base: int = 0  # where the open output_text starts in the turn's text
    annotations: list[JSONDict] = field(default_factory=list)  # the open output_text's


class ResponsesStreamWriter:
    """Writes one Responses event stream; see the module docstring."""

    __slots__ = (
        "_citing",
        "_deferred",
        "_done",
        "_exchange",
        "_finish",
        "_frames",
        "_history",
        "_items",
        "_model",
        "_open",
        "_seq",
        "_started",
        "_turn",
        "_usage",
    )

    def __init__(self, exchange: Exchange, request: ChatRequest) -> None:
        self._exchange = exchange
        self._model = request.model
        self._seq = 0
        self._started = False
        self._done = False
        self._open: _Open | None = None
        self._deferred: list[ReasoningDelta] = []  # signatures waiting for the open message to end
        self._items: list[JSONDict] = []  # finished output items, by output index
        self._history: list[JSONDict] = []
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._frames: list[bytes] = []
        self._turn = 0  # characters of text streamed so far (the offsets of spanned citations)
        self._citing: tuple[Citation, int] | None = None  # a citation of the text from an offset on

    # ------------------------------------------------------------------ the ChatStreamWriter API

    def write(self, batch: StreamBatch) -> bytes:
        if self._done:
            return b""
        for event in batch.events:
            if isinstance(event, StreamStart):
                if not self._started:
                    self._model = event.model or self._model
                continue
            self._start()
            if getattr(event, "choice", 0) != 0:
                continue  # the Responses API has one output
            if isinstance(event, ReasoningDelta):
                self._reasoning(event)
            elif isinstance(event, TextDelta | RefusalDelta):
                self._text(event.text, "output_text" if isinstance(event, TextDelta) else "refusal")
            elif isinstance(event, CitationDelta):
                self._cite(event.citation)
            elif isinstance(event, WebSearchDone):
                self._web_search(event.search)
            elif isinstance(event, ToolCallStart):
                self._close_item()
                self._open_call(event)
            elif isinstance(event, ToolCallDelta):
                self._arguments(event.arguments)
            elif isinstance(event, Finish):
                self._finish = event.reason
            elif isinstance(event, UsageReport):
                self._usage = event.usage
            elif isinstance(event, StreamFailure):
                self._failed(error_of(failure_error(event)))
                break
        self._start()
        return self._flush()

    def close(self) -> bytes:
        if self._done:
            return b""
        self._start()
        self._close_item()
        status, incomplete, error = status_of(self._finish)
        terminal = {"completed": "response.completed", "incomplete": "response.incomplete"}
        response = self._response(status, incomplete=incomplete, error=error, usage=self._usage)
        self._emit(terminal.get(status, "response.failed"), response=response)
        self._end(response)
        return self._flush()

    def fail(self, error: GatewayError) -> bytes:
        if self._done:
            return b""
        self._start()
        self._failed(error_of(error))
        return self._flush()

    # ------------------------------------------------------------------ frames

    def _emit(self, event_type: str, **fields: object) -> None:
        payload: JSONDict = {"type": event_type, **fields, "sequence_number": self._seq}
        self._seq += 1
        self._frames.append(format_event(orjson.dumps(payload), event_type))

    def _flush(self) -> bytes:
        out = b"".join(self._frames)
        self._frames.clear()
        return out

    def _response(
        self,
        status: str,
        *,
        usage: Usage | None = None,
        incomplete: JSONDict | None = None,
        error: JSONDict | None = None,
    ) -> JSONDict:
        return response_object(
            self._exchange,
            model=self._model,
            status=status,
            output=list(self._items),
            usage=usage,
            incomplete=incomplete,
            error=error,
        )

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        response = self._response("in_progress")
        self._exchange.response = response
        self._emit("response.created", response=response)
        self._emit("response.in_progress", response=response)

    def _failed(self, error: JSONDict) -> None:
        if self._open is not None:
            self._close_item("incomplete")
        response = self._response("failed", error=error, usage=self._usage)
        self._emit("response.failed", response=response)
        self._end(response)

    def _end(self, response: JSONDict) -> None:
        self._done = True
        self._exchange.response = response
        self._exchange.history_output = list(self._history)

    # ------------------------------------------------------------------ items

    def _new(self, kind: str, prefix: str, item: JSONDict) -> _Open:
        opened = _Open(kind, len(self._items), new_id(prefix))  # the previous item is closed
        item["id"] = opened.item_id
        self._open = opened
        self._emit("response.output_item.added", output_index=opened.index, item=item)
        return opened

    def _reasoning(self, event: ReasoningDelta) -> None:
        current = self._open
        if current is not None and current.kind == "message" and _signature_only(event):
            # a signature riding on the text being streamed (Gemini): the message is not cut in
            # two for it; its reasoning item follows the message
            self._deferred.append(event)
            return
        if current is None or current.kind != "reasoning" or event.redacted_data is not None:
            self._close_item()
            current = self._new("reasoning", "rs", {"type": "reasoning", "summary": []})
        if event.text:
            if not current.text:
                part = {"type": "summary_text", "text": ""}
                self._emit(
                    "response.reasoning_summary_part.added",
                    item_id=current.item_id,
                    output_index=current.index,
                    summary_index=0,
                    part=part,
                )
            current.text += event.text
            self._emit(
                "response.reasoning_summary_text.delta",
                item_id=current.item_id,
                output_index=current.index,
                summary_index=0,
                delta=event.text,
            )
        if event.redacted_data is not None:
            current.redacted = event.redacted_data
        if event.signature:
            current.signature, current.signer = event.signature, event.signer
        if event.signature or event.redacted_data is not None:
            self._close_item()  # a signed or redacted block is complete

    def _text(self, text: str, part_type: str) -> None:
        current = self._open
        if current is None or current.kind != "message":
            self._close_item()
            item = {"type": "message", "status": "in_progress", "content": [], "role": "assistant"}
            current = self._new("message", "msg", item)
        if current.part != part_type:
            self._close_part(current)
            current.part, current.base = part_type, self._turn
            part = text_part("") if part_type == "output_text" else {"type": "refusal", "refusal": ""}
            self._emit(
                "response.content_part.added",
                item_id=current.item_id,
                output_index=current.index,
                content_index=len(current.content),
                part=part,
            )
        if not text:
            return
        current.text += text
        if part_type == "output_text":
            self._turn += len(text)
        delta: JSONDict = {
            "item_id": current.item_id,
            "output_index": current.index,
            "content_index": len(current.content),
            "delta": text,
        }
        if part_type == "output_text":
            self._emit("response.output_text.delta", **delta, logprobs=[])
        else:
            self._emit("response.refusal.delta", **delta)

    def _open_call(self, event: ToolCallStart) -> None:
        item = call_item("", event.id, event.name, "", "in_progress", self._exchange.called)
        del item["id"]
        current = self._new("function_call", "fc", item)
        current.call_id, current.name = event.id, event.name
        current.signature, current.signer = event.signature, event.signer

    def _arguments(self, arguments: str) -> None:
        current = self._open
        if current is None or current.kind != "function_call" or not arguments:
            return  # arguments of a call already closed (upstreams stream calls one at a time)
        current.text += arguments
        if self._exchange.called.is_custom(current.name):
            return  # a custom tool's input is the string inside these arguments: sent when whole
        self._emit(
            "response.function_call_arguments.delta",
            item_id=current.item_id,
            output_index=current.index,
            delta=arguments,
        )

    def _cite(self, citation: Citation) -> None:
        """A citation with a span is annotated at once; one without cites the text from here to the
        next citation or the end of the text."""
        if citation.start is not None and citation.end is not None:
            self._annotate(citation, citation.start, citation.end)
            return
        self._end_citing()
        self._citing = (citation, self._turn)

    def _end_citing(self, current: _Open | None = None) -> None:
        if self._citing is not None:
            citation, start = self._citing
            self._citing = None
            self._annotate(citation, start, self._turn, current)

    def _annotate(self, citation: Citation, start: int, end: int, current: _Open | None = None) -> None:
        """A ``url_citation`` of ``[start, end)`` of the turn's text, on the output_text of
        ``current`` (the item being closed), else of the open item."""
        current = current or self._open
        if current is None or current.part != "output_text":
            return
        start, end = max(start - current.base, 0), min(end - current.base, len(current.text))
        if start >= end:
            return
        annotation = url_citation(citation, start, end)
        self._emit(
            "response.output_text.annotation.added",
            item_id=current.item_id,
            output_index=current.index,
            content_index=len(current.content),
            annotation_index=len(current.annotations),
            annotation=annotation,
        )
        current.annotations.append(annotation)

    def _web_search(self, search: WebSearch) -> None:
        """A search the upstream ran: a ``web_search_call`` item, in progress then completed."""
        self._close_item()
        item = web_search_item("", search, "in_progress")
        del item["id"]
        current = self._new("web_search_call", "ws", item)
        where = {"item_id": current.item_id, "output_index": current.index}
        for stage in ("in_progress", "searching", "completed"):
            self._emit(f"response.web_search_call.{stage}", **where)
        done = web_search_item(current.item_id, search, "completed")
        self._emit("response.output_item.done", output_index=current.index, item=done)
        self._items.append(done)
        self._history.append(done)
        self._open = None

    def _close_part(self, current: _Open) -> None:
        if current.part is None:
            return
        if current.part == "output_text":
            self._end_citing(current)
        where = {"item_id": current.item_id, "output_index": current.index}
        index = len(current.content)
        if current.part == "output_text":
            part = text_part(current.text)
            part["annotations"], current.annotations = current.annotations, []
            self._emit(
                "response.output_text.done", **where, content_index=index, text=current.text, logprobs=[]
            )
        else:
            part = {"type": "refusal", "refusal": current.text}
            self._emit("response.refusal.done", **where, content_index=index, refusal=current.text)
        self._emit("response.content_part.done", **where, content_index=index, part=part)
        current.content.append(part)
        current.part, current.text = None, ""

    def _close_item(self, status: str | None = None) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        if status is None:
            status = (
                "incomplete"
                if self._finish in (FinishReason.LENGTH, FinishReason.CONTENT_FILTER)
                else "completed"
            )
        where = {"item_id": current.item_id, "output_index": current.index}
        if current.kind == "message":
            self._close_part(current)
            item = message_item(current.item_id, current.content, status)
            history = item
        elif current.kind == "reasoning":
            if current.text:
                summary = {"type": "summary_text", "text": current.text}
                self._emit(
                    "response.reasoning_summary_text.done", **where, summary_index=0, text=current.text
                )
                self._emit("response.reasoning_summary_part.done", **where, summary_index=0, part=summary)
            envelope = seal(current.signature, current.signer, current.redacted)
            item = history = reasoning_item(current.item_id, current.text, envelope)
        else:
            item = call_item(
                current.item_id,
                current.call_id,
                current.name,
                current.text,
                "completed",
                self._exchange.called,
            )
            if item["type"] == "custom_tool_call":
                self._emit("response.custom_tool_call_input.delta", **where, delta=item["input"])
                self._emit("response.custom_tool_call_input.done", **where, input=item["input"])
            else:
                self._emit(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=current.text,
                )
            history = with_signature(item, current.signature, current.signer)
        self._emit("response.output_item.done", output_index=current.index, item=item)
        self._items.append(item)
        self._history.append(history)
        deferred, self._deferred = self._deferred, []
        for event in deferred:
            self._reasoning(event)


def _signature_only(event: ReasoningDelta) -> bool:
    return bool(event.signature) and not event.text and event.redacted_data is None
