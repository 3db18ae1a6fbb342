"""Tests of the mock Anthropic upstream (``support.anthropic_upstream``).

The mock is driven with the official ``anthropic`` SDK (and raw httpx where the SDK would not
send a malformed request, or to see the SSE bytes). Everything the mock emits is checked
against the Anthropic spec, closed-world, when each test ends (``assert_emitted_valid``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import httpx2
import orjson
import pytest
from anthropic.types import MessageParam, ToolParam
from anthropic.types.beta import BetaMessageParam

from support import anthropic_upstream, openai_upstream
from support.anthropic_upstream import (
    DEFAULT_API_KEY,
    INTERLEAVED_THINKING_BETA,
    REDACTED_TRIGGER,
    Fault,
    MockAnthropic,
    count_input_tokens,
    display_name,
    validate_stream,
)

# anthropic 2.14 warns that the mock's default models are deprecated; they still are what the brief wants
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

MODEL = "claude-sonnet-4-5"
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1},
        },
        "required": ["city", "unit"],
    },
}
TIME_TOOL: ToolParam = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
HELLO: list[MessageParam] = [{"role": "user", "content": "hello there"}]
HELLO_BETA: list[BetaMessageParam] = [{"role": "user", "content": "hello there"}]
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
async def mock() -> AsyncIterator[MockAnthropic]:
    async with MockAnthropic() as m:
        yield m
        m.assert_emitted_valid()


@pytest.fixture
async def client(mock: MockAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(base_url=mock.base_url, api_key=mock.api_key, max_retries=0, timeout=5.0)
    yield sdk
    await sdk.close()


@pytest.fixture
async def raw() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


def headers(mock: MockAnthropic, **extra: str) -> dict[str, str]:
    """What the real API wants (and anthropic ≤1.x SDKs send): x-api-key and anthropic-version."""
    return {"x-api-key": mock.api_key, "anthropic-version": "2023-06-01", **extra}


async def post(
    raw: httpx.AsyncClient, mock: MockAnthropic, body: Any, path: str = "/v1/messages"
) -> httpx.Response:
    return await raw.post(f"{mock.base_url}{path}", headers=headers(mock), json=body)


def sse_frames(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE message of a stream body."""
    frames = []
    for message in text.split("\n\n"):
        if not message:
            continue
        event_line, data_line = message.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: "), message
        frames.append((event_line[len("event: ") :], orjson.loads(data_line[len("data: ") :])))
    return frames


async def collect(stream: Any) -> list[Any]:
    async with asyncio.timeout(10):
        return [event async for event in stream]


async def drain_into(stream: Any, received: list[Any]) -> None:
    """Append events as they arrive (so they survive the exception that ends the stream)."""
    async with asyncio.timeout(10):
        async for event in stream:
            received.append(event)


# =========================================================================== answers


async def test_create_text(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Mock reply to: hello there"
    assert (message.stop_reason, message.stop_sequence, message.role) == ("end_turn", None, "assistant")
    assert message.id.startswith("msg_01") and len(message.id) == 28
    assert message.usage.input_tokens == 2 and message.usage.output_tokens == 5
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (0, 0)
    assert message.usage.service_tier == "standard"
    rec = mock.requests[-1]
    assert message._request_id == rec.request_id and rec.request_id.startswith("req_011C")
    assert rec.headers["Authorization"] == f"Bearer {mock.api_key}"  # what anthropic 2.x sends
    assert rec.headers["anthropic-version"] == "2026-10-21"
    assert rec.path == "/v1/messages" and rec.status == 200 and rec.outcome == "completed"
    assert mock.base_url == mock.url and not mock.base_url.endswith("/v1")
    assert mock.messages_requests == [rec]


async def test_response_headers(mock: MockAnthropic, raw: httpx.AsyncClient) -> None:
    response = await post(raw, mock, {"model": MODEL, "max_tokens": 10, "messages": HELLO})
    assert response.status_code == 200
    assert response.headers["request-id"] == mock.requests[-1].request_id
    assert response.headers["anthropic-organization-id"]
    assert int(response.headers["anthropic-ratelimit-requests-remaining"]) > 0
    assert response.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")


async def test_final_assistant_prefill_and_system_are_accepted(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[*HELLO, {"role": "assistant", "content": "Sure:"}],
    )
    assert message.content[0].type == "text" and message.content[0].text == "Mock reply to: hello there"


async def test_user_text_of_media_blocks(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                    },
                ],
            }
        ],
    )
    assert message.content[0].type == "text" and message.content[0].text == "Mock reply to: what is [image]"


async def test_stop_sequences_and_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    stopped = await client.messages.create(
        model=MODEL, max_tokens=100, messages=HELLO, stop_sequences=["zzz", "there", "to"]
    )
    assert stopped.content[0].type == "text" and stopped.content[0].text == "Mock reply "
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "to")
    cut = await client.messages.create(model=MODEL, max_tokens=2, messages=HELLO)
    assert cut.content[0].type == "text" and cut.content[0].text == "Mock reply "
    assert (cut.stop_reason, cut.usage.output_tokens) == ("max_tokens", 2)


