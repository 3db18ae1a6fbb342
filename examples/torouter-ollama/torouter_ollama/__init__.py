"""ToRouter plugin: Ollama's native chat API (``POST /api/chat``, NDJSON streams) as the upstream
kind ``ollama``. It registers a wire protocol (its codec) and a kind that speaks it; the gateway
then serves OpenAI, Anthropic and Gemini callers from Ollama models by translation."""

from __future__ import annotations

from collections.abc import Callable

from torouter.router import hookimpl
from torouter.router.protocols.base import WireProtocol
from torouter.router.protocols.ndjson import NDJSONDecoder
from torouter.router.upstreams import UpstreamKind

from .codec import OllamaChatCodec, OllamaErrors
from .upstream import OllamaKind


@hookimpl
def torouter_protocols(register: Callable[[WireProtocol], None]) -> None:
    register(
        WireProtocol(
            "ollama",
            OllamaErrors(),
            upstream_chat=OllamaChatCodec(),  # the upstream half only: no caller speaks it
            upstream_chat_operation="chat",
            stream_decoder=NDJSONDecoder,  # one JSON object per line, not server-sent events
        )
    )


@hookimpl
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    register(OllamaKind())
