"""The Responses API end to end with the openai SDK: passthrough to OpenAI upstreams (the upstream
keeps the state, the gateway remembers who owns each id), and the gateway's own implementation
over Claude, Gemini and echo upstreams (translated, state in the router's store). Every object
and stream event the gateway emits is checked against the spec, each event against its own
schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.anthropic_upstream import Fault as AnthropicFault
from support.gateway import Gateway
from support.openai_responses import assert_event_valid, assert_response_valid
from support.openai_upstream import Fault as OpenAIFault
from support.redis_server import redis_server
from support.schemas import validate
from support.stack import KEYS, Stack, upstream_config
from torouter.router.protocols.sse import SSEParser

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
ANSWER_SCHEMA: Any = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "integer"}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}


# ---------------------------------------------------------------------------- helpers


async def post(stack: Stack, group: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{stack.gateway.base_url}/v1/responses",
            json=body,
            headers={"authorization": f"Bearer {KEYS[group]}"},
        )


async def raw_stream(stack: Stack, group: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a streamed create, checked frame by frame: an ``event:`` line naming the
    event's type, a sequence number counting from 0, and the event's own schema."""
    response = await post(stack, group, {**body, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events: list[dict[str, Any]] = []
    for sse in SSEParser().feed(response.content):
        data = json.loads(sse.data)
        assert sse.event == data["type"], (sse.event, data)
        assert data["sequence_number"] == len(events), data
        assert_event_valid(data)
        events.append(data)
    return events


def texts(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def clear_memo(stack: Stack) -> None:
    """Forget the reasoning the router remembers between chat turns: what survives must come
    from the stored conversation or the client's own items."""
    assert stack.gateway.router is not None
    stack.gateway.router.app.dispatcher.memo._entries.clear()


# ---------------------------------------------------------------------------- OpenAI group: passthrough


async def test_passthrough_create_retrieve_list_delete(fresh: Stack) -> None:
    client = fresh.client("openai")
    created = await client.responses.create(
        model="gpt-4o-mini", input="Hello there", instructions="Be brief.", metadata={"k": "v"}
    )
    sent = fresh.upstream.requests[-1]
    assert sent.path == "/v1/responses" and sent.json["instructions"] == "Be brief."
    assert created.output_text == "Mock reply to: Hello there" and created.id.startswith("resp_")
    assert (await client.responses.retrieve(created.id)).output_text == created.output_text
    items = await client.responses.input_items.list(created.id)
    assert [i.type for i in items.data] == ["message"]
    assert fresh.upstream.requests[-1].path == f"/v1/responses/{created.id}/input_items"
    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    fresh.upstream.assert_emitted_valid()


async def test_passthrough_bytes_are_the_upstreams(fresh: Stack) -> None:
    response = await post(fresh, "openai", {"model": "gpt-4o-mini", "input": "one two"})
    assert response.status_code == 200
    assert response.json() == fresh.upstream.requests[-1].response_json
    assert response.headers["x-torouter-upstream"] == "oai"


async def test_passthrough_stream_helper_and_continuation(fresh: Stack) -> None:
    client = fresh.client("openai")
    async with client.responses.stream(model="gpt-4o-mini", input="Say something nice") as stream:
        seen = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert seen[0] == "response.created" and seen[-1] == "response.completed"
    assert final.output_text == "Mock reply to: Say something nice"
    second = await client.responses.create(
        model="gpt-4o-mini", input="And again", previous_response_id=final.id
    )
    assert fresh.upstream.requests[-1].json["previous_response_id"] == final.id
    assert second.output_text == "Mock reply to: And again"
    events = await raw_stream(fresh, "openai", {"model": "gpt-4o-mini", "input": "check each event"})
    assert texts(events) == "Mock reply to: check each event"
    fresh.upstream.assert_emitted_valid()


async def test_passthrough_function_tool_round_trip_and_structured_output(fresh: Stack) -> None:
    client = fresh.client("openai")
    first = await client.responses.create(
        model="gpt-4o-mini", input="What is the weather in Paris?", tools=[WEATHER]
    )
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "mock"}
    second = await client.responses.create(
        model="gpt-4o-mini",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert second.output_text == "Mock reply to tool results: sunny"
    shaped = await client.responses.create(
        model="gpt-4o-mini",
        input="Is it sunny?",
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
    )
    assert json.loads(shaped.output_text) == {"answer": "Mock reply to: Is it sunny?", "confidence": 1}


async def test_passthrough_ids_belong_to_the_group(fresh: Stack) -> None:
    """The "pair" group reaches the same upstream account, yet never sees the openai group's ids."""
    created = await fresh.client("openai").responses.create(model="gpt-4o-mini", input="private")
    other = fresh.client("pair")
    with pytest.raises(openai.NotFoundError) as missing:
        await other.responses.retrieve(created.id)
    assert missing.value.body["message"] == f"Response with id '{created.id}' not found."  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await other.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError) as chained:
        await other.responses.create(model="gpt-4o-mini", input="x", previous_response_id=created.id)
    assert chained.value.code == "previous_response_not_found"
    assert chained.value.param == "previous_response_id"
    assert (await fresh.client("openai").responses.retrieve(created.id)).id == created.id


async def test_passthrough_thinking_model_asks_for_reasoning(fresh: Stack) -> None:
    response = await fresh.client("openai").responses.create(model="gpt-5-thinking", input="Think")
    sent = fresh.upstream.requests[-1].json
    assert sent["model"] == "gpt-5" and sent["reasoning"]["effort"] == "high"
    assert response.output[0].type == "reasoning" and response.output_text == "Mock reply to: Think"


async def test_passthrough_stream_cut_short_ends_with_an_error_event(fresh: Stack) -> None:
    fresh.upstream.enqueue(OpenAIFault.die_after(4), endpoint="responses")
    response = await post(fresh, "openai", {"model": "gpt-4o-mini", "input": "one two three", "stream": True})
    events = [json.loads(e.data) for e in SSEParser().feed(response.content)]
    assert [e["type"] for e in events[:4]][:2] == ["response.created", "response.in_progress"]
    last = events[-1]
    assert last["type"] == "error" and last["sequence_number"] == events[-2]["sequence_number"] + 1
    assert_event_valid(last)


# ---------------------------------------------------------------------------- Claude group: translated


async def test_claude_create_maps_the_request_and_the_response(fresh: Stack) -> None:
    response = await post(
        fresh,
        "claude",
        {
            "model": "claude-haiku-4-5",
            "instructions": "Be brief.",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hello"}]}],
            "max_output_tokens": 300,
            "temperature": 0.5,
            "metadata": {"ticket": "42"},
            "user": "user-1",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_response_valid(body)
    sent = fresh.claude.requests[-1].json
    assert sent["system"] == [{"type": "text", "text": "Be brief."}] and sent["max_tokens"] == 300
    assert sent["temperature"] == 0.5 and sent["metadata"] == {"user_id": "user-1"}
    assert body["status"] == "completed" and body["instructions"] == "Be brief."
    assert body["metadata"] == {"ticket": "42"} and body["store"] is True and body["temperature"] == 0.5
    message = body["output"][0]
    assert message["type"] == "message" and message["id"].startswith("msg_")
    assert message["content"] == [
        {"type": "output_text", "annotations": [], "logprobs": [], "text": "Mock reply to: Hello"}
    ]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert response.headers["x-torouter-upstream"] == "claude"


async def test_claude_stream_helper_and_every_event(fresh: Stack) -> None:
    client = fresh.client("claude")
    async with client.responses.stream(model="claude-haiku-4-5", input="Stream to me") as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Mock reply to: Stream to me"
    assert final.usage is not None and final.usage.output_tokens > 0
    events = await raw_stream(fresh, "claude", {"model": "claude-haiku-4-5", "input": "Stream to me"})
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Mock reply to: Stream to me"


async def test_claude_multi_turn_through_previous_response_id(fresh: Stack) -> None:
    client = fresh.client("claude")
    first = await client.responses.create(
        model="claude-haiku-4-5", instructions="Answer in French.", input="My name is Ada."
    )
    second = await client.responses.create(
        model="claude-haiku-4-5",
        instructions="Answer in English.",
        input="What is my name?",
        previous_response_id=first.id,
    )
    sent = fresh.claude.requests[-1].json
    assert sent["system"] == [{"type": "text", "text": "Answer in English."}]  # not carried over
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][0]["text"] == "Mock reply to: My name is Ada."
    third = await client.responses.create(
        model="claude-haiku-4-5", input="And now?", previous_response_id=second.id
    )
    assert (
        len(fresh.claude.requests[-1].json["messages"]) == 5
        and "system" not in fresh.claude.requests[-1].json
    )
    assert third.previous_response_id == second.id
    stored = await client.responses.retrieve(second.id)
    assert stored.output_text == second.output_text and stored.instructions == "Answer in English."
    listed = await client.responses.input_items.list(second.id)
    assert [i.type for i in listed.data] == ["message"] and listed.data[0].role == "user"


async def test_claude_function_tool_round_trip_with_thinking(fresh: Stack) -> None:
    """Claude wants its signed thinking back before the tool result: the stored conversation
    carries it (the router's own memo is emptied to prove it)."""
    client = fresh.client("claude")
    async with client.responses.stream(
        model="claude-sonnet-4-5-thinking", input="What is the weather in Paris?", tools=[WEATHER]
    ) as stream:
        first = await stream.get_final_response()
    kinds = [o.type for o in first.output]
    assert kinds == ["reasoning", "message", "function_call"]
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text.startswith("Mock thinking about")
    assert reasoning.encrypted_content and reasoning.encrypted_content.startswith("torouter.v1.")
    call = first.output[2]
    assert (
        call.type == "function_call" and call.id and call.id.startswith("fc_") and call.status == "completed"
    )
    clear_memo(fresh)
    second = await client.responses.create(
        model="claude-sonnet-4-5-thinking",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert second.output_text == "Mock reply to tool results: sunny"
    replayed = fresh.claude.requests[-1].json["messages"][1]["content"]
    assert replayed[0]["type"] == "thinking" and replayed[0]["signature"]
    assert second.usage is not None and second.usage.output_tokens_details.reasoning_tokens >= 0


async def test_claude_stateless_history_replays_encrypted_reasoning(fresh: Stack) -> None:
    """``store: false`` and the whole history replayed by the client (as Codex does): the signed
    thinking comes back from the reasoning item's ``encrypted_content``."""
    client = fresh.client("claude")
    first = await client.responses.create(
        model="claude-sonnet-4-5-thinking",
        input="What is the weather in Paris?",
        tools=[WEATHER],
        store=False,
        include=["reasoning.encrypted_content"],
    )
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(first.id)
    clear_memo(fresh)
    call = next(o for o in first.output if o.type == "function_call")
    history: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})
    second = await client.responses.create(
        model="claude-sonnet-4-5-thinking", input=history, tools=[WEATHER], store=False
    )
    assert second.output_text == "Mock reply to tool results: sunny"
    assert fresh.claude.requests[-1].json["messages"][1]["content"][0]["type"] == "thinking"


async def test_claude_structured_output(fresh: Stack) -> None:
    client = fresh.client("claude")
    response = await client.responses.create(
        model="claude-haiku-4-5",
        input="Is it sunny?",
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
    )
    sent = fresh.claude.requests[-1].json
    assert sent["output_config"]["format"]["schema"] == ANSWER_SCHEMA
    assert json.loads(response.output_text)["answer"] == "Mock reply to: Is it sunny?"
    assert response.text is not None and response.text.format.type == "json_schema"


async def test_claude_incomplete_and_failed(fresh: Stack) -> None:
    short = await fresh.client("claude").responses.create(
        model="claude-haiku-4-5", input=" ".join(["word"] * 40), max_output_tokens=16
    )
    assert short.status == "incomplete" and short.incomplete_details is not None
    assert short.incomplete_details.reason == "max_output_tokens"
    fresh.claude.enqueue(AnthropicFault.die_after(3))
    events = [
        json.loads(e.data)
        for e in SSEParser().feed(
            (
                await post(
                    fresh, "claude", {"model": "claude-haiku-4-5", "input": "a b c d e", "stream": True}
                )
            ).content
        )
    ]
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    for event in events:
        assert_event_valid(event)


async def test_claude_runs_web_search_leaves_out_other_hosted_tools_and_refuses_background(
    fresh: Stack,
) -> None:
    client = fresh.client("claude")
    raw = await client.responses.with_raw_response.create(
        model="claude-haiku-4-5",
        input="Search the web",
        tools=[{"type": "web_search"}, {"type": "code_interpreter", "container": {"type": "auto"}}, WEATHER],
    )
    assert raw.headers["x-torouter-dropped-tools"] == "code_interpreter"
    assert raw.parse().output_text.endswith("Search the web")
    sent = fresh.claude.requests[-1].json["tools"]
    assert [t.get("type") for t in sent] == ["web_search_20250305", None]
    with pytest.raises(openai.BadRequestError) as background:
        await client.responses.create(model="claude-haiku-4-5", input="x", background=True)
    assert background.value.param == "background"
    with pytest.raises(openai.BadRequestError) as bad_item:
        await client.responses.create(
            model="claude-haiku-4-5",
            input=[
                {"type": "computer_call_output", "call_id": "c1", "output": {"type": "computer_screenshot"}}
            ],
        )
    assert bad_item.value.param == "input[0].type"


# ---------------------------------------------------------------------------- Gemini group: translated


async def test_gemini_create_stream_and_tool_round_trip(fresh: Stack) -> None:
    client = fresh.client("gemini")
    plain = await client.responses.create(model="gemini-2.5-flash", input="Hello Gemini")
    assert plain.output_text.endswith("Hello Gemini")
    assert_response_valid(json.loads(plain.model_dump_json(exclude_unset=True)))
    events = await raw_stream(fresh, "gemini", {"model": "gemini-2.5-flash", "input": "Stream please"})
    assert events[-1]["type"] == "response.completed"
    async with client.responses.stream(
        model="gemini-3-pro-preview", input="What is the weather in Paris?", tools=[WEATHER]
    ) as stream:
        first = await stream.get_final_response()
    call = next(o for o in first.output if o.type == "function_call")
    clear_memo(fresh)  # Gemini 3 refuses a tool turn without its thought signature
    second = await client.responses.create(
        model="gemini-3-pro-preview",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert "sunny" in second.output_text
    contents = fresh.gemini.requests[-1].json["contents"]
    assert contents[-1]["parts"][0]["functionResponse"]["name"] == "get_weather"


async def test_gemini_structured_output(fresh: Stack) -> None:
    response = await fresh.client("gemini").responses.create(
        model="gemini-2.5-flash",
        input="Is it sunny?",
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA}},
    )
    assert set(json.loads(response.output_text)) == {"answer", "confidence"}


# ---------------------------------------------------------------------------- echo group, state


async def test_echo_group_every_endpoint(fresh: Stack) -> None:
    client = fresh.client("demo")
    created = await client.responses.create(
        model="echo-1",
        input=[
            {"role": "developer", "content": "Be nice."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "input_text", "text": "echo me"}]},
        ],
    )
    assert created.output_text == "echo me"
    async with client.responses.stream(model="echo-1", input="streamed echo") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "streamed echo"
    assert (await client.responses.retrieve(final.id)).output_text == "streamed echo"
    newest = await client.responses.input_items.list(created.id, limit=2)
    assert [getattr(i, "role", None) for i in newest.data] == ["user", "assistant"] and newest.has_more
    every = [i async for i in client.responses.input_items.list(created.id, limit=2, order="asc")]
    assert [getattr(i, "role", None) for i in every] == ["developer", "user", "assistant", "user"]
    raw = await httpx.AsyncClient().get(
        f"{fresh.gateway.base_url}/v1/responses/{created.id}/input_items?order=asc&limit=3",
        headers={"authorization": f"Bearer {KEYS['demo']}"},
    )
    validate("openai", "ResponseItemList", raw.json(), closed=True)
    with pytest.raises(openai.BadRequestError):  # not a background response
        await client.responses.cancel(created.id)
    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(created.id)


