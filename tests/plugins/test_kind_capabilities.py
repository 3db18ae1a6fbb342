"""What a kind declares of its models reaches the codec through the router (docs/plugins.md,
"What a kind knows of its models"): third-party kinds that declare an output limit, refused fields,
sampling and stop rules and OpenRouter's reasoning budget have their requests fitted; the same
kinds without the declarations are sent what the caller asked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anthropic
import openai
import pytest

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.openai_upstream import MockOpenAI
from torouter.router import hookimpl
from torouter.router.capabilities import NO_CAPABILITIES, Capabilities, CapabilityTable, Refusal
from torouter.router.config import UpstreamConfig
from torouter.router.plugins import collect, make_plugin_manager
from torouter.router.routing.catalog import thinking_models
from torouter.router.routing.families import family_rules
from torouter.router.server import RouterServer, build_router
from torouter.router.upstreams import HttpUpstream, UpstreamKind, UpstreamRequest

KEYS = {
    "capable": "tr-test-capable",
    "plain": "tr-test-plain",
    "relay": "tr-test-relay",
    "bare": "tr-test-bare",
}
CLAUDE = "house-claude"  # a model no built-in kind knows: only the third-party kind's declaration counts
ROUTED = "anthropic/claude-sonnet-4.5"  # an id the OpenRouter-flavoured mock serves


class MessagesUpstream(HttpUpstream):
    """An Anthropic-compatible API: the anthropic protocol, its own kind."""

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.api_key, "anthropic-version": "2023-06-01"}

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        return "POST", f"{self.config.base_url}/v1/messages"


class ChatUpstream(HttpUpstream):
    """An OpenAI-compatible API: the openai protocol, its own kind."""

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.config.api_key}"}

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        return "POST", f"{self.config.base_url}/chat/completions"


@dataclass
class Kind:
    """A third-party kind that declares nothing of its models (as one written before the hooks)."""

    name: str
    protocol: str
    upstream: type[HttpUpstream]

    @property
    def operations(self) -> frozenset[str]:
        return frozenset({"messages" if self.protocol == "anthropic" else "chat.completions"})

    def create(self, config: UpstreamConfig) -> HttpUpstream:
        return self.upstream(config, self)  # type: ignore[arg-type]


@dataclass
class DeclaringKind(Kind):
    """The same, declaring what its models accept."""

    declared: Capabilities = NO_CAPABILITIES

    def capabilities(self, model: str) -> Capabilities:
        return self.declared


NO_PREDICTION = "Acme cannot use a predicted output."
CAPABLE = Capabilities(
    output_limit=2000,
    refused=MappingProxyType({"prediction": Refusal(lambda v: v is not None, NO_PREDICTION)}),
)
NO_LOGIT_BIAS = "Acme's relay takes no logit_bias."
RELAY = Capabilities(
    output_limit=4000,
    default_sampling_only=True,
    max_stop_sequences=1,
    reasoning_max_tokens=True,
    refused=MappingProxyType({"logit_bias": Refusal(bool, NO_LOGIT_BIAS)}),
)


class Plugin:
    @hookimpl
    def torouter_upstream_kinds(self, register: Callable[[UpstreamKind], None]) -> None:
        register(DeclaringKind("capable", "anthropic", MessagesUpstream, CAPABLE))  # type: ignore[arg-type]
        register(Kind("plain", "anthropic", MessagesUpstream))  # type: ignore[arg-type]
        register(DeclaringKind("relay", "openai", ChatUpstream, RELAY))  # type: ignore[arg-type]
        register(Kind("bare", "openai", ChatUpstream))  # type: ignore[arg-type]


class KindsGateway(Gateway):
    async def start_router(self) -> None:
        manager = make_plugin_manager(entry_points=False)
        manager.register(Plugin(), name="acme")
        self.router = RouterServer(self.config, build_router(self.config, collect(manager)))
        await self.router.start()


@dataclass
class Stack:
    claude: MockAnthropic
    routed: MockOpenAI
    gateway: Gateway

    def openai(self, group: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.gateway.base_url}/v1", api_key=KEYS[group], max_retries=0)

    def anthropic(self, group: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.gateway.base_url, api_key=KEYS[group], max_retries=0)


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with (
        MockAnthropic(models=(CLAUDE,)) as claude,
        MockOpenAI(flavour="openrouter", name="routed") as routed,
    ):
        upstreams: dict[str, Any] = {}
        for kind, mock, model in (
            ("capable", claude, CLAUDE),
            ("plain", claude, CLAUDE),
            ("relay", routed, ROUTED),
            ("bare", routed, ROUTED),
        ):
            upstreams[kind] = {
                "kind": kind,
                "base_url": mock.base_url,
                "api_key": mock.api_key,
                "models": [model],
            }
        config = {
            "upstreams": upstreams,
            "groups": {kind: {"upstreams": [kind]} for kind in KEYS},
            "keys": [{"name": kind, "key": key, "group": kind} for kind, key in KEYS.items()],
        }
        async with KindsGateway(config) as gateway:
            yield Stack(claude, routed, gateway)


async def test_a_declared_output_limit_and_refused_field(stack: Stack) -> None:
    async with stack.openai("capable") as client:
        await client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=50_000
        )
        assert stack.claude.requests[-1].json["max_tokens"] == 2000  # fitted to the declared limit
        sent = len(stack.claude.requests)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model=CLAUDE,
                messages=[{"role": "user", "content": "hi"}],
                prediction={"type": "content", "content": "hello"},
            )
    assert caught.value.body["param"] == "prediction" and NO_PREDICTION in caught.value.message  # type: ignore[index]
    assert len(stack.claude.requests) == sent  # refused before any upstream call


async def test_a_kind_that_declares_nothing_is_sent_what_was_asked(stack: Stack) -> None:
    async with stack.openai("plain") as client:
        reply = await client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": "hi"}],
            max_completion_tokens=50_000,
            prediction={"type": "content", "content": "hello"},  # refused by no one: not sent
        )
    assert reply.choices[0].message.content
    sent = stack.claude.requests[-1].json
    assert sent["max_tokens"] == 50_000 and "prediction" not in sent


@pytest.mark.parametrize("kind", ["capable", "plain"])
async def test_what_the_protocol_cannot_carry_is_refused_whatever_the_kind_declares(
    stack: Stack, kind: str
) -> None:
    sent = len(stack.claude.requests)
    async with stack.openai(kind) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model=CLAUDE, messages=[{"role": "user", "content": "hi"}], logprobs=True
            )
    assert caught.value.body["param"] == "logprobs"  # type: ignore[index]
    assert "log probabilities" in caught.value.message
    assert len(stack.claude.requests) == sent


async def test_declared_sampling_stops_and_reasoning_budget_on_the_openai_wire(stack: Stack) -> None:
    ask: dict[str, Any] = {
        "model": ROUTED,
        "max_tokens": 5000,
        "extra_body": {"temperature": 0.5},  # this SDK no longer names it
        "thinking": {"type": "enabled", "budget_tokens": 3000},
        "messages": [{"role": "user", "content": "think"}],
    }
    async with stack.anthropic("relay") as claude:
        await claude.messages.create(**ask)
        sent = stack.routed.requests[-1].json
        assert sent["max_completion_tokens"] == 4000 and "temperature" not in sent
        assert sent["reasoning"] == {"max_tokens": 3000} and "reasoning_effort" not in sent
        with pytest.raises(anthropic.BadRequestError, match="at most 1 stop sequences"):
            await claude.messages.create(**ask, stop_sequences=["END", "STOP"])
    async with stack.anthropic("bare") as claude:
        await claude.messages.create(**ask, stop_sequences=["END", "STOP"])
    sent = stack.routed.requests[-1].json
    assert (sent["max_completion_tokens"], sent["temperature"], sent["stop"]) == (5000, 0.5, ["END", "STOP"])
    assert "reasoning" not in sent and sent["reasoning_effort"] == "medium"


async def test_a_refused_field_is_refused_in_passthrough_too(stack: Stack) -> None:
    """An OpenAI caller of a kind speaking OpenAI: its bytes go up as they are, but what the kind
    declared it refuses is still a 400, before any upstream call; a kind that declares nothing is
    sent the field."""
    sent = len(stack.routed.requests)
    async with stack.openai("relay") as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model=ROUTED, messages=[{"role": "user", "content": "hi"}], logit_bias={"50256": -100}
            )
        assert caught.value.body["param"] == "logit_bias" and NO_LOGIT_BIAS in caught.value.message  # type: ignore[index]
        assert len(stack.routed.requests) == sent
        await client.chat.completions.create(model=ROUTED, messages=[{"role": "user", "content": "hi"}])
    async with stack.openai("bare") as client:
        await client.chat.completions.create(
            model=ROUTED, messages=[{"role": "user", "content": "hi"}], logit_bias={"50256": -100}
        )
    assert stack.routed.requests[-1].json["logit_bias"] == {"50256": -100}


def test_the_router_asks_a_kind_once_per_model() -> None:
    asked: list[str] = []

    class Counting:
        def capabilities(self, model: str) -> Capabilities:
            asked.append(model)
            return CAPABLE

    table = CapabilityTable({"counting": Counting(), "plain": Kind("plain", "openai", ChatUpstream)})
    assert [table.of("counting", m) for m in ("a", "b", "a", "a")] == [CAPABLE] * 4
    assert asked == ["a", "b"]
    assert table.of("plain", "a") is NO_CAPABILITIES and table.of("unknown-kind", "a") is NO_CAPABILITIES


DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_the_documented_declarations_do_what_the_docs_say() -> None:
    """The examples of "What a kind knows of its models", each run as a kind of its own."""
    section = DOC.read_text().split("## What a kind knows of its models", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    kinds: dict[str, object] = {}
    for number, code in enumerate(blocks):
        module: dict[str, Any] = {}
        exec(compile(code, str(DOC), "exec"), module)
        kinds[f"acme{number}"] = module["AcmeKind"]()
    assert thinking_models(kinds)["acme0"] == ("acme-reason",)
    rules = family_rules(kinds)
    assert [rules.family_of(m) for m in ("acme-pebble-3", "acme-boulder", "acme-4")] == [
        "small",
        "large",
        "medium",
    ]
    assert rules.sized("acme-paint-1") is None
    table = CapabilityTable(kinds)
    assert (table.of("acme2", "acme-boulder-2").output_limit, table.of("acme2", "acme-1").output_limit) == (
        32_000,
        8_192,
    )
    audio = table.of("acme2", "acme-1").refused["audio"]
    assert audio.refuses({"voice": "alloy"}) and not audio.refuses(None)
    assert table.of("acme0", "acme-reason-2") is NO_CAPABILITIES  # it declares no capabilities
