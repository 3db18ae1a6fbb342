"""Content a translation cannot carry is a 400 naming it, never dropped on the way to an upstream of
another protocol: an unknown Anthropic block, a Gemini part of an unknown kind; an empty Gemini part
is malformed on any group. Server tool history (what Anthropic or Gemini ran for an earlier turn)
is still left out, as the translation reference says."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from support.hostile import KEYS, HostileStack, assert_refused, http_request, raw_request

ANTHROPIC_GROUPS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
GEMINI_GROUPS = {"openai": "gpt-4o-mini", "claude": "claude-haiku-4-5"}


def messages(group: str, content: list[Any], *history: dict[str, Any]) -> bytes:
    body = {
        "model": ANTHROPIC_GROUPS.get(group, "claude-haiku-4-5"),
        "max_tokens": 16,
        "messages": [*history, {"role": "user", "content": content}],
    }
    headers = [(b"x-api-key", KEYS[group].encode()), (b"anthropic-version", b"2023-06-01")]
    return http_request("POST", "/v1/messages", headers, orjson.dumps(body))


def generate(group: str, parts: list[Any], *history: dict[str, Any]) -> bytes:
    model = GEMINI_GROUPS.get(group, "gemini-2.5-flash")
    body = {"contents": [*history, {"role": "user", "parts": parts}]}
    headers = [(b"x-goog-api-key", KEYS[group].encode())]
    return http_request("POST", f"/v1beta/models/{model}:generateContent", headers, orjson.dumps(body))


@pytest.mark.parametrize("group", list(ANTHROPIC_GROUPS))
@pytest.mark.parametrize(
    "content",
    [
        [{"type": "mystery_block", "data": 1}],
        [{"type": "text", "text": "hi"}, {"type": "mystery_block", "data": 1}],
        [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "mystery_block"}]}],
    ],
    ids=["alone", "after text", "in a tool result"],
)
async def test_unknown_anthropic_blocks_are_a_400_naming_them(
    hostile: HostileStack, group: str, content: list[Any]
) -> None:
    history = (
        {"role": "user", "content": "use the tool"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    )
    answer = await raw_request(hostile.port, messages(group, content, *history))
    assert "'mystery_block'" in assert_refused(answer, "anthropic", 400)


@pytest.mark.parametrize("group", list(ANTHROPIC_GROUPS))
async def test_server_tool_history_is_still_left_out(hostile: HostileStack, group: str) -> None:
    history = (
        {"role": "user", "content": "news?"},
        {
            "role": "assistant",
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "x"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "Nothing new."},
            ],
        },
    )
    answer = await raw_request(hostile.port, messages(group, [{"type": "text", "text": "ok"}], *history))
    assert answer.status == 200, answer.body[:300]


async def test_unknown_anthropic_blocks_pass_through_to_anthropic(hostile: HostileStack) -> None:
    answer = await raw_request(hostile.port, messages("claude", [{"type": "mystery_block", "data": 1}]))
    assert answer.status < 500 and answer.headers.get("x-torouter-upstream") == "claude", answer.body[:300]
    sent = hostile.claude.requests[-1].json
    assert {"type": "mystery_block", "data": 1} in sent["messages"][-1]["content"]


@pytest.mark.parametrize("group", list(GEMINI_GROUPS))
@pytest.mark.parametrize("parts", [[{}], [{"text": "hi"}, {}], [{"text": "hi"}, {"thought": True}]])
async def test_empty_gemini_parts_are_a_400(hostile: HostileStack, group: str, parts: list[Any]) -> None:
    answer = await raw_request(hostile.port, generate(group, parts))
    assert "a part needs data" in assert_refused(answer, "gemini", 400)


@pytest.mark.parametrize("group", list(GEMINI_GROUPS))
@pytest.mark.parametrize(
    ("part", "kind"),
    [({"mysteryPart": {"x": 1}}, "mysteryPart"), ({"executableCode": {"code": "1"}}, "executableCode")],
)
async def test_gemini_parts_of_kinds_a_translation_cannot_carry_are_a_400_naming_them(
    hostile: HostileStack, group: str, part: dict[str, Any], kind: str
) -> None:
    answer = await raw_request(hostile.port, generate(group, [{"text": "hi"}, part]))
    assert f"'{kind}'" in assert_refused(answer, "gemini", 400)


@pytest.mark.parametrize("group", list(GEMINI_GROUPS))
async def test_gemini_code_execution_history_is_still_left_out(hostile: HostileStack, group: str) -> None:
    ran = {
        "role": "model",
        "parts": [
            {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
            {"text": "It prints 1."},
        ],
    }
    ask = {"role": "user", "parts": [{"text": "run it"}]}
    answer = await raw_request(hostile.port, generate(group, [{"text": "thanks"}], ask, ran))
    assert answer.status == 200, answer.body[:300]
