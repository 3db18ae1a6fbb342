"""An in-process upstream that speaks the OpenAI protocol through the one OpenAI codec.

It lets a newcomer see every endpoint work before adding a real key (CONTRACT §3), and gives
the test suite an upstream that exercises the codec writers. It answers chat completions (the last
user message, echoed), embeddings (:mod:`.embeddings`) and, through chat completions with
``modalities``, images (:mod:`.images`; so ``/v1/images/*`` work as they do on OpenRouter). Every
other operation (the Responses API, Anthropic and Gemini callers) is served by the gateway's
translation to chat completions.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator

import orjson

from torouter.router.config import UpstreamConfig
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    FinishReason,
    Message,
    RoleStart,
    StreamBatch,
    StreamStart,
    TextDelta,
    TextPart,
    Usage,
    UsageReport,
)
from torouter.router.protocols.openai.chat import OpenAIChatCodec
from torouter.router.upstreams import UpstreamKind, UpstreamRequest, UpstreamResponse

from . import embeddings, images

OPERATIONS = frozenset({"chat.completions", "embeddings"})
_JSON = {"content-type": "application/json"}
_WORDS = re.compile(r"\S+\s*|\s+")


def echo_text(request: ChatRequest) -> str:
    """The text of the last user message (or a note when there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text()
    return "(no user message to echo)"


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


class EchoUpstream:
    reports_stream_usage = False

    def __init__(self, config: UpstreamConfig, kind: UpstreamKind) -> None:
        self.config = config
        self.protocol, self.operations = kind.protocol, kind.operations
        self._codec = OpenAIChatCodec()

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if request.operation not in OPERATIONS:
            raise GatewayError(ErrorCode.NOT_IMPLEMENTED, f"the echo upstream has no {request.operation}")
        if request.operation == "embeddings":
            return UpstreamResponse(200, dict(_JSON), embeddings.embed(request.body, estimate_tokens))
        chat = self._codec.read_request(orjson.loads(request.body))
        draws = images.wants_images(chat.extra)
        if draws and chat.stream:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                "the echo upstream makes images only in whole answers: leave out 'stream'",
                param="stream",
            )
        text = echo_text(chat)
        prompt = sum(estimate_tokens(m.text()) for m in chat.messages)
        usage = Usage(input_tokens=prompt, output_tokens=estimate_tokens(text))
        usage.total_tokens = usage.input_tokens + usage.output_tokens
        ident, created = f"chatcmpl-echo{secrets.token_hex(12)}", int(time.time())
        if not chat.stream:
            choices = [
                Choice(i, Message("assistant", [TextPart(text)], as_text=True), FinishReason.STOP)
                for i in range(chat.n or 1)
            ]
            response = ChatResponse(ident, chat.model, created, choices, "echo", usage)
            written = self._codec.write_response(response)
            if draws:
                images.add_images(written, text, chat.extra)
            return UpstreamResponse(200, dict(_JSON), orjson.dumps(written))
        return UpstreamResponse(
            200, {"content-type": "text/event-stream"}, chunks=self._stream(chat, text, usage, ident, created)
        )

    async def _stream(
        self, chat: ChatRequest, text: str, usage: Usage, ident: str, created: int
    ) -> AsyncIterator[bytes]:
        writer = self._codec.stream_writer(chat)
        yield writer.write(StreamBatch([StreamStart(ident, chat.model, created), RoleStart()], "echo"))
        for piece in _WORDS.findall(text):
            yield writer.write(StreamBatch([TextDelta(piece)], "echo"))
        yield writer.write(StreamBatch([Finish(FinishReason.STOP)], "echo"))
        yield writer.write(StreamBatch([UsageReport(usage)], "echo"))
        yield writer.close()

    async def close(self) -> None:
        return None


class EchoKind:
    name = "echo"
    # model-id prefixes of the models that accept extended reasoning (a ``-thinking`` id)
    thinking_models: tuple[str, ...] = ("",)
    protocol = "openai"
    price_provider = "free"  # echo answers cost nothing
    operations = OPERATIONS

    def create(self, config: UpstreamConfig) -> EchoUpstream:
        return EchoUpstream(config, self)
