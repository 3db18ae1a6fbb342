"""The ChatCodec of OpenAI Chat Completions: the readers and writers behind one object."""

from __future__ import annotations

from ....errors import ErrorCode, GatewayError
from ....ir import ChatRequest, ChatResponse, JSONDict
from .request import _read_request, _write_request
from .residual import DIALECT
from .response import _read_response, _write_response
from .stream_reader import OpenAIChatStreamReader
from .stream_writer import OpenAIChatStreamWriter
from .validate import _Malformed, _obj


class OpenAIChatCodec:
    """The ChatCodec of OpenAI Chat Completions (also serves OpenAI-compatible upstreams)."""

    dialect: str = DIALECT
    hosted_tools: frozenset[str] = frozenset()

    def read_request(self, body: JSONDict) -> ChatRequest:
        raw: object = body
        try:
            return _read_request(_obj(raw, "body"))
        except _Malformed as exc:
            raise GatewayError(ErrorCode.INVALID_REQUEST, exc.message, param=exc.param) from None

    def write_request(self, request: ChatRequest) -> JSONDict:
        return _write_request(request)

    def read_response(self, body: JSONDict) -> ChatResponse:
        raw: object = body
        try:
            return _read_response(_obj(raw, "body"))
        except _Malformed as exc:
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR, f"The upstream sent a malformed chat completion: {exc.message}"
            ) from None

    def write_response(self, response: ChatResponse) -> JSONDict:
        return _write_response(response)

    def stream_reader(self) -> OpenAIChatStreamReader:
        return OpenAIChatStreamReader()

    def stream_writer(self, request: ChatRequest) -> OpenAIChatStreamWriter:
        return OpenAIChatStreamWriter(request)
