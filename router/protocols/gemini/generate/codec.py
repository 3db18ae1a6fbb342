"""The ChatCodec of Gemini generateContent: the readers and writers behind one object."""

from __future__ import annotations

from ....errors import ErrorCode, GatewayError
from ....ir import ChatRequest, ChatResponse, JSONDict
from ...common import WEB_SEARCH, Malformed
from .proto_json import DIALECT
from .request import read_request, write_request
from .response import read_response, write_response
from .stream_reader import GeminiGenerateStreamReader
from .stream_writer import GeminiGenerateStreamWriter


class GeminiGenerateCodec:
    """The ChatCodec of ``models/{model}:generateContent`` (and ``:streamGenerateContent``), for
    Gemini callers and Gemini upstreams alike."""

    dialect: str = DIALECT
    hosted_tools: frozenset[str] = frozenset({WEB_SEARCH})

    def read_request(self, body: JSONDict) -> ChatRequest:
        try:
            return read_request(body)
        except Malformed as exc:
            raise GatewayError(ErrorCode.INVALID_REQUEST, exc.message, param=exc.param) from None

    def write_request(self, request: ChatRequest) -> JSONDict:
        return write_request(request)

    def read_response(self, body: JSONDict) -> ChatResponse:
        try:
            return read_response(body)
        except Malformed as exc:
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR, f"The upstream sent a malformed response: {exc.message}"
            ) from None

    def write_response(self, response: ChatResponse) -> JSONDict:
        return write_response(response)

    def stream_reader(self) -> GeminiGenerateStreamReader:
        return GeminiGenerateStreamReader()

    def stream_writer(self, request: ChatRequest) -> GeminiGenerateStreamWriter:
        return GeminiGenerateStreamWriter(request)
