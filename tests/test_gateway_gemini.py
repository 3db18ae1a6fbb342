"""Gemini both ways, end to end: google-genai on Gemini, OpenAI, Claude and echo groups (every base
URL form of CONTRACT §4), and the openai SDK on a Gemini group, against strict mock upstreams."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from support.gemini_upstream import Fault as GeminiFault
from support.schemas import validate
from support.stack import KEYS, Stack

NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
OPENAI_WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"$ref": "#/$defs/unit"}},
            "required": ["city"],
            "additionalProperties": False,
            "$defs": {"unit": {"type": "string", "enum": ["c", "f"]}},
        },
    },
}


def gemini_client(
    stack: Stack, group: str = "gemini", *, suffix: str = "", version: str | None = None
) -> genai.Client:
    options = types.HttpOptions(base_url=f"{stack.gateway.base_url}{suffix}", api_version=version)
    return genai.Client(api_key=KEYS[group], http_options=options)


# ---------------------------------------------------------------------------- google-genai on Gemini


@pytest.mark.parametrize(
    ("suffix", "version"),
    [("", None), ("", "v1beta"), ("/api", "v1"), ("/v1beta", None), ("/v1beta", "v1beta")],
)
async def test_every_base_url_form_works(fresh: Stack, suffix: str, version: str | None) -> None:
    client = gemini_client(fresh, suffix=suffix, version=version)
    reply = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Hello")
    assert reply.text == "Mock reply to: Hello"


async def test_passthrough_keeps_the_body(fresh: Stack) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"temperature": 0.3},
    }
    raw = json.dumps(body, indent=1).encode()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
            content=raw,
            headers={"x-goog-api-key": KEYS["gemini"], "content-type": "application/json"},
        )
    assert response.status_code == 200, response.text
    sent = fresh.gemini.requests[-1]
    assert sent.body == raw and sent.headers["x-goog-api-key"] == fresh.gemini.api_key
    validate("gemini", "GenerateContentResponse", response.json())


async def test_stream_and_tools_with_thought_signatures(fresh: Stack) -> None:
    client = gemini_client(fresh)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AFC
    )
    contents: list[Any] = [
        types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")])
    ]
    chunks = [
        c
        async for c in await client.aio.models.generate_content_stream(
            model="gemini-3-pro-preview", contents=contents, config=config
        )
    ]
    calls = [
        part
        for c in chunks
        for cand in c.candidates or []
        for part in (cand.content.parts if cand.content else []) or []
        if part.function_call
    ]
    assert calls and calls[0].function_call is not None and calls[0].function_call.name == "get_weather"
    assert calls[0].thought_signature  # untouched in passthrough
    contents += [
        types.Content(role="model", parts=calls),
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"output": "sunny"})],
        ),
    ]
    second = await client.aio.models.generate_content(
        model="gemini-3-pro-preview", contents=contents, config=config
    )
    assert second.text and "sunny" in second.text


async def test_count_tokens_and_models(fresh: Stack) -> None:
    client = gemini_client(fresh)
    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="one two three")
    assert counted.total_tokens and counted.total_tokens > 0
    models = [m.name async for m in await client.aio.models.list()]
    assert "models/gemini-2.5-flash" in models
    model = await client.aio.models.get(model="gemini-2.5-pro")
    assert model.name == "models/gemini-2.5-pro"


async def test_embeddings_pass_through_to_gemini(fresh: Stack) -> None:
    client = gemini_client(fresh)
    result = await client.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=["one", "two"],
        config=types.EmbedContentConfig(output_dimensionality=8),
    )
    assert result.embeddings and len(result.embeddings) == 2 and len(result.embeddings[0].values or []) == 8


async def test_errors_are_gemini_shaped(fresh: Stack) -> None:
    client = gemini_client(fresh)
    with pytest.raises(genai_errors.ClientError) as missing:
        await client.aio.models.generate_content(model="no-such-model", contents="x")
    assert missing.value.code == 404
    bad_key = genai.Client(api_key="nope", http_options=types.HttpOptions(base_url=fresh.gateway.base_url))
    with pytest.raises(genai_errors.ClientError) as unauthenticated:
        await bad_key.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert unauthenticated.value.code == 401


# ---------------------------------------------------------------------------- openai SDK on Gemini


async def test_openai_sdk_on_a_gemini_group(fresh: Stack) -> None:
    client = fresh.client("gemini")
    reply = await client.chat.completions.create(
        model="gpt-5-mini",  # the built-in map: gemini-2.5-flash
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        max_completion_tokens=300,
        stop=["END"],
    )
    sent = fresh.gemini.requests[-1]
    assert "gemini-2.5-flash" in sent.path
    assert sent.json["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert sent.json["generationConfig"]["stopSequences"] == ["END"]
    assert reply.choices[0].message.content == "Mock reply to: Hello"
    assert reply.choices[0].finish_reason == "stop"
    validate("openai", "CreateChatCompletionResponse", reply.model_dump(exclude_unset=True))


async def test_openai_tools_on_gemini_multi_turn_streamed(fresh: Stack) -> None:
    client = fresh.client("gemini")
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    async with client.chat.completions.stream(
        model="gemini-3-pro-preview", messages=messages, tools=[OPENAI_WEATHER_TOOL]
    ) as stream:
        first = await stream.get_final_completion()
    sent_tools = fresh.gemini.requests[-1].json["tools"][0]["functionDeclarations"][0]
    assert (
        "parametersJsonSchema" in sent_tools and "parameters" not in sent_tools
    )  # $ref kept, not cleaned away
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id and json.loads(call.function.arguments)["city"] == "mock"
    messages += [
        {
            "role": "assistant",
            "tool_calls": [call.model_dump(exclude_none=True, exclude={"parsed_arguments"})],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = await client.chat.completions.create(
        model="gemini-3-pro-preview", messages=messages, tools=[OPENAI_WEATHER_TOOL]
    )
    assert second.choices[0].message.content and "sunny" in second.choices[0].message.content
    history = fresh.gemini.requests[-1].json["contents"]
    assert history[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert history[1]["parts"][0].get("thoughtSignature")  # put back by the router
    assert history[2]["parts"][0]["functionResponse"]["name"] == "get_weather"  # name recovered


# ---------------------------------------------------------------------------- google-genai elsewhere


@pytest.mark.parametrize(
    ("group", "model"), [("openai", "gpt-4o-mini"), ("claude", "claude-haiku-4-5"), ("demo", "x")]
)
async def test_google_genai_on_other_groups(fresh: Stack, group: str, model: str) -> None:
    client = gemini_client(fresh, group)
    reply = await client.aio.models.generate_content(model=model, contents="Hello")
    expected = "Hello" if group == "demo" else "Mock reply to: Hello"
    assert reply.text == expected
    chunks = [
        c async for c in await client.aio.models.generate_content_stream(model=model, contents="Hello again")
    ]
    assert "".join(c.text or "" for c in chunks).endswith("Hello again")
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


async def test_google_genai_tools_on_claude(fresh: Stack) -> None:
    client = gemini_client(fresh, "claude")
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AFC
    )
    reply = await client.aio.models.generate_content(
        model="claude-haiku-4-5", contents="What is the weather in Paris?", config=config
    )
    assert reply.function_calls and reply.function_calls[0].name == "get_weather"
    assert reply.function_calls[0].args == {"city": "mock"}


async def test_thinking_suffix_turns_on_thinking_config(fresh: Stack) -> None:
    client = gemini_client(fresh)
    reply = await client.aio.models.generate_content(model="gemini-2.5-pro-thinking", contents="Think")
    sent = fresh.gemini.requests[-1]
    assert "models/gemini-2.5-pro:generateContent" in sent.path
    config = sent.json["generationConfig"]["thinkingConfig"]
    assert config["includeThoughts"] is True and config["thinkingBudget"] > 0
    assert reply.usage_metadata is not None and reply.usage_metadata.thoughts_token_count
    openai_reply = await fresh.client("gemini").chat.completions.create(
        model="gemini-2.5-pro-thinking", messages=[{"role": "user", "content": "Think"}]
    )
    usage = openai_reply.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens


# ---------------------------------------------------------------------------- the JSON-array stream

STREAM_BODY = {"contents": [{"role": "user", "parts": [{"text": "count to three"}]}]}


async def _stream_raw(
    stack: Stack, group: str, model: str, query: str = ""
) -> tuple[httpx.Response, list[bytes]]:
    url = f"{stack.gateway.base_url}/v1beta/models/{model}:streamGenerateContent{query}"
    pieces: list[bytes] = []
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("POST", url, json=STREAM_BODY, headers={"x-goog-api-key": KEYS[group]}) as response,
    ):
        async for piece in response.aiter_raw():
            pieces.append(piece)
    return response, pieces


def _text_of(chunks: list[Any]) -> str:
    return "".join(
        part.get("text", "")
        for chunk in chunks
        for candidate in chunk.get("candidates", [])
        for part in candidate.get("content", {}).get("parts", [])
    )


@pytest.mark.parametrize(("group", "model"), [("gemini", "gemini-2.5-flash"), ("openai", "gpt-4o-mini")])
async def test_without_alt_sse_the_stream_is_a_json_array_as_it_comes(
    fresh: Stack, group: str, model: str
) -> None:
    """What the Gemini API sends when ``alt`` is absent: one JSON array, streamed element by element
    (passthrough on a Gemini group, translated elsewhere); the upstream is always asked for SSE."""
    fresh.gemini.chunk_delay_s = fresh.upstream.chunk_delay_s = 0.05
    try:
        response, pieces = await _stream_raw(fresh, group, model)
    finally:
        fresh.gemini.chunk_delay_s = fresh.upstream.chunk_delay_s = 0.0
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    chunks = json.loads(b"".join(pieces))
    assert isinstance(chunks, list) and len(chunks) > 2
    assert len(pieces) >= 2  # written as they came, not gathered first (one piece per chunk, but
    # a busy reader may take two at once)
    assert _text_of(chunks) == "Mock reply to: count to three"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    if group == "gemini":
        assert fresh.gemini.requests[-1].query.get("alt") == "sse"
    as_sse, _ = await _stream_raw(fresh, group, model, "?alt=sse")
    assert as_sse.headers["content-type"].startswith("text/event-stream")


async def test_a_json_array_stream_cut_short_ends_with_an_error_element(fresh: Stack) -> None:
    fresh.gemini.enqueue(GeminiFault.die_after(2))
    response, pieces = await _stream_raw(fresh, "gemini", "gemini-2.5-flash")
    chunks = json.loads(b"".join(pieces))  # still one well-formed array
    assert response.status_code == 200 and len(chunks) == 3
    error = chunks[-1]["error"]
    assert (error["code"], error["status"]) == (502, "UNAVAILABLE") and "broke the stream" in error["message"]


async def test_a_translated_request_is_fitted_to_the_gemini_model(fresh: Stack) -> None:
    """Claude Code's thinking budget (31999) is over Gemini 2.5 Flash's 24576, an ask of 100000
    tokens over its 65536: a translated request is fitted; a Gemini caller's own is not."""
    claude_style = fresh.anthropic("gemini")
    async with claude_style.messages.stream(
        model="gemini-2.5-flash",
        max_tokens=100_000,
        thinking={"type": "enabled", "budget_tokens": 31_999},
        messages=[{"role": "user", "content": "think"}],
    ) as events:
        await events.get_final_message()
    config = fresh.gemini.requests[-1].json["generationConfig"]
    assert config["thinkingConfig"]["thinkingBudget"] == 24_576 and config["maxOutputTokens"] == 65_536
    own = gemini_client(fresh)
    with pytest.raises(genai_errors.ClientError, match="thinking budget"):
        await own.aio.models.generate_content(
            model="gemini-2.5-flash",
            contents="think",
            config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=31_999)),
        )
