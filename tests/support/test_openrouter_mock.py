"""The OpenRouter-flavoured MockOpenAI's Claude reasoning, checked with the official openai SDK:
``reasoning``/``reasoning_details`` in answers and streams, and Anthropic's signed-thinking rule on
tool-use continuations (see :mod:`support.openrouter_reasoning`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from support.openai_upstream import MockOpenAI
from support.openrouter_reasoning import FORMAT, reasoning_text, signature_of, unsigned_message

CLAUDE = "anthropic/claude-sonnet-4.5"
GPT = "openai/gpt-4o-mini"
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
async def mock() -> AsyncIterator[MockOpenAI]:
    async with MockOpenAI(flavour="openrouter") as server:
        yield server


@pytest.fixture
async def client(mock: MockOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=mock.base_url, api_key=mock.api_key, max_retries=0, timeout=10)
    yield sdk
    await sdk.close()


def test_signature_is_derived_from_the_text() -> None:
    assert signature_of("abc") == signature_of("abc") != signature_of("abd")
    assert signature_of("abc").startswith("mocksig-") and len(signature_of("abc")) == 8 + 32


async def test_claude_answers_with_signed_reasoning(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "Hi"}])
    extra = reply.choices[0].message.model_extra or {}
    text = reasoning_text("Hi")
    assert text == "Mock reasoning about: Hi" and extra["reasoning"] == text
    assert extra["reasoning_details"] == [
        {
            "type": "reasoning.text",
            "text": text,
            "signature": signature_of(text),
            "format": FORMAT,
            "index": 0,
        }
    ]
    assert reply.choices[0].message.content == "Mock reply to: Hi"
    mock.assert_emitted_valid()


async def test_other_models_and_reasoning_off_answer_without_reasoning(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    reply = await client.chat.completions.create(model=GPT, messages=[{"role": "user", "content": "Hi"}])
    message = mock.requests[-1].response_json["choices"][0]["message"]
    assert message["reasoning"] is None and "reasoning_details" not in message
    assert reply.choices[0].message.content == "Mock reply to: Hi"
    for off in (
        {"reasoning": {"effort": "none"}},
        {"reasoning": {"enabled": False}},
        {"reasoning_effort": "none"},
    ):
        await client.chat.completions.create(model=CLAUDE, messages=ASK, extra_body=off)
        message = mock.requests[-1].response_json["choices"][0]["message"]
        assert message["reasoning"] is None and "reasoning_details" not in message, off
    mock.assert_emitted_valid()


async def test_stream_has_two_reasoning_chunks_before_the_content(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Hi there"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    text = reasoning_text("Hi there")
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant" and not (deltas[0].model_extra or {}).get("reasoning")
    assert deltas[1].model_extra == {
        "reasoning": text,
        "reasoning_details": [{"type": "reasoning.text", "text": text, "format": FORMAT, "index": 0}],
    }
    assert deltas[2].model_extra == {
        "reasoning": "",
        "reasoning_details": [
            {"type": "reasoning.text", "signature": signature_of(text), "format": FORMAT, "index": 0}
        ],
    }
    assert deltas[1].content is None and deltas[2].content is None
    assert all(not (d.model_extra or {}).get("reasoning_details") for d in deltas[3:])
    assert "".join(d.content or "" for d in deltas) == "Mock reply to: Hi there"
    raw = mock.requests[-1].response_chunks[1:3]
    assert all(c["id"] == chunks[0].id and c["provider"] == "Anthropic" for c in raw)
    assert all(c["choices"][0]["native_finish_reason"] is None for c in raw)
    assert b"mocksig-" in mock.stream_bytes(mock.requests[-1])
    mock.assert_emitted_valid()


async def test_stream_with_several_choices_reasons_in_each(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(model=CLAUDE, messages=ASK[:1], stream=True, n=2)
    chunks = [chunk async for chunk in stream]
    reasoned = [
        (c.choices[0].index, (c.choices[0].delta.model_extra or {})["reasoning"])
        for c in chunks
        if c.choices and "reasoning" in (c.choices[0].delta.model_extra or {})
    ]
    text = reasoning_text(ASK[0]["content"])
    assert reasoned == [(0, text), (1, text), (0, ""), (1, "")]
    mock.assert_emitted_valid()


async def test_streamed_tool_call_has_reasoning_before_the_call(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model=CLAUDE, messages=ASK, tools=[WEATHER_TOOL], stream=True
    )
    chunks = [chunk async for chunk in stream]
    kinds = []
    for chunk in chunks:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None and (delta.model_extra or {}).get("reasoning_details"):
            kinds.append("reasoning")
        elif delta is not None and delta.tool_calls:
            kinds.append("call")
    assert kinds[:2] == ["reasoning", "reasoning"] and set(kinds[2:]) == {"call"}
    mock.assert_emitted_valid()


async def _tool_turn(client: openai.AsyncOpenAI, **extra: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask for the weather; the assistant message as answered and the tool results for it."""
    raw = await client.chat.completions.with_raw_response.create(
        model=CLAUDE, messages=ASK, tools=[WEATHER_TOOL], **extra
    )
    assistant = raw.http_response.json()["choices"][0]["message"]
    assert assistant["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"mock"}'}
    results = [
        {"role": "tool", "tool_call_id": c["id"], "content": "Sunny, 21C"} for c in assistant["tool_calls"]
    ]
    return assistant, results


def _sent_back(assistant: dict[str, Any], *, keep: tuple[str, ...]) -> dict[str, Any]:
    """The assistant message as a client sends it back, with the OpenRouter fields in ``keep``."""
    message = {"role": "assistant", "content": assistant["content"], "tool_calls": assistant["tool_calls"]}
    return {**message, **{k: assistant[k] for k in keep}}


async def test_tool_continuation_needs_the_signed_reasoning_back(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    assistant, results = await _tool_turn(client)
    assert assistant["reasoning_details"][0]["signature"] == signature_of(assistant["reasoning"])
    for keep in ((), ("reasoning",)):
        messages = [*ASK, _sent_back(assistant, keep=keep), *results]
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model=CLAUDE, messages=messages, tools=[WEATHER_TOOL])
        assert mock.requests[-1].response_json == {"error": {"code": 400, "message": unsigned_message(1)}}
        assert "Expected `thinking` or `redacted_thinking`, but found `tool_use`" in info.value.message
    messages = [*ASK, _sent_back(assistant, keep=("reasoning", "reasoning_details")), *results]
    reply = await client.chat.completions.create(model=CLAUDE, messages=messages, tools=[WEATHER_TOOL])
    assert reply.choices[0].message.content == "Mock reply to tool results: Sunny, 21C"
    mock.assert_emitted_valid()


async def test_tampered_or_summary_only_details_are_refused(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    assistant, results = await _tool_turn(client)
    [detail] = assistant["reasoning_details"]
    system = {"role": "system", "content": "Be brief."}
    for details in (
        [{**detail, "text": detail["text"] + " (edited)"}],
        [{**detail, "signature": None}],
        [{"type": "reasoning.summary", "summary": detail["text"], "format": FORMAT, "index": 0}],
        [],
    ):
        back = {**_sent_back(assistant, keep=()), "reasoning_details": details}
        with pytest.raises(openai.BadRequestError, match="found `tool_use`"):
            await client.chat.completions.create(
                model=CLAUDE, messages=[system, *ASK, back, *results], tools=[WEATHER_TOOL]
            )
        assert mock.requests[-1].response_json["error"]["message"] == unsigned_message(2)


async def test_streamed_details_merged_by_index_continue_the_turn(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model=CLAUDE, messages=ASK, tools=[WEATHER_TOOL], stream=True
    )
    merged: dict[int, dict[str, Any]] = {}
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for piece in (delta.model_extra or {}).get("reasoning_details") or []:
            into = merged.setdefault(piece["index"], {})
            for key, value in piece.items():
                into[key] = into.get(key, "") + value if key in ("text", "signature") else value
        for call in delta.tool_calls or []:
            into = calls.setdefault(call.index, {"type": "function", "function": {"arguments": ""}})
            into["id"] = call.id or into.get("id")
            if call.function and call.function.name:
                into["function"]["name"] = call.function.name
            into["function"]["arguments"] += (call.function.arguments or "") if call.function else ""
    text = reasoning_text(ASK[0]["content"])
    assert list(merged.values()) == [
        {
            "type": "reasoning.text",
            "text": text,
            "format": FORMAT,
            "index": 0,
            "signature": signature_of(text),
        }
    ]
    back = {"role": "assistant", "content": None, "tool_calls": list(calls.values())}
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "Rain"} for c in calls.values()]
    reply = await client.chat.completions.create(
        model=CLAUDE,
        messages=[*ASK, {**back, "reasoning_details": list(merged.values())}, *results],
        tools=[WEATHER_TOOL],
    )
    assert reply.choices[0].message.content == "Mock reply to tool results: Rain"
    mock.assert_emitted_valid()


