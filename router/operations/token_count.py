"""Counting input tokens: the upstream's own count when it speaks the caller's protocol, else an
estimate from the neutral form (about four characters a token), marked as such in a header."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from ..call import JSON_HEADERS, Context, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir import (
    AudioPart,
    ChatRequest,
    FilePart,
    ImagePart,
    JSONDict,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
)
from .body_bytes import encode_request
from .passthrough import pass_through, target_of
from .services import Operation

ESTIMATE_HEADER = "x-torouter-token-count"
_CHARS_PER_TOKEN = 4
_IMAGE_TOKENS = 1_000  # a typical image, whatever its size: an estimate is all this can be
_FILE_TOKENS = 1_500


def _text_tokens(text: str) -> int:
    return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def estimate_input_tokens(request: ChatRequest) -> int:
    total = 0
    for message in request.messages:
        total += 4  # role and framing
        for part in message.parts:
            if isinstance(part, TextPart | ReasoningPart):
                total += _text_tokens(part.text)
            elif isinstance(part, ToolCall):
                total += _text_tokens(part.name) + _text_tokens(part.arguments)
            elif isinstance(part, ToolResult):
                total += sum(_text_tokens(p.text) for p in part.content if isinstance(p, TextPart))
            elif isinstance(part, ImagePart):
                total += _IMAGE_TOKENS
            elif isinstance(part, FilePart | AudioPart):
                total += _FILE_TOKENS
    for tool in request.tools or ():
        total += _text_tokens(tool.name) + _text_tokens(tool.description or "")
        total += _text_tokens(encode_request(tool.parameters).decode()) if tool.parameters else 0
    return total


def _anthropic_chat_body(body: JSONDict) -> JSONDict:
    return {**body, "max_tokens": 1}  # count_tokens bodies carry no max_tokens; the reader wants one


def _gemini_chat_body(body: JSONDict) -> JSONDict:
    inner = body.get("generateContentRequest")
    if isinstance(inner, dict):
        return {k: v for k, v in inner.items() if k != "model"}
    return {"contents": body.get("contents", [])}


# protocol -> (the chat request a count body stands for, the count as that protocol answers it)
SHAPES: dict[str, tuple[Callable[[JSONDict], JSONDict], Callable[[int], JSONDict]]] = {
    "anthropic": (_anthropic_chat_body, lambda n: {"input_tokens": n}),
    "gemini": (_gemini_chat_body, lambda n: {"totalTokens": n}),
}


class TokenCounter(Operation):
    """The handler of Anthropic's ``messages.count_tokens`` and Gemini's ``countTokens``."""

    async def __call__(self, ctx: Context) -> Outcome:
        target = target_of(ctx, self.catalog, self.upstreams)
        if target.upstream.protocol == ctx.call.protocol and ctx.call.operation in target.upstream.operations:
            return await pass_through(ctx, target, self.protocols, ctx.call.operation, self.capabilities)
        body, route = target.body, target.route
        codec = ctx.protocol.chat
        if codec is None:
            raise GatewayError(
                ErrorCode.NOT_IMPLEMENTED, f"counting tokens for {ctx.call.protocol} is not available"
            )
        as_chat, answer = SHAPES[ctx.call.protocol]
        count = estimate_input_tokens(codec.read_request(as_chat(body)))
        headers = {**JSON_HEADERS, ESTIMATE_HEADER: "estimate", **route.headers()}
        return Outcome(200, headers, orjson.dumps(answer(count)))
