"""Anthropic both ways, end to end: the anthropic SDK on Claude, OpenAI and echo groups, and the
openai SDK on a Claude group, against strict mock upstreams."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from support.anthropic_upstream import Fault as AnthropicFault
from support.openai_upstream import Fault as OpenAIFault
from support.schemas import validate
from support.stack import KEYS, Stack

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
OPENAI_WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": WEATHER_TOOL["input_schema"],
    },
}


# ---------------------------------------------------------------------------- passthrough


async def test_passthrough_keeps_body_headers_and_bytes(fresh: Stack) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }
    raw = json.dumps(body, indent=2).encode()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1/messages",
            content=raw,
            headers={
                "x-api-key": KEYS["claude"],
                "anthropic-version": "2023-06-01",
                "anthropic-beta": "prompt-caching-2024-07-31",
                "content-type": "application/json",
            },
        )
    assert response.status_code == 200, response.text
    sent = fresh.claude.requests[-1]
    assert sent.body == raw
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.headers["x-api-key"] == fresh.claude.api_key
    assert response.content == orjson.dumps(sent.response_json)


async def test_anthropic_sdk_on_a_claude_group_streams(fresh: Stack) -> None:
    client = fresh.anthropic()
    async with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": "Hi there"}]
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "Mock reply to: Hi there"
    assert final.stop_reason == "end_turn"


# ---------------------------------------------------------------------------- OpenAI SDK on Claude


async def test_openai_sdk_on_a_claude_group(fresh: Stack) -> None:
    client = fresh.client("claude")
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-5",  # its family (large): the group's largest model, claude-opus-4-1
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        max_completion_tokens=300,
        stop=["END", "   "],  # whitespace-only stops are dropped: Anthropic rejects them
        user="user-123",
    )
    reply = raw.parse()
    assert raw.headers["x-torouter-model"] == "claude-opus-4-1"
    sent = fresh.claude.requests[-1].json
    assert sent["model"] == "claude-opus-4-1" and sent["max_tokens"] == 300
    assert sent["system"] == [{"type": "text", "text": "Be brief."}] or sent["system"] == "Be brief."
    assert sent["stop_sequences"] == ["END"] and sent["metadata"] == {"user_id": "user-123"}
    assert reply.choices[0].message.content == "Mock reply to: Hello"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    validate("openai", "CreateChatCompletionResponse", reply.model_dump(exclude_unset=True))


async def test_openai_sdk_tool_round_trip_on_claude_streamed(fresh: Stack) -> None:
    client = fresh.client("claude")
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    async with client.chat.completions.stream(
        model="claude-haiku-4-5", messages=messages, tools=[OPENAI_WEATHER_TOOL], max_completion_tokens=400
    ) as stream:
        first = await stream.get_final_completion()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "mock"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = await client.chat.completions.create(
        model="claude-haiku-4-5", messages=messages, tools=[OPENAI_WEATHER_TOOL], max_completion_tokens=400
    )
    assert second.choices[0].message.content == "Mock reply to tool results: sunny"
    last = fresh.claude.requests[-1].json["messages"]
    assert last[-1]["role"] == "user" and last[-1]["content"][0]["type"] == "tool_result"


async def test_thinking_survives_tool_turns_through_the_openai_protocol(fresh: Stack) -> None:
    """The mock rejects a tool-use turn whose signed thinking block is missing: the router must
    put back what the OpenAI caller could not carry."""
    client = fresh.client("claude")
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await client.chat.completions.create(
        model="claude-sonnet-4-5-thinking", messages=messages, tools=[OPENAI_WEATHER_TOOL]
    )
    sent = fresh.claude.requests[-1].json
    assert sent["thinking"]["type"] == "enabled" and sent["max_tokens"] > sent["thinking"]["budget_tokens"]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = await client.chat.completions.create(
        model="claude-sonnet-4-5-thinking", messages=messages, tools=[OPENAI_WEATHER_TOOL]
    )
    assert second.choices[0].message.content
    replayed = fresh.claude.requests[-1].json["messages"][1]["content"]
    assert replayed[0]["type"] == "thinking" and replayed[0]["signature"]


# ---------------------------------------------------------------------------- Anthropic SDK elsewhere


async def test_anthropic_sdk_on_an_openai_group(fresh: Stack) -> None:
    client = fresh.anthropic("openai")
    message = await client.messages.create(
        model="gpt-4o-mini",
        max_tokens=300,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
        stop_sequences=["END"],
    )
    sent = fresh.upstream.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."} or sent["messages"][0][
        "role"
    ] in (
        "system",
        "developer",
    )
    assert sent["stop"] == ["END"] or sent["stop"] == "END"
    assert message.content[0].type == "text" and message.content[0].text == "Mock reply to: Hello"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens > 0


async def test_anthropic_sdk_tool_use_streamed_from_an_openai_group(fresh: Stack) -> None:
    client = fresh.anthropic("openai")
    async with client.messages.stream(
        model="gpt-4o-mini",
        max_tokens=300,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    ) as stream:
        final = await stream.get_final_message()
    tool_use = next(block for block in final.content if block.type == "tool_use")
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "mock"}
    assert final.stop_reason == "tool_use"
    second = await client.messages.create(
        model="gpt-4o-mini",
        max_tokens=300,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},  # type: ignore[misc]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}],
            },
        ],
    )
    assert second.content[0].type == "text" and "sunny" in second.content[0].text


async def test_anthropic_sdk_on_the_echo_group(fresh: Stack) -> None:
    message = await fresh.anthropic("demo").messages.create(
        model="anything", max_tokens=50, messages=[{"role": "user", "content": "echo me"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "echo me"


# ---------------------------------------------------------------------------- count_tokens, errors


async def test_count_tokens_passthrough_and_estimate(fresh: Stack) -> None:
    exact = await fresh.anthropic().messages.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "one two three"}]
    )
    assert exact.input_tokens > 0 and fresh.claude.requests[-1].path.endswith("/v1/messages/count_tokens")
    raw = await fresh.anthropic("openai").messages.with_raw_response.count_tokens(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}]
    )
    assert raw.headers["x-torouter-token-count"] == "estimate" and (await raw.parse()).input_tokens > 0


async def test_upstream_overload_is_529_for_anthropic_callers_and_503_for_openai(fresh: Stack) -> None:
    fresh.claude.enqueue(AnthropicFault.overloaded())
    with pytest.raises(anthropic.InternalServerError) as anthropic_side:
        await fresh.anthropic().messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert anthropic_side.value.status_code == 529
    fresh.claude.enqueue(AnthropicFault.overloaded())
    with pytest.raises(openai.APIStatusError) as openai_side:
        await fresh.client("claude").chat.completions.create(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert openai_side.value.status_code == 503


async def test_anthropic_errors_are_anthropic_shaped(fresh: Stack) -> None:
    client = fresh.anthropic()
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.create(
            model="no-such", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.AuthenticationError):
        await anthropic.AsyncAnthropic(
            base_url=fresh.gateway.base_url, api_key="bad", max_retries=0
        ).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="'n' must be 1"):  # Claude cannot honour n > 1
        await fresh.client("claude").chat.completions.create(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "x"}], n=2
        )


async def test_mid_stream_failure_is_an_anthropic_error_event(fresh: Stack) -> None:
    fresh.upstream.enqueue(OpenAIFault.die_after(3))
    client = fresh.anthropic("openai")
    with pytest.raises(anthropic.APIStatusError):
        async with client.messages.stream(
            model="gpt-4o-mini", max_tokens=100, messages=[{"role": "user", "content": "one two three four"}]
        ) as stream:
            await stream.get_final_message()


# ---------------------------------------------------------------------------- more of the mapping

PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


async def test_openai_images_reach_claude_as_image_blocks(fresh: Stack) -> None:
    await fresh.client("claude").chat.completions.create(
        model="claude-haiku-4-5",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            }
        ],
    )
    blocks = fresh.claude.requests[-1].json["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
    }
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


async def test_anthropic_images_reach_openai_as_image_parts(fresh: Stack) -> None:
    await fresh.anthropic("openai").messages.create(
        model="gpt-4o-mini",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
                    },
                    {"type": "text", "text": "Describe it"},
                ],
            }
        ],
    )
    parts = fresh.upstream.requests[-1].json["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}}


async def test_structured_output_and_reasoning_effort_on_claude(fresh: Stack) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    reply = await fresh.client("claude").chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "Name a city"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": schema, "strict": True},
        },
        reasoning_effort="low",
        max_completion_tokens=5000,
    )
    sent = fresh.claude.requests[-1].json
    assert sent["output_config"]["format"] == {"type": "json_schema", "schema": schema}
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


async def test_openai_stream_from_claude_with_usage_and_reasoning_content(fresh: Stack) -> None:
    stream = await fresh.client("claude").chat.completions.create(
        model="claude-sonnet-4-5-thinking",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    reasoning, content, usage, roles = "", "", None, 0
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta.model_dump()
            reasoning += delta.get("reasoning_content") or ""
            content += delta.get("content") or ""
            roles += delta.get("role") == "assistant"
    assert roles == 1 and content == "Mock reply to: Hi" and reasoning
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0


async def test_thinking_replayed_after_a_streamed_turn(fresh: Stack) -> None:
    client = fresh.client("claude")
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    async with client.chat.completions.stream(
        model="claude-sonnet-4-5-thinking", messages=messages, tools=[OPENAI_WEATHER_TOOL]
    ) as stream:
        first = await stream.get_final_completion()
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages += [
        {
            "role": "assistant",
            "tool_calls": [call.model_dump(exclude_none=True, exclude={"parsed_arguments"})],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = await client.chat.completions.create(
        model="claude-sonnet-4-5-thinking", messages=messages, tools=[OPENAI_WEATHER_TOOL]
    )
    assert second.choices[0].message.content == "Mock reply to tool results: sunny"


async def test_anthropic_thinking_maps_to_reasoning_effort_on_openai(fresh: Stack) -> None:
    await fresh.anthropic("openai").messages.create(
        model="gpt-5-mini",
        max_tokens=20000,
        thinking={"type": "enabled", "budget_tokens": 10000},
        messages=[{"role": "user", "content": "Think"}],
    )
    sent = fresh.upstream.requests[-1].json
    assert sent["reasoning_effort"] == "high" and sent["max_completion_tokens"] == 20000


async def test_beta_query_and_bearer_auth_are_accepted(fresh: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/api/v1/messages",
            params={"beta": "true"},
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"authorization": f"Bearer {KEYS['claude']}", "anthropic-version": "2026-10-21"},
        )
    assert response.status_code == 200, response.text
    validate("anthropic", "BetaMessage", response.json())
    assert fresh.claude.requests[-1].query.get("beta") == "true"


async def test_streamed_anthropic_events_from_openai_are_well_formed(fresh: Stack) -> None:
    """Every frame has an event line, blocks are dense and closed in order, one message_stop."""
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{fresh.gateway.base_url}/v1/messages",
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 300,
                "stream": True,
                "tools": [WEATHER_TOOL],
                "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            },
            headers={"x-api-key": KEYS["openai"], "anthropic-version": "2023-06-01"},
        ) as response,
    ):
        raw = b"".join([piece async for piece in response.aiter_raw()])
    frames = [f for f in raw.decode().split("\n\n") if f.strip()]
    names = [f.split("\n", 1)[0].removeprefix("event: ") for f in frames]
    assert all(f.startswith("event: ") for f in frames)
    assert names[0] == "message_start" and names[-1] == "message_stop" and names.count("message_stop") == 1
    opened: list[int] = []
    for frame in frames:
        data = json.loads(frame.split("data: ", 1)[1])
        if data["type"] == "content_block_start":
            assert data["index"] == len(opened)
            opened.append(data["index"])
        if data["type"] == "message_start":
            validate("anthropic", "Message", data["message"])


async def test_cache_tokens_are_counted_the_openai_way(fresh: Stack) -> None:
    fresh.claude.cache_read_tokens, fresh.claude.cache_creation_tokens = 10, 5
    try:
        reply = await fresh.client("claude").chat.completions.create(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "word " * 40}]
        )
    finally:
        fresh.claude.cache_read_tokens = fresh.claude.cache_creation_tokens = 0
    upstream_usage = fresh.claude.requests[-1].response_json["usage"]
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    # OpenAI's prompt_tokens include cached tokens; Anthropic's input_tokens exclude them
    assert upstream_usage["cache_read_input_tokens"] == 10 and upstream_usage["input_tokens"] > 0
    assert usage.prompt_tokens == upstream_usage["input_tokens"] + 10 + 5
    assert usage.prompt_tokens_details.cached_tokens == 10
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_a_translated_request_is_fitted_to_the_openai_model(fresh: Stack) -> None:
    """Claude Code sends a temperature and max_tokens 32000; OpenAI's reasoning models refuse the
    one, gpt-4o any completion over 16384: a translated request is fitted to the model (TRANSLATION
    pitfall 33), an OpenAI caller's own request is not. More than OpenAI's 4 stop sequences is a
    400 in the caller's protocol."""
    client = fresh.anthropic("openai")
    hi: Any = [{"role": "user", "content": "hi"}]
    async with client.messages.stream(  # the SDK streams a request this long
        model="gpt-4o-mini", max_tokens=32000, messages=hi
    ) as events:
        await events.get_final_message()
    assert fresh.upstream.requests[-1].json["max_completion_tokens"] == 16384
    with pytest.raises(openai.BadRequestError, match="max_tokens is too large"):
        await fresh.client("openai").chat.completions.create(
            model="gpt-4o-mini", max_completion_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(anthropic.BadRequestError, match="at most 4 stop sequences") as refused:
        await client.messages.create(
            model="gpt-4o-mini", max_tokens=100, messages=hi, stop_sequences=list("abcde")
        )
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    sampling: dict[str, Any] = {"temperature": 0.5, "top_p": 0.9}
    for model, kept in (("gpt-5", False), ("gpt-4o-mini", True)):
        message = await client.messages.create(
            model=model, max_tokens=300, messages=[{"role": "user", "content": "hi"}], extra_body=sampling
        )
        assert message.content[0].type == "text"
        sent = fresh.upstream.requests[-1].json
        assert (sent.get("temperature"), sent.get("top_p")) == ((0.5, 0.9) if kept else (None, None))


async def test_a_translated_request_is_fitted_to_the_claude_model(fresh: Stack) -> None:
    """Anthropic refuses max_tokens over the model's limit, and a budget not below max_tokens: an
    OpenAI caller's large ask, or an effort whose budget plus the answer's room passes the limit,
    is fitted to the model."""
    client = fresh.client("claude")
    hi: Any = [{"role": "user", "content": "hi"}]
    await client.chat.completions.create(model="claude-haiku-4-5", max_completion_tokens=100_000, messages=hi)
    assert fresh.claude.requests[-1].json["max_tokens"] == 64_000
    await client.chat.completions.create(model="claude-opus-4-1", reasoning_effort="xhigh", messages=hi)
    sent = fresh.claude.requests[-1].json
    assert sent["max_tokens"] == 32_000 and sent["thinking"]["budget_tokens"] == 32_000 - 4096
    await client.chat.completions.create(model="claude-sonnet-4-5", max_completion_tokens=1000, messages=hi)
    assert fresh.claude.requests[-1].json["max_tokens"] == 1000  # within the limit: as asked
