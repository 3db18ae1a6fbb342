"""Signature provenance: every reasoning signature carries the dialect that made it (``signer``),
and each writer sends only its own provider's signatures, both ways between Anthropic and Gemini.

End to end through the router's memo: a Gemini turn served to an OpenAI caller gets its thought
signatures back on the next request to Gemini, while an Anthropic upstream never sees them.
"""

from __future__ import annotations

import copy
from typing import Any

from anthropic_helpers import FIXTURE as ANTHROPIC_FIXTURE
from anthropic_helpers import SIGNATURE as ANTHROPIC_SIGNATURE
from anthropic_helpers import body as anthropic_body
from anthropic_helpers import frames as anthropic_frames
from anthropic_helpers import read_all as anthropic_read_all
from anthropic_helpers import write_all as anthropic_write_all
from gemini_helpers import CALL_SIGNATURE, FIXTURE, SIGNATURE, body, codec, read_all, validate_request

from torouter.router.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    ReasoningDelta,
    ReasoningPart,
    StreamBatch,
    TextPart,
    ToolCall,
    ToolResult,
)
from torouter.router.operations.reasoning_memo import ReasoningMemo, StreamRecorder
from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec

GEMINI_SIGNED = ReasoningPart("Gemini's plan.", SIGNATURE, signer="gemini")
ANTHROPIC_SIGNED = ReasoningPart("Claude's plan.", ANTHROPIC_SIGNATURE, signer="anthropic")


def _anthropic_request(*parts: Any) -> ChatRequest:
    return ChatRequest(
        "claude-sonnet-4-6",
        [
            Message("user", [TextPart("Weather?")]),
            Message("assistant", [*parts, ToolCall("toolu_1", "get_weather", "{}")]),
            Message("tool", [ToolResult("toolu_1", [TextPart("3°C")])]),
        ],
        "openai",
    )


# ---------------------------------------------------------------------------- readers sign


def test_readers_say_who_signed() -> None:
    request = AnthropicMessagesCodec().read_request(
        anthropic_body(
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "Plan.", "signature": ANTHROPIC_SIGNATURE}],
            },
        )
    )
    thinking = request.messages[1].parts[0]
    assert isinstance(thinking, ReasoningPart) and thinking.signer == "anthropic"
    batches, _ = anthropic_read_all(ANTHROPIC_FIXTURE)
    signed = [e for b in batches for e in b.events if isinstance(e, ReasoningDelta) and e.signature]
    assert signed and all(e.signer == "anthropic" for e in signed)
    unsigned = [e for b in batches for e in b.events if isinstance(e, ReasoningDelta) and not e.signature]
    assert all(e.signer is None for e in unsigned)
    gemini = codec().read_request(
        body({"role": "model", "parts": [{"text": "Plan.", "thought": True, "thoughtSignature": SIGNATURE}]})
    )
    part = gemini.messages[0].parts[0]
    assert isinstance(part, ReasoningPart) and part.signer == "gemini"


# ---------------------------------------------------------------------------- Anthropic writers


def test_anthropic_request_writer_drops_thinking_signed_by_gemini() -> None:
    written = AnthropicMessagesCodec().write_request(_anthropic_request(GEMINI_SIGNED))
    assert [b["type"] for b in written["messages"][1]["content"]] == ["tool_use"]
    written = AnthropicMessagesCodec().write_request(_anthropic_request(ANTHROPIC_SIGNED))
    assert written["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "Claude's plan.",
        "signature": ANTHROPIC_SIGNATURE,
    }


def test_anthropic_native_writer_drops_reasoning_another_provider_signed() -> None:
    """An Anthropic caller's turn that the memo completed with a Gemini upstream's reasoning
    (the fallback went to Anthropic): the Gemini part is not replayed to Anthropic."""
    request = AnthropicMessagesCodec().read_request(
        anthropic_body(
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "3°C"}],
            },
        )
    )
    request.messages[1].parts.insert(0, copy.deepcopy(GEMINI_SIGNED))
    written = AnthropicMessagesCodec().write_request(request)
    assert written["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    ]


def test_anthropic_response_and_stream_writers_blank_foreign_signatures() -> None:
    response = ChatResponse(
        "r",
        "m",
        0,
        [Choice(0, Message("assistant", [GEMINI_SIGNED, TextPart("Hi")]), FinishReason.STOP)],
        "x",
    )
    written = AnthropicMessagesCodec().write_response(response)
    assert written["content"][0] == {"type": "thinking", "thinking": "Gemini's plan.", "signature": ""}
    batches = [StreamBatch([ReasoningDelta("Plan.", SIGNATURE, signer="gemini")], "gemini")]
    out, _ = anthropic_write_all(batches)
    deltas = [d["delta"]["type"] for _, d in anthropic_frames(out) if d["type"] == "content_block_delta"]
    assert deltas == ["thinking_delta"]  # no signature_delta with Gemini's signature


# ---------------------------------------------------------------------------- Gemini writers


def test_gemini_writers_send_only_gemini_signatures() -> None:
    request = ChatRequest(
        "gemini-2.5-flash",
        [
            Message("user", [TextPart("Weather?")]),
            Message(
                "assistant",
                [
                    copy.deepcopy(ANTHROPIC_SIGNED),
                    ToolCall("toolu_1", "get_weather", "{}", ANTHROPIC_SIGNATURE, signer="anthropic"),
                ],
            ),
            Message("tool", [ToolResult("toolu_1", [TextPart("3°C")])]),
        ],
        "anthropic",
    )
    written = codec().write_request(request)
    validate_request(written)
    assert written["contents"][1]["parts"] == [
        {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {}}}
    ]
    native = codec().read_request(
        body(
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
        )
    )
    native.messages[1].parts[:0] = [copy.deepcopy(ANTHROPIC_SIGNED), ReasoningPart(redacted_data="EmwK")]
    assert codec().write_request(native)["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {}}}
    ]


# ---------------------------------------------------------------------------- end to end


async def test_gemini_signatures_come_back_through_an_openai_caller() -> None:
    """Gemini stream → OpenAI caller (no signatures on its wire) → next OpenAI request → Gemini."""
    batches, _ = read_all(FIXTURE)
    recorder = StreamRecorder()
    for batch in batches:
        recorder.feed(batch)
    memo = ReasoningMemo()
    await memo.remember("group", recorder.parts())
    calls = [(e.id, e.name) for b in batches for e in b.events if type(e).__name__ == "ToolCallStart"]
    history = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "user", "content": "Weather in Oslo and Bergen?"},
            {
                "role": "assistant",
                "content": "I'll check both cities.",
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
                    for call_id, name in calls
                ],
            },
            *({"role": "tool", "tool_call_id": call_id, "content": "3°C"} for call_id, _ in calls),
        ],
    }
    request = OpenAIChatCodec().read_request(history)
    await memo.restore("group", request)
    written = codec().write_request(request)
    validate_request(written)
    parts = written["contents"][1]["parts"]
    assert parts[0] == {"text": "I'll check both cities.", "thoughtSignature": SIGNATURE}
    assert parts[1]["thoughtSignature"] == CALL_SIGNATURE and "thoughtSignature" not in parts[2]
    assert [p["functionCall"]["id"] for p in parts[1:]] == [c for c, _ in calls]
    request.model = "claude-sonnet-4-6"
    anthropic = AnthropicMessagesCodec().write_request(request)
    assert SIGNATURE not in str(anthropic) and CALL_SIGNATURE not in str(anthropic)