async def test_unknown_and_foreign_ids(fresh: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        await fresh.client("demo").responses.retrieve("resp_does_not_exist")
    assert unknown.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as chained:
        await fresh.client("demo").responses.create(
            model="echo-1", input="x", previous_response_id="resp_nope"
        )
    assert chained.value.code == "previous_response_not_found"
    claude_id = (await fresh.client("claude").responses.create(model="claude-haiku-4-5", input="mine")).id
    for group in ("gemini", "demo", "openai"):
        with pytest.raises(openai.NotFoundError):
            await fresh.client(group).responses.retrieve(claude_id)
        with pytest.raises(openai.NotFoundError):
            await fresh.client(group).responses.input_items.list(claude_id)
    unstored = await fresh.client("demo").responses.create(model="echo-1", input="forget me", store=False)
    assert unstored.store is False
    with pytest.raises(openai.BadRequestError):
        await fresh.client("demo").responses.create(
            model="echo-1", input="x", previous_response_id=unstored.id
        )


async def test_api_mount_and_errors_in_openai_format(fresh: Stack) -> None:
    client = fresh.client("demo", prefix="/api/v1")
    response = await client.responses.create(model="echo-1", input="under /api/v1")
    assert response.output_text == "under /api/v1"
    bad = await post(fresh, "demo", {"model": "echo-1", "input": 42})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"
    validate("openai", "Error", bad.json()["error"], closed=True)


# ---------------------------------------------------------------------------- mixed groups, replicas


async def test_a_cross_kind_fallback_is_stored_by_the_gateway(fresh: Stack) -> None:
    """ "crossfall": a dead OpenAI upstream, then Claude: the Responses request falls back from a
    passthrough attempt to a translated one, and the conversation continues the same way."""
    client = fresh.client("crossfall")
    raw = await client.responses.with_raw_response.create(model="gpt-4o-mini", input="Hello")
    first = raw.parse()
    assert raw.headers["x-torouter-upstream"] == "claude" and first.output_text == "Mock reply to: Hello"
    second = await client.responses.create(model="gpt-4o-mini", input="Again", previous_response_id=first.id)
    assert second.output_text == "Mock reply to: Again"
    assert len(fresh.claude.requests[-1].json["messages"]) == 3


async def test_a_gateway_held_conversation_moves_to_an_openai_upstream(fresh: Stack) -> None:
    """Claude first, OpenAI next (Claude overloaded): the stored history goes to OpenAI inline,
    without the gateway's ids and reasoning; the OpenAI-held answer then pins its continuation."""
    config = {
        "router": {"retries": 0},
        "upstreams": {
            "claude": upstream_config("anthropic", fresh.claude),
            "oai": {
                "kind": "openai",
                "base_url": fresh.upstream.base_url,
                "api_key": fresh.upstream.api_key,
                "models": list(fresh.upstream.models),
            },
        },
        "groups": {
            "mixed": {
                "upstreams": ["claude", "oai"],
                "fallback_models": {"claude-haiku-4-5": ["gpt-4o-mini"]},
            }
        },
        "keys": [{"name": "mixed-key", "key": "tr-test-mixed-key", "group": "mixed"}],
    }
    async with Gateway(config) as gateway:
        client = openai.AsyncOpenAI(
            base_url=f"{gateway.base_url}/v1", api_key="tr-test-mixed-key", max_retries=0
        )
        first = await client.responses.create(
            model="claude-haiku-4-5-thinking", input="What is the weather in Paris?", tools=[WEATHER]
        )
        call = next(o for o in first.output if o.type == "function_call")
        fresh.claude.enqueue(AnthropicFault.overloaded())
        second = await client.responses.create(
            model="claude-haiku-4-5",
            previous_response_id=first.id,
            tools=[WEATHER],
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        )
        assert second.output_text == "Mock reply to tool results: sunny"
        sent = fresh.upstream.requests[-1].json
        assert "previous_response_id" not in sent and sent["model"] == "gpt-4o-mini"
        assert [i.get("type", "message") for i in sent["input"]] == [
            "message",
            "message",
            "function_call",
            "function_call_output",
        ]
        assert all("id" not in i for i in sent["input"])
        third = await client.responses.create(
            model="claude-haiku-4-5", input="Thanks", previous_response_id=second.id
        )
        assert fresh.upstream.requests[-1].json["previous_response_id"] == second.id
        assert third.output_text == "Mock reply to: Thanks"
        fresh.upstream.assert_emitted_valid()


async def test_router_replicas_share_stored_responses_through_redis(fresh: Stack, tmp_path: Path) -> None:
    """Two routers on one Redis: a response stored through one is continued through the other."""
    with redis_server(tmp_path) as url:
        config = {
            "router": {"retries": 0, "state": url},
            "upstreams": {"echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]}},
            "groups": {"demo": {"upstreams": ["echo"]}},
            "keys": [{"name": "demo-key", "key": KEYS["demo"], "group": "demo"}],
        }
        async with Gateway(config) as one, Gateway(config) as two:
            first = await _client(one).responses.create(model="echo-1", input="kept in redis")
            again = await _client(two).responses.retrieve(first.id)
            assert again.output_text == "kept in redis"
            second = await _client(two).responses.create(
                model="echo-1", input="and continued", previous_response_id=first.id
            )
            items = await _client(one).responses.input_items.list(second.id)
            assert [getattr(i, "role", None) for i in items.data] == ["user"]
            await _client(one).responses.delete(first.id)
            with pytest.raises(openai.NotFoundError):
                await _client(two).responses.retrieve(first.id)


def _client(gateway: Gateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEYS["demo"], max_retries=0)


async def test_openrouter_group_is_served_over_chat(fresh: Stack) -> None:
    client = fresh.client("openrouter")
    response = await client.responses.create(model="anthropic/claude-sonnet-4.5", input="Hello OpenRouter")
    assert fresh.openrouter.requests[-1].path == "/v1/chat/completions"
    assert response.output_text == "Mock reply to: Hello OpenRouter"
    events = await raw_stream(fresh, "openrouter", {"model": "openai/gpt-4o-mini", "input": "Streamed"})
    assert texts(events) == "Mock reply to: Streamed"


async def test_gemini_3_streamed_conversation_keeps_its_signatures(fresh: Stack) -> None:
    client = fresh.client("gemini")
    reasoning: Any = {"effort": "low", "summary": "auto"}
    async with client.responses.stream(
        model="gemini-3-pro-preview", input="Stream please now", reasoning=reasoning
    ) as stream:
        first = await stream.get_final_response()
    assert [o.type for o in first.output] == ["reasoning", "message", "reasoning"]
    assert first.output_text == "Mock reply to: Stream please now"
    clear_memo(fresh)
    second = await client.responses.create(
        model="gemini-3-pro-preview", input="And then?", previous_response_id=first.id, reasoning=reasoning
    )
    assert second.output_text == "Mock reply to: And then?"
    replayed = fresh.gemini.requests[-1].json["contents"][1]["parts"]
    assert any("thoughtSignature" in part for part in replayed)


async def test_codexs_custom_apply_patch_tool_on_a_claude_group(fresh: Stack) -> None:
    """Codex sends apply_patch as a custom (free-text) tool, which Anthropic does not have: it goes
    as a function of one string ``input`` (Codex's own function form), and its call comes back as
    the custom tool call OpenAI would make, its input that string."""
    client = fresh.client("claude")
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}
    tool: Any = {"type": "custom", "name": "apply_patch", "description": "Apply a patch", "format": grammar}
    first = await client.responses.create(
        model="claude-sonnet-4-5", input="apply_patch: fix the bug", tools=[tool]
    )
    sent_tool = fresh.claude.requests[-1].json["tools"][0]
    assert sent_tool["input_schema"]["required"] == ["input"]
    call = next(item for item in first.output if item.type == "custom_tool_call")
    assert call.name == "apply_patch" and call.input == "mock"
    second = await client.responses.create(
        model="claude-sonnet-4-5",
        input=[{"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"}],
        previous_response_id=first.id,
        tools=[tool],
    )
    assert second.output_text


async def test_a_history_with_custom_tool_calls_reads_on_a_claude_group(fresh: Stack) -> None:
    """A Codex history made against OpenAI (custom_tool_call items) continues on a Claude group."""
    history: Any = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"type": "custom_tool_call", "call_id": "call_p1", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_p1", "output": "Done!"},
    ]
    tool: Any = {"type": "custom", "name": "apply_patch", "description": "Apply a patch"}
    reply = await fresh.client("claude").responses.create(
        model="claude-sonnet-4-5", input=history, tools=[tool], store=False
    )
    assert reply.output_text
    sent = fresh.claude.requests[-1].json["messages"]
    assert sent[1]["content"][0]["input"] == {"input": "*** Begin Patch"}
    assert sent[2]["content"][0]["type"] == "tool_result"
    forced = await fresh.client("claude").responses.create(
        model="claude-sonnet-4-5",
        input="patch it",
        tools=[tool],
        tool_choice={"type": "custom", "name": "apply_patch"},
    )
    assert fresh.claude.requests[-1].json["tool_choice"] == {"type": "tool", "name": "apply_patch"}
    assert any(item.type == "custom_tool_call" for item in forced.output)
