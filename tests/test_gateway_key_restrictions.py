"""Key restrictions (CONTRACT §5) end to end through the edge, with the official SDKs of all three
protocols: each block is answered in the caller's protocol with its status and error type, before
any upstream call, and named in the request log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import anthropic
import httpx
import openai
import pytest
from aiohttp import web
from google import genai
from google.genai import errors as genai_errors

from support.gateway import Gateway, free_port
from support.stack import Stack, upstream_config
from torouter.edge.app import create_app
from torouter.router.config import Config

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
OTHER_MODEL = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-pro"}
GROUPS = {"openai": "openai", "anthropic": "claude", "gemini": "gemini"}
PROTOCOLS = tuple(MODELS)

# restriction -> the rules of the key that trips it
RESTRICTIONS: dict[str, dict[str, Any]] = {
    "expired": {"expires_at": "2020-01-01T00:00:00Z"},
    "ip-allow": {"ip_allow": ["10.0.0.0/8", "2001:db8::/32"]},
    "ip-deny": {"ip_deny": ["127.0.0.0/8"]},
    "models": {"models": ["not-this-one"]},
    "window": {"requests_5h": 2},
    "cap": {"spend_cap_usd": 0.01},
    "fine": {
        "ip_allow": ["127.0.0.1/32", "::1/128"],
        "expires_at": "2999-01-01T00:00:00Z",
        "requests_24h": 1000,
        "spend_cap_usd": 100,
    },
}


def secret(restriction: str, protocol: str) -> str:
    return f"tr-test-{restriction}-{protocol}"


def key_name(restriction: str, protocol: str) -> str:
    return f"{restriction}-{protocol}"


@dataclass
class Restricted:
    gateway: Gateway
    stack: Stack
    log: list[dict[str, Any]]

    def sent_upstream(self) -> int:
        return (
            len(self.stack.upstream.requests)
            + len(self.stack.claude.requests)
            + len(self.stack.gemini.requests)
        )


def restricted_config(stack: Stack) -> dict[str, Any]:
    keys = [
        {"name": key_name(r, p), "key": secret(r, p), "group": GROUPS[p], **rules}
        for r, rules in RESTRICTIONS.items()
        for p in PROTOCOLS
    ]
    keys.append(
        {
            "name": "thinking-models",
            "key": "tr-test-thinking-models",
            "group": "claude",
            "models": ["claude-sonnet-4-5"],
        }
    )
    keys.append(
        {"name": "listed-models", "key": "tr-test-listed-models", "group": "openai", "models": ["gpt-4o"]}
    )
    keys.append(
        {
            "name": "models-window",
            "key": "tr-test-models-window",
            "group": "openai",
            "models": ["gpt-4o"],
            "requests_5h": 1,
        }
    )
    return {
        "router": {"retries": 0},
        "upstreams": {
            "oai": upstream_config("openai", stack.upstream),
            "claude": upstream_config("anthropic", stack.claude),
            "gemini": upstream_config("gemini", stack.gemini),
        },
        "groups": {
            "openai": {"upstreams": ["oai"]},
            "claude": {"upstreams": ["claude"]},
            "gemini": {"upstreams": ["gemini"]},
        },
        "keys": keys,
    }


@pytest.fixture(scope="module")
async def restricted_gateway(stack: Stack) -> AsyncIterator[Gateway]:
    async with Gateway(restricted_config(stack)) as gateway:
        assert gateway.router is not None
        for protocol in PROTOCOLS:  # the capped keys have spent their cap already
            await gateway.router.app.store.add_spend(key_name("cap", protocol), 0.02)
        yield gateway


@pytest.fixture
async def restricted(restricted_gateway: Gateway, fresh: Stack) -> Restricted:
    log: list[dict[str, Any]] = []
    assert restricted_gateway.router is not None
    restricted_gateway.router.app.dispatcher.request_log = log.append
    return Restricted(restricted_gateway, fresh, log)


async def ask(base_url: str, protocol: str, key: str, model: str | None = None, **headers: str) -> None:
    """One small chat request with the protocol's official SDK; raises the SDK's error."""
    model = model or MODELS[protocol]
    if protocol == "openai":
        async with openai.AsyncOpenAI(
            base_url=f"{base_url}/v1", api_key=key, max_retries=0, default_headers=headers
        ) as client:
            await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    elif protocol == "anthropic":
        async with anthropic.AsyncAnthropic(
            base_url=base_url, api_key=key, max_retries=0, default_headers=headers
        ) as claude:
            await claude.messages.create(
                model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            )
    else:
        client = genai.Client(
            api_key=key,
            http_options={"base_url": base_url, "headers": headers, "retry_options": {"attempts": 1}},
        )
        await client.aio.models.generate_content(model=model, contents="hi")


async def refused(call: Awaitable[None]) -> tuple[int, Any, httpx.Headers | None]:
    """(status, error body, headers) of the SDK error a call raised."""
    try:
        await call
    except (openai.APIStatusError, anthropic.APIStatusError) as error:
        return error.status_code, error.body, error.response.headers
    except genai_errors.APIError as error:
        return error.code, error.details, None
    raise AssertionError("the request was not refused")


UNAUTHENTICATED = {"anthropic": "authentication_error", "gemini": "UNAUTHENTICATED"}
EXPECTED: dict[str, dict[str, tuple[int, str]]] = {
    # restriction -> protocol -> (status, the protocol's error code / type / status)
    "expired": {"openai": (401, "key_expired"), **{p: (401, t) for p, t in UNAUTHENTICATED.items()}},
    "ip-allow": {"openai": (401, "ip_not_allowed"), **{p: (401, t) for p, t in UNAUTHENTICATED.items()}},
    "ip-deny": {"openai": (401, "ip_not_allowed"), **{p: (401, t) for p, t in UNAUTHENTICATED.items()}},
    "models": {
        "openai": (403, "model_not_allowed"),
        "anthropic": (403, "permission_error"),
        "gemini": (403, "PERMISSION_DENIED"),
    },
    "cap": {
        "openai": (402, "insufficient_quota"),
        "anthropic": (402, "billing_error"),
        "gemini": (402, "RESOURCE_EXHAUSTED"),
    },
}
REASONS = {
    "expired": "key_expired",
    "ip-allow": "ip_not_allowed",
    "ip-deny": "ip_not_allowed",
    "models": "model_not_allowed",
    "cap": "spend_cap_reached",
}


def error_kind(protocol: str, body: Any) -> str:
    error = body.get("error", body)  # the openai SDK's body is the error object itself
    if protocol == "openai":
        return str(error["code"])
    return str(error["type"] if protocol == "anthropic" else error["status"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("restriction", sorted(EXPECTED))
async def test_each_block_in_the_callers_protocol_before_any_upstream(
    restricted: Restricted, restriction: str, protocol: str
) -> None:
    before = restricted.sent_upstream()
    status, body, headers = await refused(
        ask(restricted.gateway.base_url, protocol, secret(restriction, protocol))
    )
    expected_status, expected_kind = EXPECTED[restriction][protocol]
    assert status == expected_status
    if protocol == "gemini":
        assert body["error"]["code"] == expected_status
    assert error_kind(protocol, body) == expected_kind
    if headers is not None:
        assert headers["x-request-id"]
    assert restricted.sent_upstream() == before  # blocked: nothing reached an upstream
    entry = restricted.log[-1]
    assert (entry["key"], entry["blocked"], entry["status"]) == (
        key_name(restriction, protocol),
        REASONS[restriction],
        expected_status,
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_request_window_admits_its_limit_then_says_when_it_has_room(
    restricted: Restricted, protocol: str
) -> None:
    key = secret("window", protocol)
    for _ in range(2):
        await ask(restricted.gateway.base_url, protocol, key)
    before = restricted.sent_upstream()
    status, body, headers = await refused(ask(restricted.gateway.base_url, protocol, key))
    assert status == 429
    assert error_kind(protocol, body) in {"rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"}
    if headers is not None:  # the window is 5 hours long: room in almost all of it
        assert 5 * 3600 - 120 <= int(headers["retry-after"]) <= 5 * 3600
    else:
        assert body["error"]["details"][0]["retryDelay"].endswith("s")
        assert int(body["error"]["details"][0]["retryDelay"][:-1]) > 5 * 3600 - 120
    assert restricted.sent_upstream() == before
    assert restricted.log[-1]["blocked"] == "request_window_full"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_key_within_all_its_restrictions_is_served(restricted: Restricted, protocol: str) -> None:
    before = restricted.sent_upstream()
    await ask(restricted.gateway.base_url, protocol, secret("fine", protocol))
    assert restricted.sent_upstream() == before + 1
    assert restricted.log[-1]["blocked"] is None and restricted.log[-1]["status"] == 200


async def test_the_model_allowlist_covers_thinking_ids_and_takes_prefixes_literally(
    restricted: Restricted,
) -> None:
    base = restricted.gateway.base_url
    await ask(base, "anthropic", "tr-test-thinking-models", "claude-sonnet-4-5")
    # the -thinking id is covered by its base id (and turns thinking on upstream)
    async with openai.AsyncOpenAI(
        base_url=f"{base}/v1", api_key="tr-test-thinking-models", max_retries=0
    ) as oa:
        reply = await oa.chat.completions.create(
            model="claude-sonnet-4-5-thinking", messages=[{"role": "user", "content": "hi"}], max_tokens=2048
        )
        assert reply.choices[0].message.content
    assert restricted.stack.claude.requests[-1].json["thinking"]["type"] == "enabled"
    status, body, _ = await refused(
        ask(base, "anthropic", "tr-test-thinking-models", "anthropic/claude-sonnet-4-5")
    )
    assert (status, body["error"]["type"]) == (403, "permission_error")
    status, _, _ = await refused(ask(base, "anthropic", "tr-test-thinking-models", "claude-haiku-4-5"))
    assert status == 403


async def test_models_lists_only_what_the_key_may_use(restricted: Restricted) -> None:
    base = restricted.gateway.base_url
    async with openai.AsyncOpenAI(
        base_url=f"{base}/v1", api_key="tr-test-listed-models", max_retries=0
    ) as client:
        listed = [model.id async for model in client.models.list()]
        assert listed == ["gpt-4o"]
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
        with pytest.raises(openai.PermissionDeniedError):
            await client.models.retrieve("gpt-4o-mini")


async def start_edge(config: Config, host: str, **edge: Any) -> tuple[web.AppRunner, str]:
    """Another edge in front of the same router: on ``host``, with ``edge`` settings changed."""
    port = free_port()
    edge_config = replace(config, edge=replace(config.edge, listen=f"{host}:{port}", **edge))
    runner = web.AppRunner(create_app(edge_config), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{port}"


async def with_edge(config: Config, host: str, test: Callable[[str], Awaitable[None]], **edge: Any) -> None:
    runner, base = await start_edge(config, host, **edge)
    try:
        await test(base)
    finally:
        await runner.cleanup()


async def test_ipv6_clients_are_matched_against_ipv6_rules(restricted: Restricted) -> None:
    async def over_ipv6(base: str) -> None:
        await ask(base, "openai", secret("fine", "openai"))  # ::1/128 is allowed
        status, _, _ = await refused(ask(base, "openai", secret("ip-allow", "openai")))  # 2001:db8::/32 only
        assert status == 401

    await with_edge(restricted.gateway.config, "::1", over_ipv6)
    assert restricted.log[-1]["blocked"] == "ip_not_allowed"


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(restricted: Restricted) -> None:
    key = secret("ip-deny", "openai")  # denies 127.0.0.0/8
    forwarded = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}
    # an untrusted peer's X-Forwarded-For changes nothing: the peer (127.0.0.1) is denied
    status, _, _ = await refused(ask(restricted.gateway.base_url, "openai", key, **forwarded))
    assert status == 401

    async def behind_a_trusted_proxy(base: str) -> None:
        # the right-most untrusted address is the client: 198.51.100.7 is not denied
        await ask(base, "openai", key, **forwarded)
        assert restricted.log[-1]["status"] == 200
        # a forged left-most entry does not help a denied client behind the proxy
        status, _, _ = await refused(
            ask(base, "openai", key, **{"X-Forwarded-For": "198.51.100.7, 127.0.0.9"})
        )
        assert status == 401

    await with_edge(
        restricted.gateway.config, "127.0.0.1", behind_a_trusted_proxy, trusted_proxies=("127.0.0.1/32",)
    )


async def test_a_blocked_request_counts_nowhere(restricted: Restricted) -> None:
    """Refused for its model, a request does not use up the key's one-request window."""
    base = restricted.gateway.base_url
    for _ in range(3):
        status, _, _ = await refused(ask(base, "openai", "tr-test-models-window", "gpt-4o-mini"))
        assert status == 403
    await ask(base, "openai", "tr-test-models-window", "gpt-4o")
    status, _, _ = await refused(ask(base, "openai", "tr-test-models-window", "gpt-4o"))
    assert status == 429
