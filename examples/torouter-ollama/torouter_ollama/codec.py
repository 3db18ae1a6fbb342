"""Ollama's native chat protocol (``/api/chat``) to and from ToRouter's neutral form.

Only the upstream half of a codec (``UpstreamChatCodec``): no caller speaks Ollama's protocol to
the gateway. What maps:

- messages: text (joined), base64 images (``images``), tool calls (``tool_calls`` with argument
  objects; Ollama gives calls no ids, so ids are made up as ``call_<n>``), tool results (role
  ``tool`` with ``tool_name``), reasoning read back from ``thinking``;
- ``tools`` (functions), ``tool_choice`` ``none`` (tools left out) and ``auto``; a forced tool
  choice is a 400 (Ollama cannot force one);
- ``response_format``: ``json_object`` → ``format: "json"``, ``json_schema`` → ``format: <schema>``;
- sampling as ``options`` (``temperature``, ``top_p``, ``top_k``, ``seed``, ``stop``, penalties,
  ``num_predict`` for the output limit); reasoning asked for → ``think: true``;
- usage from ``prompt_eval_count`` / ``eval_count``; ``done_reason`` ``length`` → LENGTH.

Image URLs, files and audio are a 400 naming the part.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from torouter.router.errors import ErrorCode, GatewayError, code_for_status
from torouter.router.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    FinishReason,
    ImagePart,
    JSONDict,
    Message,
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
    ToolResult,
    Usage,
    UsageReport,
)
from torouter.router.protocols.base import RenderedError
from torouter.router.protocols.common import reject_refused
from torouter.router.protocols.sse import SSEEvent

DIALECT = "ollama"
_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "max_output_tokens": "num_predict",
}


def _unsupported(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, f"Ollama upstreams: {message}", param=param)


class OllamaChatCodec:
    dialect = DIALECT
    hosted_tools: frozenset[str] = frozenset()  # no server-side tools: the router leaves them out

    def write_request(self, request: ChatRequest) -> JSONDict:
        # an OpenAI caller's fields the kind refuses (its capabilities): a 400, not a text answer
        reject_refused(request.extra if request.dialect == "openai" else {}, request.capabilities)
        body: JSONDict = {"model": request.model, "messages": _messages(request), "stream": request.stream}
        choice = request.tool_choice.mode if request.tool_choice else "auto"
        if request.tools and choice != "none":
            if choice != "auto":
                raise _unsupported("a forced tool_choice cannot be honoured", "tool_choice")
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description or "",
                        "parameters": tool.parameters or {"type": "object", "properties": {}},
                    },
                }
                for tool in request.tools
            ]
        if request.response_format is not None and request.response_format.type != "text":
            schema = request.response_format.schema
            body["format"] = schema if request.response_format.type == "json_schema" and schema else "json"
        options = {
            wire: getattr(request, name)
            for name, wire in _OPTIONS.items()
            if getattr(request, name) is not None
        }
        if options:
            body["options"] = options
        if request.reasoning is not None and request.reasoning.effort != "none":
            body["think"] = True
        return body

    def read_response(self, body: JSONDict) -> ChatResponse:
        message = body.get("message")
        if not isinstance(message, dict):
            raise GatewayError(ErrorCode.UPSTREAM_ERROR, "Ollama's answer has no message")
        parts: list[Any] = []
        if isinstance(message.get("thinking"), str) and message["thinking"]:
            parts.append(ReasoningPart(text=message["thinking"]))
        if isinstance(message.get("content"), str) and message["content"]:
            parts.append(TextPart(message["content"]))
        calls = _tool_calls(message, 0)
        parts += calls
        return ChatResponse(
            id=f"ollama-{time.time_ns()}",
            model=str(body.get("model", "")),
            created=int(time.time()),
            choices=[Choice(0, Message("assistant", parts), _finish(body, bool(calls)))],
            dialect=DIALECT,
            usage=_usage(body),
        )

    def stream_reader(self) -> OllamaStreamReader:
        return OllamaStreamReader()


class OllamaStreamReader:
    """One NDJSON line → one batch; the line with ``done: true`` ends the stream."""

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._calls = 0

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        try:
            line = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise GatewayError(ErrorCode.UPSTREAM_ERROR, "Ollama sent a line that is not JSON") from None
        if not isinstance(line, dict):
            return None
        events: list[StreamEvent] = []
        if "error" in line:  # a failure after the stream began
            self._finished = True
            return StreamBatch([StreamFailure(502, "upstream_error", str(line["error"]))], DIALECT)
        if not self._started:
            self._started = True
            events += [
                StreamStart(f"ollama-{time.time_ns()}", str(line.get("model", "")), int(time.time())),
                RoleStart(),
            ]
        message: JSONDict = line["message"] if isinstance(line.get("message"), dict) else {}
        if isinstance(message.get("thinking"), str) and message["thinking"]:
            events.append(ReasoningDelta(message["thinking"]))
        if isinstance(message.get("content"), str) and message["content"]:
            events.append(TextDelta(message["content"]))
        for call in _tool_calls(message, self._calls):
            events += [
                ToolCallStart(self._calls, call.id, call.name),
                ToolCallDelta(self._calls, call.arguments),
            ]
            self._calls += 1
        if line.get("done") is True:
            self._finished = True
            events.append(Finish(_finish(line, self._calls > 0)))
            usage = _usage(line)
            if usage is not None:
                events.append(UsageReport(usage))
        return StreamBatch(events, DIALECT) if events else None


class OllamaErrors:
    """Ollama's errors are ``{"error": "message"}`` with an HTTP status."""

    def render(self, error: GatewayError, request_id: str) -> RenderedError:
        body = orjson.dumps({"error": error.message})
        return RenderedError(error.status, body, {"content-type": "application/json"})

    def stream_event(self, error: GatewayError) -> bytes:
        return orjson.dumps({"error": error.message}) + b"\n"

    def read_upstream(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        message = f"upstream returned HTTP {status}"
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            message = parsed["error"]
        return GatewayError(code_for_status(status), message, status=status if status < 500 else None)


def _messages(request: ChatRequest) -> list[JSONDict]:
    out: list[JSONDict] = []
    names = {p.id: p.name for m in request.messages for p in m.parts if isinstance(p, ToolCall)}
    for i, message in enumerate(request.messages):
        role = "system" if message.role == "developer" else message.role
        wire: JSONDict = {"role": role, "content": ""}
        for j, part in enumerate(message.parts):
            if isinstance(part, TextPart):
                wire["content"] += part.text
            elif isinstance(part, ImagePart) and part.data_b64:
                wire.setdefault("images", []).append(part.data_b64)
            elif isinstance(part, ToolCall):
                wire.setdefault("tool_calls", []).append(
                    {"function": {"name": part.name, "arguments": _arguments(part.arguments)}}
                )
            elif isinstance(part, ToolResult):
                text = "".join(p.text for p in part.content if isinstance(p, TextPart))
                name = part.name or names.get(part.call_id, "")  # OpenAI callers name results by call id
                out.append({"role": "tool", "content": text, "tool_name": name})
            elif isinstance(part, ReasoningPart):
                continue  # Ollama takes no reasoning back
            else:
                raise _unsupported(
                    f"{type(part).__name__} content is not supported", f"messages[{i}].content[{j}]"
                )
        if wire["content"] or "images" in wire or "tool_calls" in wire or role != "tool":
            out.append(wire)
    return out


def _arguments(text: str) -> Any:
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        raise _unsupported("tool call arguments must be JSON") from None


def _tool_calls(message: JSONDict, first: int) -> list[ToolCall]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return []
    found = []
    for n, call in enumerate(calls, start=first):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            arguments = orjson.dumps(function.get("arguments") or {}).decode()
            found.append(ToolCall(f"call_{n}", function["name"], arguments))
    return found


def _finish(line: JSONDict, called: bool) -> FinishReason:
    if called:
        return FinishReason.TOOL_CALLS
    return FinishReason.LENGTH if line.get("done_reason") == "length" else FinishReason.STOP


def _usage(line: JSONDict) -> Usage | None:
    prompt, output = line.get("prompt_eval_count"), line.get("eval_count")
    if not isinstance(prompt, int) and not isinstance(output, int):
        return None
    return Usage(
        input_tokens=prompt if isinstance(prompt, int) else 0,
        output_tokens=output if isinstance(output, int) else 0,
    )
