"""MockOpenAI's Responses API checked on its own, with the openai SDK: what it refuses like the
real API, what it stores, its streams and faults; every answer valid under the spec."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from support.openai_responses import ENCRYPTED_PREFIX
from support.openai_upstream import Fault, MockOpenAI


@pytest.fixture
async def mock() -> AsyncIterator[MockOpenAI]:
    async with MockOpenAI(name="responses") as m:
        yield m
        m.assert_emitted_valid()


def client(mock: MockOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=mock.base_url, api_key=mock.api_key, max_retries=0)


async def test_create_store_list_and_delete(mock: MockOpenAI) -> None:
    sdk = client(mock)
    first = await sdk.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "developer", "content": "Rules"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi there"}]},
        ],
    )
    assert first.output_text == "Mock reply to: Hi there" and first.usage is not None
    assert first.id in mock.responses.stored
    page = await sdk.responses.input_items.list(first.id, order="asc", limit=1)
    assert [getattr(i, "role", None) for i in page.data] == ["developer"] and page.has_more
    second = await sdk.responses.create(model="gpt-4o-mini", input="More", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    await sdk.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError, match="not found"):
        await sdk.responses.retrieve(first.id)
    unstored = await sdk.responses.create(model="gpt-4o-mini", input="x", store=False)
    assert unstored.id not in mock.responses.stored


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"input": "x", "bogus": 1}, "bogus", "unknown_parameter"),
        (
            {"input": "x", "previous_response_id": "resp_nope"},
            "previous_response_id",
            "previous_response_not_found",
        ),
        ({"input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}]}, "input", None),
        (
            {"input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "forged"}]},
            None,
            "invalid_encrypted_content",
        ),
        ({"input": "x", "background": True}, "background", None),
        ({"input": "x", "reasoning": {"effort": "low"}}, "reasoning.effort", "unsupported_parameter"),
    ],
)
async def test_refusals(mock: MockOpenAI, body: dict[str, Any], param: str | None, code: str | None) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await client(mock).responses.create(model="gpt-4o-mini", extra_body=body)
    assert refused.value.param == param and refused.value.code == code


async def test_reasoning_tools_and_streams(mock: MockOpenAI) -> None:
    sdk = client(mock)
    tools: Any = [
        {
            "type": "function",
            "name": "wx",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        }
    ]
    async with sdk.responses.stream(
        model="gpt-5", input="weather?", tools=tools, include=["reasoning.encrypted_content"]
    ) as stream:
        kinds = [event.type async for event in stream]
        first = await stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    reasoning, call = first.output
    assert reasoning.type == "reasoning" and (reasoning.encrypted_content or "").startswith(ENCRYPTED_PREFIX)
    assert call.type == "function_call" and call.name == "wx"
    second = await sdk.responses.create(
        model="gpt-5",
        tools=tools,
        input=[
            {"role": "user", "content": "weather?"},
            reasoning.model_dump(exclude_none=True),  # type: ignore[list-item]
            call.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
    )
    assert second.output_text == "Mock reply to tool results: rain"


async def test_stream_faults(mock: MockOpenAI) -> None:
    mock.enqueue(Fault.error_after(3), endpoint="responses")
    stream = await client(mock).responses.create(model="gpt-4o-mini", input="one two", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events][-1] == "error" and len(events) == 4
    mock.enqueue(Fault.die_after(2), endpoint="responses")
    with pytest.raises(openai.APIError):
        async for _ in await client(mock).responses.create(model="gpt-4o-mini", input="x", stream=True):
            pass