async def test_structured_output_format(client: anthropic.AsyncAnthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["answer", "n"],
        "additionalProperties": False,
    }
    message = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HELLO,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert message.content[0].type == "text"
    assert orjson.loads(message.content[0].text) == {"answer": "Mock reply to: hello there", "n": 1}


async def test_usage_and_cache_knobs(raw: httpx.AsyncClient) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    async with MockAnthropic(cache_read_tokens=30, cache_creation_tokens=8) as m:
        sdk = anthropic.AsyncAnthropic(base_url=m.base_url, api_key=m.api_key, max_retries=0, timeout=5)
        messages: list[MessageParam] = [{"role": "user", "content": words}]
        counted = await sdk.messages.count_tokens(model=MODEL, messages=messages)
        message = await sdk.messages.create(model=MODEL, max_tokens=100, messages=messages)
        usage = message.usage
        assert counted.input_tokens == 40
        assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens, usage.input_tokens) == (
            30,
            8,
            2,
        )
        assert usage.cache_creation is not None
        assert (
            usage.cache_creation.ephemeral_5m_input_tokens,
            usage.cache_creation.ephemeral_1h_input_tokens,
        ) == (
            8,
            0,
        )
        one_hour = await sdk.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": words, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
                    ],
                }
            ],
            service_tier="standard_only",
        )
        assert one_hour.usage.cache_creation is not None
        assert one_hour.usage.cache_creation.ephemeral_1h_input_tokens == 8
        short = await sdk.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
        assert (short.usage.cache_read_input_tokens, short.usage.input_tokens) == (
            2,
            0,
        )  # capped by the prompt
        await sdk.close()
        m.assert_emitted_valid()


def test_count_input_tokens_rules() -> None:
    body = {
        "system": "one two",
        "messages": [
            {"role": "user", "content": "three four five"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "a b", "signature": "s"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "six seven"}],
            },
        ],
        "tools": [TIME_TOOL],
    }
    tools_tokens = len(orjson.dumps([TIME_TOOL])) // 4
    assert count_input_tokens(body) == 2 + 3 + 2 + 1 + 2 + tools_tokens


def test_display_names() -> None:
    assert display_name("claude-sonnet-4-5") == "Claude Sonnet 4.5"
    assert display_name("claude-haiku-4-5-20251001") == "Claude Haiku 4.5"
    assert display_name("claude-3-haiku-20240307") == "Claude Haiku 3"


# =========================================================================== tools


async def test_tool_round_trip(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    first = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER_TOOL, TIME_TOOL],
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    preamble, call = first.content
    assert preamble.type == "text" and preamble.text == "I'll call get_weather."
    assert (
        call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "mock", "unit": "c"}
    )
    assert call.id.startswith("toolu_01") and len(call.id) == 30
    assert call.caller is not None and call.caller.type == "direct"
    assert mock.requests[-1].response_json["content"][1]["caller"] == {"type": "direct"}
    second = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER_TOOL, TIME_TOOL],
        messages=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert (
        second.content[0].type == "text"
        and second.content[0].text == "Mock reply to tool results: sunny, 21C"
    )
    replayed = mock.requests[-1].json["messages"][1]["content"][1]
    assert replayed["caller"] == {"type": "direct"}  # the SDK sends the spec-required field back


@pytest.mark.parametrize(
    ("tool_choice", "text", "names", "preamble"),
    [
        ({"type": "any"}, "hello", ["get_weather"], False),
        ({"type": "tool", "name": "get_time"}, "weather please", ["get_time"], False),
        ({"type": "none"}, "weather please", [], False),
        ({"type": "auto"}, "hello", [], False),
        (None, "what does get_time say", ["get_time"], True),
        (None, "weather and time in parallel", ["get_weather", "get_time"], True),
        ({"type": "auto", "disable_parallel_tool_use": True}, "weather in parallel", ["get_weather"], True),
    ],
)
async def test_tool_choice_rules(
    client: anthropic.AsyncAnthropic, tool_choice: Any, text: str, names: list[str], preamble: bool
) -> None:
    extra: dict[str, Any] = {"tool_choice": tool_choice} if tool_choice else {}
    message = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER_TOOL, TIME_TOOL],
        messages=[{"role": "user", "content": text}],
        **extra,
    )
    assert [b.name for b in message.content if b.type == "tool_use"] == names
    assert (message.content[0].type == "text" and bool(names)) == preamble
    assert message.stop_reason == ("tool_use" if names else "end_turn")


async def test_tool_preamble_knob(raw: httpx.AsyncClient) -> None:
    async with MockAnthropic(tool_preamble=False) as m:
        response = await post(
            raw,
            m,
            {
                "model": MODEL,
                "max_tokens": 50,
                "tools": [WEATHER_TOOL],
                "messages": [{"role": "user", "content": "weather"}],
            },
        )
        assert [b["type"] for b in response.json()["content"]] == ["tool_use"]
        m.assert_emitted_valid()


# =========================================================================== thinking


async def thinking_turn(client: anthropic.AsyncAnthropic) -> anthropic.types.Message:
    return await client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "weather in Paris?"}],
    )


def follow_up(first_content: list[Any], call_id: str) -> list[Any]:
    return [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": first_content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "sunny"}]},
    ]


