"""Reading a ``streamGenerateContent?alt=sse`` stream: each ``data:`` event is a complete
``GenerateContentResponse`` fragment (TRANSLATION §5.4), read as a response (``response``) and
turned into one batch of events.

The first chunk with a ``responseId`` gives StreamStart; a candidate's first chunk RoleStart; text
parts TextDelta, thought parts and signatures ReasoningDelta (signer ``gemini``); a
``functionCall`` part, which Gemini sends whole, ToolCallStart (the caller-facing tool index:
dense per candidate, the signature on it) and one ToolCallDelta with all its arguments; a
``finishReason`` Finish (TOOL_CALLS when the candidate called functions in any chunk); a
``usageMetadata`` UsageReport (Gemini repeats the running totals: the last one wins); a blocked
prompt a RoleStart and Finish(CONTENT_FILTER); ``{"error": ...}`` a StreamFailure. Gemini has no
terminator event: the reader is ``finished`` once a chunk had a finish reason (or a blocked
prompt), and reads on after it (other candidates, late usage) until the stream ends.

The batch's ``extra`` holds what the events do not say, for a writer of this dialect to rebuild
the chunk exactly (``rebuild``): the chunk's residual, and per candidate its residual (``_choice``
naming its choice) with its content's residual, whose ``_parts`` lists each part's residual in
order (a part with no event, such as an image, is kept whole as ``{"_part": ...}``).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ....errors import code_for_status
from ....ir import (
    ChatResponse,
    Choice,
    CitationDelta,
    Finish,
    FinishReason,
    JSONDict,
    Message,
    Part,
    ReasoningDelta,
    ReasoningPart,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
    WebSearchDone,
)
from ...common import Malformed
from ...sse import SSEEvent
from .grounding import citations_of as grounding_citations
from .parts import read_part, write_native_part
from .proto_json import DIALECT, CallIds, response_call_id
from .response import read_response

CHOICE: Final = "_choice"
PARTS: Final = "_parts"
WHOLE: Final = "_part"


class GeminiGenerateStreamReader:
    """Reads a Gemini stream (see the module docstring). Never raises: a malformed chunk or an
    upstream error is a StreamFailure, and the reader reads nothing after it."""

    __slots__ = ("_called", "_failed", "_finished", "_ids", "_roles", "_started", "_texts", "_tools")

    def __init__(self) -> None:
        self._finished = False
        self._failed = False
        self._started = False
        self._ids = CallIds(response_call_id)
        self._roles: set[int] = set()  # choices whose RoleStart was given
        self._tools: dict[int, int] = {}  # choice → tool calls so far
        self._called: set[int] = set()  # choices that called a function
        self._texts: dict[int, str] = {}  # choice → its text so far (grounding spans index into it)

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        if self._failed:
            return None
        text = event.data.strip()
        if not text:
            return None  # keep-alive
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._fail(502, "The upstream sent a stream chunk that is not valid JSON.")
        if isinstance(data, list) and len(data) == 1:
            data = data[0]  # a JSON-array stream's element
        if not isinstance(data, dict):
            return self._fail(502, "The upstream sent a stream chunk that is not a JSON object.")
        if data.get("error") is not None:
            return self._error(data["error"])
        try:
            response = read_response(data, self._ids)
        except Malformed as exc:
            return self._fail(502, f"The upstream sent a malformed stream chunk: {exc.message}")
        return StreamBatch(*self._events(response))

    # ------------------------------------------------------------------ failures

    def _fail(self, status: int, message: str, extra: JSONDict | None = None) -> StreamBatch:
        self._failed = True
        failure = StreamFailure(status, code_for_status(status).value, message)
        return StreamBatch([failure], DIALECT, extra or {})

    def _error(self, error: object) -> StreamBatch:
        """``{"error": {"code", "message", "status"}}`` (TRANSLATION §11.3)."""
        status, message = 502, "The upstream reported an error in the middle of the stream."
        if isinstance(error, dict):
            code = error.get("code")
            if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
                status = code
            if isinstance(error.get("message"), str) and error["message"]:
                message = error["message"]
        return self._fail(status, message, {"error": error})

    # ------------------------------------------------------------------ chunks

    def _events(self, response: ChatResponse) -> tuple[list[StreamEvent], str, JSONDict]:
        events: list[StreamEvent] = []
        extra: JSONDict = dict(response.extra)
        if not self._started and response.id:
            self._started = True
            events.append(StreamStart(response.id, response.model, response.created))
        else:
            if response.id:
                extra["responseId"] = response.id
            if response.model:
                extra["modelVersion"] = response.model
        candidates = [self._choice(c, events) for c in response.choices]
        if candidates:
            extra["candidates"] = candidates
        if response.usage is not None:
            events.append(UsageReport(response.usage))
        return events, DIALECT, extra

    def _choice(self, choice: Choice, events: list[StreamEvent]) -> JSONDict:
        index = choice.index
        if index not in self._roles:
            self._roles.add(index)
            events.append(RoleStart(index))
        entries: list[JSONDict] = []
        for part in choice.message.parts:
            entries.append(self._part(part, index, events))
        grounding = choice.extra.get("groundingMetadata")
        if grounding is not None:  # it stays in the residual; the events say it to other dialects
            text = self._texts.get(index, "")  # cited first: the search closes the text it follows
            events.extend(CitationDelta(c, index) for c in grounding_citations(grounding, text))
            for search in choice.message.searches:
                events.append(WebSearchDone(search, index))
        if choice.finish_reason is not None:
            reason = choice.finish_reason
            if reason is FinishReason.STOP and index in self._called:
                reason = FinishReason.TOOL_CALLS
            events.append(Finish(reason, index))
            self._finished = True
        content = {**choice.message.extra, PARTS: entries}
        return {**choice.extra, CHOICE: index, "content": content}

    def _part(self, part: Part, choice: int, events: list[StreamEvent]) -> JSONDict:
        if isinstance(part, TextPart):
            events.append(TextDelta(part.text, choice))
            self._texts[choice] = self._texts.get(choice, "") + part.text
        elif isinstance(part, ReasoningPart):
            events.append(ReasoningDelta(part.text, part.signature, choice=choice, signer=part.signer))
        elif isinstance(part, ToolCall):
            k = self._tools.get(choice, 0)
            self._tools[choice] = k + 1
            self._called.add(choice)
            events.append(ToolCallStart(k, part.id, part.name, part.signature, choice, part.signer))
            events.append(ToolCallDelta(k, part.arguments, choice))
        else:
            return {WHOLE: write_native_part(part)}  # no event stands for it
        return dict(part.extra)


# ---------------------------------------------------------------------------- rebuilding


def rebuild(batch: StreamBatch) -> ChatResponse:
    """The response chunk a batch of this dialect was read from, for ``response.write_response``."""
    extra = batch.extra
    top = {k: v for k, v in extra.items() if k not in ("candidates", "responseId", "modelVersion")}
    response = ChatResponse(
        str(extra.get("responseId", "")), str(extra.get("modelVersion", "")), 0, [], DIALECT, extra=top
    )
    parts: dict[int, list[Part]] = {}
    finishes: dict[int, FinishReason] = {}
    calls: dict[tuple[int, int], ToolCall] = {}
    for event in batch.events:
        if isinstance(event, StreamStart):
            response.id, response.model = event.id, event.model
        elif isinstance(event, UsageReport):
            response.usage = event.usage
        elif isinstance(event, TextDelta):
            parts.setdefault(event.choice, []).append(TextPart(event.text))
        elif isinstance(event, ReasoningDelta):
            reasoning = ReasoningPart(event.text, event.signature, signer=event.signer)
            parts.setdefault(event.choice, []).append(reasoning)
        elif isinstance(event, ToolCallStart):
            call = ToolCall(event.id, event.name, "", event.signature, signer=event.signer)
            calls[(event.choice, event.index)] = call
            parts.setdefault(event.choice, []).append(call)
        elif isinstance(event, ToolCallDelta):
            known = calls.get((event.choice, event.index))
            if known is not None:
                known.arguments += event.arguments
        elif isinstance(event, Finish):
            finishes[event.choice] = event.reason
    residuals: Any = extra.get("candidates")
    for residual in residuals if isinstance(residuals, list) else ():
        response.choices.append(_candidate(residual, parts, finishes))
    return response


def _candidate(residual: JSONDict, parts: dict[int, list[Part]], finishes: dict[int, FinishReason]) -> Choice:
    index = residual.get(CHOICE, 0)
    content = dict(residual.get("content") or {})
    entries = content.pop(PARTS, [])
    produced = iter(parts.get(index, []))
    message_parts: list[Part] = []
    ids = CallIds(response_call_id)
    for entry in entries:
        if WHOLE in entry:
            read = read_part(entry[WHOLE], "part", ids)
            message_parts.extend(read or ())
            continue
        part = next(produced, None)
        if part is not None:
            part.extra = dict(entry)
            message_parts.append(part)
    message_parts.extend(produced)
    choice_extra = {k: v for k, v in residual.items() if k not in (CHOICE, "content")}
    return Choice(
        index, Message("assistant", message_parts, extra=content), finishes.get(index), choice_extra
    )
