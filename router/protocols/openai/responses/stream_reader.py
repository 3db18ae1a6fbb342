"""A Responses event stream read into batches of neutral events: one batch per SSE event.

``response.created`` starts the stream; text, refusal and reasoning deltas are deltas; a
function_call item added starts a tool call (dense tool indexes from 0), its argument deltas
follow; a terminal event (``response.completed`` / ``.incomplete`` / ``.failed``) gives the finish
reason and the usage, an ``error`` event a failure. Nothing here raises: a malformed event is a
``StreamFailure``.
"""

from __future__ import annotations

import orjson

from ....errors import ErrorCode
from ....ir import (
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
    UsageReport,
)
from ...common import Malformed
from ...sse import SSEEvent
from .ids import unseal
from .request import DIALECT
from .response_reader import finish_of, read_usage

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesStreamReader:
    __slots__ = ("_calls", "_finished")

    def __init__(self) -> None:
        self._calls: dict[int, int] = {}  # output index -> tool index
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        if self._finished or not event.data.strip() or event.data.strip() == "[DONE]":
            return None
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return self._fail("The upstream sent a Responses event that is not JSON.")
        if not isinstance(data, dict):
            return self._fail("The upstream sent a Responses event that is not an object.")
        try:
            events = self._events(data)
        except (Malformed, KeyError, TypeError, ValueError):
            return self._fail(f"The upstream sent a malformed '{data.get('type')}' event.")
        return StreamBatch(events, DIALECT) if events else None

    def _events(self, data: JSONDict) -> list[StreamEvent]:
        kind = data.get("type")
        if kind == "response.created":
            response = data["response"]
            created = int(response.get("created_at") or 0)
            return [StreamStart(str(response["id"]), str(response.get("model", "")), created), RoleStart()]
        if kind == "response.output_text.delta":
            return [TextDelta(str(data["delta"]))]
        if kind == "response.refusal.delta":
            return [RefusalDelta(str(data["delta"]))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ReasoningDelta(str(data["delta"]))]
        if kind == "response.output_item.added" and data["item"].get("type") == "function_call":
            item = data["item"]
            index = self._calls[int(data["output_index"])] = len(self._calls)
            start = ToolCallStart(index, str(item["call_id"]), str(item["name"]))
            arguments = str(item.get("arguments") or "")
            return [start, ToolCallDelta(index, arguments)] if arguments else [start]
        if kind == "response.function_call_arguments.delta":
            return [ToolCallDelta(self._calls[int(data["output_index"])], str(data["delta"]))]
        if kind == "response.output_item.done" and data["item"].get("type") == "reasoning":
            sealed = unseal(data["item"].get("encrypted_content"))
            if sealed is not None:
                return [ReasoningDelta("", sealed.signature, sealed.redacted_data, signer=sealed.signer)]
            return []
        if kind in TERMINAL_EVENTS:
            self._finished = True
            response = data["response"]
            out: list[StreamEvent] = []
            if kind == "response.failed":
                error = response.get("error") or {}
                message = str(error.get("message") or "The upstream's response failed.")
                return [StreamFailure(502, ErrorCode.UPSTREAM_ERROR.value, message)]
            out.append(Finish(finish_of(response, bool(self._calls))))
            if isinstance(response.get("usage"), dict):
                out.append(UsageReport(read_usage(response["usage"])))
            return out
        if kind == "error":
            self._finished = True
            message = str(data.get("message") or "The upstream's stream failed.")
            return [StreamFailure(502, ErrorCode.UPSTREAM_ERROR.value, message)]
        return []

    def _fail(self, message: str) -> StreamBatch:
        self._finished = True
        return StreamBatch([StreamFailure(502, ErrorCode.UPSTREAM_ERROR.value, message)], DIALECT)
