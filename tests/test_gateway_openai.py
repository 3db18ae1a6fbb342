"""The spine end to end: the official OpenAI SDK → edge → gRPC → router → openai plugin → a strict
mock OpenAI upstream on loopback, and back."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import openai
import orjson
import pytest

from support.openai_upstream import Fault
from support.schemas import validate
from support.stack import KEYS, Stack
from torouter.router.logs import JSONFormatter

MESSAGES = [{"role": "user", "content": "Say hello"}]


def raw_stream(chunks: list[dict[str, object]], done: bool = True) -> bytes:
    """The bytes the mock wrote for a stream."""
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n" if done else b""
    )


async def consume(stream: openai.AsyncStream[object], into: list[object]) -> None:
    async for chunk in stream:
        into.append(chunk)


# ---------------------------------------------------------------------------- passthrough


async def test_non_stream_passthrough_is_byte_exact(fresh: Stack) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "prompt_cache_key": "k1",
        "seed": 7,
    }
    raw = json.dumps(body, indent=1).encode()  # odd formatting must survive
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1/chat/completions",
            content=raw,
            headers={"authorization": f"Bearer {KEYS['openai']}", "content-type": "application/json"},
        )
    assert response.status_code == 200, response.text
    upstream = fresh.upstream.requests[-1]
    assert upstream.body == raw  # the caller's bytes, unchanged (model unchanged too)
    assert upstream.headers["authorization"] == f"Bearer {fresh.upstream.api_key}"  # the gateway's key
    assert response.content == orjson.dumps(upstream.response_json)  # the upstream's bytes, unchanged
    assert response.headers["x-torouter-upstream"] == "oai"
    assert response.headers["x-request-id"]


async def test_sdk_non_stream(fresh: Stack) -> None:
    client = fresh.client()
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "Mock reply to: Say hello"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    validate("openai", "CreateChatCompletionResponse", reply.model_dump(exclude_unset=True))


async def test_model_map_changes_only_the_model(fresh: Stack) -> None:
    client = fresh.client()
    reply = await client.chat.completions.create(model="house-model", messages=MESSAGES, max_tokens=50)
    sent = fresh.upstream.requests[-1]
    assert sent.json == {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 50}
    assert reply.model == "gpt-4o-mini"  # as the upstream returned it


async def test_thinking_suffix_turns_on_reasoning(fresh: Stack) -> None:
    reply = await fresh.client().chat.completions.create(model="gpt-5-thinking", messages=MESSAGES)
    sent = fresh.upstream.requests[-1].json
    assert sent["model"] == "gpt-5" and sent["reasoning_effort"] == "high"
    assert sent["messages"] == MESSAGES
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 16


async def test_provider_prefix(fresh: Stack) -> None:
    reply = await fresh.client().chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert fresh.upstream.requests[-1].json["model"] == "gpt-4o-mini"
    assert reply.choices[0].message.content


async def test_stream_passthrough_is_byte_exact_and_chunked(fresh: Stack) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    received: list[bytes] = []
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{fresh.gateway.base_url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEYS['openai']}"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"].startswith("req_")
        async for piece in response.aiter_raw():
            received.append(piece)
    upstream = fresh.upstream.requests[-1]
    assert b"".join(received) == raw_stream(upstream.response_chunks)
    assert upstream.done_sent and upstream.outcome == "completed"


async def test_sdk_stream_helper(fresh: Stack) -> None:
    client = fresh.client()
    async with client.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Mock reply to: Say hello"
    assert final.usage is not None


async def test_stream_with_tool_calls(fresh: Stack) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    client = fresh.client()
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=tools,  # type: ignore[arg-type]
        stream=True,
    )
    arguments = ""
    names = []
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names.append(call.function.name)
                arguments += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    assert names == ["get_weather"] and json.loads(arguments) == {"city": "mock"} and finish == "tool_calls"


async def test_api_v1_mount(fresh: Stack) -> None:
    reply = await fresh.client(prefix="/api/v1").chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert reply.choices[0].message.content


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "x-goog-api-key", "query"])
async def test_every_way_to_send_the_key(fresh: Stack, header: str) -> None:
    key = KEYS["openai"]
    headers = {"authorization": f"Bearer {key}"} if header == "authorization" else {}
    if header in ("x-api-key", "x-goog-api-key"):
        headers[header] = key
    params = {"key": key} if header == "query" else {}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
            headers=headers,
            params=params,
        )
    assert response.status_code == 200, response.text


async def test_echo_group_serves_any_model_through_the_codec(fresh: Stack) -> None:
    client = fresh.client("demo")
    reply = await client.chat.completions.create(model="whatever-you-like", messages=MESSAGES, n=2)
    assert [c.message.content for c in reply.choices] == ["Say hello", "Say hello"]
    validate("openai", "CreateChatCompletionResponse", reply.model_dump(exclude_unset=True))


# ---------------------------------------------------------------------------- models


async def test_models_list_and_get(fresh: Stack) -> None:
    client = fresh.client()
    models = await client.models.list()
    ids = [m.id for m in models.data]
    assert ids[: len(fresh.upstream.models)] == list(fresh.upstream.models) and "house-model" in ids
    assert all(m.owned_by == "openai" for m in models.data)
    assert "secret-model" not in ids
    model = await client.models.retrieve("gpt-5")
    assert model.id == "gpt-5" and model.model_dump()["supports_thinking"] is True
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")
    with pytest.raises(openai.PermissionDeniedError):
        await client.models.retrieve("secret-model")


# ---------------------------------------------------------------------------- caller errors


async def test_unknown_model_is_404_and_another_groups_model_is_403(fresh: Stack) -> None:
    client = fresh.client()
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        await client.chat.completions.create(model="secret-model", messages=MESSAGES)
    assert "not available to this key" in forbidden.value.message
    assert not fresh.upstream.requests and not fresh.other.requests  # nothing sent upstream


async def test_missing_and_wrong_keys_are_401(fresh: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key" and response.headers["x-request-id"]
    wrong = openai.AsyncOpenAI(base_url=f"{fresh.gateway.base_url}/v1", api_key="tr-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await wrong.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"model": "gpt-4o-mini", "messages": [', "could not parse the JSON body"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"messages": []}', "model"),
        (b'{"model": 5, "messages": []}', "model"),
    ],
)
async def test_malformed_bodies_are_400(fresh: Stack, raw: bytes, fragment: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1/chat/completions",
            content=raw,
            headers={"authorization": f"Bearer {KEYS['openai']}", "content-type": "application/json"},
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert fragment in error["message"] and set(error) == {"message", "type", "param", "code"}
    assert not fresh.upstream.requests


async def test_body_over_the_limit_is_413(fresh: Stack) -> None:
    big = "x" * (2 * 1024 * 1024)  # the test gateway's limit is 1 MiB
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": big}]
        )
    assert info.value.status_code == 413 and not fresh.upstream.requests


async def test_unknown_path_is_404_in_the_callers_protocol(fresh: Stack) -> None:
    async with httpx.AsyncClient() as http:
        openai_style = await http.get(f"{fresh.gateway.base_url}/v1/nothing-here")
        anthropic_style = await http.post(
            f"{fresh.gateway.base_url}/v1/messages/nothing", headers={"anthropic-version": "2023-06-01"}
        )
        gemini_style = await http.post(f"{fresh.gateway.base_url}/v1beta/nothing", params={"key": "k"})
    assert openai_style.status_code == 404 and "error" in openai_style.json()
    assert anthropic_style.status_code == 404 and anthropic_style.json()["type"] == "error"
    assert gemini_style.status_code == 404 and gemini_style.json()["error"]["status"] == "NOT_FOUND"
    assert all(r.headers["x-request-id"] for r in (openai_style, anthropic_style, gemini_style))


async def test_later_endpoints_answer_501_in_their_protocol(fresh: Stack) -> None:
    key = KEYS["openai"]
    async with httpx.AsyncClient(base_url=fresh.gateway.base_url) as http:
        responses = await http.post(
            "/v1/responses/input_tokens",
            json={"model": "gpt-4o-mini", "input": "hi"},
            headers={"authorization": f"Bearer {key}"},
        )
    assert responses.status_code == 501 and responses.json()["error"]["code"] == "not_implemented"


async def test_request_id_is_propagated(fresh: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fresh.gateway.base_url}/v1/chat/completions",
            json={"model": "no-such-model", "messages": MESSAGES},
            headers={"authorization": f"Bearer {KEYS['openai']}", "x-request-id": "my-trace-123"},
        )
    assert response.headers["x-request-id"] == "my-trace-123"


# ---------------------------------------------------------------------------- upstream errors


@pytest.mark.parametrize("status", [400, 404, 413, 422, 429])
async def test_upstream_request_errors_pass_through(fresh: Stack, status: int) -> None:
    fresh.upstream.enqueue(
        Fault.status(
            status,
            message=f"upstream says {status}",
            code=f"code_{status}",
            param="messages",
            retry_after=3 if status == 429 else None,
        )
    )
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    error = info.value
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["message"] == f"upstream says {status}" and error.code == f"code_{status}"
    if status == 429:
        assert error.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("status", [401, 403])
async def test_upstream_rejecting_the_gateways_credentials_is_502(fresh: Stack, status: int) -> None:
    fresh.upstream.enqueue(Fault.status(status, message="Incorrect API key provided"))
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 502
    assert "rejected the gateway's credentials" in info.value.message
    assert not isinstance(info.value, openai.AuthenticationError)


async def test_wrong_upstream_credential_is_502_and_never_leaks(fresh: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client("badcred").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 502
    assert "sk-wrong-credential" not in info.value.response.text


async def test_upstream_key_echoed_in_an_error_is_redacted(fresh: Stack) -> None:
    fresh.leaky.enqueue(Fault.status(400, message="bad request"))
    with pytest.raises(openai.BadRequestError) as info:
        await fresh.client("leaky").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert fresh.leaky.api_key not in info.value.response.text
    assert "[redacted]" in info.value.message


@pytest.mark.parametrize(("status", "expected"), [(500, 502), (502, 502), (503, 503), (504, 504)])
async def test_upstream_5xx(fresh: Stack, status: int, expected: int) -> None:
    fresh.upstream.enqueue(Fault.status(status, message="internal details that stay upstream"))
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == expected
    assert "internal details" not in info.value.message


async def test_unreachable_upstream_is_502(fresh: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client("dead").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 502 and "unreachable" in info.value.message
    assert info.value.response.headers["x-request-id"]


async def test_upstream_timeout_is_504(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.delay(3))
    with pytest.raises(openai.APIStatusError) as info:
        await fresh.client("slow").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 504


async def test_upstream_dying_mid_stream_ends_with_an_error_event(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.die_after(3))
    stream = await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received: list[object] = []
    with pytest.raises(openai.APIError) as info:
        await consume(stream, received)
    assert len(received) == 3
    assert "broke the stream off mid-way" in info.value.message


async def test_in_stream_upstream_error_reaches_the_sdk(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.error_after(2, message="overloaded mid-way"))
    stream = await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as info:
        await consume(stream, [])
    assert "overloaded mid-way" in info.value.message


# ---------------------------------------------------------------------------- cancellation, restarts


async def test_client_disconnect_cancels_the_upstream_request(fresh: Stack) -> None:
    fresh.upstream.enqueue(Fault.stall_after(2))
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{fresh.gateway.base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
            headers={"authorization": f"Bearer {KEYS['openai']}"},
        ) as response,
    ):
        async for piece in response.aiter_raw():
            if piece:
                break  # one piece read, then the client goes away
    upstream = fresh.upstream.requests[-1]
    assert await upstream.wait_finished(timeout_s=5) == "cancelled"


async def test_router_going_away_and_coming_back(fresh: Stack) -> None:
    client = fresh.client()
    await fresh.gateway.stop_router()
    try:
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert info.value.status_code == 503
        assert "router is unavailable" in info.value.message
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{fresh.gateway.base_url}/readyz")).status_code == 503
            assert (await http.get(f"{fresh.gateway.base_url}/healthz")).status_code == 200
            stream_reply = await http.post(
                f"{fresh.gateway.base_url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
                headers={"authorization": f"Bearer {KEYS['openai']}"},
            )
            assert stream_reply.status_code == 503 and stream_reply.json()["error"]["type"] == "server_error"
    finally:
        await fresh.gateway.start_router()
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # the edge reconnects by itself, within its reconnect backoff
        try:
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            break
        except openai.APIStatusError:
            assert asyncio.get_running_loop().time() < deadline, "the edge did not reconnect"
            await asyncio.sleep(0.1)
    assert reply.choices[0].message.content


async def test_router_shutdown_drains_in_flight_streams(fresh: Stack) -> None:
    fresh.upstream.chunk_delay_s = 0.05
    client = fresh.client()
    stopping: asyncio.Task[None] | None = None
    try:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "one two three four five six"}],
            stream=True,
        )
        text = ""
        async for chunk in stream:
            if stopping is None:
                stopping = asyncio.create_task(fresh.gateway.stop_router(grace=10))
                await asyncio.sleep(0.05)
                with pytest.raises(openai.APIStatusError) as refused:  # no new work while draining
                    await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                assert refused.value.status_code == 503
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
        assert text == "Mock reply to: one two three four five six"
        assert stopping is not None
        await stopping
    finally:
        fresh.upstream.chunk_delay_s = 0.0
        if fresh.gateway.router is None:
            await fresh.gateway.start_router()
        await fresh.gateway.wait_ready()


async def test_one_structured_log_line_per_request(fresh: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="torouter.request")
    await fresh.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a very private message"}]
    )
    records = [r for r in caplog.records if r.name == "torouter.request"]
    assert len(records) == 1
    line = JSONFormatter().format(records[0])
    entry = json.loads(line)
    assert entry["route"] == "openai.chat.completions" and entry["status"] == 200
    assert entry["group"] == "openai" and entry["upstream"] == "oai" and entry["key"] == "openai-key"
    assert entry["request_id"] and entry["latency_ms"] > 0
    assert "private message" not in line and KEYS["openai"] not in line and fresh.upstream.api_key not in line


async def test_bodies_are_logged_only_at_debug(fresh: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """TOROUTER_LOG_LEVEL=DEBUG shows the bytes on each side of a translation; never a key."""
    caplog.set_level(logging.INFO, logger="torouter.bodies")
    claude = fresh.client("claude")
    await claude.chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES)
    assert not [r for r in caplog.records if r.name == "torouter.bodies"]
    caplog.set_level(logging.DEBUG, logger="torouter.bodies")
    await claude.chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES)
    stream = await claude.chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES, stream=True)
    _ = [chunk async for chunk in stream]
    records = [r for r in caplog.records if r.name == "torouter.bodies"]
    events = [r.getMessage() for r in records]
    for event in ("caller.request", "upstream.request", "upstream.response", "caller.response"):
        assert event in events
    assert "upstream.chunk" in events and "caller.chunk" in events
    upstream_request = next(r for r in records if r.getMessage() == "upstream.request")
    assert json.loads(upstream_request.__dict__["body"])["max_tokens"]  # Anthropic's form
    assert upstream_request.__dict__["upstream"] == "claude"
    lines = "\n".join(JSONFormatter().format(r) for r in records)
    assert KEYS["claude"] not in lines and fresh.claude.api_key not in lines
    assert len({r.__dict__["request_id"] for r in records}) == 2


# ---------------------------------------------------------------------------- operations


async def test_health_ready_and_metrics(fresh: Stack) -> None:
    await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    async with httpx.AsyncClient(base_url=fresh.gateway.base_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert 'torouter_edge_requests_total{route="/v1/chat/completions",status="200"}' in metrics
    assert "torouter_edge_request_duration_seconds_bucket" in metrics
