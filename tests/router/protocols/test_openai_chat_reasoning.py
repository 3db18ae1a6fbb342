"""Reasoning on the OpenAI chat wire beyond OpenAI's own: OpenRouter's ``reasoning`` and
``reasoning_details`` read from answers and streams, and the details written back for an
OpenRouter upstream (only there); and what a translated request keeps for the model it goes to
(a thinking budget for OpenRouter, stop sequences for OpenAI's reasoning models)."""

from __future__ import annotations

from typing import Any

import pytest
from openai_chat_helpers import read_all, sse

from support.kinds import capabilities_of
from torouter.router.errors import GatewayError
from torouter.router.ir import (
    ChatRequest,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    TextPart,
    ToolCall,
)
from torouter.router.protocols.openai.chat import OpenAIChatCodec
from torouter.router.protocols.openai.chat.reasoning import DETAIL

CLAUDE_DETAIL = {
    "type": "reasoning.text",
    "text": "The user wants the weather.",
    "signature": "EqQBCkgIARABGAIiQ",
    "format": "anthropic-claude-v1",
    "index": 0,
}
ENCRYPTED_GPT = {"type": "reasoning.encrypted", "data": "gAAAAB", "format": "openai-responses-v1", "index": 1}


def envelope(kind: str, choice: dict[str, Any]) -> dict[str, Any]:
    """A completion (``kind`` chat.completion) or a chunk (chat.completion.chunk) of one choice."""
    head = {"id": "gen-1", "object": kind, "created": 1, "model": "anthropic/claude-sonnet-4.5"}
    return {**head, "choices": [{"index": 0, **choice}]}


def answer(message: dict[str, Any]) -> dict[str, Any]:
    return envelope("chat.completion", {"message": {"role": "assistant", **message}, "finish_reason": "stop"})


def test_details_become_signed_reasoning_and_keep_themselves() -> None:
    parsed = OpenAIChatCodec().read_response(
        answer(
            {
                "content": "Sunny.",
                "reasoning": "The user wants the weather.",
                "reasoning_details": [CLAUDE_DETAIL, ENCRYPTED_GPT],
            }
        )
    )
    thinking, encrypted, text = parsed.choices[0].message.parts
    assert isinstance(thinking, ReasoningPart) and thinking.text == CLAUDE_DETAIL["text"]
    assert (thinking.signature, thinking.signer) == (CLAUDE_DETAIL["signature"], "anthropic")
    assert thinking.extra[DETAIL] == CLAUDE_DETAIL
    assert isinstance(encrypted, ReasoningPart) and encrypted.redacted_data is None  # not Anthropic's
    assert text == TextPart("Sunny.")  # the `reasoning` string is not read twice


def test_a_plain_reasoning_string_is_reasoning_text() -> None:
    parsed = OpenAIChatCodec().read_response(answer({"content": "4", "reasoning": "2+2"}))
    assert parsed.choices[0].message.parts[0] == ReasoningPart("2+2")


def test_stream_deltas_carry_details_in_pieces() -> None:
    def chunk(delta: dict[str, Any]) -> dict[str, Any]:
        return envelope("chat.completion.chunk", {"delta": delta, "finish_reason": None})

    text_piece = {k: v for k, v in CLAUDE_DETAIL.items() if k != "signature"}
    signature_piece = {
        "type": "reasoning.text",
        "signature": "sig",
        "format": "anthropic-claude-v1",
        "index": 0,
    }
    raw = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning": "The user", "reasoning_details": [text_piece]}),
        chunk({"reasoning": "", "reasoning_details": [signature_piece]}),
        chunk({"reasoning": " wants"}),
    )
    batches, _ = read_all(raw)
    deltas = [e for b in batches for e in b.events if isinstance(e, ReasoningDelta)]
    assert [(d.text, d.signature, d.signer) for d in deltas] == [
        (CLAUDE_DETAIL["text"], None, None),
        ("", "sig", "anthropic"),
        (" wants", None, None),
    ]


def history(*reasoning: ReasoningPart) -> ChatRequest:
    return ChatRequest(
        model="anthropic/claude-sonnet-4.5",
        dialect="anthropic",
        messages=[
            Message("user", [TextPart("weather?")]),
            Message("assistant", [*reasoning, ToolCall("toolu_1", "get_weather", "{}")]),
        ],
    )


def test_details_go_back_to_openrouter_only() -> None:
    kept = ReasoningPart("kept", extra={DETAIL: ENCRYPTED_GPT})
    signed = ReasoningPart("from an Anthropic caller", signature="sig-a", signer="anthropic")
    unsigned = ReasoningPart("just thoughts")
    gemini = ReasoningPart("gemini's", signature="sig-g", signer="gemini")
    request = history(kept, signed, unsigned, gemini)
    request.capabilities = capabilities_of("openrouter", request.model)
    written = OpenAIChatCodec().write_request(request)["messages"][1]
    assert written["reasoning_details"] == [
        ENCRYPTED_GPT,
        {
            "type": "reasoning.text",
            "text": "from an Anthropic caller",
            "signature": "sig-a",
            "format": "anthropic-claude-v1",
            "index": 1,
        },
    ]
    # OpenAI takes no other vendor's reasoning (§7.2)
    request.capabilities = capabilities_of("openai", request.model)
    assert "reasoning_details" not in OpenAIChatCodec().write_request(request)["messages"][1]


def test_a_thinking_budget_goes_to_openrouter_as_it_is() -> None:
    request = history()
    request.reasoning = Reasoning(budget_tokens=12000)
    request.capabilities = capabilities_of("openrouter", request.model)
    written = OpenAIChatCodec().write_request(request)
    assert written["reasoning"] == {"max_tokens": 12000} and "reasoning_effort" not in written
    request.capabilities = capabilities_of("openai", request.model)  # OpenAI takes an effort only
    written = OpenAIChatCodec().write_request(request)
    assert written["reasoning_effort"] == "high" and "reasoning" not in written


def test_stop_sequences_o3_and_o4_mini_do_not_take_are_a_400() -> None:
    request = history()
    request.stop = ["END"]
    for model, refused in (("o3", True), ("o4-mini", True), ("gpt-4.1", False)):
        request.model = model
        request.capabilities = capabilities_of("openai", model)
        if refused:
            with pytest.raises(GatewayError) as caught:
                OpenAIChatCodec().write_request(request)
            assert caught.value.param == "stop"
        else:
            assert OpenAIChatCodec().write_request(request)["stop"] == ["END"]
