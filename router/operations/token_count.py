"""Counting input tokens: the upstream's own count when it speaks the caller's protocol, else an
estimate from the neutral form (about four characters a token), marked as such in a header."""

from __future__ import annotations

import orjson

from ..call import JSON_HEADERS, Context, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir import (
    AudioPart,
    ChatRequest,
    FilePart,
    ImagePart,
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


class TokenCounter(Operation):
    """The handler of each protocol's token counting (its ``token_counting``: Anthropic's
    ``messages.count_tokens``, Gemini's ``countTokens``)."""

    async def __call__(self, ctx: Context) -> Outcome:
        target = target_of(ctx, self.catalog, self.upstreams)
        if target.upstream.protocol == ctx.call.protocol and ctx.call.operation in target.upstream.operations:
            return await pass_through(ctx, target, self.protocols, ctx.call.operation, self.capabilities)
        body, route = target.body, target.route
        codec, counting = ctx.protocol.chat, ctx.protocol.token_counting
        if codec is None or counting is None:
            raise GatewayError(
                ErrorCode.NOT_IMPLEMENTED, f"counting tokens for {ctx.call.protocol} is not available"
            )
        count = estimate_input_tokens(codec.read_request(counting.chat_body(body)))
        headers = {**JSON_HEADERS, ESTIMATE_HEADER: "estimate", **route.headers()}
        return Outcome(200, headers, orjson.dumps(counting.answer(count)))
