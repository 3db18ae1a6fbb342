"""Property-based fuzzing of the three request readers (OpenAI chat, Anthropic messages, Gemini
generateContent): whatever JSON object a caller sends, reading it raises nothing but the protocol's
400, and a request that reads is written for each other protocol and encoded with nothing but a 4xx
(the path every translated request takes before it reaches an upstream).

Bodies are valid requests mutated at random paths (a value replaced by any JSON value, a key
dropped or added), and arbitrary objects over the protocols' field names. Values are what a JSON
parse gives (integers within 64 bits: orjson reads larger ones as floats)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.kinds import capabilities_of
from torouter.router.errors import GatewayError
from torouter.router.ir import ChatRequest
from torouter.router.operations.body_bytes import encode_request
from torouter.router.plugins import load_registry
from torouter.router.protocols.base import ChatCodec

EXAMPLES = 200  # per protocol: ~3 s each on the 2-core box
TARGET_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
KINDS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        value = {"type": "object", "properties": {"a": value}}
    return value


# values at the edges of what a JSON parse gives and what the writers can encode
AWKWARD = [
    1e30,
    -1e300,
    1.8446744073709552e19,  # 2**64 as orjson reads it
    2**64 - 1,
    -(2**63),
    0.5,
    -1,
    "99999999999999999999999",
    "-0",
    "\x00",
    "x" * 5000,
    _deep(150),  # 300 JSON levels: more than orjson writes
]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["", "user", "assistant", "model", "system", "text", "image", "tool_use", "auto", "none"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)

VALUES = st.sampled_from(AWKWARD) | JSON  # what a mutation puts in: half the time an awkward value

IMAGE = "iVBORw0KGgo="
BASES: dict[str, list[dict[str, Any]]] = {
    "openai": [
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "auto",
            "max_tokens": 100,
            "temperature": 0.5,
            "stop": ["x"],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object"}},
            },
            "reasoning_effort": "low",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ],
    "anthropic": [
        {
            "model": "m",
            "max_tokens": 100,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": IMAGE},
                        },
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "42"}],
                        }
                    ],
                },
            ],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "stop_sequences": ["x"],
            "metadata": {"user_id": "u"},
        }
    ],
    "gemini": [
        {
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [
                {
                    "role": "user",
                    "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": IMAGE}}],
                },
                {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "s"}],
                },
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "f", "response": {"output": "42"}}}],
                },
            ],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
            "generationConfig": {
                "maxOutputTokens": 100,
                "temperature": 0.5,
                "topK": 3,
                "candidateCount": 1,
                "stopSequences": ["x"],
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
            },
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        }
    ],
}


def _all_keys(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            _all_keys(item, out)
    elif isinstance(value, list):
        for item in value:
            _all_keys(item, out)
    return out


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value``, 8 levels deep at most."""
    found = [path]
    if len(path) >= 8:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _mutate(data: st.DataObject, body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = [p for p in _paths(body) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "drop", "add"]), label="action")
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(data.draw(VALUES, label="value"))
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            names = sorted(_all_keys(BASES, set()) | {"type", "role", "content", "parts"})
            parent[data.draw(st.sampled_from(names), label="key")] = copy.deepcopy(
                data.draw(VALUES, label="added")
            )
        else:
            item = copy.deepcopy(data.draw(VALUES, label="item"))
            parent.insert(data.draw(st.integers(0, len(parent)), label="at"), item)
    return body


CODECS = load_registry().protocols


def _codec(protocol: str) -> ChatCodec:
    codec = CODECS[protocol].chat
    assert codec is not None
    return codec


def _refusal(step: Callable[[], object]) -> int | None:
    """The status of the GatewayError ``step`` raised (None: it raised nothing)."""
    try:
        step()
    except GatewayError as error:
        return error.status
    return None


def _check(protocol: str, body: dict[str, Any]) -> None:
    """Reading raises only the protocol's 400; writing for another protocol only a 4xx."""
    status = _refusal(lambda: _codec(protocol).read_request(copy.deepcopy(body)))
    if status is not None:
        assert status == 400
        return
    for target in CODECS:
        if target == protocol or CODECS[target].chat is None:
            continue
        request: ChatRequest = _codec(protocol).read_request(copy.deepcopy(body))
        request.model = TARGET_MODELS[target]
        request.capabilities = capabilities_of(KINDS[target], request.model)
        status = _refusal(lambda: encode_request(_codec(target).write_request(request)))  # noqa: B023
        assert status is None or 400 <= status < 500, status


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: CI never fails on a new draw by chance
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("protocol", list(BASES))
def test_mutated_requests_read_as_a_400_or_translate(protocol: str) -> None:
    @SETTINGS
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        base = data.draw(st.sampled_from(BASES[protocol]), label="base")
        _check(protocol, _mutate(data, base))

    run()


@pytest.mark.parametrize("protocol", list(BASES))
def test_arbitrary_objects_read_as_a_400_or_translate(protocol: str) -> None:
    names = sorted(_all_keys(BASES[protocol], set()))

    @settings(SETTINGS, max_examples=EXAMPLES // 2)
    @given(body=st.dictionaries(st.sampled_from(names) | st.text(max_size=8), JSON, max_size=6))
    def run(body: dict[str, Any]) -> None:
        _check(protocol, body)

    run()