async def test_thinking_signature_replayed(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    first = await thinking_turn(client)
    thinking, _, call = first.content
    assert thinking.type == "thinking" and thinking.thinking == "Mock thinking about: weather in Paris?"
    assert thinking.signature and call.type == "tool_use"
    assert first.usage.output_tokens == 6 + 3 + (len('{"city":"mock","unit":"c"}') // 4 + 1)
    second = await client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER_TOOL],
        messages=follow_up(first.content, call.id),
    )
    # without interleaved thinking the model does not think again after tool results
    assert [b.type for b in second.content] == ["text"]
    assert second.content[0].type == "text" and second.content[0].text == "Mock reply to tool results: sunny"
    assert mock.requests[-1].status == 200


async def test_interleaved_thinking_after_tool_results(client: anthropic.AsyncAnthropic) -> None:
    first = await thinking_turn(client)
    call = first.content[-1]
    assert call.type == "tool_use"
    second = await client.beta.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER_TOOL],
        messages=follow_up(first.content, call.id),
        betas=[INTERLEAVED_THINKING_BETA],
    )
    assert [b.type for b in second.content] == ["thinking", "text"]
    assert second.content[0].type == "thinking"
    assert second.content[0].thinking == "Mock thinking about tool results: sunny"


@pytest.mark.parametrize("how", ["missing", "forged", "edited", "other-key"])
async def test_thinking_replay_rejected(client: anthropic.AsyncAnthropic, how: str) -> None:
    first = await thinking_turn(client)
    thinking, preamble, call = (dict[str, Any](b.to_dict()) for b in first.content)
    content: list[Any] = [thinking, preamble, call]
    if how == "missing":
        content = [preamble, call]
    elif how == "forged":
        thinking["signature"] = "EqQBCkgIARABGAIiQNotARealSignature0000"
    elif how == "edited":
        thinking["thinking"] += " (edited)"
    if how == "other-key":
        async with MockAnthropic(signing_key=b"another account") as other:
            sdk = anthropic.AsyncAnthropic(base_url=other.base_url, api_key=other.api_key, max_retries=0)
            with pytest.raises(anthropic.BadRequestError) as caught:
                await sdk.messages.create(
                    model=MODEL,
                    max_tokens=2048,
                    thinking=THINKING,
                    tools=[WEATHER_TOOL],
                    messages=follow_up(content, call["id"]),
                )
            await sdk.close()
            other.assert_emitted_valid()
    else:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model=MODEL,
                max_tokens=2048,
                thinking=THINKING,
                tools=[WEATHER_TOOL],
                messages=follow_up(content, call["id"]),
            )
    body: Any = caught.value.body
    message = body["error"]["message"]
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    if how == "missing":
        assert message.startswith(
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When "
            "`thinking` is enabled, a final `assistant` message must start with a thinking block"
        )
    else:
        assert message == "messages.1.content.0: Invalid `signature` in `thinking` block"


async def test_signature_is_checked_even_with_thinking_off(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        await client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[
                *HELLO,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "bad"},
                        {"type": "text", "text": "Hi"},
                    ],
                },
                {"role": "user", "content": "again"},
            ],
        )


async def test_mock_signs_what_it_accepts(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            *HELLO,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": mock.sign_thinking("hmm")},
                    {"type": "text", "text": "Hi"},
                ],
            },
            {"role": "user", "content": "again"},
        ],
    )
    assert message.content[0].type == "text" and message.content[0].text == "Mock reply to: again"


async def test_redacted_thinking_and_omitted_display(client: anthropic.AsyncAnthropic) -> None:
    question = f"weather? {REDACTED_TRIGGER}"
    first = await client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": question}],
    )
    assert [b.type for b in first.content] == ["thinking", "redacted_thinking", "text", "tool_use"]
    thinking, redacted, _, call = first.content
    assert thinking.type == "thinking" and thinking.thinking == "" and thinking.signature
    assert redacted.type == "redacted_thinking" and redacted.data
    assert call.type == "tool_use"
    messages: list[Any] = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rain"}]},
    ]
    ok = await client.messages.create(
        model=MODEL, max_tokens=2048, thinking={"type": "adaptive"}, tools=[WEATHER_TOOL], messages=messages
    )
    assert [b.type for b in ok.content] == ["thinking", "text"]  # adaptive thinking interleaves
    messages[1]["content"] = [b.to_dict() for b in first.content]
    messages[1]["content"][1]["data"] = "Zm9yZ2Vk"
    with pytest.raises(anthropic.BadRequestError, match=r"messages\.1\.content\.1: Invalid `data`"):
        await client.messages.create(model=MODEL, max_tokens=2048, tools=[WEATHER_TOOL], messages=messages)


# =========================================================================== streaming


