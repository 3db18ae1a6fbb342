"""Reading a Messages stream: Anthropic's SSE events to stream batches, one batch per event.

``message_start`` gives StreamStart, RoleStart and a UsageReport (the input side);
``content_block_start``/``_delta`` give TextDelta, ReasoningDelta (thinking text, signature,
redacted data) and ToolCallStart/ToolCallDelta, the tool index being the caller-facing one: dense,
counting ``tool_use`` blocks only; a web search the upstream ran gives WebSearchDone when its
results arrive, and a web citation CitationDelta (:mod:`.web_search`; the blocks stay whole);
``message_delta`` gives Finish and a UsageReport with the running totals (a field the event leaves
out or sends null keeps its earlier value, as the SDK does); ``message_stop`` ends the stream
(a batch with no events); ``ping`` gives nothing; ``error`` gives a StreamFailure.

Each batch's ``extra`` is the event's data less what its events say (the *residual*, its ``type``
and block ``index`` included), plus ``_event`` when the SSE event name differs from the data's
``type``: a writer of this dialect rebuilds the event from it exactly (an event that came without
a name gets its ``type`` as name: the Anthropic SDK drops unnamed events). ``message_delta`` keeps
its ``usage`` whole, so that the writer gives back the fields the upstream sent and no others.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import orjson

from ....errors import ErrorCode, code_for_status
from ....ir import (
    CitationDelta,
    Finish,
    JSONDict,
    ReasoningDelta,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
    WebSearch,
    WebSearchDone,
)
from ...common import Malformed, opt_dict, opt_int, opt_str, req_dict, req_str
from ...sse import SSEEvent
from .block_fields import DIALECT, arguments_json
from .response import is_canonical, read_usage, stop_from_wire
from .web_search import RESULT_BLOCK, citation_of, query_in, query_of, sources_of

# Anthropic's error types and the HTTP status each stands for (TRANSLATION §11.2).
ERROR_STATUS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "billing_error": 402,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "rate_limit_error": 429,
        "api_error": 500,
        "timeout_error": 504,
        "overloaded_error": 529,
    }
)


class AnthropicMessagesStreamReader:
    """Reads a Messages stream (see the module docstring). Never raises: a malformed event or an
    upstream ``error`` event is a StreamFailure, and the reader reads nothing after it."""

    __slots__ = ("_blocks", "_finished", "_query", "_tools", "_usage")

    def __init__(self) -> None:
        self._finished = False
        self._blocks: dict[int, tuple[str, int | None]] = {}  # wire index → (block type, tool index)
        self._tools = 0
        self._usage: JSONDict = {}  # the running usage, as Anthropic writes it
        self._query = ""  # the input of the web search call being streamed (its JSON so far)

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        if self._finished or event.event == "ping":
            return None
        text = event.data.strip()
        if not text:
            return None  # keep-alive
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._fail(502, "The upstream sent a stream event that is not valid JSON.")
        if not isinstance(data, dict):
            return self._fail(502, "The upstream sent a stream event that is not a JSON object.")
        kind = data.get("type") if isinstance(data.get("type"), str) else event.event
        if event.event == "error" or kind == "error":
            return self._error(data)
        try:
            events, residual = self._read(kind, data)
        except Malformed as exc:
            return self._fail(502, f"The upstream sent a malformed stream event: {exc.message}")
        if event.event is not None and event.event != data.get("type"):
            residual["_event"] = event.event
        return StreamBatch(events, DIALECT, residual)

    # ------------------------------------------------------------------ failures

    def _fail(self, status: int, message: str, extra: JSONDict | None = None) -> StreamBatch:
        self._finished = True
        failure = StreamFailure(status, code_for_status(status).value, message)
        return StreamBatch([failure], DIALECT, extra or {})

    def _error(self, data: JSONDict) -> StreamBatch:
        """``{"type": "error", "error": {"type", "message"}}`` (TRANSLATION §11.3)."""
        error = data.get("error")
        status, message = 502, "The upstream reported an error in the middle of the stream."
        if isinstance(error, dict):
            if isinstance(error.get("type"), str):
                status = ERROR_STATUS.get(error["type"], 502)
            if isinstance(error.get("message"), str) and error["message"]:
                message = error["message"]
        code = ErrorCode.UPSTREAM_OVERLOADED if status == 529 else code_for_status(status)
        self._finished = True
        return StreamBatch([StreamFailure(status, code.value, message)], DIALECT, dict(data))

    # ------------------------------------------------------------------ events

    def _read(self, kind: object, data: JSONDict) -> tuple[list[StreamEvent], JSONDict]:
        residual = dict(data)
        events: list[StreamEvent] = []
        if kind == "message_start":
            residual["message"] = self._message_start(req_dict(data, "message", ""), events)
        elif kind == "content_block_start":
            index = self._index(data)
            residual["content_block"] = self._block_start(index, req_dict(data, "content_block", ""), events)
        elif kind == "content_block_delta":
            index = self._index(data)
            residual["delta"] = self._block_delta(index, req_dict(data, "delta", ""), events)
        elif kind == "message_delta":
            self._message_delta(data, residual, events)
        elif kind == "message_stop":
            self._finished = True
        return events, residual

    def _index(self, data: JSONDict) -> int:
        index = opt_int(data, "index", "")
        if index is None:
            raise Malformed("index", "Missing required parameter: 'index'.")
        return index

    def _message_start(self, message: JSONDict, events: list[StreamEvent]) -> JSONDict:
        rest = dict(message)
        message_id = opt_str(message, "id", "message")
        model = opt_str(message, "model", "message")
        if message_id:
            events.append(StreamStart(message_id, model or "", int(time.time())))
            del rest["id"]
            if model is not None:
                del rest["model"]
        if message.get("role") == "assistant":
            events.append(RoleStart())
            del rest["role"]
        usage = opt_dict(message, "usage", "message")
        if usage is not None:
            self._usage = dict(usage)
            events.append(UsageReport(read_usage(usage, "message.usage")))
            del rest["usage"]
        return rest

    def _block_start(self, index: int, block: JSONDict, events: list[StreamEvent]) -> JSONDict:
        kind = req_str(block, "type", "content_block")
        rest = dict(block)
        tool: int | None = None
        if kind == "text":
            text = opt_str(block, "text", "content_block")
            if text:
                events.append(TextDelta(text))
                del rest["text"]
        elif kind == "thinking":
            text = opt_str(block, "thinking", "content_block")
            signature = opt_str(block, "signature", "content_block")
            if text or signature:
                signed = signature or None
                events.append(
                    ReasoningDelta(text or "", signature=signed, signer=DIALECT if signed else None)
                )
                for key, value in (("thinking", text), ("signature", signature)):
                    if value:
                        del rest[key]
        elif kind == "redacted_thinking":
            events.append(ReasoningDelta(redacted_data=req_str(block, "data", "content_block")))
            del rest["data"]
        elif kind == "tool_use":
            tool = self._tools
            self._tools += 1
            call_id, name = req_str(block, "id", "content_block"), req_str(block, "name", "content_block")
            events.append(ToolCallStart(tool, call_id, name))
            del rest["id"], rest["name"]
            arguments = block.get("input")
            if isinstance(arguments, dict) and arguments:
                events.append(ToolCallDelta(tool, arguments_json(arguments)))
                del rest["input"]
        elif query_of(block) is not None:  # a web search the upstream runs: its query follows
            self._query = arguments_json(block["input"]) if block.get("input") else ""
        elif kind == RESULT_BLOCK:
            query = query_in(self._query)
            events.append(WebSearchDone(WebSearch([query] if query else [], sources_of(block) or [])))
        self._blocks[index] = (kind, tool)
        return rest  # server tool blocks stay whole

    def _block_delta(self, index: int, delta: JSONDict, events: list[StreamEvent]) -> JSONDict:
        kind = req_str(delta, "type", "delta")
        rest = dict(delta)
        block_type, tool = self._blocks.get(index, ("", None))
        if kind == "text_delta":
            events.append(TextDelta(req_str(delta, "text", "delta")))
            del rest["text"]
        elif kind == "input_json_delta" and tool is not None:
            events.append(ToolCallDelta(tool, req_str(delta, "partial_json", "delta")))
            del rest["partial_json"]
        elif kind == "thinking_delta":
            events.append(ReasoningDelta(req_str(delta, "thinking", "delta")))
            del rest["thinking"]
        elif kind == "signature_delta":
            events.append(ReasoningDelta(signature=req_str(delta, "signature", "delta"), signer=DIALECT))
            del rest["signature"]
        elif kind == "input_json_delta" and block_type == "server_tool_use":
            self._query += opt_str(delta, "partial_json", "delta") or ""
        elif kind == "citations_delta":
            citation = citation_of(delta.get("citation"))
            if citation is not None:
                events.append(CitationDelta(citation))
        return rest  # citations and server tool input stay whole

    def _message_delta(self, data: JSONDict, residual: JSONDict, events: list[StreamEvent]) -> None:
        delta = opt_dict(data, "delta", "")
        if delta is not None:
            stop = opt_str(delta, "stop_reason", "delta")
            if stop is not None:
                events.append(Finish(stop_from_wire(stop)))
                if is_canonical(stop):
                    residual["delta"] = {k: v for k, v in delta.items() if k != "stop_reason"}
        usage = opt_dict(data, "usage", "")
        if usage is not None:
            self._usage.update((k, v) for k, v in usage.items() if v is not None)
            events.append(UsageReport(read_usage(self._usage, "usage")))
