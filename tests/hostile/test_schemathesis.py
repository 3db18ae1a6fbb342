"""Schemathesis against the running gateway, from the OpenAPI documents the tests already use
(``tests/specs``): requests made from each operation's schema, valid (``positive``) and broken
(``negative``), sent with a real key of a passthrough or a translated group. Every answer: a status
below 500 unless an upstream failed, an ``x-request-id``, an error in the caller's protocol, and no
key repeated. A bounded number of examples per operation keeps it to seconds in CI."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from support.hostile import KEYS, HostileStack, error_shape, every_credential
from support.schemas import SPEC_FILES, specs_dir

EXAMPLES = 6  # per operation and generation mode: about 20 s for the lot on the 2-core box

# (spec, the base path its paths are under, path, method, protocol)
OPERATIONS = [
    ("openai", "/v1", "/chat/completions", "POST", "openai"),
    ("openai", "/v1", "/embeddings", "POST", "openai"),
    ("openai", "/v1", "/images/generations", "POST", "openai"),
    ("openai", "/v1", "/responses", "POST", "openai"),
    ("openai", "/v1", "/models/{model}", "GET", "openai"),
    ("anthropic", "", "/v1/messages", "POST", "anthropic"),
    ("gemini", "", "/v1beta/models/{model}:generateContent", "POST", "gemini"),
]
# the group a key belongs to, and a model it serves, passthrough and translated for each protocol
ROUTES = {
    "openai": [("openai", "gpt-4o-mini"), ("claude", "claude-haiku-4-5")],
    "anthropic": [("claude", "claude-haiku-4-5"), ("openai", "gpt-4o-mini")],
    "gemini": [("gemini", "gemini-2.5-flash"), ("openai", "gpt-4o-mini")],
}


def _auth(protocol: str, key: str) -> dict[str, str]:
    if protocol == "anthropic":
        return {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if protocol == "gemini":
        return {"x-goog-api-key": key}
    return {"Authorization": f"Bearer {key}"}


def _header(response: schemathesis.Response, name: str) -> str:
    values = response.headers.get(name) or [""]  # schemathesis keeps each header's values in a list
    return values[0] if isinstance(values, list) else str(values)


def _check(protocol: str, response: schemathesis.Response) -> None:
    upstream_failed = response.status_code in (502, 503, 504) and "upstream" in response.text
    assert response.status_code < 500 or upstream_failed, (response.status_code, response.text[:300])
    assert _header(response, "x-request-id"), response.headers
    if response.status_code >= 400:
        assert _header(response, "content-type").startswith("application/json"), response.headers
        error_shape(protocol, orjson.loads(response.content))
    for secret in every_credential():
        assert secret not in response.text


def _run(hostile_base: str, spec: str, base: str, path: str, method: str, protocol: str) -> int:
    schema = schemathesis.openapi.from_path(str(specs_dir() / SPEC_FILES[spec]))
    operation = schema[path][method]
    strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))
    sent = 0
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    )
    @given(case=strategy, route=st.sampled_from(ROUTES[protocol]), real_model=st.booleans())
    def send(case: Any, route: tuple[str, str], real_model: bool) -> None:
        nonlocal sent
        group, model = route
        if real_model:  # else the generated model id, most likely unknown
            if isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = model
            if case.path_parameters and "model" in case.path_parameters:
                case.path_parameters["model"] = model
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in _KEY_HEADERS}
        case.headers = {**headers, **_auth(protocol, KEYS[group])}
        response = case.call(base_url=hostile_base + base, session=session, timeout=30)
        sent += 1
        _check(protocol, response)

    send()
    return sent


_KEY_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "anthropic-version"}


@pytest.mark.parametrize(
    ("spec", "base", "path", "method", "protocol"),
    OPERATIONS,
    ids=[f"{o[0]} {o[3]} {o[2]}" for o in OPERATIONS],
)
async def test_schemathesis(
    hostile: HostileStack, spec: str, base: str, path: str, method: str, protocol: str
) -> None:
    hostile.reset()
    sent = await asyncio.to_thread(_run, hostile.gateway.base_url, spec, base, path, method, protocol)
    assert sent >= EXAMPLES