async def test_stream_raw_event_sequence(mock: MockAnthropic, raw: httpx.AsyncClient) -> None:
    async with raw.stream(
        "POST",
        f"{mock.base_url}/v1/messages",
        headers=headers(mock),
        json={"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True},
    ) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["request-id"].startswith("req_")
        text = (await response.aread()).decode()
    frames = sse_frames(text)
    assert all(name == data["type"] for name, data in frames)  # the SDK needs the event: line
    names = [name for name, _ in frames]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = frames[0][1]["message"]
    assert (start["content"], start["stop_reason"], start["usage"]["output_tokens"]) == ([], None, 1)
    assert start["usage"]["input_tokens"] == 2
    assert frames[2][1]["content_block"] == {"type": "text", "text": "", "citations": None}
    assert "".join(d["delta"]["text"] for _, d in frames[3:8]) == "Mock reply to: hello there"
    delta = frames[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None, "stop_details": None}
    assert delta["usage"]["output_tokens"] == 5 and delta["usage"]["input_tokens"] == 2
    rec = mock.requests[-1]
    assert rec.stream and rec.done_sent and rec.events == [d for _, d in frames]


async def test_stream_helper_matches_non_stream(client: anthropic.AsyncAnthropic) -> None:
    plain = await client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    async with asyncio.timeout(10):
        async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
            pieces = [piece async for piece in stream.text_stream]
            final = await stream.get_final_message()
    assert pieces == ["Mock ", "reply ", "to: ", "hello ", "there"]
    assert [b.to_dict() for b in final.content] == [b.to_dict() for b in plain.content]
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.stop_reason == "end_turn"


async def test_stream_thinking_and_tool_use(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    async with asyncio.timeout(10):
        async with client.messages.stream(
            model=MODEL,
            max_tokens=2048,
            thinking=THINKING,
            tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": "weather in Paris?"}],
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds and "input_json" in kinds
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    thinking, _, call = final.content
    assert thinking.type == "thinking" and thinking.signature
    assert call.type == "tool_use" and call.input == {"city": "mock", "unit": "c"}
    deltas = [e["delta"] for e in mock.requests[-1].events if e["type"] == "content_block_delta"]
    json_pieces = [d["partial_json"] for d in deltas if d["type"] == "input_json_delta"]
    assert json_pieces[0] == "" and len(json_pieces) > 2
    assert all(len(p) <= 8 for p in json_pieces)
    assert [d["type"] for d in deltas if d["type"].startswith(("thinking", "signature"))][
        -1
    ] == "signature_delta"
    # the streamed turn replays like a non-stream one
    again = await client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER_TOOL],
        messages=follow_up(final.content, call.id),
    )
    assert again.content[-1].type == "text"


async def test_beta_messages_and_betas_header(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    message = await client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HELLO_BETA,
        betas=["context-1m-2025-08-07", "token-efficient-tools-2025-02-19"],
    )
    assert message.content[0].type == "text"
    rec = mock.requests[-1]
    assert rec.query == {}  # anthropic 2.x sends no ?beta=true: the header alone makes it a beta call
    assert rec.betas == ("context-1m-2025-08-07", "token-efficient-tools-2025-02-19")
    assert rec.response_json["context_management"] is None
    async with asyncio.timeout(10):
        async with client.beta.messages.stream(model=MODEL, max_tokens=100, messages=HELLO_BETA) as stream:
            final = await stream.get_final_message()
    assert final.content[0].type == "text"
    counted = await client.beta.messages.count_tokens(model=MODEL, messages=HELLO_BETA)
    assert counted.input_tokens == 2
    assert "token-counting-2024-11-01" in mock.requests[-1].betas


async def test_repeated_beta_headers_are_merged(mock: MockAnthropic, raw: httpx.AsyncClient) -> None:
    response = await raw.post(
        f"{mock.base_url}/v1/messages?beta=true",
        headers=[
            ("x-api-key", mock.api_key),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "a-1, b-2"),
            ("anthropic-beta", "c-3"),
        ],
        json={"model": MODEL, "max_tokens": 10, "messages": HELLO},
    )
    assert response.status_code == 200
    assert mock.requests[-1].betas == ("a-1", "b-2", "c-3")


# =========================================================================== count_tokens & models


async def test_count_tokens(
    mock: MockAnthropic, client: anthropic.AsyncAnthropic, raw: httpx.AsyncClient
) -> None:
    counted = await client.messages.count_tokens(
        model=MODEL,
        system="be brief",
        tools=[TIME_TOOL],
        messages=[{"role": "user", "content": "one two three"}],
    )
    assert counted.input_tokens == 2 + 3 + len(orjson.dumps([TIME_TOOL])) // 4
    extra = await post(
        raw, mock, {"model": MODEL, "max_tokens": 5, "messages": HELLO}, "/v1/messages/count_tokens"
    )
    assert extra.status_code == 400
    assert extra.json()["error"]["message"] == "max_tokens: Extra inputs are not permitted"
    orphan = await post(
        raw,
        mock,
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}],
        },
        "/v1/messages/count_tokens",
    )
    assert orphan.status_code == 400
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="claude-nope", messages=HELLO)


