"""Tests of the mock Gemini upstream (``support.gemini_upstream``).

The mock is driven with the official ``google-genai`` SDK (its async client: the mock runs in the
test's event loop) under both ``v1`` (the 3.x default) and ``v1beta``, and with raw httpx where the
SDK would not send a malformed request or to see the wire bytes. Everything the mock emits is
checked against the Gemini spec, closed-world, when each test ends (``assert_emitted_valid``).
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

from support import gemini_upstream, openai_upstream
from support.gemini_upstream import (
    DEFAULT_API_KEY,
    Fault,
    MockGemini,
    count_prompt_tokens,
    display_name,
    duration,
    rebuild_stream,
    validate_stream,
)

FLASH = "gemini-2.5-flash"
PRO = "gemini-2.5-pro"
G3 = "gemini-3-pro-preview"
EMBED = "gemini-embedding-001"
VERSIONS = ("v1", "v1beta")
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "city": types.Schema(type=types.Type.STRING),
            "unit": types.Schema(type=types.Type.STRING, enum=["c", "f"]),
            "days": types.Schema(type=types.Type.INTEGER, minimum=1),
        },
        required=["city", "unit"],
    ),
)
TIME = types.FunctionDeclaration(
    name="get_time", parameters_json_schema={"type": "object", "properties": {"zone": {"type": "string"}}}
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)

# google-genai 3.6.1 subclasses aiohttp.ClientSession, which aiohttp 3.14 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


def tools_config(*declarations: types.FunctionDeclaration, **extra: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=list(declarations))],
        automatic_function_calling=NO_AFC,
        **extra,
    )


def make_client(mock: MockGemini, api_version: str = "v1", *, timeout_ms: int = 5000) -> genai.Client:
    """The SDK against the mock; ``retry_options`` set so that it does not retry disconnects itself."""
    http_options = types.HttpOptions(
        base_url=mock.base_url,
        api_version=api_version,
        timeout=timeout_ms,
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=mock.api_key, http_options=http_options)


@pytest.fixture
async def mock() -> AsyncIterator[MockGemini]:
    async with MockGemini() as m:
        yield m
        m.assert_emitted_valid()


@pytest.fixture(params=VERSIONS)
async def client(mock: MockGemini, request: pytest.FixtureRequest) -> AsyncIterator[genai.client.AsyncClient]:
    sdk = make_client(mock, request.param)
    yield sdk.aio
    await sdk.aio.aclose()


@pytest.fixture
async def raw() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


def url(
    mock: MockGemini, model: str = FLASH, method: str = "generateContent", version: str = "v1beta"
) -> str:
    return f"{mock.base_url}/{version}/models/{model}:{method}"


async def post(
    raw: httpx.AsyncClient,
    mock: MockGemini,
    body: Any,
    *,
    model: str = FLASH,
    method: str = "generateContent",
) -> httpx.Response:
    return await raw.post(url(mock, model, method), headers={"x-goog-api-key": mock.api_key}, json=body)


def hello(text: str = "hello there") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def sse_data(text: str) -> list[dict[str, Any]]:
    """The JSON of each SSE frame (``data: {…}\\r\\n\\r\\n``, nothing else on the wire)."""
    assert text.endswith("\r\n\r\n"), text[-20:]
    frames = text.split("\r\n\r\n")[:-1]
    assert all(f.startswith("data: ") and "\n" not in f for f in frames), frames
    return [orjson.loads(f[len("data: ") :]) for f in frames]


async def collect(stream: Any, received: list[Any] | None = None) -> list[Any]:
    """Chunks of an SDK stream (appended to ``received`` as they come, to survive an exception)."""
    out = received if received is not None else []
    async with asyncio.timeout(10):
        async for chunk in stream:
            out.append(chunk)
    return out


def signature_of(response: types.GenerateContentResponse, part: int = 0) -> bytes | None:
    assert response.candidates and response.candidates[0].content and response.candidates[0].content.parts
    return response.candidates[0].content.parts[part].thought_signature


# =========================================================================== answers


async def test_generate_text(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    response = await client.models.generate_content(model=FLASH, contents="hello there")
    assert response.text == "Mock reply to: hello there"
    rec = mock.requests[-1]
    version = rec.path.split("/")[1]
    assert rec.path == f"/{version}/models/{FLASH}:generateContent" and version in VERSIONS
    assert rec.headers["x-goog-api-key"] == mock.api_key and not rec.stream
    assert (rec.status, rec.outcome) == (200, "completed")
    assert response.response_id == rec.request_id and response.model_version == FLASH
    candidate = response.candidates[0] if response.candidates else None
    assert (
        candidate is not None and candidate.finish_reason == types.FinishReason.STOP and candidate.index == 0
    )
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (2, 5)
    assert usage.thoughts_token_count == 5  # "Mock thinking about: hello there"
    assert usage.total_token_count == 12 and usage.cached_content_token_count is None
    assert rec.response_json["candidates"][0]["content"] == {
        "parts": [{"text": "Mock reply to: hello there"}],
        "role": "model",
    }
    assert mock.generate_requests == [rec] and mock.base_url == mock.url


async def test_response_headers_and_system_instruction(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    body = {**hello(), "systemInstruction": {"parts": [{"text": "be brief please"}]}}
    response = await post(raw, mock, body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.headers["server"] == "scaffolding on HTTPServer2"
    assert response.json()["usageMetadata"]["promptTokenCount"] == 5


async def test_key_in_query_and_media_parts(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    body = {
        "contents": [
            {
                "parts": [
                    {"text": "look"},
                    {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"png").decode()}},
                    {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/files/abc"}},
                ]
            }
        ]
    }
    response = await raw.post(url(mock), params={"key": mock.api_key}, json=body)
    assert response.status_code == 200, response.text
    assert (
        response.json()["candidates"][0]["content"]["parts"][0]["text"]
        == "Mock reply to: look [image] [document]"
    )


async def test_candidates_stop_sequences_and_max_tokens(client: genai.client.AsyncClient) -> None:
    config = types.GenerateContentConfig(candidate_count=3, stop_sequences=["there"])
    response = await client.models.generate_content(model=FLASH, contents="hello there", config=config)
    assert response.candidates is not None
    assert [c.index for c in response.candidates] == [0, 1, 2]
    texts = [c.content.parts[0].text for c in response.candidates if c.content and c.content.parts]
    assert texts == ["Mock reply to: hello "] * 3
    assert all(c.finish_reason == types.FinishReason.STOP for c in response.candidates)
    capped = await client.models.generate_content(
        model=FLASH,
        contents="hello there",
        config=types.GenerateContentConfig(max_output_tokens=8, candidate_count=2),
    )
    assert capped.candidates is not None and capped.usage_metadata is not None
    assert capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert capped.text == "Mock reply to: "  # 5 thought tokens leave 3
    assert capped.candidates[1].content and capped.candidates[1].content.parts
    assert capped.candidates[1].content.parts[0].text == "Mock reply to: "
    assert capped.usage_metadata.candidates_token_count == 6
    assert capped.usage_metadata.thoughts_token_count == 10
    starved = await client.models.generate_content(
        model=FLASH, contents="hello there", config=types.GenerateContentConfig(max_output_tokens=3)
    )
    assert starved.candidates and starved.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert starved.candidates[0].content is not None and starved.candidates[0].content.parts is None
    assert starved.text is None


async def test_thoughts_and_thinking_budget(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    response = await client.models.generate_content(model=FLASH, contents="hello there", config=config)
    assert response.candidates and response.candidates[0].content and response.candidates[0].content.parts
    thought, answer = response.candidates[0].content.parts
    assert (thought.thought, thought.text) == (True, "Mock thinking about: hello there")
    assert answer.text == "Mock reply to: hello there" and not answer.thought
    assert response.text == "Mock reply to: hello there"
    assert mock.requests[-1].json["generationConfig"]["thinkingConfig"] == {"include_thoughts": True}
    off = await client.models.generate_content(
        model=FLASH,
        contents="hello there",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0)),
    )
    assert off.usage_metadata is not None and off.usage_metadata.thoughts_token_count is None
    with pytest.raises(errors.ClientError) as info:
        await client.models.generate_content(
            model=PRO,
            contents="hello there",
            config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0)),
        )
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    assert info.value.message == "Budget 0 is invalid. This model only works in thinking mode."
    level = await client.models.generate_content(
        model=G3,
        contents="hello there",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)
        ),
    )
    assert level.text == "Mock reply to: hello there"


async def test_gemini3_text_answers_carry_a_signature(
    mock: MockGemini, client: genai.client.AsyncClient
) -> None:
    response = await client.models.generate_content(model=G3, contents="hello there")
    signature = signature_of(response)
    assert signature is not None and response.text == "Mock reply to: hello there"
    assert response.candidates and response.candidates[0].content
    history: list[Any] = ["hello there", response.candidates[0].content, "and again"]
    again = await client.models.generate_content(model=G3, contents=history)
    assert again.text == "Mock reply to: and again"
    replayed = mock.requests[-1].json["contents"][1]["parts"][0]
    assert base64.urlsafe_b64decode(replayed["thoughtSignature"]) == signature
    flash = await client.models.generate_content(model=FLASH, contents="hello there")
    assert signature_of(flash) is None
    async with MockGemini(text_signatures=False) as quiet:
        sdk = make_client(quiet)
        plain = await sdk.aio.models.generate_content(model=G3, contents="hello there")
        assert signature_of(plain) is None
        await sdk.aio.aclose()


async def test_structured_output(client: genai.client.AsyncClient) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer", "minimum": 3}},
        "required": ["answer", "score"],
    }
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema)
    response = await client.models.generate_content(model=FLASH, contents="rate it", config=config)
    assert response.parsed == {"answer": "Mock reply to: rate it", "score": 3}
    gemini_schema = types.Schema(
        type=types.Type.OBJECT,
        properties={
            "tags": types.Schema(type=types.Type.ARRAY, items=types.Schema(type="STRING"), min_items=2)
        },
    )
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=gemini_schema)
    response = await client.models.generate_content(model=FLASH, contents="tag it", config=config)
    assert orjson.loads(response.text or "") == {"tags": ["Mock reply to: tag it"] * 2}
    plain_json = await client.models.generate_content(
        model=FLASH, contents="hi", config=types.GenerateContentConfig(response_mime_type="application/json")
    )
    assert orjson.loads(plain_json.text or "") == {"reply": "Mock reply to: hi"}
    enum = await client.models.generate_content(
        model=FLASH,
        contents="pick",
        config=types.GenerateContentConfig(
            response_mime_type="text/x.enum", response_schema={"type": "STRING", "enum": ["red", "blue"]}
        ),
    )
    assert enum.text == "red"


async def test_blocked_prompt(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    response = await client.models.generate_content(model=FLASH, contents="please BLOCKME now")
    assert response.candidates is None and response.text is None
    assert response.prompt_feedback and response.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert response.usage_metadata and response.usage_metadata.total_token_count == 3
    chunks = await collect(await client.models.generate_content_stream(model=FLASH, contents="BLOCKME"))
    assert len(chunks) == 1 and chunks[0].prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert mock.requests[-1].done_sent


async def test_usage_and_cache_knob(raw: httpx.AsyncClient) -> None:
    async with MockGemini(cached_content_tokens=3) as m:
        response = await post(raw, m, hello("one two three four five"))
        usage = response.json()["usageMetadata"]
        assert usage["promptTokenCount"] == 5 and usage["cachedContentTokenCount"] == 3
        assert usage["cacheTokensDetails"] == [{"modality": "TEXT", "tokenCount": 3}]
        assert usage["totalTokenCount"] == 5 + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
        small = await post(raw, m, hello("hi"))
        assert small.json()["usageMetadata"]["cachedContentTokenCount"] == 1
        m.assert_emitted_valid()


def test_count_prompt_tokens_rules() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "a b c"}, {"inlineData": {"mimeType": "image/png", "data": ""}}],
            },
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": "y z"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "ok"}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
    }
    tools_tokens = len(orjson.dumps(body["tools"])) // 4
    assert count_prompt_tokens(body) == 2 + 3 + 1 + 2 + 1 + tools_tokens
    assert count_prompt_tokens({"contents": []}) == 1


def test_names_and_durations() -> None:
    assert display_name("gemini-2.5-flash") == "Gemini 2.5 Flash"
    assert display_name("gemini-3-pro-preview") == "Gemini 3 Pro Preview"
    assert display_name("gemini-embedding-001") == "Gemini Embedding 001"
    assert [duration(23), duration(1.5), duration(0.000001)] == ["23s", "1.500s", "0.000001s"]


# =========================================================================== function calling


async def test_manual_function_calling_round_trip(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    config = tools_config(WEATHER, TIME)
    first = await client.models.generate_content(
        model=FLASH, contents="What's the weather in Paris?", config=config
    )
    assert first.function_calls is not None and len(first.function_calls) == 1
    call = first.function_calls[0]
    assert (call.name, call.args, call.id) == ("get_weather", {"city": "mock", "unit": "c"}, None)
    assert first.candidates and first.candidates[0].finish_reason == types.FinishReason.STOP
    assert "id" not in mock.requests[-1].response_json["candidates"][0]["content"]["parts"][0]["functionCall"]
    signature = signature_of(first)
    assert signature is not None
    sent = mock.requests[-1].json
    assert sent["tools"][0]["functionDeclarations"][0]["parameters"]["type"] == "OBJECT"
    assert "parameters_json_schema" in sent["tools"][0]["functionDeclarations"][1]  # snake_case from the SDK
    history: list[Any] = [
        types.Content(role="user", parts=[types.Part(text="What's the weather in Paris?")]),
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"output": "sunny"})],
        ),
    ]
    second = await client.models.generate_content(model=FLASH, contents=history, config=config)
    assert second.text == "Mock reply to tool results: sunny"
    replayed = mock.requests[-1].json["contents"][1]["parts"][0]
    assert base64.urlsafe_b64decode(replayed["thoughtSignature"]) == signature
    assert second.candidates
    history += [
        second.candidates[0].content,
        types.Content(role="user", parts=[types.Part(text="and what does get_time say?")]),
    ]
    third = await client.models.generate_content(model=FLASH, contents=history, config=config)
    assert third.function_calls and third.function_calls[0].name == "get_time"
    assert third.function_calls[0].args == {"zone": "mock"}


async def test_function_calling_modes(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    plain = await client.models.generate_content(model=FLASH, contents="hello", config=tools_config(WEATHER))
    assert plain.function_calls is None and plain.text == "Mock reply to: hello"
    named = await client.models.generate_content(
        model=FLASH, contents="call get_time please", config=tools_config(WEATHER, TIME)
    )
    assert named.function_calls and [c.name for c in named.function_calls] == ["get_time"]
    forced = tools_config(
        WEATHER,
        TIME,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["get_time"]
            )
        ),
    )
    anyway = await client.models.generate_content(model=FLASH, contents="hello", config=forced)
    assert anyway.function_calls and [c.name for c in anyway.function_calls] == ["get_time"]
    none = tools_config(
        WEATHER,
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="NONE")),
    )
    silent = await client.models.generate_content(model=FLASH, contents="weather?", config=none)
    assert silent.function_calls is None
    parallel = await client.models.generate_content(
        model=FLASH, contents="weather and time in parallel", config=tools_config(WEATHER, TIME)
    )
    assert parallel.function_calls and [c.name for c in parallel.function_calls] == [
        "get_weather",
        "get_time",
    ]
    assert signature_of(parallel, 0) is not None and signature_of(parallel, 1) is None
    no_thinking = await client.models.generate_content(
        model=FLASH,
        contents="weather?",
        config=tools_config(WEATHER, thinking_config=types.ThinkingConfig(thinking_budget=0)),
    )
    assert no_thinking.function_calls and signature_of(no_thinking) is None


async def test_function_call_ids_follow_the_history(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]
    first = await post(raw, mock, {**hello("weather?"), "tools": tools})
    call_part = first.json()["candidates"][0]["content"]["parts"][0]
    assert "id" not in call_part["functionCall"]
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {
                "role": "model",
                "parts": [{**call_part, "functionCall": {**call_part["functionCall"], "id": "c1"}}],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"id": "c1", "name": "get_weather", "response": {}}}],
            },
            {"role": "model", "parts": [{"text": "done"}]},
            {"role": "user", "parts": [{"text": "weather again?"}]},
        ],
        "tools": tools,
    }
    second = await post(raw, mock, history)
    call = second.json()["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert len(call["id"]) == 8 and call["id"].isalnum()


async def test_gemini3_thought_signatures(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    config = tools_config(WEATHER)
    first = await client.models.generate_content(model=G3, contents="weather in Rome?", config=config)
    assert first.candidates and first.candidates[0].content
    call_content = first.candidates[0].content
    answer = types.Content(
        role="user", parts=[types.Part.from_function_response(name="get_weather", response={"temp": 20})]
    )
    history: list[Any] = ["weather in Rome?", call_content, answer]
    ok = await client.models.generate_content(model=G3, contents=history, config=config)
    assert ok.text == 'Mock reply to tool results: {"temp":20}'
    stripped = call_content.model_copy(deep=True)
    assert stripped.parts
    stripped.parts[0].thought_signature = None
    with pytest.raises(errors.ClientError) as info:
        await client.models.generate_content(
            model=G3, contents=["weather in Rome?", stripped, answer], config=config
        )
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == (
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to "
        "work correctly, and missing thought_signature may lead to degraded model performance. Additional "
        "data, function call `default_api:get_weather` , position 2. Please refer to "
        "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
    )
    assert info.value.details == {"error": mock.requests[-1].response_json["error"]}
    # an earlier turn is not validated; gemini 2.5 never requires signatures
    later = [
        "weather in Rome?",
        stripped,
        answer,
        types.Content(role="model", parts=[types.Part(text="It is 20 degrees.")]),
        "thanks!",
    ]
    assert (await client.models.generate_content(model=G3, contents=later, config=config)).text
    flash = await client.models.generate_content(
        model=FLASH, contents=["weather in Rome?", stripped, answer], config=config
    )
    assert flash.text == 'Mock reply to tool results: {"temp":20}'
    # the documented bypass values, as the SDK sends them (base64 of the bytes)
    for dummy in (b"skip_thought_signature_validator", b"context_engineering_is_the_way_to_go"):
        bypass = stripped.model_copy(deep=True)
        assert bypass.parts
        bypass.parts[0].thought_signature = dummy
        assert await client.models.generate_content(
            model=G3, contents=["weather in Rome?", bypass, answer], config=config
        )


async def test_sdk_chat_keeps_signatures_across_steps(
    mock: MockGemini, client: genai.client.AsyncClient
) -> None:
    chat = client.chats.create(model=G3, config=tools_config(WEATHER, TIME))
    first = await chat.send_message("weather in Rome?")
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    result = types.Part.from_function_response(name="get_weather", response={"output": "sunny"})
    forced = tools_config(
        WEATHER,
        TIME,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["get_time"]
            )
        ),
    )
    second = await chat.send_message(result, config=forced)  # a second step of the same turn
    assert second.function_calls and second.function_calls[0].name == "get_time"
    third = await chat.send_message(
        types.Part.from_function_response(name="get_time", response={"output": "noon"})
    )
    assert third.text == "Mock reply to tool results: noon"
    steps = [c for c in mock.requests[-1].json["contents"] if c["role"] == "model"]
    assert len(steps) == 2 and all("thoughtSignature" in c["parts"][0] for c in steps)


@pytest.mark.parametrize("how", ["tampered", "other_args", "other_key", "garbage"])
async def test_corrupted_thought_signatures(mock: MockGemini, raw: httpx.AsyncClient, how: str) -> None:
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]
    first = await post(raw, mock, {**hello("weather?"), "tools": tools}, model=G3)
    part = first.json()["candidates"][0]["content"]["parts"][0]
    signature = part["thoughtSignature"]
    if how == "tampered":
        raw_bytes = bytearray(base64.b64decode(signature))
        raw_bytes[-1] ^= 1
        part["thoughtSignature"] = base64.b64encode(bytes(raw_bytes)).decode()
    elif how == "other_args":
        part["functionCall"]["args"] = {"city": "Oslo"}
    elif how == "other_key":
        part["thoughtSignature"] = MockGemini(signing_key=b"another account").sign_function_call(
            "get_weather", {}
        )
    else:
        part["thoughtSignature"] = "bm90IGEgc2lnbmF0dXJl"
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [part]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 1}}}]},
        ],
        "tools": tools,
    }
    for model in (G3, FLASH):
        response = await post(raw, mock, history, model=model)
        assert response.status_code == 400
        assert response.json() == {
            "error": {"code": 400, "message": "Corrupted thought signature.", "status": "INVALID_ARGUMENT"}
        }


async def test_hand_built_history_with_mock_signatures(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    args = {"city": "Oslo"}
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": args},
                        "thoughtSignature": mock.sign_function_call("get_weather", args),
                    },
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"output": "cold"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"output": "warm"}}},
                ],
            },
        ]
    }
    response = await post(raw, mock, body, model=G3)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == (
        "Mock reply to tool results: cold; warm"
    )
    raw_bypass = {
        "functionCall": {"name": "get_weather", "args": args},
        "thoughtSignature": "skip_thought_signature_validator",
    }
    body["contents"][1]["parts"][0] = raw_bypass
    assert (await post(raw, mock, body, model=G3)).status_code == 200


# =========================================================================== streaming


async def test_stream_matches_non_stream(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    whole = await client.models.generate_content(model=G3, contents="hello there", config=config)
    chunks = await collect(
        await client.models.generate_content_stream(model=G3, contents="hello there", config=config)
    )
    rec = mock.requests[-1]
    assert rec.stream and rec.query == {"alt": "sse"} and rec.path.endswith(f"{G3}:streamGenerateContent")
    assert len(chunks) == 5 + 5 and rec.chunks_sent == 10 and rec.done_sent
    texts = [c.candidates[0].content.parts[0].text for c in chunks]
    assert texts[:5] == ["Mock ", "thinking ", "about: ", "hello ", "there"]
    assert "".join(texts[5:]) == "Mock reply to: hello there"
    assert [c.candidates[0].finish_reason for c in chunks][-2:] == [None, types.FinishReason.STOP]
    assert chunks[-1].candidates[0].content.parts[0].thought_signature is not None
    assert all(c.usage_metadata.candidates_token_count is None for c in chunks[:-1])
    assert whole.usage_metadata is not None
    assert chunks[-1].usage_metadata.total_token_count == whole.usage_metadata.total_token_count
    rebuilt = rebuild_stream(rec.response_chunks)
    expected = orjson.loads(orjson.dumps(mock.requests[-2].response_json))
    signatures = []
    for body in (rebuilt, expected):
        body["responseId"] = ""
        signatures.append(body["candidates"][0]["content"]["parts"][1].pop("thoughtSignature"))
    assert rebuilt == expected
    assert signatures[0] != signatures[1]  # a new nonce per response


async def test_stream_function_call_arrives_whole(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    stream = await client.models.generate_content_stream(
        model=FLASH, contents="weather and time in parallel", config=tools_config(WEATHER, TIME)
    )
    chunks = await collect(stream)
    assert len(chunks) == 2
    assert chunks[0].function_calls and chunks[0].function_calls[0].args == {"city": "mock", "unit": "c"}
    assert chunks[0].candidates[0].content.parts[0].thought_signature is not None
    assert chunks[1].function_calls and chunks[1].function_calls[0].name == "get_time"
    assert chunks[1].candidates[0].finish_reason == types.FinishReason.STOP


async def test_stream_candidates_in_order(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    body = {**hello("hi"), "generationConfig": {"candidateCount": 2, "thinkingConfig": {"thinkingBudget": 0}}}
    response = await raw.post(
        url(mock, method="streamGenerateContent"),
        params={"alt": "sse"},
        headers={"x-goog-api-key": mock.api_key},
        json=body,
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_data(response.text)
    assert [f["candidates"][0]["index"] for f in frames] == [0] * 4 + [1] * 6
    finishes = [f["candidates"][0].get("finishReason") for f in frames]
    assert finishes == [None] * 3 + ["STOP"] + [None] * 5 + ["STOP"]
    assert "".join(f["candidates"][0]["content"]["parts"][0]["text"] for f in frames[4:]) == (
        "Mock reply to: hi (candidate 1)"
    )
    assert frames == mock.requests[-1].response_chunks


async def test_stream_json_array_without_alt_sse(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    response = await post(raw, mock, hello(), method="streamGenerateContent")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.text.startswith("[{") and response.text.endswith("}]")
    chunks = orjson.loads(response.text)
    assert chunks == mock.requests[-1].response_chunks and len(chunks) == 5
    mock.enqueue(Fault.error_after(2, code=500))
    failed = await post(raw, mock, hello(), method="streamGenerateContent")
    body = orjson.loads(failed.text)
    assert len(body) == 3 and body[-1]["error"]["status"] == "INTERNAL"


# =========================================================================== count tokens, embeddings, models


async def test_count_tokens(
    mock: MockGemini, client: genai.client.AsyncClient, raw: httpx.AsyncClient
) -> None:
    counted = await client.models.count_tokens(model=FLASH, contents="one two three")
    assert counted.total_tokens == 3
    assert mock.requests[-1].json == {"contents": [{"parts": [{"text": "one two three"}], "role": "user"}]}
    generate = await client.models.generate_content(model=FLASH, contents="one two three")
    assert generate.usage_metadata and generate.usage_metadata.prompt_token_count == 3
    inner = {"model": f"models/{FLASH}", **hello("a b"), "systemInstruction": {"parts": [{"text": "c"}]}}
    response = await post(raw, mock, {"generateContentRequest": inner}, method="countTokens")
    assert response.json() == {
        "totalTokens": 3,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
    }
    assert (await client.models.count_tokens(model=EMBED, contents="x")).total_tokens == 1
    problems = [
        ({"generateContentRequest": hello()}, "generate_content_request.model: unexpected model name format"),
        ({"generateContentRequest": {**inner, "contents": []}}, "contents is not specified"),
        ({**hello(), "generateContentRequest": inner}, "only one of contents and generate_content_request"),
        ({}, "* CountTokensRequest.contents: contents is not specified\n"),
    ]
    for body, message in problems:
        bad = await post(raw, mock, body, method="countTokens")
        assert bad.status_code == 400 and message in bad.json()["error"]["message"], bad.text


async def test_embed_content(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    single = await client.models.embed_content(model=EMBED, contents="hello")
    assert single.embeddings and len(single.embeddings) == 1
    values = single.embeddings[0].values or []
    assert len(values) == 768 and math.isclose(math.fsum(v * v for v in values), 1.0)
    rec = mock.requests[-1]
    assert rec.path.endswith(f"{EMBED}:batchEmbedContents")  # the SDK always batches
    assert rec.json["requests"][0]["model"] == f"models/{EMBED}"
    config = types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=16, title="doc")
    batch = await client.models.embed_content(
        model=EMBED, contents=["hello", "world", "hello"], config=config
    )
    assert batch.embeddings and [len(e.values or []) for e in batch.embeddings] == [16, 16, 16]
    vectors = [e.values for e in batch.embeddings]
    assert vectors[0] == vectors[2] != vectors[1]
    assert all(math.isclose(math.fsum(v * v for v in vec or []), 1.0) for vec in vectors)
    again = await client.models.embed_content(model=EMBED, contents="hello", config=config)
    assert again.embeddings and again.embeddings[0].values == vectors[0]
    other_task = await client.models.embed_content(
        model=EMBED, contents="hello", config=types.EmbedContentConfig(output_dimensionality=16)
    )
    assert other_task.embeddings and other_task.embeddings[0].values != vectors[0]
    with pytest.raises(errors.ClientError) as info:
        await client.models.embed_content(model=FLASH, contents="hello")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert info.value.message and "is not supported for embedContent" in info.value.message
    with pytest.raises(errors.ClientError) as info:
        await client.models.generate_content(model=EMBED, contents="hello")
    assert info.value.code == 404 and info.value.message
    assert "is not supported for generateContent" in info.value.message


async def test_embed_rules(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    single = await post(
        raw, mock, {"content": {"parts": [{"text": "hi"}]}}, model=EMBED, method="embedContent"
    )
    assert single.status_code == 200 and len(single.json()["embedding"]["values"]) == 768

    def item(**extra: Any) -> dict[str, Any]:
        return {"model": f"models/{EMBED}", "content": {"parts": [{"text": "hi"}]}, **extra}

    problems = [
        (
            {"requests": [{"content": {"parts": [{"text": "hi"}]}}]},
            "requests[0].model: unexpected model name format",
        ),
        ({"requests": [item(model="models/other-embedding")]}, "does not match the model of the batch"),
        (
            {"requests": [item(content={"parts": []})]},
            "requests[0].content.parts: contents.parts must not be empty.",
        ),
        ({"requests": [item(outputDimensionality=4096)]}, "output_dimensionality"),
        ({"requests": [item()] * 101}, "at most 100 requests can be in one batch"),
        ({"requests": []}, "requests is not specified"),
        (
            {"requests": [item(taskType="SHOUTING")]},
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType)",
        ),
    ]
    for body, message in problems:
        response = await post(raw, mock, body, model=EMBED, method="batchEmbedContents")
        assert response.status_code == 400 and message in response.json()["error"]["message"], response.text


async def test_models_list_and_get(
    mock: MockGemini, client: genai.client.AsyncClient, raw: httpx.AsyncClient
) -> None:
    names = [m.name async for m in await client.models.list(config={"page_size": 3})]
    assert names == [f"models/{m}" for m in mock.models]
    listed = mock.requests[-2:]
    assert [r.query.get("pageSize") for r in listed] == ["3", "3"] and "pageToken" in listed[1].query
    assert "nextPageToken" in listed[0].response_json and "nextPageToken" not in listed[1].response_json
    model = await client.models.get(model=PRO)
    assert (model.name, model.display_name, model.thinking) == (f"models/{PRO}", "Gemini 2.5 Pro", True)
    assert model.supported_actions and "generateContent" in model.supported_actions
    embedder = await client.models.get(model=EMBED)
    assert embedder.supported_actions and "embedContent" in embedder.supported_actions
    with pytest.raises(errors.ClientError) as info:
        await client.models.get(model="gemini-0-nope")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    headers = {"x-goog-api-key": mock.api_key}
    full = await raw.get(f"{mock.base_url}/v1beta/models", headers=headers)
    assert len(full.json()["models"]) == 4 and "nextPageToken" not in full.json()
    for query, message in (
        ({"pageToken": "bogus"}, "Invalid page token."),
        ({"pageSize": "many"}, "Invalid value at 'page_size' (TYPE_INT32), \"many\""),
        ({"filter": "x"}, 'Unknown name "filter": Cannot bind query parameter.'),
    ):
        bad = await raw.get(f"{mock.base_url}/v1/models", headers=headers, params=query)
        assert bad.status_code == 400 and message in bad.json()["error"]["message"]


# =========================================================================== auth, paths, parsing


async def test_auth(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    missing = await raw.post(url(mock), json=hello())
    assert missing.status_code == 403
    assert missing.json() == {
        "error": {
            "code": 403,
            "message": "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
            "status": "PERMISSION_DENIED",
        }
    }
    wrong = await raw.post(url(mock), headers={"x-goog-api-key": "AIzaWrong"}, json=hello())
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                },
            ],
        }
    }
    assert (await raw.get(f"{mock.base_url}/v1/models", params={"key": "wrong"})).status_code == 400
    assert (await raw.get(f"{mock.base_url}/v1/models/{FLASH}")).status_code == 403
    sdk = genai.Client(api_key="AIzaWrong", http_options=types.HttpOptions(base_url=mock.base_url))
    with pytest.raises(errors.ClientError) as info:
        await sdk.aio.models.generate_content(model=FLASH, contents="hi")
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    await sdk.aio.aclose()
    assert all(r.fault is None for r in mock.requests)


async def test_echo_key_in_errors_leaks_the_key_on_purpose(raw: httpx.AsyncClient) -> None:
    async with MockGemini(echo_key_in_errors=True) as leaky:
        response = await raw.post(url(leaky), headers={"x-goog-api-key": "AIzaLeaked123"}, json=hello())
        assert "AIzaLeaked123" in response.json()["error"]["message"]
        leaky.enqueue(Fault.unavailable())
        failed = await raw.post(url(leaky), params={"key": DEFAULT_API_KEY}, json=hello())
        assert failed.status_code == 503 and DEFAULT_API_KEY in failed.json()["error"]["message"]
        leaky.assert_emitted_valid()


async def test_unknown_paths_get_googles_html_404(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    for method, path in (
        ("POST", f"/v1beta/models/{FLASH}:fooBar"),
        ("GET", f"/v1beta/models/{FLASH}:generateContent"),
        ("POST", "/v1beta/models"),
        ("POST", f"/v1beta/tunedModels/{FLASH}:generateContent"),
        ("POST", f"/v2/models/{FLASH}:generateContent"),
    ):
        response = await raw.request(method, f"{mock.base_url}{path}", json=hello())
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert "Error 404 (Not Found)" in response.text and path in response.text


async def test_invalid_json(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    headers = {"x-goog-api-key": mock.api_key, "content-type": "application/json"}
    response = await raw.post(url(mock), headers=headers, content=b'{"contents": [}')
    error = response.json()["error"]
    assert response.status_code == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Invalid JSON payload received. ")
    assert error["message"].endswith('{"contents": [}\n              ^')
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    root = await raw.post(url(mock), headers=headers, content=b"[]")
    assert root.json()["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "": Root element must be a message.'
    )
    empty = await raw.post(url(mock), headers=headers, content=b"")
    assert (
        empty.json()["error"]["message"] == "* GenerateContentRequest.contents: contents is not specified\n"
    )


def _declaration(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters}]}]}


PARSE_CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("top-level", {**hello(), "foo": 1}, 'Unknown name "foo": Cannot find field.', None),
    (
        "part",
        {"contents": [{"parts": [{"text": "hi", "foo": 1}]}]},
        "Unknown name \"foo\" at 'contents[0].parts[0]': Cannot find field.",
        "contents[0].parts[0]",
    ),
    (
        "additionalProperties",
        {**hello(), **_declaration({"type": "OBJECT", "additionalProperties": False})},
        "Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters': "
        "Cannot find field.",
        "tools[0].function_declarations[0].parameters",
    ),
    (
        "$ref in a property",
        {
            **hello(),
            **_declaration({"type": "object", "properties": {"a": {"type": "string"}, "b": {"$ref": "#/x"}}}),
        },
        "Unknown name \"$ref\" at 'tools[0].function_declarations[0].parameters.properties[1].value'",
        "tools[0].function_declarations[0].parameters.properties[1].value",
    ),
    (
        "const",
        {**hello(), **_declaration({"type": "object", "properties": {"a": {"const": "x"}}})},
        'Unknown name "const"',
        None,
    ),
    (
        "oneOf in items",
        {**hello(), **_declaration({"type": "array", "items": {"oneOf": [{"type": "string"}]}})},
        "Unknown name \"oneOf\" at 'tools[0].function_declarations[0].parameters.items'",
        None,
    ),
    (
        "snake_case unknown",
        {**hello(), **_declaration({"type": "OBJECT", "additional_properties": {}})},
        'Unknown name "additional_properties"',
        None,
    ),
    (
        "wrong scalar",
        {**hello(), "generationConfig": {"temperature": "hot"}},
        "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        "generation_config.temperature",
    ),
    (
        "wrong enum",
        {**hello(), "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
        "Invalid value at 'tool_config.function_calling_config.mode' "
        '(type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "SOMETIMES"',
        None,
    ),
    (
        "list for a singular field",
        {**hello(), "generationConfig": [{"temperature": 1}]},
        'Unknown name "generationConfig": Proto field is not repeating, cannot start list.',
        None,
    ),
    (
        "type as a list",
        {**hello(), **_declaration({"type": ["string", "null"]})},
        "Unknown name \"type\" at 'tools[0].function_declarations[0].parameters': "
        "Proto field is not repeating",
        None,
    ),
    (
        "message given a string",
        {"contents": ["hello"]},
        "Invalid value at 'contents[0]' "
        '(type.googleapis.com/google.ai.generativelanguage.v1beta.Content), "hello"',
        None,
    ),
    (
        "bytes not base64",
        {"contents": [{"parts": [{"text": "hi", "thoughtSignature": "***"}]}]},
        "Invalid value at 'contents[0].parts[0].thought_signature' (TYPE_BYTES), "
        'Base64 decoding failed for "***"',
        None,
    ),
    (
        "struct given a string",
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": "x=1"}}]},
            ]
        },
        "Invalid value at 'contents[1].parts[0].function_call.args' "
        "(type.googleapis.com/google.protobuf.Struct)",
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "message", "violation"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES]
)
async def test_body_is_parsed_like_googles_front_end(
    mock: MockGemini,
    raw: httpx.AsyncClient,
    case: str,
    body: dict[str, Any],
    message: str,
    violation: str | None,
) -> None:
    response = await post(raw, mock, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and message in error["message"], error["message"]
    fields = error["details"][0]["fieldViolations"]
    assert error["message"] == "\n".join(f["description"] for f in fields)
    if violation is not None:
        assert fields[0]["field"] == violation
    assert mock.requests[-1].fault is None


async def test_every_parse_problem_is_reported(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    body = {
        **hello(),
        **_declaration({"type": "OBJECT", "additionalProperties": False, "$schema": "x"}),
        "foo": 1,
    }
    error = (await post(raw, mock, body)).json()["error"]
    assert error["message"].count("Invalid JSON payload received.") == 3
    assert [f.get("field") for f in error["details"][0]["fieldViolations"]] == [
        "tools[0].function_declarations[0].parameters",
        "tools[0].function_declarations[0].parameters",
        None,
    ]


async def test_snake_case_and_lenient_values_are_accepted(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
        "system_instruction": {"parts": [{"text": "be nice"}]},
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "get_weather",
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "days": {"type": "integer", "minimum": 2},
                                "tags": {"type": "array"},
                            },
                            "required": ["days"],
                            "property_ordering": ["days"],
                            "min_properties": "1",
                        },
                    }
                ]
            }
        ],
        "tool_config": {"function_calling_config": {"mode": "AUTO"}},
        "generation_config": {
            "max_output_tokens": "100",
            "thinking_config": {"thinking_level": "HIGH"},
            "seed": None,
        },
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "model": f"models/{FLASH}",
    }
    response = await post(raw, mock, body)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == {"days": 2}


async def test_strict_false_drops_unknown_fields(raw: httpx.AsyncClient) -> None:
    async with MockGemini(strict=False) as lax:
        response = await post(raw, lax, {**hello(), "foo": 1, **_declaration({"type": "OBJECT", "const": 1})})
        assert response.status_code == 200, response.text
        lax.assert_emitted_valid()


def _contents(*contents: dict[str, Any]) -> dict[str, Any]:
    return {"contents": list(contents)}


USER = {"role": "user", "parts": [{"text": "weather?"}]}
CALL = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}
RESULT = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]}

RULE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no contents", {"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
    (
        "empty parts",
        _contents({"role": "user", "parts": []}),
        "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
    ),
    (
        "no data",
        _contents({"parts": [{"thought": True}]}),
        "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must have one "
        "initialized field\n",
    ),
    (
        "two data fields",
        _contents({"parts": [{"text": "a", "functionCall": {"name": "f"}}]}),
        "Cannot set 'functionCall'",
    ),
    (
        "response without name",
        _contents(USER, CALL, {"role": "user", "parts": [{"functionResponse": {"response": {}}}]}),
        "* GenerateContentRequest.contents[2].parts[0].function_response.name: Name cannot be empty.\n",
    ),
    (
        "bad role",
        _contents({"role": "assistant", "parts": [{"text": "hi"}]}),
        "Please use a valid role: user, model.",
    ),
    (
        "system role",
        _contents({"role": "system", "parts": [{"text": "hi"}]}),
        "Please use a valid role: user, model.",
    ),
    (
        "response without a call",
        _contents(USER, RESULT),
        "Please ensure that function response turn comes immediately after a function call turn.",
    ),
    (
        "response count",
        _contents(USER, CALL, {"role": "user", "parts": RESULT["parts"] * 2}),
        "Please ensure that the number of function response parts is equal to the number of function call "
        "parts of the function call turn.",
    ),
    (
        "call first",
        _contents(CALL, RESULT),
        "Please ensure that function call turn comes immediately after a user turn or after a function "
        "response turn.",
    ),
    (
        "invalid function name",
        {**hello(), "tools": [{"functionDeclarations": [{"name": "get weather"}]}]},
        "function_declarations[0].name: Invalid function name.",
    ),
    (
        "both parameter schemas",
        {
            **hello(),
            "tools": [
                {
                    "functionDeclarations": [
                        {"name": "f", "parameters": {"type": "OBJECT"}, "parametersJsonSchema": {}}
                    ]
                }
            ],
        },
        "parameters and parameters_json_schema cannot both be set",
    ),
    (
        "schema without mime type",
        {**hello(), "generationConfig": {"responseJsonSchema": {"type": "object"}}},
        "response_mime_type",
    ),
    (
        "both response schemas",
        {
            **hello(),
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT"},
                "responseJsonSchema": {"type": "object"},
            },
        },
        "response_schema and response_json_schema cannot both be set",
    ),
    (
        "six stop sequences",
        {**hello(), "generationConfig": {"stopSequences": list("abcdef")}},
        "stop_sequences",
    ),
    ("nine candidates", {**hello(), "generationConfig": {"candidateCount": 9}}, "candidate_count"),
    (
        "temperature",
        {**hello(), "generationConfig": {"temperature": 2.5}},
        "temperature must be between 0 and 2",
    ),
    (
        "allowed names with AUTO",
        {**hello(), "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}},
        "allowed_function_names may only be set when mode is ANY or VALIDATED",
    ),
]


@pytest.mark.parametrize(("case", "body", "message"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
async def test_semantic_rules(
    mock: MockGemini, raw: httpx.AsyncClient, case: str, body: dict[str, Any], message: str
) -> None:
    response = await post(raw, mock, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "status"} and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"], error["message"]


async def test_all_starred_problems_are_reported(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    body = _contents({"parts": []}, {"role": "model", "parts": [{}]})
    message = (await post(raw, mock, body)).json()["error"]["message"]
    assert message == (
        "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n"
        "* GenerateContentRequest.contents[1].parts[0].data: required oneof field 'data' must have one "
        "initialized field\n"
    )


async def test_unknown_model(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    with pytest.raises(errors.ClientError) as info:
        await client.models.generate_content(model="gemini-0-nope", contents="hi")
    version = mock.requests[-1].path.split("/")[1]
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")
    assert info.value.message == (
        f"models/gemini-0-nope is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their supported methods."
    )


async def test_sdk_bad_request_error(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    bad = types.FunctionDeclaration(
        name="f", parameters_json_schema={"type": "object"}, parameters=types.Schema(type="OBJECT")
    )
    with pytest.raises(errors.ClientError) as info:
        await client.models.generate_content(model=FLASH, contents="hi", config=tools_config(bad))
    assert info.value.code == 400 and info.value.message and "cannot both be set" in info.value.message


# =========================================================================== faults


async def test_status_faults_in_fifo_order(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    mock.enqueue(
        Fault.rate_limit(retry_delay=7.5),
        Fault.unavailable(),
        Fault.internal(),
        Fault.status(400, message="Bad thing"),
        Fault.status(504),
        Fault.status(403, error_status="PERMISSION_DENIED", message="nope"),
    )
    expected: list[tuple[type[errors.APIError], int, str]] = [
        (errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        (errors.ServerError, 503, "UNAVAILABLE"),
        (errors.ServerError, 500, "INTERNAL"),
        (errors.ClientError, 400, "INVALID_ARGUMENT"),
        (errors.ServerError, 504, "DEADLINE_EXCEEDED"),
        (errors.ClientError, 403, "PERMISSION_DENIED"),
    ]
    caught = []
    for error_class, code, status in expected:
        with pytest.raises(error_class) as info:
            await client.models.generate_content(model=FLASH, contents="hi")
        assert (info.value.code, info.value.status) == (code, status)
        caught.append(info.value)
    details = caught[0].details["error"]["details"]
    assert details[0]["violations"][0]["quotaDimensions"] == {"location": "global", "model": FLASH}
    assert details[-1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7.500s"}
    assert caught[0].message and caught[0].message.endswith(f"model: {FLASH}\nPlease retry in 7.500s.")
    assert caught[1].message == "The model is overloaded. Please try again later."
    assert caught[3].details == {"error": {"code": 400, "message": "Bad thing", "status": "INVALID_ARGUMENT"}}
    assert mock.faults_pending() == 0
    assert (await client.models.generate_content(model=FLASH, contents="hi")).text


async def test_raw_body_fault(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    mock.enqueue(Fault.status(502, body=b"<html>bad gateway</html>", headers={"content-type": "text/html"}))
    response = await post(raw, mock, hello())
    assert (response.status_code, response.text) == (502, "<html>bad gateway</html>")


async def test_faults_must_be_gemini_ones(mock: MockGemini) -> None:
    with pytest.raises(TypeError, match=r"support\.gemini_upstream"):
        mock.enqueue(openai_upstream.Fault.status(500))
    mock.enqueue(openai_upstream.Fault.delay(0.01))  # no error body: protocol-neutral
    with pytest.raises(ValueError, match=r"unknown endpoint 'messages'"):
        mock.enqueue(Fault.stall(), endpoint="messages")
    mock.clear_faults()


async def test_rejected_requests_consume_no_fault(mock: MockGemini, raw: httpx.AsyncClient) -> None:
    mock.enqueue(Fault.internal())
    assert (await post(raw, mock, {"contents": []})).status_code == 400
    assert (await post(raw, mock, hello(), model="gemini-0-nope")).status_code == 404
    assert mock.faults_pending() == 1
    assert (await post(raw, mock, hello())).status_code == 500


async def test_delay_fault_then_answer(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    mock.enqueue(Fault.delay(0.3))
    started = time.monotonic()
    response = await client.models.generate_content(model=FLASH, contents="hi")
    assert time.monotonic() - started >= 0.3 and response.text


async def test_delay_longer_than_client_timeout_is_recorded_as_cancelled(mock: MockGemini) -> None:
    sdk = make_client(mock, timeout_ms=300)
    mock.enqueue(Fault.delay(30))
    with pytest.raises((TimeoutError, aiohttp.ClientError)):
        await sdk.aio.models.generate_content(model=FLASH, contents="hi")
    assert await mock.requests[-1].wait_finished(timeout_s=5) == "cancelled"
    await sdk.aio.aclose()


async def test_stall_fault_and_shutdown_does_not_hang(raw: httpx.AsyncClient) -> None:
    m = MockGemini()
    await m.start()
    m.enqueue(Fault.stall())
    request = asyncio.create_task(post(raw, m, hello()))
    rec = await m.next_request()
    await asyncio.sleep(0.1)
    assert rec.outcome == "pending" and not request.done()
    started = time.monotonic()
    await m.stop()
    assert time.monotonic() - started < 2
    assert await rec.wait_finished() == "shutdown"
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(request, 5)


async def test_disconnect_fault(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    mock.enqueue(Fault.disconnect())
    with pytest.raises(aiohttp.ClientError):
        await client.models.generate_content(model=FLASH, contents="hi")
    assert (mock.requests[-1].outcome, mock.requests[-1].status) == ("aborted", None)


async def test_stream_dies_after_k_chunks(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    mock.enqueue(Fault.die_after(2))
    received: list[Any] = []
    with pytest.raises(aiohttp.ClientError):
        await collect(
            await client.models.generate_content_stream(model=FLASH, contents="hello there"), received
        )
    assert [c.text for c in received] == ["Mock ", "reply "]
    rec = mock.requests[-1]
    assert (rec.outcome, rec.chunks_sent, rec.done_sent) == ("aborted", 2, False)


async def test_stream_error_chunk(
    mock: MockGemini, client: genai.client.AsyncClient, raw: httpx.AsyncClient
) -> None:
    mock.enqueue(Fault.error_after(2))
    received: list[Any] = []
    with pytest.raises(errors.ServerError) as caught:
        await collect(
            await client.models.generate_content_stream(model=FLASH, contents="hello there"), received
        )
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
    assert caught.value.details == {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }
    assert len(received) == 2
    rec = mock.requests[-1]
    assert rec.events[-1] == caught.value.details and (rec.outcome, rec.done_sent) == ("completed", False)
    mock.enqueue(Fault.error_after(1, code=429, message="Resource exhausted"))
    response = await raw.post(
        url(mock, method="streamGenerateContent"),
        params={"alt": "sse"},
        headers={"x-goog-api-key": mock.api_key},
        json=hello(),
    )
    frames = sse_data(response.text)
    assert frames[-1] == {
        "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}
    }


async def test_error_after_on_non_stream_uses_its_code(
    mock: MockGemini, client: genai.client.AsyncClient
) -> None:
    mock.enqueue(Fault.error_after(3), Fault.error_after(1, code=500, message="boom"))
    with pytest.raises(errors.ServerError) as info:
        await client.models.generate_content(model=FLASH, contents="hi")
    assert info.value.code == 503
    with pytest.raises(errors.ServerError, match="boom"):
        await client.models.generate_content(model=FLASH, contents="hi")


async def test_stall_mid_stream_until_client_gives_up(mock: MockGemini) -> None:
    sdk = make_client(mock, timeout_ms=500)
    mock.enqueue(Fault.stall_after(3))
    received: list[Any] = []
    with pytest.raises((TimeoutError, aiohttp.ClientError)):
        await collect(
            await sdk.aio.models.generate_content_stream(model=FLASH, contents="hello there"), received
        )
    assert len(received) == 3
    assert await mock.requests[-1].wait_finished(timeout_s=5) == "cancelled"
    await sdk.aio.aclose()


async def test_client_closing_mid_stream_is_recorded_as_cancelled(raw: httpx.AsyncClient) -> None:
    async with MockGemini(chunk_delay_s=0.05) as m:
        async with raw.stream(
            "POST",
            url(m, method="streamGenerateContent"),
            params={"alt": "sse"},
            headers={"x-goog-api-key": m.api_key},
            json=hello(),
        ) as response:
            async for _ in response.aiter_bytes():
                break
        rec = m.requests[-1]
        assert await rec.wait_finished(timeout_s=5) == "cancelled"
        assert 1 <= rec.chunks_sent < 5 and not rec.done_sent


async def test_fault_queues_per_endpoint(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    mock.enqueue(Fault.internal(), endpoint="models")
    mock.enqueue(Fault.rate_limit(), endpoint="count_tokens")
    mock.enqueue(Fault.unavailable(), endpoint="embed_content")
    await client.models.generate_content(model=FLASH, contents="hi")
    with pytest.raises(errors.ServerError):
        await client.models.get(model=FLASH)
    with pytest.raises(errors.ClientError) as info:
        await client.models.count_tokens(model=FLASH, contents="hi")
    assert info.value.code == 429
    with pytest.raises(errors.ServerError):
        await client.models.embed_content(model=EMBED, contents="hi")
    assert [mock.faults_pending(e) for e in MockGemini.endpoints] == [0, 0, 0, 0]


# =========================================================================== connections, waits, checker


async def test_open_connections_are_tracked(mock: MockGemini) -> None:
    assert mock.open_connections == 0
    sdk = make_client(mock)
    await sdk.aio.models.generate_content(model=FLASH, contents="hi")
    await sdk.aio.models.generate_content(model=FLASH, contents="hi")
    assert mock.open_connections == 1
    await sdk.aio.aclose()
    await mock.wait_open_connections(0, timeout_s=5)


async def test_waiting_helpers_and_reset(mock: MockGemini, client: genai.client.AsyncClient) -> None:
    with pytest.raises(AssertionError, match="no request reached the mock"):
        await mock.next_request(timeout_s=0.05)
    task = asyncio.create_task(client.models.generate_content(model=FLASH, contents="hi"))
    assert len(await mock.wait_for_requests(1)) == 1
    await task
    mock.enqueue(Fault.internal())
    mock.reset()
    assert mock.requests == [] and mock.faults_pending() == 0


def test_stream_checker_catches_protocol_mistakes() -> None:
    def chunk(text: str, finish: str | None = None, **extra: Any) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        usage = {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3}
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": FLASH,
            "responseId": "r",
            **extra,
        }

    good = [chunk("a "), chunk("b", "STOP")]
    validate_stream(good, complete=True)
    assert rebuild_stream(good)["candidates"][0]["content"]["parts"] == [{"text": "a b"}]
    validate_stream(
        [chunk("a "), {"error": {"code": 503, "message": "x", "status": "UNAVAILABLE"}}], complete=False
    )
    bad_streams: list[tuple[list[dict[str, Any]], bool]] = [
        ([chunk("a ")], True),  # never finished
        ([chunk("a ", "STOP"), chunk("b")], False),  # after finishReason
        ([chunk("a "), chunk("b", "STOP", responseId="other")], False),  # id changed
        ([chunk("a ", "DONE")], False),  # not a finish reason
        ([chunk("a ", extra_field=1)], False),  # undeclared field
        ([{"error": {"code": 503, "message": "x", "status": "UNAVAILABLE"}}, chunk("a ", "STOP")], False),
        ([chunk("a "), {"error": {"code": 503, "message": "x", "status": "BUSY"}}], False),
    ]
    for chunks, complete in bad_streams:
        with pytest.raises(AssertionError):
            validate_stream(chunks, complete=complete)


def test_proto_types_cover_what_the_sdk_sends() -> None:
    fields = gemini_upstream.proto_schema().fields
    assert fields["ThinkingConfig"]["thinking_level"].type.kind == "enum"
    assert fields["Part"]["thoughtSignature"].type.kind == "bytes"
    assert fields["Schema"]["properties"].type.kind == "map"
    assert fields["FunctionCall"]["args"].type.kind == "struct"
    assert fields["FunctionDeclaration"]["parameters_json_schema"].type.kind == "value"
    assert "additionalProperties" not in fields["Schema"]
