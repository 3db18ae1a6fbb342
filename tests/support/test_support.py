"""Tests of the test tools: the spec validators and the mock OpenAI upstream.

The mock is driven with the official ``openai`` SDK (and raw httpx where the SDK would not send
a malformed request). Everything the mock emits is checked against the OpenAI spec, closed-world,
when each test ends
(``MockOpenAI.assert_emitted_valid``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from support import schemas
from support.openai_upstream import DEFAULT_API_KEY, Fault, MockOpenAI, mask_key

WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
USER_HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


@pytest.fixture
async def mock() -> AsyncIterator[MockOpenAI]:
    async with MockOpenAI() as m:
        yield m
        m.assert_emitted_valid()


@pytest.fixture
async def client(mock: MockOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=mock.base_url, api_key=mock.api_key, max_retries=0, timeout=5.0)
    yield sdk
    await sdk.close()


@pytest.fixture
async def raw() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


def auth(mock: MockOpenAI) -> dict[str, str]:
    return {"Authorization": f"Bearer {mock.api_key}"}


# =========================================================================== schemas.py


def test_schema_names_cover_the_gateway_schemas() -> None:
    assert {"CreateChatCompletionRequest", "CreateChatCompletionResponse", "Error"} <= set(
        schemas.schema_names("openai")
    )
    assert {"Message", "CreateMessageParams", "ErrorResponse"} <= set(schemas.schema_names("anthropic"))
    assert {"GenerateContentResponse", "GenerateContentRequest"} <= set(schemas.schema_names("gemini"))


def test_specs_are_vendored_in_the_repo_and_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOROUTER_SPECS", raising=False)
    assert (schemas.specs_dir() / schemas.SPEC_FILES["openai"]).is_file()
    monkeypatch.setenv("TOROUTER_SPECS", "/elsewhere/specs")
    assert str(schemas.specs_dir()) == "/elsewhere/specs"


def test_unknown_spec_and_schema_name_fail_clearly() -> None:
    with pytest.raises(ValueError, match="unknown spec"):
        schemas.validate("cohere", "X", {})  # type: ignore[arg-type]
    with pytest.raises(KeyError, match=r"similar: .*GenerateContentResponse"):
        schemas.validate("gemini", "GenerateContent", {})


def valid_anthropic_message() -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hi", "citations": None}],
        "model": "claude-sonnet-4-5",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "usage": {
            "input_tokens": 3,
            "output_tokens": 1,
            "cache_creation": None,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
            "inference_geo": None,
            "server_tool_use": None,
            "service_tier": "standard",
        },
    }


def valid_gemini_response() -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
    }


def valid_openai_completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }


@pytest.mark.parametrize(
    ("spec", "name", "make"),
    [
        ("openai", "CreateChatCompletionResponse", valid_openai_completion),
        ("anthropic", "Message", valid_anthropic_message),
        ("gemini", "GenerateContentResponse", valid_gemini_response),
    ],
)
def test_validate_accepts_valid_and_rejects_wrong_objects(spec: schemas.Spec, name: str, make: Any) -> None:
    good = make()
    schemas.validate(spec, name, good)
    schemas.validate(spec, name, good, closed=True)
    assert schemas.is_valid(spec, name, good)

    wrong = make()
    if spec == "openai":
        wrong["choices"][0]["finish_reason"] = "end_turn"
        del wrong["created"]
    elif spec == "anthropic":
        wrong["stop_reason"] = "stop"
        wrong["content"][0]["text"] = 7
    else:
        wrong["candidates"][0]["finishReason"] = "end_turn"
        wrong["usageMetadata"]["promptTokenCount"] = "three"
    with pytest.raises(AssertionError) as caught:
        schemas.validate(spec, name, wrong)
    report = str(caught.value)
    assert f"{spec} {name}: " in report
    assert "'end_turn' is not one of" in report or "'stop'" in report
    assert report.count("\n  - at ") >= 2, report
    assert not schemas.is_valid(spec, name, wrong)


def test_openai_nullable_and_30_quirks_are_translated() -> None:
    chunk: dict[str, Any] = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": None, "logprobs": None}],
        "usage": None,
    }
    schemas.validate("openai", "CreateChatCompletionStreamResponse", chunk, closed=True)
    chunk["choices"][0]["finish_reason"] = "nope"
    assert not schemas.is_valid("openai", "CreateChatCompletionStreamResponse", chunk)

    converted = schemas.convert_openapi_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "enum": ["x"], "nullable": True},
                "b": {"$ref": "#/components/schemas/B", "nullable": True, "description": "ignored in 3.0"},
                "c": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "d": {"type": "array", "items": {"$recursiveRef": "#"}},
            },
        },
        component="T",
        openapi30=True,
    )
    props = converted["properties"]
    assert props["a"] == {"type": ["string", "null"], "enum": ["x", None]}
    assert props["b"] == {"anyOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]}
    assert props["c"] == {"type": "number", "exclusiveMinimum": 0}
    assert props["d"]["items"] == {"$ref": "#/components/schemas/T"}


def test_closed_world_rejects_undeclared_properties_at_any_depth() -> None:
    request = {"model": "gpt-4o-mini", "messages": USER_HELLO, "temperature": 0.2, "metadata": {"k": "v"}}
    schemas.validate("openai", "CreateChatCompletionRequest", request, closed=True)

    top = {**request, "frobnicate": True}
    schemas.validate("openai", "CreateChatCompletionRequest", top)  # the open spec lets it pass
    with pytest.raises(AssertionError, match="undeclared property 'frobnicate' at \\$"):
        schemas.validate("openai", "CreateChatCompletionRequest", top, closed=True)

    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    nested = {
        **request,
        "messages": [*USER_HELLO, {"role": "assistant", "content": None, "tool_calls": [call]}],
    }
    with pytest.raises(
        AssertionError, match=r"undeclared property 'index' at \$\.messages\[1\]\.tool_calls\[0\]"
    ):
        schemas.validate("openai", "CreateChatCompletionRequest", nested, closed=True)

    # free-form objects (JSON schema of tool parameters) stay open
    tools = {**request, "tools": [WEATHER_TOOL]}
    schemas.validate("openai", "CreateChatCompletionRequest", tools, closed=True)
    # anthropic and gemini close too
    extra = {**valid_anthropic_message(), "surprise": 1}
    assert schemas.is_valid("anthropic", "Message", extra)
    assert not schemas.is_valid("anthropic", "Message", extra, closed=True)
    gemini = {**valid_gemini_response(), "surprise": 1}
    assert schemas.is_valid("gemini", "GenerateContentResponse", gemini)
    assert not schemas.is_valid("gemini", "GenerateContentResponse", gemini, closed=True)


def test_primary_error_follows_the_discriminator() -> None:
    bad_role = {"model": "m", "messages": [{"role": "userx", "content": "a"}]}
    (error,) = schemas.errors("openai", "CreateChatCompletionRequest", bad_role)
    cause = schemas.primary_error(error)
    assert (cause.validator, list(cause.absolute_path)) == ("enum", ["messages", 0, "role"])
    assert "user" in list(cause.validator_value)  # type: ignore[arg-type]

    bad_type = {"model": "m", "messages": [{"role": "user", "content": 3}]}
    (error,) = schemas.errors("openai", "CreateChatCompletionRequest", bad_type)
    cause = schemas.primary_error(error)
    assert (cause.validator, cause.validator_value) == ("type", ["string", "array"])


def test_validation_is_fast_enough_for_thousands_of_objects() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None, "logprobs": None}],
    }
    schemas.validate("openai", "CreateChatCompletionStreamResponse", chunk, closed=True)
    started = time.perf_counter()
    for _ in range(2000):
        schemas.validate("openai", "CreateChatCompletionStreamResponse", chunk, closed=True)
    assert time.perf_counter() - started < 5.0


# =========================================================================== mock: answers


async def test_non_stream_answer_and_recorded_request(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, user="u1")

    assert completion.id.startswith("chatcmpl-mock")
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint
    (choice,) = completion.choices
    assert choice.message.content == "Mock reply to: hello there"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert usage.completion_tokens == 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0

    rec = await mock.next_request()
    assert (rec.method, rec.path, rec.status, rec.outcome) == (
        "POST",
        "/v1/chat/completions",
        200,
        "completed",
    )
    assert rec.headers["authorization"] == f"Bearer {mock.api_key}"
    assert rec.json == {"model": "gpt-4o-mini", "messages": USER_HELLO, "user": "u1"}
    assert rec.body.startswith(b"{")
    assert rec.peer is not None and rec.peer[0] == "127.0.0.1"
    assert rec.response_json["choices"][0]["message"]["annotations"] == []


async def test_n_choices_and_media_parts(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        n=2,
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
        ],
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert [c.message.content for c in completion.choices] == [
        "Mock reply to: describe [image]",
        "Mock reply to: describe [image] (choice 1)",
    ]


async def test_tool_call_rules(client: openai.AsyncOpenAI) -> None:
    async def ask(text: str, **kw: Any) -> Any:
        kw.setdefault("tools", [WEATHER_TOOL, TIME_TOOL])
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": text}]
        return (await client.chat.completions.create(model="gpt-4o-mini", messages=messages, **kw)).choices[0]

    weather = await ask("What's the weather in Paris?")
    assert weather.finish_reason == "tool_calls"
    assert weather.message.content is None
    (call,) = weather.message.tool_calls
    assert call.id.startswith("call_") and len(call.id) == 29
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"mock","unit":"c"}'

    plain = await ask("hello")
    assert (plain.finish_reason, plain.message.tool_calls) == ("stop", None)
    assert (await ask("hello", tool_choice="none")).message.tool_calls is None
    assert (await ask("use get_time")).message.tool_calls[0].function.name == "get_time"
    assert (await ask("hello", tool_choice="required")).message.tool_calls[0].function.name == "get_weather"
    named = await ask("hello", tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.message.tool_calls[0].function.arguments == "{}"
    both = await ask("weather and time in parallel")
    assert [c.function.name for c in both.message.tool_calls] == ["get_weather", "get_time"]
    assert len({c.id for c in both.message.tool_calls}) == 2
    one = await ask("weather and time in parallel", parallel_tool_calls=False)
    assert len(one.message.tool_calls) == 1


async def test_tool_results_round_trip(client: openai.AsyncOpenAI) -> None:
    first = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL]
    )
    message = first.choices[0].message
    assert message.tool_calls
    call_id = message.tool_calls[0].id
    second = await client.chat.completions.create(
        model="gpt-4o-mini",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "weather?"},
            message.model_dump(exclude_none=True, exclude={"annotations"}),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call_id, "content": "18C and sunny"},
        ],
    )
    assert second.choices[0].message.content == "Mock reply to tool results: 18C and sunny"
    assert second.choices[0].finish_reason == "stop"


async def test_stop_max_tokens_and_reasoning_usage(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    stopped = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, stop=["there"])
    assert stopped.choices[0].message.content == "Mock reply to: hello "
    cut = await client.chat.completions.create(
        model="gpt-4o-mini", messages=USER_HELLO, max_completion_tokens=2
    )
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("Mock reply ", "length")

    mock.cached_tokens = 4
    thinking = await client.chat.completions.create(
        model="gpt-5", messages=USER_HELLO, reasoning_effort="high"
    )
    usage = thinking.usage
    assert usage is not None and usage.completion_tokens_details and usage.prompt_tokens_details
    assert usage.completion_tokens_details.reasoning_tokens == 16
    assert usage.completion_tokens == 16 + 5
    assert usage.prompt_tokens_details.cached_tokens == 4
    quiet = await client.chat.completions.create(model="gpt-5", messages=USER_HELLO, reasoning_effort="none")
    assert quiet.usage is not None and quiet.usage.completion_tokens == 5


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


async def test_structured_outputs_parse(client: openai.AsyncOpenAI) -> None:
    parsed = await client.chat.completions.parse(
        model="gpt-4o-mini", messages=USER_HELLO, response_format=Weather
    )
    assert parsed.choices[0].message.parsed == Weather(city="Mock reply to: hello there", celsius=1)
    json_mode = await client.chat.completions.create(
        model="gpt-4o-mini", messages=USER_HELLO, response_format={"type": "json_object"}
    )
    assert json_mode.choices[0].message.content == '{"reply":"Mock reply to: hello there"}'


async def test_models_endpoints(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    listed = [m async for m in client.models.list()]
    assert [m.id for m in listed] == list(mock.models)
    assert {m.owned_by for m in listed} == {"openai"}
    assert (await client.models.retrieve("gpt-5")).id == "gpt-5"
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("gpt-nope")
    assert caught.value.code == "model_not_found"


# =========================================================================== mock: streaming


async def collect(stream: Any) -> list[Any]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in stream]


async def drain_into(stream: Any, received: list[Any]) -> None:
    """Append chunks as they arrive (so they survive the exception that ends the stream)."""
    async with asyncio.timeout(10):
        async for chunk in stream:
            received.append(chunk)


async def test_stream_text(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    chunks = await collect(
        await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, stream=True)
    )
    assert len(chunks) == 1 + 5 + 1  # role, five words, finish
    first, *middle, last = chunks
    assert (first.choices[0].delta.role, first.choices[0].delta.content) == ("assistant", "")
    assert "".join(c.choices[0].delta.content for c in middle) == "Mock reply to: hello there"
    assert all(c.choices[0].delta.role is None for c in middle)
    assert (last.choices[0].finish_reason, last.choices[0].delta.content) == ("stop", None)
    assert len({c.id for c in chunks}) == 1
    rec = mock.requests[-1]
    assert rec.stream and rec.done_sent and rec.outcome == "completed"
    assert all("usage" not in c for c in rec.response_chunks)
    assert all("obfuscation" in c for c in rec.response_chunks)


async def test_stream_include_usage_and_no_obfuscation(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER_HELLO,
        stream=True,
        stream_options={"include_usage": True, "include_obfuscation": False},
    )
    chunks = await collect(stream)
    *body, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None and usage_chunk.usage.completion_tokens == 5
    assert all(c.usage is None for c in body)
    raw_chunks = mock.requests[-1].response_chunks
    assert all("usage" in c for c in raw_chunks) and raw_chunks[0]["usage"] is None
    assert all("obfuscation" not in c for c in raw_chunks)


async def test_stream_raw_sse_framing(mock: MockOpenAI, raw: httpx.AsyncClient) -> None:
    async with raw.stream(
        "POST",
        f"{mock.base_url}/chat/completions",
        headers=auth(mock),
        json={"model": "gpt-4o-mini", "messages": USER_HELLO, "stream": True},
    ) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["x-request-id"].startswith("req_")
        text = (await response.aread()).decode()
    frames = text.split("\n\n")
    assert frames[-1] == "" and frames[-2] == "data: [DONE]"
    assert all(f.startswith("data: {") for f in frames[:-2])
    assert "event:" not in text


async def test_stream_tool_call_fragments(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    await collect(
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "weather?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    deltas = [c["choices"][0]["delta"] for c in mock.requests[-1].response_chunks]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    head = deltas[1]["tool_calls"][0]
    assert head["index"] == 0 and head["id"].startswith("call_") and head["type"] == "function"
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    pieces = [d["tool_calls"][0] for d in deltas[2:-1]]
    assert len(pieces) >= 3
    assert all(set(p) == {"index", "function"} and set(p["function"]) == {"arguments"} for p in pieces)
    assert "".join(p["function"]["arguments"] for p in pieces) == '{"city":"mock","unit":"c"}'
    assert deltas[-1] == {}


async def test_stream_helper_final_completion_with_tools(client: openai.AsyncOpenAI) -> None:
    async with asyncio.timeout(10):
        async with client.chat.completions.stream(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "weather and time in parallel"}],
            tools=[WEATHER_TOOL, TIME_TOOL],
            stream_options={"include_usage": True},
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls
    assert [c.function.name for c in message.tool_calls] == ["get_weather", "get_time"]
    assert message.tool_calls[0].function.arguments == '{"city":"mock","unit":"c"}'
    assert final.usage is not None and final.usage.total_tokens > 0


async def test_stream_helper_text_and_n2(client: openai.AsyncOpenAI) -> None:
    async with asyncio.timeout(10):
        async with client.chat.completions.stream(model="gpt-4o-mini", messages=USER_HELLO, n=2) as stream:
            final = await stream.get_final_completion()
    assert [c.message.content for c in final.choices] == [
        "Mock reply to: hello there",
        "Mock reply to: hello there (choice 1)",
    ]
    assert [c.message.role for c in final.choices] == ["assistant", "assistant"]


# =========================================================================== mock: rejections


async def test_bad_or_missing_key(mock: MockOpenAI, raw: httpx.AsyncClient) -> None:
    wrong = "sk-proj-ThisIsNotTheRightKey0123456789abcdefXYZ9"
    async with openai.AsyncOpenAI(base_url=mock.base_url, api_key=wrong, max_retries=0, timeout=5) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
        with pytest.raises(openai.AuthenticationError):
            await sdk.models.list()
    error = caught.value
    assert error.status_code == 401 and error.code == "invalid_api_key"
    assert error.body == {
        "message": f"Incorrect API key provided: {mask_key(wrong)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert mask_key(wrong) == "sk-proj-" + "*" * (len(wrong) - 12) + "XYZ9"
    assert wrong not in str(error.body)

    response = await raw.post(f"{mock.base_url}/chat/completions", json={"model": "gpt-4o-mini"})
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You didn't provide an API key.")
    assert mock.faults_pending() == 0


async def test_echo_key_in_errors_leaks_the_key_on_purpose(raw: httpx.AsyncClient) -> None:
    async with MockOpenAI(echo_key_in_errors=True) as leaky:
        leaky.enqueue(Fault.status(500))
        wrong = "sk-wrong-key-0123456789abcdef"
        response = await raw.post(
            f"{leaky.base_url}/chat/completions", headers={"Authorization": f"Bearer {wrong}"}, json={}
        )
        assert wrong in response.json()["error"]["message"]
        failed = await raw.post(
            f"{leaky.base_url}/chat/completions",
            headers=auth(leaky),
            json={"model": "gpt-4o-mini", "messages": USER_HELLO},
        )
        assert failed.status_code == 500
        assert DEFAULT_API_KEY in failed.json()["error"]["message"]
        leaky.assert_emitted_valid()


async def test_unknown_model(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-unknown", messages=USER_HELLO)
    assert caught.value.body == {
        "message": "The model `gpt-unknown` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


async def test_malformed_json_body(mock: MockOpenAI, raw: httpx.AsyncClient) -> None:
    for body in (b"{", b"", b'{"model": NaN}', b"\xff\xfe"):
        response = await raw.post(f"{mock.base_url}/chat/completions", headers=auth(mock), content=body)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["message"].startswith("We could not parse the JSON body of your request.")
        assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


BAD_BODIES: list[tuple[dict[str, Any], str | None, str | None, str]] = [
    (
        {"model": "gpt-4o-mini"},
        "messages",
        "missing_required_parameter",
        "Missing required parameter: 'messages'.",
    ),
    ({"model": "gpt-4o-mini", "messages": []}, "messages", "empty_array", "Invalid 'messages': empty array."),
    (
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]},
        "messages[0].content",
        "invalid_type",
        "Invalid type for 'messages[0].content': expected one of a string or an array, but got an integer",
    ),
    (
        {"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]},
        "messages[0].role",
        "invalid_value",
        "Invalid value: 'robot'. Supported values are: 'developer', 'system', 'user', 'assistant',",
    ),
    ({"model": "gpt-4o-mini", "messages": USER_HELLO, "n": 0}, "n", "integer_below_min_value", "Invalid 'n'"),
    (
        {"model": "gpt-4o-mini", "messages": USER_HELLO, "temperature": "hot"},
        "temperature",
        "invalid_type",
        "Invalid type for 'temperature'",
    ),
    (
        {"model": "gpt-4o-mini", "messages": USER_HELLO, "top_k": 3},
        "top_k",
        "unknown_parameter",
        "Unknown parameter: 'top_k'.",
    ),
    (
        {
            "model": "gpt-4o-mini",
            "messages": [
                *USER_HELLO,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
        },
        "messages[1].tool_calls[0].index",
        "unknown_parameter",
        "Unknown parameter: 'messages[1].tool_calls[0].index'.",
    ),
    (
        {"model": "gpt-4o-mini", "messages": USER_HELLO, "stream_options": {"include_usage": True}},
        "stream_options",
        None,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    ),
    (
        {"model": "gpt-4o-mini", "messages": USER_HELLO, "tool_choice": "auto"},
        "tool_choice",
        None,
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
    ),
    (
        {
            "model": "gpt-4o-mini",
            "messages": [*USER_HELLO, {"role": "tool", "tool_call_id": "x", "content": "r"}],
        },
        "messages.[1].role",
        None,
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message",
    ),
    (
        {
            "model": "gpt-4o-mini",
            "messages": [
                *USER_HELLO,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                *USER_HELLO,
            ],
        },
        "messages.[1].role",
        None,
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: c1",
    ),
    (
        {"model": "gpt-5", "messages": USER_HELLO, "max_tokens": 10},
        "max_tokens",
        "unsupported_parameter",
        "Unsupported parameter: 'max_tokens' is not supported with this model.",
    ),
    (
        {"model": "gpt-5", "messages": USER_HELLO, "temperature": 0.2},
        "temperature",
        "unsupported_value",
        "Unsupported value: 'temperature' does not support 0.2 with this model.",
    ),
    (
        {"model": "gpt-4o-mini", "messages": USER_HELLO, "reasoning_effort": "low"},
        "reasoning_effort",
        "unsupported_parameter",
        "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
    ),
]


@pytest.mark.parametrize(("body", "param", "code", "message"), BAD_BODIES)
async def test_invalid_requests_are_rejected_like_openai(
    mock: MockOpenAI,
    raw: httpx.AsyncClient,
    body: dict[str, Any],
    param: str | None,
    code: str | None,
    message: str,
) -> None:
    mock.enqueue(Fault.status(500))
    response = await raw.post(f"{mock.base_url}/chat/completions", headers=auth(mock), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith(message), error
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert mock.faults_pending() == 1, "a rejected request must not consume a fault"


async def test_sdk_bad_request_error(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=USER_HELLO, extra_body={"gateway_only_field": 1}
        )
    assert caught.value.code == "unknown_parameter"
    assert caught.value.param == "gateway_only_field"


async def test_unknown_path(mock: MockOpenAI, raw: httpx.AsyncClient) -> None:
    response = await raw.post(f"{mock.base_url}/completions", headers=auth(mock), json={})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"


# =========================================================================== mock: faults


async def test_status_faults_in_fifo_order(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(
        Fault.status(500),
        Fault.status(503),
        Fault.rate_limit(retry_after=7),
        Fault.insufficient_quota(),
        Fault.status(400, message="Bad thing", code="bad_thing", param="messages"),
    )
    expected: list[tuple[type[openai.APIStatusError], int]] = [
        (openai.InternalServerError, 500),
        (openai.InternalServerError, 503),
        (openai.RateLimitError, 429),
        (openai.RateLimitError, 429),
        (openai.BadRequestError, 400),
    ]
    caught = []
    for error_class, status in expected:
        with pytest.raises(error_class) as info:
            await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
        assert info.value.status_code == status
        caught.append(info.value)
    assert caught[0].body == {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert caught[2].code == "rate_limit_exceeded"
    assert caught[2].response.headers["retry-after"] == "7"
    assert caught[2].response.headers["retry-after-ms"] == "7000"
    assert caught[3].code == "insufficient_quota"
    assert caught[4].body == {"message": "Bad thing", "type": "invalid_request_error", "param": "messages",
                              "code": "bad_thing"}  # fmt: skip
    assert mock.faults_pending() == 0
    ok = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    assert ok.choices[0].message.content


async def test_raw_body_fault(mock: MockOpenAI, raw: httpx.AsyncClient) -> None:
    mock.enqueue(Fault.status(502, body=b"<html>bad gateway</html>", headers={"content-type": "text/html"}))
    response = await raw.post(
        f"{mock.base_url}/chat/completions",
        headers=auth(mock),
        json={"model": "gpt-4o-mini", "messages": USER_HELLO},
    )
    assert (response.status_code, response.text) == (502, "<html>bad gateway</html>")
    assert response.headers["content-type"].startswith("text/html")


async def test_delay_fault_then_answer(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(Fault.delay(0.3))
    started = time.monotonic()
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    assert time.monotonic() - started >= 0.3
    assert completion.choices[0].message.content == "Mock reply to: hello there"


async def test_delay_longer_than_client_timeout_is_recorded_as_cancelled(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    mock.enqueue(Fault.delay(30))
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, timeout=0.3)
    rec = mock.requests[-1]
    assert await rec.wait_finished(timeout_s=5) == "cancelled"
    assert rec.cancelled


async def test_stall_fault_and_shutdown_does_not_hang(raw: httpx.AsyncClient) -> None:
    m = MockOpenAI()
    await m.start()
    m.enqueue(Fault.stall())
    request = asyncio.create_task(
        raw.post(
            f"{m.base_url}/chat/completions",
            headers=auth(m),
            json={"model": "gpt-4o-mini", "messages": USER_HELLO},
        )
    )
    rec = await m.next_request()
    await asyncio.sleep(0.1)
    assert rec.outcome == "pending" and not request.done()
    started = time.monotonic()
    await m.stop()
    assert time.monotonic() - started < 2
    assert await rec.wait_finished() == "shutdown"
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(request, 5)


async def test_disconnect_fault(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(Fault.disconnect())
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    assert mock.requests[-1].outcome == "aborted"
    assert mock.requests[-1].status is None


async def test_stream_dies_after_k_chunks(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(Fault.die_after(2))
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, stream=True)
    received: list[Any] = []
    with pytest.raises((httpx.TransportError, openai.APIError)):
        await drain_into(stream, received)
    assert len(received) == 2
    rec = mock.requests[-1]
    assert (rec.outcome, rec.chunks_sent, rec.done_sent) == ("aborted", 2, False)


async def test_stream_error_frame(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(
        Fault.error_after(1, message="Upstream overloaded", error_type="server_error", code="overloaded")
    )
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        await collect(stream)
    assert caught.value.message == "Upstream overloaded"
    assert caught.value.body == {
        "message": "Upstream overloaded",
        "type": "server_error",
        "param": None,
        "code": "overloaded",
    }
    rec = mock.requests[-1]
    assert rec.response_chunks[-1] == {"error": caught.value.body}
    assert (rec.outcome, rec.done_sent) == ("completed", False)


async def test_error_after_on_non_stream_is_a_500(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(Fault.error_after(3, message="boom"))
    with pytest.raises(openai.InternalServerError, match="boom"):
        await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)


async def test_client_closing_mid_stream_is_recorded_as_cancelled(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    mock.chunk_delay_s = 0.05
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO, stream=True)
    async with asyncio.timeout(5):
        async for _ in stream:
            break
    await stream.close()
    rec = mock.requests[-1]
    assert await rec.wait_finished(timeout_s=5) == "cancelled"
    assert 1 <= rec.chunks_sent < 6
    assert not rec.done_sent


async def test_stall_mid_stream_until_client_gives_up(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(Fault.stall_after(3))
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=USER_HELLO, stream=True, timeout=0.5
    )
    received: list[Any] = []
    with pytest.raises((httpx.TimeoutException, openai.APITimeoutError)):
        await drain_into(stream, received)
    assert len(received) == 3
    rec = mock.requests[-1]
    assert await rec.wait_finished(timeout_s=5) == "cancelled"


async def test_models_fault_queue_is_separate(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    mock.enqueue(Fault.status(503), endpoint="models")
    await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    with pytest.raises(openai.InternalServerError):
        await client.models.list()
    assert mock.faults_pending("models") == 0


async def test_response_headers_go_on_every_answer(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    cookies = [("set-cookie", "__cf_bm=b1; path=/; HttpOnly"), ("set-cookie", "_cfuvid=u1; path=/")]
    mock.response_headers.extend(cookies)
    mock.enqueue(Fault.status(503))
    with pytest.raises(openai.InternalServerError) as fault:
        await client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    whole = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_HELLO)
    async with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER_HELLO, stream=True
    ) as stream:
        await stream.read()
    for headers in (fault.value.response.headers, whole.headers, stream.headers):
        assert headers.get_list("set-cookie") == [value for _, value in cookies]
    mock.reset()
    plain = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_HELLO)
    assert "set-cookie" not in plain.headers


# =========================================================================== mock: connections & waits


async def test_open_connections_are_tracked(mock: MockOpenAI) -> None:
    assert mock.open_connections == 0
    sdk = openai.AsyncOpenAI(base_url=mock.base_url, api_key=mock.api_key, max_retries=0, timeout=5)
    await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    assert mock.open_connections == 1  # keep-alive: both requests used one connection
    assert mock.requests[0].peer == mock.requests[1].peer
    await sdk.close()
    await mock.wait_open_connections(0, timeout_s=5)


async def test_waiting_helpers_are_bounded(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(AssertionError, match="no request reached the mock"):
        await mock.next_request(timeout_s=0.05)
    with pytest.raises(AssertionError, match="0 request"):
        await mock.wait_for_requests(1, timeout_s=0.05)
    task = asyncio.create_task(client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO))
    assert len(await mock.wait_for_requests(1)) == 1
    await task
    assert len(mock.chat_requests) == 1
    mock.reset()
    assert mock.requests == []


async def test_sdk_requests_with_many_parameters_pass_closed_world_validation(
    mock: MockOpenAI, client: openai.AsyncOpenAI
) -> None:
    strict_tool: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {**WEATHER_TOOL["function"], "strict": True},
    }
    completion = await client.chat.completions.create(
        model="gpt-4.1",
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "system", "content": [{"type": "text", "text": "really"}]},
            {"role": "user", "content": "hello", "name": "bob"},
        ],
        temperature=0.3,
        top_p=0.9,
        frequency_penalty=0.1,
        presence_penalty=0.1,
        logit_bias={"50256": -100},
        logprobs=True,
        top_logprobs=2,
        max_completion_tokens=50,
        stop="zzz",
        seed=7,
        user="u",
        safety_identifier="s",
        prompt_cache_key="k",
        metadata={"a": "b"},
        store=False,
        service_tier="auto",
        tools=[strict_tool],
        tool_choice="auto",
        parallel_tool_calls=True,
        response_format={"type": "text"},
    )
    assert completion.choices[0].message.content == "Mock reply to: hello"
    assert mock.requests[-1].status == 200


async def test_large_bodies_are_accepted(mock: MockOpenAI, client: openai.AsyncOpenAI) -> None:
    image = "data:image/png;base64," + "A" * (3 * 1024 * 1024)
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}],
    )
    assert completion.choices[0].message.content == "Mock reply to: [image]"
    assert len(mock.requests[-1].body) > 3 * 1024 * 1024