async def test_no_signed_reasoning_is_needed_when_reasoning_is_off_or_for_other_models(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    off = {"extra_body": {"reasoning": {"effort": "none"}}}
    assistant, results = await _tool_turn(client, **off)
    assert assistant["reasoning"] is None and "reasoning_details" not in assistant
    messages = [*ASK, _sent_back(assistant, keep=()), *results]
    reply = await client.chat.completions.create(model=CLAUDE, messages=messages, tools=[WEATHER_TOOL], **off)
    assert reply.choices[0].message.content == "Mock reply to tool results: Sunny, 21C"
    await client.chat.completions.create(model=GPT, messages=messages, tools=[WEATHER_TOOL])
    await client.chat.completions.create(model="openai/gpt-5", messages=messages, tools=[WEATHER_TOOL])
    assert [r.status for r in mock.chat_requests] == [200, 200, 200, 200]
    mock.assert_emitted_valid()


async def test_a_later_user_turn_needs_no_signed_reasoning(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    assistant, results = await _tool_turn(client)
    messages = [
        *ASK,
        _sent_back(assistant, keep=()),
        *results,
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "Thanks"},
    ]
    reply = await client.chat.completions.create(model=CLAUDE, messages=messages)
    assert reply.choices[0].message.content == "Mock reply to: Thanks"
    assert (reply.choices[0].message.model_extra or {})["reasoning"] == reasoning_text("Thanks")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"reasoning": 3}, "'messages[1].reasoning'"),
        ({"reasoning_details": {"type": "reasoning.text"}}, "'messages[1].reasoning_details'"),
        ({"reasoning_details": ["text"]}, "'messages[1].reasoning_details[0]'"),
        ({"reasoning_details": [{"text": "no type"}]}, "'messages[1].reasoning_details[0]'"),
    ],
)
async def test_assistant_reasoning_fields_are_type_checked(
    mock: MockOpenAI, client: openai.AsyncOpenAI, fields: dict[str, Any], words: str
) -> None:
    messages = [
        *ASK,
        {"role": "assistant", "content": "Earlier", **fields},
        {"role": "user", "content": "Hi"},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=GPT, messages=messages)
    assert words in info.value.message
    assert mock.requests[-1].response_json["error"]["code"] == 400


