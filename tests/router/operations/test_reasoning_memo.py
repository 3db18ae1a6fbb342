from __future__ import annotations

from pathlib import Path

from support.kinds import capabilities_of
from support.redis_server import redis_server
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
from torouter.router.operations.reasoning_memo import ReasoningMemo, StreamRecorder
from torouter.router.protocols.openai.chat import OpenAIChatCodec
from torouter.router.protocols.openai.chat.reasoning import DETAIL
from torouter.router.state import open_store
from torouter.router.state.memory import MemoryStore


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


async def test_signed_thinking_comes_back_before_the_calls_it_led_to() -> None:
    memo = ReasoningMemo()
    thinking = ReasoningPart("let me check", signature="sig-1")
    await memo.remember(
        "g", [thinking, TextPart("ok"), ToolCall("toolu_1", "weather", "{}"), ToolCall("toolu_2", "t", "{}")]
    )
    request = history(ToolCall("toolu_1", "weather", "{}"), ToolCall("toolu_2", "t", "{}"))
    await memo.restore("g", request)
    assert request.messages[1].parts[0] == thinking
    assert sum(isinstance(p, ReasoningPart) for p in request.messages[1].parts) == 1  # once, not per call


async def test_other_groups_never_see_it_and_unsigned_reasoning_is_not_kept() -> None:
    memo = ReasoningMemo()
    await memo.remember("g", [ReasoningPart("secret", signature="sig"), ToolCall("toolu_1", "f", "{}")])
    await memo.remember("g", [ReasoningPart("plain, unsigned"), ToolCall("toolu_9", "f", "{}")])
    other = history(ToolCall("toolu_1", "f", "{}"))
    await memo.restore("other-group", other)
    assert not any(isinstance(p, ReasoningPart) for p in other.messages[1].parts)
    unsigned = history(ToolCall("toolu_9", "f", "{}"))
    await memo.restore("g", unsigned)
    assert not any(isinstance(p, ReasoningPart) for p in unsigned.messages[1].parts)


async def test_gemini_call_signatures_are_put_back_on_their_calls() -> None:
    memo = ReasoningMemo()
    await memo.remember("g", [ToolCall("call_1", "f", "{}", signature="thought-sig")])
    request = history(ToolCall("call_1", "f", "{}"))
    await memo.restore("g", request)
    call = request.messages[1].parts[0]
    assert isinstance(call, ToolCall) and call.signature == "thought-sig"


async def test_the_memo_is_bounded() -> None:
    memo = ReasoningMemo(max_entries=2)
    for i in range(3):
        await memo.remember("g", [ReasoningPart("t", signature=f"s{i}"), ToolCall(f"id{i}", "f", "{}")])
    first = history(ToolCall("id0", "f", "{}"))
    await memo.restore("g", first)
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


async def test_signers_survive_the_recorder_and_the_memo() -> None:
    """Who signed what travels with the signature, so that each writer knows whether it is its own."""
    recorder = StreamRecorder()
    recorder.feed(StreamBatch([ReasoningDelta("plan", signature="sig-g", signer="gemini")], "gemini"))
    recorder.feed(
        StreamBatch([ToolCallStart(0, "call_1", "f", signature="call-sig", signer="gemini")], "gemini")
    )
    parts = recorder.parts()
    assert [getattr(p, "signer", None) for p in parts] == ["gemini", "gemini"]
    memo = ReasoningMemo()
    await memo.remember("g", parts)
    request = history(ToolCall("call_1", "f", "{}"))
    await memo.restore("g", request)
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


async def test_replicas_sharing_a_store_find_each_others_memos(tmp_path: Path) -> None:
    """The turn after often reaches another router replica, or the same router after a restart."""
    with redis_server(tmp_path) as url:
        first, second = open_store(url), open_store(url)
        thinking = ReasoningPart("let me check", signature="sig-1", signer="anthropic")
        await ReasoningMemo(first).remember("g", [thinking, ToolCall("toolu_1", "weather", "{}")])
        request = history(ToolCall("toolu_1", "weather", "{}"))
        await ReasoningMemo(second).restore("g", request)  # another replica: its LRU is empty
        assert request.messages[1].parts[0] == thinking
        assert request.messages[1].parts[0].signer == "anthropic"
        elsewhere = history(ToolCall("toolu_1", "weather", "{}"))
        await ReasoningMemo(second).restore("other-group", elsewhere)  # per group, in the store too
        assert not any(isinstance(p, ReasoningPart) for p in elsewhere.messages[1].parts)
        await first.close()
        await second.close()
    restarted = open_store(f"sqlite:///{tmp_path}/state.db")
    await ReasoningMemo(restarted).remember(
        "g", [ToolCall("call_1", "f", "{}", signature="ts", signer="gemini")]
    )
    await restarted.close()
    reopened = open_store(f"sqlite:///{tmp_path}/state.db")
    request = history(ToolCall("call_1", "f", "{}"))
    await ReasoningMemo(reopened).restore("g", request)
    call = request.messages[1].parts[0]
    assert isinstance(call, ToolCall) and (call.signature, call.signer) == ("ts", "gemini")
    await reopened.close()


class BrokenStore(MemoryStore):
    async def put_memos(self, memos: dict[str, bytes], expires_at: float) -> None:
        raise ConnectionError("redis went away")

    async def get_memos(self, ids: list[str]) -> dict[str, bytes]:
        raise ConnectionError("redis went away")


async def test_a_failing_store_costs_the_memo_not_the_request() -> None:
    memo = ReasoningMemo(BrokenStore())
    await memo.remember("g", [ReasoningPart("t", signature="s"), ToolCall("toolu_1", "f", "{}")])
    request = history(ToolCall("toolu_1", "f", "{}"))
    await memo.restore("g", request)  # the in-process tier still has it
    assert isinstance(request.messages[1].parts[0], ReasoningPart)
    unknown = history(ToolCall("toolu_2", "f", "{}"))
    await memo.restore("g", unknown)  # the store fails: no memo, no exception
    assert not any(isinstance(p, ReasoningPart) for p in unknown.messages[1].parts)


async def test_opaque_reasoning_state_is_kept_and_goes_back_where_it_is_understood() -> None:
    """An OpenRouter reasoning detail of a model whose format the gateway does not read (Gemini's
    encrypted state) comes back for OpenRouter, and nowhere else."""
    detail = {"type": "reasoning.encrypted", "data": "opaque", "format": "google-gemini-v1", "index": 0}
    memo = ReasoningMemo()
    await memo.remember("g", [ReasoningPart(extra={DETAIL: detail}), ToolCall("call_1", "f", "{}")])
    request = history(ToolCall("call_1", "f", "{}"))
    await memo.restore("g", request)
    request.capabilities = capabilities_of("openrouter", request.model)
    assert OpenAIChatCodec().write_request(request)["messages"][1]["reasoning_details"] == [detail]
    request.capabilities = capabilities_of("openai", request.model)
    assert "reasoning_details" not in OpenAIChatCodec().write_request(request)["messages"][1]
