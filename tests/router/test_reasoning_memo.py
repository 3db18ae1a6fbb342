from __future__ import annotations

from torouter.router.ir import (
    ChatRequest,
    Message,
    ReasoningDelta,
    ReasoningPart,
    StreamBatch,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallStart,
    ToolResult,
)
from torouter.router.reasoning_memo import ReasoningMemo, StreamRecorder


def history(*calls: ToolCall) -> ChatRequest:
    """What an OpenAI caller sends back: the assistant turn without its thinking."""
    return ChatRequest(
        model="m",
        dialect="openai",
        messages=[
            Message("user", [TextPart("weather?")]),
            Message("assistant", list(calls)),
            *(Message("tool", [ToolResult(c.id, [TextPart("sunny")])]) for c in calls),
        ],
    )


def test_signed_thinking_comes_back_before_the_calls_it_led_to() -> None:
    memo = ReasoningMemo()
    thinking = ReasoningPart("let me check", signature="sig-1")
    memo.remember(
        "g", [thinking, TextPart("ok"), ToolCall("toolu_1", "weather", "{}"), ToolCall("toolu_2", "t", "{}")]
    )
    request = history(ToolCall("toolu_1", "weather", "{}"), ToolCall("toolu_2", "t", "{}"))
    memo.restore("g", request)
    assert request.messages[1].parts[0] == thinking
    assert sum(isinstance(p, ReasoningPart) for p in request.messages[1].parts) == 1  # once, not per call


def test_other_groups_never_see_it_and_unsigned_reasoning_is_not_kept() -> None:
    memo = ReasoningMemo()
    memo.remember("g", [ReasoningPart("secret", signature="sig"), ToolCall("toolu_1", "f", "{}")])
    memo.remember("g", [ReasoningPart("plain, unsigned"), ToolCall("toolu_9", "f", "{}")])
    other = history(ToolCall("toolu_1", "f", "{}"))
    memo.restore("other-group", other)
    assert not any(isinstance(p, ReasoningPart) for p in other.messages[1].parts)
    unsigned = history(ToolCall("toolu_9", "f", "{}"))
    memo.restore("g", unsigned)
    assert not any(isinstance(p, ReasoningPart) for p in unsigned.messages[1].parts)


def test_gemini_call_signatures_are_put_back_on_their_calls() -> None:
    memo = ReasoningMemo()
    memo.remember("g", [ToolCall("call_1", "f", "{}", signature="thought-sig")])
    request = history(ToolCall("call_1", "f", "{}"))
    memo.restore("g", request)
    call = request.messages[1].parts[0]
    assert isinstance(call, ToolCall) and call.signature == "thought-sig"


def test_the_memo_is_bounded() -> None:
    memo = ReasoningMemo(max_entries=2)
    for i in range(3):
        memo.remember("g", [ReasoningPart("t", signature=f"s{i}"), ToolCall(f"id{i}", "f", "{}")])
    first = history(ToolCall("id0", "f", "{}"))
    memo.restore("g", first)
    assert not any(isinstance(p, ReasoningPart) for p in first.messages[1].parts)


def test_stream_recorder_rebuilds_blocks_from_deltas() -> None:
    recorder = StreamRecorder()
    recorder.feed(StreamBatch([ReasoningDelta("think "), ReasoningDelta("hard")], "anthropic"))
    recorder.feed(StreamBatch([ReasoningDelta(signature="sig-a")], "anthropic"))
    recorder.feed(StreamBatch([ReasoningDelta(redacted_data="opaque")], "anthropic"))
    recorder.feed(StreamBatch([TextDelta("hi"), ToolCallStart(0, "toolu_1", "f")], "anthropic"))
    parts = recorder.parts()
    assert parts[0] == ReasoningPart("think hard", signature="sig-a")
    assert parts[1] == ReasoningPart(redacted_data="opaque")
    assert isinstance(parts[2], ToolCall) and parts[2].id == "toolu_1"


def test_signers_survive_the_recorder_and_the_memo() -> None:
    """Who signed what travels with the signature, so that each writer knows whether it is its own."""
    recorder = StreamRecorder()
    recorder.feed(StreamBatch([ReasoningDelta("plan", signature="sig-g", signer="gemini")], "gemini"))
    recorder.feed(
        StreamBatch([ToolCallStart(0, "call_1", "f", signature="call-sig", signer="gemini")], "gemini")
    )
    parts = recorder.parts()
    assert [getattr(p, "signer", None) for p in parts] == ["gemini", "gemini"]
    memo = ReasoningMemo()
    memo.remember("g", parts)
    request = history(ToolCall("call_1", "f", "{}"))
    memo.restore("g", request)
    thinking, call = request.messages[1].parts
    assert isinstance(thinking, ReasoningPart) and thinking.signer == "gemini"
    assert isinstance(call, ToolCall) and (call.signature, call.signer) == ("call-sig", "gemini")


def test_a_gemini_signature_without_text_is_a_part_of_its_own() -> None:
    """Anthropic's signature closes the thinking before it; Gemini's rides on the part after it."""
    recorder = StreamRecorder()
    recorder.feed(StreamBatch([ReasoningDelta("thought summary")], "gemini"))
    recorder.feed(
        StreamBatch([ReasoningDelta(signature="sig-g", signer="gemini"), TextDelta("Hi")], "gemini")
    )
    assert recorder.parts() == [ReasoningPart("thought summary"), ReasoningPart(signature="sig-g")]
    assert recorder.reasoning[1].signer == "gemini"
