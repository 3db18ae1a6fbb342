"""The ChatCodec of the OpenAI Responses API, and the error codec of a relayed Responses stream.

A :class:`ResponsesCodec` made for one request holds its :class:`Exchange` (the response id, the
caller's body to echo, and what the writers produced); one made without serves the protocol's
reading side (a Responses upstream's answers and streams, e.g. for their usage).
"""

from __future__ import annotations

import orjson

from ....errors import ErrorCode, GatewayError
from ....ir import ChatRequest, ChatResponse, JSONDict, Message
from ...base import RenderedError
from ...common import WEB_SEARCH, Malformed, obj
from ...sse import format_event
from ..errors import OpenAIErrors, error_object
from .output import Exchange, output_items, response_object, status_of
from .request import DIALECT, read_request, write_request
from .response_reader import read_response
from .stream_reader import ResponsesStreamReader
from .stream_writer import ResponsesStreamWriter
from .tools import CalledTools


class ResponsesCodec:
    """Requests, responses and streams of ``POST /v1/responses``, to and from the neutral form."""

    dialect: str = DIALECT
    hosted_tools: frozenset[str] = frozenset({WEB_SEARCH})

    def __init__(self, exchange: Exchange | None = None) -> None:
        self.exchange = exchange

    def read_request(self, body: JSONDict) -> ChatRequest:
        raw: object = body
        try:
            request = read_request(obj(raw, "body"))
        except Malformed as exc:
            raise GatewayError(ErrorCode.INVALID_REQUEST, exc.message, param=exc.param) from None
        if self.exchange is not None:
            self.exchange.called = CalledTools(request.tools)
        return request

    def write_request(self, request: ChatRequest) -> JSONDict:
        return write_request(request)

    def read_response(self, body: JSONDict) -> ChatResponse:
        raw: object = body
        try:
            return read_response(obj(raw, "body"))
        except Malformed as exc:
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR, f"The upstream sent a malformed response object: {exc.message}"
            ) from None

    def write_response(self, response: ChatResponse) -> JSONDict:
        exchange = self.exchange or Exchange.new({"model": response.model})
        choice = response.choices[0] if response.choices else None
        status, incomplete, error = status_of(choice.finish_reason if choice is not None else None)
        items, history = output_items(
            choice.message if choice is not None else Message("assistant", []),
            "incomplete" if status == "incomplete" else "completed",
            exchange.called,
        )
        body = response_object(
            exchange,
            model=response.model or str(exchange.body.get("model", "")),
            status=status,
            output=items,
            usage=response.usage,
            incomplete=incomplete,
            error=error,
        )
        exchange.response, exchange.history_output = body, history
        return body

    def stream_reader(self) -> ResponsesStreamReader:
        return ResponsesStreamReader()

    def stream_writer(self, request: ChatRequest) -> ResponsesStreamWriter:
        return ResponsesStreamWriter(self.exchange or Exchange.new({"model": request.model}), request)


class ResponsesStreamErrors:
    """The OpenAI error codec, but for a relayed Responses stream: an error after HTTP 200 is an
    ``event: error`` frame (TRANSLATION §11.3) whose ``sequence_number`` follows the last event
    relayed (``sequence`` is kept up to date by whoever follows the stream)."""

    def __init__(self) -> None:
        self._openai = OpenAIErrors()
        self.sequence = 0  # the next sequence number of the stream
        self.used = False  # an error event was written

    def render(self, error: GatewayError, request_id: str) -> RenderedError:
        return self._openai.render(error, request_id)

    def read_upstream(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return self._openai.read_upstream(status, body, headers)

    def stream_event(self, error: GatewayError) -> bytes:
        self.used = True
        fields = error_object(error)
        payload = {
            "type": "error",
            "code": fields["code"] or fields["type"],
            "message": fields["message"],
            "param": fields["param"],
            "sequence_number": self.sequence,
        }
        self.sequence += 1
        return format_event(orjson.dumps(payload), "error")