async def test_models_list_paging_and_retrieve(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    listed = [m async for m in client.models.list(limit=1)]
    assert [m.id for m in listed] == list(mock.models)
    assert [r.query for r in mock.requests] == [
        {"limit": "1"},
        {"limit": "1", "after_id": "claude-sonnet-4-5"},
        {"limit": "1", "after_id": "claude-haiku-4-5"},
    ]
    assert [m.display_name for m in listed] == ["Claude Sonnet 4.5", "Claude Haiku 4.5", "Claude Opus 4.1"]
    assert listed[0].created_at > listed[1].created_at > listed[2].created_at
    assert (listed[2].max_tokens, listed[0].max_tokens) == (32000, 64000)
    page = await client.models.list(before_id="claude-opus-4-1", limit=1)
    assert ([m.id for m in page.data], page.first_id, page.last_id, page.has_more) == (
        ["claude-haiku-4-5"],
        "claude-haiku-4-5",
        "claude-haiku-4-5",
        True,
    )
    empty = await client.models.list(after_id="claude-unknown")
    assert (empty.data, empty.first_id, empty.has_more) == ([], None, False)
    model = await client.models.retrieve("claude-haiku-4-5")
    assert (model.id, model.type) == ("claude-haiku-4-5", "model")
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.models.retrieve("claude-nope")
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-nope"},
        "request_id": mock.requests[-1].request_id,
    }
    with pytest.raises(anthropic.BadRequestError, match="limit: Input should be less than or equal to 1000"):
        await client.models.list(limit=1001)


# =========================================================================== rejections


async def test_auth_and_version_headers(mock: MockAnthropic, raw: httpx.AsyncClient) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO}
    url = f"{mock.base_url}/v1/messages"
    ok = await raw.post(url, headers=headers(mock), json=body)  # the real API's x-api-key
    assert ok.status_code == 200
    missing = await raw.post(url, headers={"anthropic-version": "2023-06-01"}, json=body)
    assert (missing.status_code, missing.json()["error"]) == (
        401,
        {"type": "authentication_error", "message": "x-api-key header is required"},
    )
    wrong = await raw.post(
        url, headers={"x-api-key": "sk-ant-wrong", "anthropic-version": "2023-06-01"}, json=body
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": wrong.headers["request-id"],
    }
    assert wrong.json()["request_id"].startswith("req_")
    no_version = await raw.post(url, headers={"x-api-key": mock.api_key}, json=body)
    assert (no_version.status_code, no_version.json()["error"]) == (
        400,
        {"type": "invalid_request_error", "message": "anthropic-version: header is required"},
    )
    async with anthropic.AsyncAnthropic(base_url=mock.base_url, api_key="sk-ant-nope", max_retries=0) as sdk:
        with pytest.raises(anthropic.AuthenticationError):
            await sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        with pytest.raises(anthropic.AuthenticationError):
            await sdk.models.list()
    unknown = await raw.get(f"{mock.base_url}/v1/complete", headers=headers(mock))
    assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "not_found_error")


async def test_invalid_json(mock: MockAnthropic, raw: httpx.AsyncClient) -> None:
    for content in (b"{", b"", b"\xff\xfe"):
        response = await raw.post(f"{mock.base_url}/v1/messages", headers=headers(mock), content=content)
        assert response.status_code == 400, content
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith("The request body is not valid JSON: ")
        assert response.headers["x-should-retry"] == "false"


async def test_request_too_large(
    mock: MockAnthropic, raw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anthropic_upstream, "_MAX_REQUEST_BYTES", 100)
    response = await post(raw, mock, base(system="x" * 200))
    assert (response.status_code, response.json()["error"]["type"]) == (413, "request_too_large")
    mock.enqueue(Fault.status(413))
    monkeypatch.setattr(anthropic_upstream, "_MAX_REQUEST_BYTES", 10_000)
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with anthropic.AsyncAnthropic(
            base_url=mock.base_url, api_key=mock.api_key, max_retries=0
        ) as sdk:
            await sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert caught.value.status_code == 413


def tool_turns(*, result_id: str = "toolu_1", first: Any = None) -> list[Any]:
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "x"}}
    return [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [*([first] if first else []), call]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": result_id, "content": "ok"}]},
    ]


def base(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 100, "messages": HELLO, **extra}