async def test_reasoning_fields_are_accepted_on_assistant_messages_only(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    details = [{"type": "reasoning.encrypted", "data": "opaque", "format": FORMAT, "index": 0, "id": "r1"}]
    earlier = {"role": "assistant", "content": "Earlier", "reasoning": None, "reasoning_details": details}
    reply = await client.chat.completions.create(
        model=GPT, messages=[*ASK, earlier, {"role": "user", "content": "Hi"}]
    )
    assert reply.choices[0].message.content == "Mock reply to: Hi"
    unknown = "Unknown parameter: 'messages[0].reasoning_details'."
    with pytest.raises(openai.BadRequestError, match=re.escape(unknown)):
        await client.chat.completions.create(model=GPT, messages=[{**ASK[0], "reasoning_details": details}])
    mock.assert_emitted_valid()


async def test_plain_openai_flavour_is_unchanged() -> None:
    async with MockOpenAI() as plain:
        sdk = openai.AsyncOpenAI(base_url=plain.base_url, api_key=plain.api_key, max_retries=0, timeout=10)
        reply = await sdk.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "Hi"}])
        assert "reasoning" not in (reply.choices[0].message.model_extra or {})
        with pytest.raises(openai.BadRequestError, match="Unknown parameter"):
            await sdk.chat.completions.create(
                model="gpt-5",
                messages=[
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello", "reasoning_details": []},  # type: ignore[misc]
                    {"role": "user", "content": "Again"},
                ],
            )
        plain.assert_emitted_valid()
        await sdk.close()
