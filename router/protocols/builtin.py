"""Registers the built-in wire protocols with the plugin manager, like any third-party codec."""

from __future__ import annotations

from collections.abc import Callable

from ..hookspecs import hookimpl
from .anthropic import count_tokens as anthropic_count_tokens
from .anthropic.errors import AnthropicErrors
from .anthropic.messages import AnthropicMessagesCodec
from .anthropic.messages.fit import refitted
from .base import ImageTranslation, WireProtocol
from .gemini import count_tokens as gemini_count_tokens
from .gemini import images as gemini_images
from .gemini.embeddings import GeminiEmbeddings
from .gemini.errors import GeminiErrors
from .gemini.generate import GeminiGenerateCodec
from .gemini.json_array import JSONArrayFraming
from .openai import chat_images
from .openai.chat import OpenAIChatCodec
from .openai.embeddings import OpenAIEmbeddings
from .openai.errors import OpenAIErrors
from .openai.stream_usage import OpenAIStreamUsage


@hookimpl
def torouter_protocols(register: Callable[[WireProtocol], None]) -> None:
    register(
        WireProtocol(
            "openai",
            OpenAIErrors(),
            OpenAIChatCodec(),
            stream_terminator=b"[DONE]",
            chat_operations=frozenset({"chat.completions"}),
            upstream_chat_operation="chat.completions",
            stream_usage=OpenAIStreamUsage(),
            image_translation=ImageTranslation(chat_images.OPERATION, chat_images),
            embeddings=OpenAIEmbeddings(),
        )
    )
    register(
        WireProtocol(
            "anthropic",
            AnthropicErrors(),
            AnthropicMessagesCodec(),
            stream_terminator=b"message_stop",
            chat_operations=frozenset({"messages"}),
            upstream_chat_operation="messages",
            refit=refitted,
            token_counting=anthropic_count_tokens.COUNTING,
        )
    )
    register(
        WireProtocol(
            "gemini",
            GeminiErrors(),
            GeminiGenerateCodec(),
            stream_terminator=b'"finishReason"',
            chat_operations=frozenset({"generateContent", "streamGenerateContent"}),
            upstream_chat_operation="generateContent",
            stream_framing=JSONArrayFraming(),
            token_counting=gemini_count_tokens.COUNTING,
            embeddings=GeminiEmbeddings(),
            image_translation=ImageTranslation("generateContent", gemini_images),
        )
    )