BAD_BODIES: list[tuple[str, dict[str, Any], int, str, str]] = [
    (
        "max_tokens required",
        {"model": MODEL, "messages": HELLO},
        400,
        "invalid_request_error",
        "max_tokens: Field required",
    ),
    (
        "unknown nested field",
        base(messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "foo": 1}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0.foo: Extra inputs are not permitted",
    ),
    ("unknown top-level field", base(n=2), 400, "invalid_request_error", "n: Extra inputs are not permitted"),
    (
        "bad role",
        base(messages=[{"role": "system", "content": "x"}]),
        400,
        "invalid_request_error",
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    (
        "unknown block type",
        base(messages=[{"role": "user", "content": [{"type": "video", "url": "x"}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0.type: Input tag 'video' found using 'type' does not match any of the "
        "expected tags: 'text', 'image', 'document',",
    ),
    (
        "temperature above 1",
        base(temperature=1.5),
        400,
        "invalid_request_error",
        "temperature: Input should be less than or equal to 1",
    ),
    (
        "max_tokens type",
        base(max_tokens="ten"),
        400,
        "invalid_request_error",
        "max_tokens: Input should be a valid integer",
    ),
    (
        "no messages",
        base(messages=[]),
        400,
        "invalid_request_error",
        "messages: at least one message is required",
    ),
    (
        "consecutive user roles",
        base(messages=[*HELLO, *HELLO]),
        400,
        "invalid_request_error",
        'messages: roles must alternate between "user" and "assistant", but found multiple "user" '
        "roles in a row",
    ),
    (
        "assistant first",
        base(messages=[{"role": "assistant", "content": "hi"}, *HELLO]),
        400,
        "invalid_request_error",
        'messages: first message must use the "user" role',
    ),
    (
        "empty content",
        base(messages=[{"role": "user", "content": []}]),
        400,
        "invalid_request_error",
        "messages.0: all messages must have non-empty content except for the optional final "
        "assistant message",
    ),
    (
        "trailing whitespace prefill",
        base(messages=[*HELLO, {"role": "assistant", "content": "Sure: "}]),
        400,
        "invalid_request_error",
        "messages: final assistant content cannot end with trailing whitespace",
    ),
    (
        "tool_use without result",
        base(messages=[*tool_turns()[:2], {"role": "user", "content": "and?"}]),
        400,
        "invalid_request_error",
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.",
    ),
    (
        "tool_result not first",
        base(
            messages=[
                *tool_turns()[:2],
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "here"},
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
                    ],
                },
            ]
        ),
        400,
        "invalid_request_error",
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1.",
    ),
    (
        "orphan tool_result",
        base(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}],
                }
            ]
        ),
        400,
        "invalid_request_error",
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
    ),
    (
        "tool_result for another id",
        base(messages=tool_turns(result_id="toolu_2")),
        400,
        "invalid_request_error",
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1.",
    ),
    (
        "bad tool_use id",
        base(
            messages=[
                *tool_turns()[:1],
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "call.1", "name": "f", "input": {}}],
                },
            ]
        ),
        400,
        "invalid_request_error",
        "messages.1.content.0.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    (
        "whitespace stop sequence",
        base(stop_sequences=["\n\n"]),
        400,
        "invalid_request_error",
        "stop_sequences: each stop sequence must contain non-whitespace",
    ),
    (
        "duplicate tool names",
        base(tools=[TIME_TOOL, TIME_TOOL]),
        400,
        "invalid_request_error",
        "tools: Tool names must be unique.",
    ),
    (
        "tool_choice names an unknown tool",
        base(tools=[TIME_TOOL], tool_choice={"type": "tool", "name": "nope"}),
        400,
        "invalid_request_error",
        "tool_choice: Tool 'nope' not found in provided tools",
    ),
    (
        "thinking budget below 1024",
        base(thinking={"type": "enabled", "budget_tokens": 500}),
        400,
        "invalid_request_error",
        "thinking.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "budget not below max_tokens",
        base(max_tokens=1024, thinking=THINKING),
        400,
        "invalid_request_error",
        "`max_tokens` must be greater than `thinking.budget_tokens`.",
    ),
    (
        "thinking with temperature",
        base(max_tokens=2048, thinking=THINKING, temperature=0.5),
        400,
        "invalid_request_error",
        "`temperature` may only be set to 1 when thinking is enabled.",
    ),
    (
        "thinking with top_k",
        base(max_tokens=2048, thinking=THINKING, top_k=5),
        400,
        "invalid_request_error",
        "`top_k` must be unset when thinking is enabled.",
    ),
    (
        "thinking with forced tool",
        base(max_tokens=2048, thinking=THINKING, tools=[WEATHER_TOOL], tool_choice={"type": "any"}),
        400,
        "invalid_request_error",
        "Thinking may not be enabled when tool_choice forces tool use.",
    ),
    (
        "thinking without thinking block before tool_use",
        base(max_tokens=2048, thinking={"type": "adaptive"}, tools=[WEATHER_TOOL], messages=tool_turns()),
        400,
        "invalid_request_error",
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`.",
    ),
    (
        "forged thinking signature",
        base(
            max_tokens=2048,
            thinking=THINKING,
            tools=[WEATHER_TOOL],
            messages=tool_turns(first={"type": "thinking", "thinking": "hmm", "signature": "c2lnbmF0dXJl"}),
        ),
        400,
        "invalid_request_error",
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    ),
    ("unknown model", base(model="claude-nope"), 404, "not_found_error", "model: claude-nope"),
    (
        "max_tokens above the model limit",
        base(model="claude-opus-4-1", max_tokens=64000),
        400,
        "invalid_request_error",
        "max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens for claude-opus-4-1",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "error_type", "message"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
async def test_invalid_requests_are_rejected_like_anthropic(
    mock: MockAnthropic,
    raw: httpx.AsyncClient,
    case: str,
    body: dict[str, Any],
    status: int,
    error_type: str,
    message: str,
) -> None:
    mock.enqueue(Fault.status(500))
    response = await post(raw, mock, body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["type"] == "error" and payload["request_id"] == response.headers["request-id"]
    assert payload["error"]["type"] == error_type
    assert payload["error"]["message"].startswith(message), payload
    assert mock.faults_pending() == 1, "a rejected request must not consume a fault"


async def test_sdk_bad_request_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=HELLO, extra_body={"gateway_only": 1}
        )
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "gateway_only: Extra inputs are not permitted"},
        "request_id": caught.value.request_id,
    }


async def test_merge_consecutive_roles_knob(raw: httpx.AsyncClient) -> None:
    async with MockAnthropic(merge_consecutive_roles=True) as m:
        response = await post(raw, m, base(messages=[*HELLO, {"role": "user", "content": "and more"}]))
        assert response.status_code == 200
        assert response.json()["content"][0]["text"] == "Mock reply to: hello there and more"
        m.assert_emitted_valid()


async def test_many_parameters_pass_closed_world_validation(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=300,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=HELLO,
        metadata={"user_id": "u-1"},
        stop_sequences=["zzz"],
        tools=[{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        service_tier="auto",
        cache_control={"type": "ephemeral"},
        extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 5},  # anthropic 2.14 dropped these kwargs
    )
    assert message.content[0].type == "text" and message.content[0].text == "Mock reply to: hello there"


# =========================================================================== faults


async def test_status_faults_in_fifo_order(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    mock.enqueue(
        Fault.overloaded(),
        Fault.status(500),
        Fault.rate_limit(retry_after=7),
        Fault.status(402),
        Fault.status(400, message="Bad thing"),
        Fault.status(503, error_type="api_error", message="Service unavailable"),
    )
    expected: list[tuple[type[anthropic.APIStatusError], int, str]] = [
        (anthropic.OverloadedError, 529, "overloaded_error"),
        (anthropic.InternalServerError, 500, "api_error"),
        (anthropic.RateLimitError, 429, "rate_limit_error"),
        (anthropic.PaymentRequiredError, 402, "billing_error"),
        (anthropic.BadRequestError, 400, "invalid_request_error"),
        (anthropic.ServiceUnavailableError, 503, "api_error"),
    ]
    caught = []
    for error_class, status, error_type in expected:
        with pytest.raises(error_class) as info:
            await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        body: Any = info.value.body
        assert (info.value.status_code, body["error"]["type"]) == (status, error_type)
        assert body["request_id"] == info.value.request_id
        caught.append(info.value)
    assert caught[0].body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": caught[0].request_id,
    }
    assert caught[2].response.headers["retry-after"] == "7"
    assert caught[2].response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert caught[4].body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Bad thing"},
        "request_id": caught[4].request_id,
    }
    assert mock.faults_pending() == 0
    ok = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert ok.content


async def test_raw_body_fault(mock: MockAnthropic, raw: httpx.AsyncClient) -> None:
    mock.enqueue(Fault.status(502, body=b"<html>bad gateway</html>", headers={"content-type": "text/html"}))
    response = await post(raw, mock, base())
    assert (response.status_code, response.text) == (502, "<html>bad gateway</html>")


async def test_faults_must_be_anthropic_ones(mock: MockAnthropic) -> None:
    with pytest.raises(TypeError, match=r"support\.anthropic_upstream"):
        mock.enqueue(openai_upstream.Fault.status(500))
    mock.enqueue(openai_upstream.Fault.delay(0.01))  # no error body: protocol-neutral
    with pytest.raises(ValueError, match=r"unknown endpoint 'chat\.completions'"):
        mock.enqueue(Fault.stall(), endpoint="chat.completions")
    mock.clear_faults()


async def test_echo_key_in_errors_leaks_the_key_on_purpose(raw: httpx.AsyncClient) -> None:
    async with MockAnthropic(echo_key_in_errors=True) as leaky:
        wrong = "sk-ant-wrong-key-0123456789"
        response = await raw.post(
            f"{leaky.base_url}/v1/messages", headers={"x-api-key": wrong, "anthropic-version": "1"}, json={}
        )
        assert wrong in response.json()["error"]["message"]
        leaky.enqueue(Fault.overloaded())
        failed = await raw.post(
            f"{leaky.base_url}/v1/messages",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}", "anthropic-version": "1"},
            json=base(),
        )
        assert failed.status_code == 529
        assert DEFAULT_API_KEY in failed.json()["error"]["message"]
        leaky.assert_emitted_valid()


async def test_delay_fault_then_answer(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    mock.enqueue(Fault.delay(0.3))
    started = time.monotonic()
    message = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert time.monotonic() - started >= 0.3
    assert message.content


async def test_delay_longer_than_client_timeout_is_recorded_as_cancelled(
    mock: MockAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    mock.enqueue(Fault.delay(30))
    with pytest.raises(anthropic.APITimeoutError):
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, timeout=0.3)
    assert await mock.requests[-1].wait_finished(timeout_s=5) == "cancelled"


async def test_stall_fault_and_shutdown_does_not_hang(raw: httpx.AsyncClient) -> None:
    m = MockAnthropic()
    await m.start()
    m.enqueue(Fault.stall())
    request = asyncio.create_task(post(raw, m, base()))
    rec = await m.next_request()
    await asyncio.sleep(0.1)
    assert rec.outcome == "pending" and not request.done()
    started = time.monotonic()
    await m.stop()
    assert time.monotonic() - started < 2
    assert await rec.wait_finished() == "shutdown"
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(request, 5)


async def test_disconnect_fault(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    mock.enqueue(Fault.disconnect())
    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert (mock.requests[-1].outcome, mock.requests[-1].status) == ("aborted", None)


async def test_stream_dies_after_k_events(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    mock.enqueue(Fault.die_after(4))
    stream = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, stream=True)
    received: list[Any] = []
    with pytest.raises((httpx2.TransportError, anthropic.APIError)):
        await drain_into(stream, received)
    assert [e.type for e in received] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
    ]  # ping skipped
    rec = mock.requests[-1]
    assert (rec.outcome, rec.chunks_sent, rec.done_sent) == ("aborted", 4, False)


async def test_stream_error_event(
    mock: MockAnthropic, client: anthropic.AsyncAnthropic, raw: httpx.AsyncClient
) -> None:
    mock.enqueue(Fault.error_after(3))
    stream = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, stream=True)
    received: list[Any] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await drain_into(stream, received)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert len(received) == 2
    rec = mock.requests[-1]
    assert rec.events[-1] == caught.value.body and (rec.outcome, rec.done_sent) == ("completed", False)
    mock.enqueue(Fault.error_after(1, message="Internal server error", error_type="api_error"))
    async with raw.stream(
        "POST", f"{mock.base_url}/v1/messages", headers=headers(mock), json=base(stream=True)
    ) as response:
        frames = sse_frames((await response.aread()).decode())
    assert frames[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
    )


async def test_error_after_on_non_stream_uses_the_status_of_its_type(
    mock: MockAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    mock.enqueue(Fault.error_after(3), Fault.error_after(1, message="boom", error_type="api_error"))
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    with pytest.raises(anthropic.InternalServerError, match="boom"):
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)


async def test_stall_mid_stream_until_client_gives_up(
    mock: MockAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    mock.enqueue(Fault.stall_after(3))
    stream = await client.messages.create(
        model=MODEL, max_tokens=10, messages=HELLO, stream=True, timeout=0.5
    )
    received: list[Any] = []
    with pytest.raises((httpx2.TimeoutException, anthropic.APITimeoutError)):
        await drain_into(stream, received)
    assert len(received) == 2
    assert await mock.requests[-1].wait_finished(timeout_s=5) == "cancelled"


async def test_client_closing_mid_stream_is_recorded_as_cancelled(
    mock: MockAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    mock.chunk_delay_s = 0.05
    stream = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, stream=True)
    async with asyncio.timeout(5):
        async for _ in stream:
            break
    await stream.close()
    rec = mock.requests[-1]
    assert await rec.wait_finished(timeout_s=5) == "cancelled"
    assert 1 <= rec.chunks_sent < 11 and not rec.done_sent


async def test_fault_queues_per_endpoint(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    mock.enqueue(Fault.status(500), endpoint="models")
    mock.enqueue(Fault.rate_limit(), endpoint="count_tokens")
    await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    with pytest.raises(anthropic.InternalServerError):
        await client.models.list()
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.count_tokens(model=MODEL, messages=HELLO)
    assert (mock.faults_pending("models"), mock.faults_pending("count_tokens")) == (0, 0)


# =========================================================================== connections, waits, checker


async def test_open_connections_are_tracked(mock: MockAnthropic) -> None:
    assert mock.open_connections == 0
    sdk = anthropic.AsyncAnthropic(base_url=mock.base_url, api_key=mock.api_key, max_retries=0, timeout=5)
    await sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    await sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert mock.open_connections == 1
    await sdk.close()
    await mock.wait_open_connections(0, timeout_s=5)


async def test_waiting_helpers_are_bounded(mock: MockAnthropic, client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(AssertionError, match="no request reached the mock"):
        await mock.next_request(timeout_s=0.05)
    task = asyncio.create_task(client.messages.create(model=MODEL, max_tokens=10, messages=HELLO))
    assert len(await mock.wait_for_requests(1)) == 1
    await task
    mock.reset()
    assert mock.requests == []


def test_stream_checker_catches_protocol_mistakes() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "container": None,
            "usage": {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation": None,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
                "inference_geo": None,
                "server_tool_use": None,
                "service_tier": None,
            },
        },
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": "", "citations": None},
    }
    text = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}
    stop = {"type": "content_block_stop", "index": 0}
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 2},
    }
    end = {"type": "message_stop"}
    validate_stream([start, {"type": "ping"}, block, text, stop, delta, end], complete=True)
    bad_streams: list[list[dict[str, Any]]] = [
        [block, text, stop, delta, end],  # no message_start
        [start, {**block, "index": 1}, text, stop, delta, end],  # index not dense
        [
            start,
            block,
            {**text, "delta": {"type": "input_json_delta", "partial_json": "{"}},
            stop,
            delta,
            end,
        ],
        [start, block, text, delta, end],  # block never stopped
        [start, block, text, stop, delta],  # no message_stop
        [start, block, text, stop, end, delta],  # event after message_stop
        [
            start,
            {**block, "content_block": {"type": "text", "text": ""}},
            stop,
            delta,
            end,
        ],  # citations missing
    ]
    for events in bad_streams:
        with pytest.raises((AssertionError, KeyError)):
            validate_stream(events, complete=True)
