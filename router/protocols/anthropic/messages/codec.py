"""The ChatCodec of Anthropic Messages: the readers and writers behind one object."""

from __future__ import annotations

from ....errors import ErrorCode, GatewayError
from ....ir import ChatRequest, ChatResponse, JSONDict
from ...common import WEB_SEARCH, Malformed, obj
from .block_fields import DIALECT
from .request import read_request, write_request
from .response import read_response, write_response
from .stream_reader import AnthropicMessagesStreamReader
from .stream_writer import AnthropicMessagesStreamWriter


class AnthropicMessagesCodec:
    """The ChatCodec of Anthropic Messages (``POST /v1/messages``), for callers and upstreams."""

    dialect: str = DIALECT
    hosted_tools: frozenset[str] = frozenset({WEB_SEARCH})

    def read_request(self, body: JSONDict) -> ChatRequest:
        raw: object = body
        try:
            return read_request(obj(raw, "body"))
        except Malformed as exc:
            raise GatewayError(ErrorCode.INVALID_REQUEST, exc.message, param=exc.param) from None

    def write_request(self, request: ChatRequest) -> JSONDict:
        return write_request(request)

    def read_response(self, body: JSONDict) -> ChatResponse:
        raw: object = body
        try:
            return read_response(obj(raw, "body"))
        except Malformed as exc:
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR, f"The upstream sent a malformed message: {exc.message}"
            ) from None

    def write_response(self, response: ChatResponse) -> JSONDict:
        return write_response(response)

    def stream_reader(self) -> AnthropicMessagesStreamReader:
        return AnthropicMessagesStreamReader()

    def stream_writer(self, request: ChatRequest) -> AnthropicMessagesStreamWriter:
        return AnthropicMessagesStreamWriter(request)
