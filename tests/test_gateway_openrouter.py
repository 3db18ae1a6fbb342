"""OpenRouter end to end: the official openai and anthropic SDKs → gateway → the openrouter plugin
→ an OpenRouter-flavoured mock (full model ids, ``: OPENROUTER PROCESSING`` comments, ``usage.cost``,
OpenRouter's request fields and its errors inside 200 answers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai
from google.genai import types as genai_types

from support.openai_upstream import OPENROUTER_COMMENT, Fault, MockOpenAI
from support.openrouter_reasoning import signature_of
from support.schemas import validate
from support.stack import KEYS, OPENROUTER_ATTRIBUTION, Stack
from torouter.plugins.openrouter.errors import body_error, error_message, error_status, watch_stream
from torouter.router.errors import ErrorCode, GatewayError

MODEL = "anthropic/claude-sonnet-4.5"
MESSAGES = [{"role": "user", "content": "Say hello"}]
OPENROUTER_FIELDS: dict[str, Any] = {
    "models": [MODEL, "openai/gpt-4o-mini"],
    "provider": {"order": ["Anthropic", "Amazon Bedrock"], "allow_fallbacks": False, "sort": "price"},
    "transforms": ["middle-out"],
    "plugins": [{"id": "web", "max_results": 3}],
    "reasoning": {"effort": "low", "exclude": False},
    "usage": {"include": True},
}


async def post(stack: Stack, body: bytes | dict[str, Any], group: str = "openrouter") -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{stack.gateway.base_url}/v1/chat/completions",
            content=raw,
            headers={"authorization": f"Bearer {KEYS[group]}", "content-type": "application/json"},
        )


async def stream_raw(stack: Stack, body: dict[str, Any]) -> bytes:
    received: list[bytes] = []
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{stack.gateway.base_url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEYS['openrouter']}"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["x-torouter-upstream"] == "orouter"
        async for piece in response.aiter_raw():
            received.append(piece)
    return b"".join(received)


def data_events(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]


async def consume(stream: Any, into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


# ---------------------------------------------------------------------------- passthrough


async def test_stream_passthrough_is_byte_exact_with_comments_and_cost(fresh: Stack) -> None:
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, **OPENROUTER_FIELDS}
    received = await stream_raw(fresh, body)
    upstream = fresh.openrouter.requests[-1]
    assert upstream.done_sent and upstream.outcome == "completed"
    assert received == fresh.openrouter.stream_bytes(upstream)  # comments and all, untouched
    assert received.startswith(OPENROUTER_COMMENT) and received.count(OPENROUTER_COMMENT) > 2
    usage = json.loads(data_events(received)[-2])["usage"]  # the last chunk before [DONE]
    assert usage["cost"] > 0 and usage["is_byok"] is False
    fresh.openrouter.assert_emitted_valid()


async def test_openrouter_request_fields_reach_the_upstream_untouched(fresh: Stack) -> None:
    body = {"model": MODEL, "messages": MESSAGES, **OPENROUTER_FIELDS}
    raw = json.dumps(body, indent=2).encode()
    response = await post(fresh, raw)
    assert response.status_code == 200, response.text
    upstream = fresh.openrouter.requests[-1]
    assert upstream.body == raw  # the caller's bytes, OpenRouter's fields included
    assert response.content == orjson.dumps(upstream.response_json)  # the answer's bytes too
    assert response.json()["usage"]["cost"] == upstream.response_json["usage"]["cost"] > 0
    assert response.json()["provider"] == "Anthropic"


async def test_models_fallback_array_is_honoured_upstream(fresh: Stack) -> None:
    # OpenRouter picks the first of `models` it can serve; the gateway only resolves `model`.
    served = list(fresh.openrouter.models)
    fresh.openrouter.models.remove(MODEL)
    try:
        reply = await fresh.client("openrouter").chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_body={"models": [MODEL, "openai/gpt-4o-mini"]}
        )
    finally:
        fresh.openrouter.models[:] = served
    assert reply.model == "openai/gpt-4o-mini"
    assert fresh.openrouter.requests[-1].json["models"] == [MODEL, "openai/gpt-4o-mini"]


async def test_attribution_headers_and_the_gateways_key_are_sent(fresh: Stack) -> None:
    await fresh.client("openrouter").chat.completions.create(model=MODEL, messages=MESSAGES)
    upstream = fresh.openrouter.requests[-1]
    assert fresh.openrouter.attribution(upstream) == OPENROUTER_ATTRIBUTION
    assert upstream.headers["authorization"] == f"Bearer {fresh.openrouter.api_key}"


async def test_openai_sdk_streams_through_the_comments_and_keeps_the_cost(fresh: Stack) -> None:
    stream = await fresh.client("openrouter").chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_body={"provider": {"sort": "latency"}}
    )
    chunks: list[Any] = []
    await consume(stream, chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: Say hello"
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens > 0
    assert usage.model_extra is not None and usage.model_extra["cost"] > 0


async def test_openai_sdk_non_stream(fresh: Stack) -> None:
    reply = await fresh.client("openrouter").chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content == "Mock reply to: Say hello"
    assert reply.model == MODEL and reply.id.startswith("gen-")
    assert reply.usage is not None and reply.usage.model_extra is not None
    assert reply.usage.model_extra["cost"] > 0 and reply.usage.model_extra["is_byok"] is False


# ---------------------------------------------------------------------------- translation


async def test_anthropic_sdk_streams_from_openrouter_through_the_comments(fresh: Stack) -> None:
    client = fresh.anthropic("openrouter")
    async with client.messages.stream(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Mock reply to: Say hello"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    upstream = fresh.openrouter.requests[-1]
    assert upstream.json["model"] == MODEL and upstream.json["stream"] is True
    assert OPENROUTER_COMMENT in fresh.openrouter.stream_bytes(upstream)  # what the gateway parsed
    fresh.openrouter.assert_emitted_valid()


async def test_anthropic_sdk_non_stream_from_openrouter(fresh: Stack) -> None:
    message = await fresh.anthropic("openrouter").messages.create(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]
    )
    thinking, text = message.content  # the mock's Claude reasons unasked: its reasoning comes along
    assert thinking.type == "thinking" and thinking.signature == signature_of(thinking.thinking)
    assert text.type == "text" and text.text == "Mock reply to: Say hello"
    assert message.usage.input_tokens > 0


async def test_google_genai_on_openrouter_with_a_full_id(fresh: Stack) -> None:
    options = genai_types.HttpOptions(base_url=fresh.gateway.base_url)
    client = genai.Client(api_key=KEYS["openrouter"], http_options=options)
    reply = await client.aio.models.generate_content(model=MODEL, contents="Hello")
    assert reply.text == "Mock reply to: Hello"
    assert fresh.openrouter.requests[-1].json["model"] == MODEL
    chunks = [c async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="Hi")]
    assert "".join(c.text or "" for c in chunks) == "Mock reply to: Hi"
    assert OPENROUTER_COMMENT in fresh.openrouter.stream_bytes(fresh.openrouter.requests[-1])


async def test_thinking_budget_becomes_openrouters_reasoning_max_tokens(fresh: Stack) -> None:
    # OpenRouter takes a budget as `reasoning.max_tokens` (Claude's and Gemini's thinking models).
    message = await fresh.anthropic("openrouter").messages.create(
        model=MODEL,
        max_tokens=20000,
        thinking={"type": "enabled", "budget_tokens": 10000},
        messages=[{"role": "user", "content": "Think"}],
    )
    sent = fresh.openrouter.requests[-1].json
    assert sent["reasoning"] == {"max_tokens": 10000} and "reasoning_effort" not in sent
    assert message.content[-1].type == "text"
    await fresh.anthropic("openrouter").messages.create(  # an effort stays one (Claude's own "effort")
        model=MODEL,
        max_tokens=2000,
        thinking={"type": "adaptive"},
        output_config={"effort": "low"},
        messages=[{"role": "user", "content": "Think a little"}],
    )
    assert fresh.openrouter.requests[-1].json.get("reasoning_effort") == "low"


async def test_thinking_suffix_on_a_full_id_keeps_the_cost(fresh: Stack) -> None:
    reply = await fresh.client("openrouter").chat.completions.create(
        model=f"{MODEL}-thinking", messages=MESSAGES, extra_body={"transforms": ["middle-out"]}
    )
    sent = fresh.openrouter.requests[-1].json
    assert sent["model"] == MODEL and sent["reasoning_effort"] == "high"
    assert sent["transforms"] == ["middle-out"]  # OpenAI on both sides: unknown fields kept
    usage = reply.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 16
    assert usage.model_extra is not None and usage.model_extra["cost"] > 0


async def test_thinking_suffix_streamed_keeps_the_cost(fresh: Stack) -> None:
    stream = await fresh.client("openrouter").chat.completions.create(
        model=f"{MODEL}-thinking", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks: list[Any] = []
    await consume(stream, chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: Say hello"
    usage = chunks[-1].usage
    assert usage is not None and usage.model_extra is not None and usage.model_extra["cost"] > 0


# ---------------------------------------------------------------------------- errors inside 200 answers


@pytest.mark.parametrize("code", [502, "server_error"])
async def test_in_stream_error_is_one_terminal_openai_error(fresh: Stack, code: int | str) -> None:
    fresh.openrouter.enqueue(Fault.error_after(3, message="Provider disconnected unexpectedly", code=code))
    received = await stream_raw(fresh, {"model": MODEL, "messages": MESSAGES, "stream": True})
    upstream = fresh.openrouter.requests[-1]
    assert upstream.response_chunks[-1]["choices"][0]["finish_reason"] == "error"  # OpenRouter's shape
    events = data_events(received)
    assert len(events) == 4 and "[DONE]" not in events  # three chunks, then exactly one error
    error = json.loads(events[-1])
    assert set(error) == {"error"}
    validate("openai", "Error", error["error"])
    assert "Provider disconnected unexpectedly" in error["error"]["message"]
    assert error["error"]["code"] == "upstream_error"
    assert received.endswith(b"\n\n")
    fresh.openrouter.assert_emitted_valid()


async def test_in_stream_error_raises_in_the_openai_sdk(fresh: Stack) -> None:
    fresh.openrouter.enqueue(Fault.error_after(3, message="Provider disconnected unexpectedly"))
    stream = await fresh.client("openrouter").chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError) as info:
        await consume(stream, received)
    assert len(received) == 3
    assert "Provider disconnected unexpectedly" in info.value.message


async def test_in_stream_error_raises_in_the_anthropic_sdk(fresh: Stack) -> None:
    fresh.openrouter.enqueue(Fault.error_after(3, message="Provider disconnected unexpectedly"))
    client = fresh.anthropic("openrouter")
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "one two three four"}]
        ) as stream:
            await stream.get_final_message()
    assert "Provider disconnected unexpectedly" in str(info.value)


async def test_error_in_a_200_body_is_an_upstream_failure(fresh: Stack) -> None:
    fresh.openrouter.enqueue(Fault.error_after(0, message="Provider returned error"))
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client("openrouter").chat.completions.create(model=MODEL, messages=MESSAGES)
    assert info.value.status_code == 502
    upstream = fresh.openrouter.requests[-1]
    assert upstream.status == 200 and upstream.response_json["error"]["code"] == 502
    fresh.openrouter.enqueue(Fault.error_after(0, message="Provider returned error"))
    with pytest.raises(anthropic.APIStatusError) as failed:
        await fresh.anthropic("openrouter").messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert failed.value.status_code == 502


async def test_openrouter_http_errors_keep_their_message(fresh: Stack) -> None:
    served = list(fresh.openrouter.models)
    fresh.openrouter.models.remove("google/gemini-2.5-flash")  # configured, but gone upstream
    try:
        with pytest.raises(openai.BadRequestError, match="is not a valid model ID"):
            await fresh.client("openrouter").chat.completions.create(
                model="google/gemini-2.5-flash", messages=MESSAGES
            )
    finally:
        fresh.openrouter.models[:] = served
    fresh.openrouter.enqueue(Fault.rate_limit(retry_after=1))
    with pytest.raises(openai.RateLimitError):
        await fresh.client("openrouter").chat.completions.create(model=MODEL, messages=MESSAGES)


# ---------------------------------------------------------------------------- models


async def test_models_lists_openrouters_full_ids(fresh: Stack) -> None:
    client = fresh.client("openrouter")
    listed = [m async for m in client.models.list()]
    assert [m.id for m in listed] == list(fresh.openrouter.models)
    assert {m.owned_by for m in listed} == {"openrouter"}
    raw = await client.models.with_raw_response.list()
    validate("openai", "ListModelsResponse", raw.http_response.json())
    model = await client.models.retrieve(MODEL)
    assert model.id == MODEL and model.owned_by == "openrouter"
    anthropic_ids = [m.id async for m in fresh.anthropic("openrouter").models.list()]
    assert anthropic_ids == list(fresh.openrouter.models)


@pytest.mark.parametrize(
    "requested", [MODEL, f"openrouter/{MODEL}", f"orouter/{MODEL}", "openai/gpt-4o-mini"]
)
async def test_model_resolution_by_full_id_and_provider_prefix(fresh: Stack, requested: str) -> None:
    reply = await fresh.client("openrouter").chat.completions.create(model=requested, messages=MESSAGES)
    expected = requested.removeprefix("openrouter/").removeprefix("orouter/")
    assert fresh.openrouter.requests[-1].json["model"] == expected == reply.model


async def test_openrouter_ids_belong_to_the_openrouter_group_only(fresh: Stack) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        await fresh.client("openai").chat.completions.create(model=MODEL, messages=MESSAGES)


# ---------------------------------------------------------------------------- the stream watch, unit


async def _pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _watched(*chunks: bytes) -> tuple[bytes, GatewayError | None]:
    out: list[bytes] = []
    try:
        async for piece in watch_stream(_pieces(*chunks), _failure):
            out.append(piece)
    except GatewayError as failure:
        return b"".join(out), failure
    return b"".join(out), None


def _failure(error: object) -> GatewayError:
    return GatewayError(ErrorCode.UPSTREAM_ERROR, str(error_message(error)), status=error_status(error))


CHUNK = b'data: {"id":"gen-1","choices":[{"index":0,"delta":{"content":"error"},"finish_reason":null}]}\n\n'
ERROR_EVENT = (
    b'data: {"id":"gen-1","object":"chat.completion.chunk","error":{"code":429,"message":"slow down"},'
    b'"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n'
)


async def test_watch_passes_a_clean_stream_through_unchanged() -> None:
    stream = OPENROUTER_COMMENT + CHUNK + OPENROUTER_COMMENT + CHUNK + b"data: [DONE]\n\n"
    for size in (1, 7, len(stream)):
        pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert await _watched(*pieces) == (stream, None)  # "error" as a word is no error


async def test_watch_stops_at_an_error_event_split_across_reads() -> None:
    stream = OPENROUTER_COMMENT + CHUNK + ERROR_EVENT
    for size in (1, 5, 64, len(stream)):
        pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
        relayed, failure = await _watched(*pieces)
        assert relayed == OPENROUTER_COMMENT + CHUNK
        assert failure is not None and failure.message == "slow down" and failure.status == 429


async def test_watch_reads_crlf_events_and_a_last_event_without_its_blank_line() -> None:
    crlf = CHUNK.replace(b"\n\n", b"\r\n\r\n")
    relayed, failure = await _watched(crlf + ERROR_EVENT.replace(b"\n\n", b"\r\n\r\n"))
    assert relayed == crlf and failure is not None
    relayed, failure = await _watched(CHUNK, b'data: {"error": "gone"}')
    assert relayed == CHUNK and failure is not None and failure.message == "gone"
    assert failure.status == 502
    assert await _watched(CHUNK, b"data: [DONE]") == (CHUNK + b"data: [DONE]", None)


async def test_watch_closes_the_upstream_stream_when_closed_early() -> None:
    closed = False

    async def upstream() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            while True:
                yield CHUNK
        finally:
            closed = True

    watched = watch_stream(upstream(), _failure)
    assert await anext(watched) == CHUNK
    await watched.aclose()
    assert closed


def test_body_error_only_for_a_top_level_error() -> None:
    assert body_error(b'{"error":{"code":502,"message":"x"}}') == {"code": 502, "message": "x"}
    assert body_error(b'{"choices":[{"message":{"content":"error"}}],"finish_reason":"error"}') is None
    assert body_error(b'not json "error"') is None
    assert error_status({"code": "server_error"}) == 502 and error_status({"code": 404}) == 404
    assert error_status({"code": True}) == 502


# ---------------------------------------------------------------------------- the mock's flavour


async def test_mock_flavour_checks_openrouters_fields_and_answers_in_its_shapes() -> None:
    async with MockOpenAI(flavour="openrouter") as mock:
        client = openai.AsyncOpenAI(base_url=mock.base_url, api_key=mock.api_key, max_retries=0, timeout=10)
        with pytest.raises(openai.BadRequestError, match="'provider'"):
            await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, extra_body={"provider": "Anthropic"}
            )
        with pytest.raises(openai.BadRequestError, match="Unknown parameter"):  # still closed-world
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_body={"typo": 1})
        assert mock.requests[-1].response_json == {
            "error": {"code": 400, "message": "Unknown parameter: 'typo'."}
        }
        reply = await client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            extra_body={"reasoning": {"effort": "none"}},
        )
        assert reply.usage is not None and reply.usage.completion_tokens_details is not None
        assert reply.usage.completion_tokens_details.reasoning_tokens == 0
        listed = await client.models.with_raw_response.list()
        assert [m["id"] for m in listed.http_response.json()["data"]] == list(mock.models)
        mock.assert_emitted_valid()


# ---------------------------------------------------------------------------- Claude's reasoning

CLAUDE_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def _claude_tool_turns(fresh: Stack, *, stream: bool) -> None:
    """An Anthropic caller (Claude Code, say) on Claude through OpenRouter: the signed thinking
    comes back as a thinking block and goes back as OpenRouter's reasoning_details, which the mock
    requires to continue the tool-use turn (as Anthropic does behind OpenRouter)."""
    client = fresh.anthropic("openrouter")
    ask: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [CLAUDE_TOOL],
    }
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    if stream:
        async with client.messages.stream(messages=messages, **ask) as events:
            first = await events.get_final_message()
    else:
        first = await client.messages.create(messages=messages, **ask)
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature == signature_of(thinking.thinking)
    tool_use = next(block for block in first.content if block.type == "tool_use")
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}],
        },
    ]
    second = await client.messages.create(messages=messages, **ask)
    assert second.content[-1].type == "text"
    sent = fresh.openrouter.requests[-1].json["messages"][1]
    assert sent["reasoning_details"][0]["signature"] == thinking.signature
    assert sent["reasoning_details"][0]["format"] == "anthropic-claude-v1"
    fresh.openrouter.assert_emitted_valid()


async def test_claude_thinking_through_openrouter_goes_back_on_the_tool_turn(fresh: Stack) -> None:
    await _claude_tool_turns(fresh, stream=False)


async def test_claude_thinking_streamed_through_openrouter_goes_back_too(fresh: Stack) -> None:
    await _claude_tool_turns(fresh, stream=True)


async def test_a_gemini_caller_on_claude_through_openrouter_gets_it_back_from_the_memo(fresh: Stack) -> None:
    """Gemini's wire has no place for Claude's signature: the router's memo puts it back."""
    client = genai.Client(
        api_key=KEYS["openrouter"], http_options=genai_types.HttpOptions(base_url=fresh.gateway.base_url)
    )
    tool = genai_types.Tool(
        function_declarations=[
            genai_types.FunctionDeclaration(
                name="get_weather",
                description="The weather in a city.",
                parameters_json_schema=CLAUDE_TOOL["input_schema"],
            )
        ]
    )
    config = genai_types.GenerateContentConfig(tools=[tool])
    question = genai_types.Content(role="user", parts=[genai_types.Part(text="Weather in Oslo?")])
    first = await client.aio.models.generate_content(model=MODEL, contents=[question], config=config)
    assert first.candidates and first.candidates[0].content and first.function_calls
    call = first.function_calls[0]
    answer = genai_types.Part.from_function_response(name=call.name or "", response={"output": "3°C"})
    history = [question, first.candidates[0].content, genai_types.Content(role="user", parts=[answer])]
    second = await client.aio.models.generate_content(model=MODEL, contents=history, config=config)
    assert second.text
    sent = fresh.openrouter.requests[-1].json["messages"][1]
    assert sent["reasoning_details"][0]["signature"] == signature_of(sent["reasoning_details"][0]["text"])
