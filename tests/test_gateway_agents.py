"""What coding agents send, through the official SDKs, end to end: their newest model ids served by
family on every group (and the model named in ``x-torouter-model``), Claude Code's system turns,
Codex's namespaced tools and ``additional_tools``, Gemini CLI's upper-case JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from google.genai import types
from test_gateway_gemini import gemini_client
from test_gateway_responses import raw_stream

from support.openai_responses import assert_event_valid, assert_response_valid
from support.stack import Stack


@pytest.mark.parametrize(
    ("group", "requested", "served"),
    [
        ("openai", "claude-opus-5-5", "gpt-5"),
        ("openai", "claude-haiku-5-1", "gpt-5-mini"),
        ("claude", "gpt-6.1-sol", "claude-opus-4-1"),
        ("claude", "gemini-3.5-flash-lite", "claude-haiku-4-5"),
        ("gemini", "claude-opus-5-5", "gemini-3-pro-preview"),
        ("gemini", "gpt-6.1-sol-mini", "gemini-2.5-flash"),
    ],
)
async def test_new_model_ids_are_served_by_family_and_named(
    fresh: Stack, group: str, requested: str, served: str
) -> None:
    raw = await fresh.client(group).chat.completions.with_raw_response.create(
        model=requested, messages=[{"role": "user", "content": "Hi"}]
    )
    assert raw.headers["x-torouter-model"] == served
    assert raw.parse().choices[0].message.content == "Mock reply to: Hi"
    listed = [m.id async for m in fresh.client(group).models.list()]
    assert served in listed and requested not in listed  # the list names what the group serves


async def test_anthropic_sdk_names_the_served_model_in_passthrough_and_fits_max_tokens(fresh: Stack) -> None:
    raw = await fresh.anthropic("claude").messages.with_raw_response.create(
        model="claude-opus-5-5",
        max_tokens=128000,
        messages=[{"role": "user", "content": "Hi"}],
        timeout=30,  # a timeout of its own: the SDK wants a stream for so large a max_tokens otherwise
    )
    assert raw.headers["x-torouter-model"] == "claude-opus-4-1"
    sent = fresh.claude.requests[-1].json
    assert sent["model"] == "claude-opus-4-1" and sent["max_tokens"] == 32000
    assert (await raw.parse()).content[0].text == "Mock reply to: Hi"  # type: ignore[union-attr]


async def test_claude_codes_system_turn_on_an_openai_group(fresh: Stack) -> None:
    messages: Any = [
        {"role": "user", "content": "Read hello.txt"},
        {"role": "system", "content": [{"type": "text", "text": "Working directory: /work"}]},
        {"role": "user", "content": "then answer"},
    ]
    reply = await fresh.anthropic("openai").messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1000,
        system="You are Claude Code.",
        messages=messages,
        extra_headers={"anthropic-beta": "per-turn-control-2026-07-01,context-management-2025-06-27"},
        extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}},
    )
    assert reply.content[0].text == "Mock reply to: then answer"  # type: ignore[union-attr]
    sent = fresh.upstream.requests[-1]
    assert [m["role"] for m in sent.json["messages"]] == ["system", "user", "system", "user"]
    assert "anthropic-beta" not in sent.headers and "context_management" not in sent.json  # not OpenAI's


async def test_codexs_tools_on_a_gemini_group(fresh: Stack) -> None:
    """Codex with its newest models: namespaces in an ``additional_tools`` item; the call of a
    namespaced function comes back in its namespace, and the next turn continues."""
    weather: Any = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    tools: Any = {
        "type": "additional_tools",
        "role": "developer",
        "tools": [{"type": "namespace", "name": "forecast", "description": "Weather.", "tools": [weather]}],
    }
    question: Any = {"type": "message", "role": "user", "content": "What is the weather in Paris?"}
    client = fresh.client("gemini")
    raw = await client.responses.with_raw_response.create(
        model="gpt-6.1-sol",
        input=[tools, question],
        tools=[{"type": "web_search"}, {"type": "image_generation"}],
        store=False,
        extra_body={"client_metadata": {"thread_id": "t-1"}},
    )
    assert raw.headers["x-torouter-dropped-tools"] == "image_generation"
    assert raw.headers["x-torouter-model"] == "gemini-3-pro-preview"
    sent = fresh.gemini.requests[-1].json
    declarations = [d["name"] for t in sent["tools"] for d in t.get("functionDeclarations", [])]
    assert declarations == ["forecast__get_weather"] and {"googleSearch": {}} in sent["tools"]
    first = raw.parse()
    call = next(item for item in first.output if item.type == "function_call")
    assert (call.namespace, call.name, json.loads(call.arguments)) == (
        "forecast",
        "get_weather",
        {"city": "mock"},
    )
    history = [tools, question, *[item.model_dump(exclude_none=True) for item in first.output]]
    second = await client.responses.create(
        model="gpt-6.1-sol",
        input=[*history, {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}],
        store=False,
    )
    assert second.output_text == "Mock reply to tool results: Sunny"


async def test_gemini_clis_classifier_schema_on_an_openai_group(fresh: Stack) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "complexity_reasoning": {"type": "STRING"},
            "complexity_score": {"type": "INTEGER"},
        },
        "required": ["complexity_reasoning", "complexity_score"],
    }
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema)
    reply = await gemini_client(fresh, "openai").aio.models.generate_content(
        model="gemini-3.5-flash-lite", contents="Classify: hello", config=config
    )
    assert json.loads(reply.text or "") == {
        "complexity_reasoning": "Mock reply to: Classify: hello",
        "complexity_score": 1,
    }
    sent = fresh.upstream.requests[-1].json
    assert sent["model"] == "gpt-5-mini"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["complexity_score"] == {
        "type": "integer"
    }


async def test_an_unknown_id_is_still_a_404(fresh: Stack) -> None:
    with pytest.raises(openai.NotFoundError):
        await fresh.client("claude").chat.completions.create(
            model="llama-4-maverick", messages=[{"role": "user", "content": "Hi"}]
        )


@pytest.mark.parametrize(
    ("group", "page"),
    [
        ("claude", "https://example.com/mock-search-result"),
        ("gemini", "https://example.com/mock-grounding-source"),
    ],
)
async def test_codexs_web_search_runs_upstream_and_comes_back_cited(
    fresh: Stack, group: str, page: str
) -> None:
    """The hosted web_search tool, run by Anthropic's server-side search or Gemini's grounding: the
    search comes back as a ``web_search_call`` item, and the answer's text cites the page it found
    (``url_citation``) — in a Response object and in a stream (events checked against the spec)."""
    model = "claude-haiku-4-5" if group == "claude" else "gemini-2.5-flash"
    body: Any = {"model": model, "input": "search the web for news", "tools": [{"type": "web_search"}]}
    reply = await fresh.client(group).responses.create(**body)
    assert_response_valid(json.loads(reply.model_dump_json(exclude_unset=True)))
    search, message = reply.output[-2:]
    assert search.type == "web_search_call" and search.status == "completed"
    assert search.action.query == "search the web for news"  # type: ignore[union-attr]
    assert [s.url for s in search.action.sources or []] == [page]  # type: ignore[union-attr]
    assert message.type == "message"
    text = message.content[0]
    assert text.type == "output_text" and text.text == "Mock reply to: search the web for news"
    assert [(a.type, a.url, a.start_index, a.end_index) for a in text.annotations] == [  # type: ignore[union-attr]
        ("url_citation", page, 0, len(text.text))
    ]
    events = await raw_stream(fresh, group, {**body, "stream": True})
    for event in events:
        assert_event_valid(event)
    kinds = [e["type"] for e in events]
    assert "response.web_search_call.completed" in kinds and "response.output_text.annotation.added" in kinds
    final = events[-1]["response"]
    # Gemini grounds a stream at its end: there, the search item follows the text it grounded
    kinds = [item["type"] for item in final["output"]]
    assert kinds[-2:] == (
        ["web_search_call", "message"] if group == "claude" else ["message", "web_search_call"]
    )
    (message_item,) = [item for item in final["output"] if item["type"] == "message"]
    annotations = message_item["content"][0]["annotations"]
    assert [(a["url"], a["start_index"], a["end_index"]) for a in annotations] == [(page, 0, len(text.text))]
