"""Anthropic Messages codec: what Claude Code sends — system turns in the middle of the
conversation, its newer Messages API fields — read and written for every kind of upstream; and a
passthrough body fitted to the Anthropic model that serves it instead of the one asked for."""

from __future__ import annotations

import copy
from typing import Any

from anthropic_helpers import codec
from gemini_helpers import validate_request

from support.kinds import capabilities_of
from support.schemas import validate
from torouter.router.capabilities import Capabilities
from torouter.router.ir import Message, TextPart
from torouter.router.protocols.anthropic.messages.fit import refitted
from torouter.router.protocols.gemini.generate import GeminiGenerateCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec

SYSTEM_TURN = "# Environment\nPrimary working directory: /work"


def claude_code_body() -> dict[str, Any]:
    """The shape of Claude Code 2.1's first request with its default model."""
    return {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "stream": True,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Read hello.txt"}]},
            {"role": "system", "content": [{"type": "text", "text": SYSTEM_TURN}]},
            {"role": "user", "content": "and say what it holds"},
        ],
        "metadata": {"user_id": '{"device_id":"d1","session_id":"s1"}'},
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
    }


def test_a_system_turn_mid_conversation_is_read_where_it_stands() -> None:
    request = codec().read_request(claude_code_body())
    assert [m.role for m in request.messages] == ["system", "user", "system", "user"]
    assert request.messages[2] == Message("system", [TextPart(SYSTEM_TURN)])
    as_text = codec().read_request(
        {
            **claude_code_body(),
            "messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}],
        }
    )
    assert as_text.messages[-1] == Message("system", [TextPart("Be brief.")], as_text=True)


def test_openai_gets_the_system_turn_in_place() -> None:
    request = codec().read_request(claude_code_body())
    request.model = "gpt-5"
    written = OpenAIChatCodec().write_request(request)
    assert [m["role"] for m in written["messages"]] == ["system", "user", "system", "user"]
    assert written["messages"][2]["content"] == [{"type": "text", "text": SYSTEM_TURN}]
    assert "context_management" not in written and "output_config" not in written
    validate("openai", "CreateChatCompletionRequest", written, closed=True)


def test_gemini_and_anthropic_merge_it_into_their_system_prompt() -> None:
    request = codec().read_request(claude_code_body())
    request.model = "gemini-2.5-pro"
    gemini = GeminiGenerateCodec().write_request(copy.deepcopy(request))
    system = [p["text"] for p in gemini["systemInstruction"]["parts"]]
    assert system[-1] == SYSTEM_TURN and "You are Claude Code." in system
    assert [c["role"] for c in gemini["contents"]] == ["user"]  # the two user turns around it, joined
    validate_request(gemini)
    request.model = "claude-opus-4-1"
    native = codec().write_request(request)
    assert [m["role"] for m in native["messages"]] == ["user", "user"]
    assert native["system"][-1] == {"type": "text", "text": SYSTEM_TURN}


def test_a_passthrough_body_is_fitted_to_the_model_serving_it() -> None:
    def claude(model: str) -> Capabilities:  # what the anthropic kind declares of the model
        return capabilities_of("anthropic", model)

    body = claude_code_body()
    fitted = refitted(body, claude("claude-opus-4-1"))
    assert fitted is not None and fitted["max_tokens"] == 32000 and body["max_tokens"] == 128000
    assert refitted(body, claude("claude-sonnet-4-5")) == {**body, "max_tokens": 64000}
    assert refitted({**body, "max_tokens": 4096}, claude("claude-opus-4-1")) is None  # fits: sent as it is
    assert refitted(body, claude("some-other-model")) is None  # unknown limit: sent as asked
    thinking = {**body, "thinking": {"type": "enabled", "budget_tokens": 40000}}
    budgeted = refitted(thinking, claude("claude-opus-4-1"))
    assert budgeted is not None and budgeted["max_tokens"] == 32000
    assert budgeted["thinking"]["budget_tokens"] < 32000
