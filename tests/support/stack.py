"""The test stack: the gateway with a few mock upstreams, and a key per group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import openai

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway, free_port
from support.gemini_upstream import MockGemini
from support.openai_upstream import MockOpenAI

KEYS = {
    "openai": "tr-test-openai-key",
    "demo": "tr-test-demo-key",
    "other": "tr-test-other-key",
    "dead": "tr-test-dead-key",
    "badcred": "tr-test-badcred-key",
    "leaky": "tr-test-leaky-key",
    "slow": "tr-test-slow-key",
    "claude": "tr-test-claude-key",
    "gemini": "tr-test-gemini-key",
    "pair": "tr-test-pair-key",
    "fallback": "tr-test-fallback-key",
    "crossfall": "tr-test-crossfall-key",
    "openrouter": "tr-test-openrouter-key",
}

# the attribution headers the "openrouter" upstream is configured to send
OPENROUTER_ATTRIBUTION = {"HTTP-Referer": "https://torouter.test/app", "X-Title": "ToRouter tests"}

# keys with per-minute limits (each test that uses one runs in a fresh minute window)
LIMITED_KEYS = {
    "rpm": "tr-test-rpm-limited",
    "tpm": "tr-test-tpm-limited",
    "tpm-stream": "tr-test-tpm-stream",
    "claude-rpm": "tr-test-claude-rpm",
}


def upstream_config(kind: str, mock: Any) -> dict[str, Any]:
    """The config entry (CONTRACT §2) of an upstream of ``kind`` served by a mock: its URL, key
    and models."""
    return {"kind": kind, "base_url": mock.base_url, "api_key": mock.api_key, "models": list(mock.models)}


@dataclass
class Stack:
    """The gateway and the upstreams behind it."""

    gateway: Gateway
    upstream: MockOpenAI  # group "openai" (also "badcred" with a wrong key, "slow")
    leaky: MockOpenAI  # group "leaky": echoes the key it received in its error messages
    other: MockOpenAI  # group "other": the only upstream serving "secret-model"
    claude: MockAnthropic  # group "claude"
    gemini: MockGemini  # group "gemini"
    openrouter: MockOpenAI  # group "openrouter": the OpenRouter flavour, full model ids

    def client(self, group: str = "openai", *, prefix: str = "/v1", **kwargs: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.gateway.base_url}{prefix}", api_key=KEYS[group], max_retries=0, **kwargs
        )

    def anthropic(self, group: str = "claude", **kwargs: Any) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url=self.gateway.base_url, api_key=KEYS[group], max_retries=0, **kwargs
        )

    def reset(self) -> None:
        if self.gateway.router is not None:
            self.gateway.router.app.dispatcher.cooldowns.reset()
        self.claude.reset()
        self.gemini.reset()
        for mock in (self.upstream, self.leaky, self.other, self.openrouter):
            mock.reset()


def stack_config(
    upstream: MockOpenAI,
    leaky: MockOpenAI,
    other: MockOpenAI,
    claude: MockAnthropic,
    gemini: MockGemini,
    openrouter: MockOpenAI,
) -> dict[str, Any]:
    return {
        "router": {
            "retries": 0
        },  # one attempt per route, so each fault is seen; retries have their own tests
        "upstreams": {
            "oai": {
                "kind": "openai",
                "base_url": upstream.base_url,
                "api_key": upstream.api_key,
                "models": list(upstream.models),
            },
            "oai-slow": {
                "kind": "openai",
                "base_url": upstream.base_url,
                "api_key": upstream.api_key,
                "models": ["gpt-4o-mini"],
                "timeout_s": 0.5,
            },
            "oai-badcred": {
                "kind": "openai",
                "base_url": upstream.base_url,
                "api_key": "sk-wrong-credential-123456",
                "models": ["gpt-4o-mini"],
            },
            "oai-leaky": {
                "kind": "openai",
                "base_url": leaky.base_url,
                "api_key": leaky.api_key,
                "models": list(leaky.models),
            },
            "oai-other": {
                "kind": "openai",
                "base_url": other.base_url,
                "api_key": other.api_key,
                "models": ["secret-model"],
            },
            "dead": {
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-dead",
                "models": ["gpt-4o-mini"],
            },
            "claude": {
                "kind": "anthropic",
                "base_url": claude.base_url,
                "api_key": claude.api_key,
                "models": list(claude.models),
            },
            "gemini": {
                "kind": "gemini",
                "base_url": gemini.base_url,
                "api_key": gemini.api_key,
                "models": list(gemini.models),
            },
            "orouter": {
                "kind": "openrouter",
                "base_url": openrouter.base_url,
                "api_key": openrouter.api_key,
                "models": list(openrouter.models),
                "headers": dict(OPENROUTER_ATTRIBUTION),
            },
            "echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["echo-1", "*"]},
        },
        "groups": {
            "openai": {"upstreams": ["oai"], "model_map": {"house-model": "gpt-4o-mini"}},
            "demo": {"upstreams": ["echo"]},
            "claude": {"upstreams": ["claude"]},
            "gemini": {"upstreams": ["gemini"]},
            "openrouter": {"upstreams": ["orouter"]},
            "pair": {"upstreams": ["oai", "oai-leaky"]},
            "fallback": {"upstreams": ["dead", "oai"]},
            "crossfall": {
                "upstreams": ["dead", "claude"],
                "fallback_models": {"gpt-4o-mini": ["claude-haiku-4-5"]},
            },
            "other": {"upstreams": ["oai-other"]},
            "dead": {"upstreams": ["dead"]},
            "badcred": {"upstreams": ["oai-badcred"]},
            "leaky": {"upstreams": ["oai-leaky"]},
            "slow": {"upstreams": ["oai-slow"]},
        },
        "keys": [{"name": f"{group}-key", "key": key, "group": group} for group, key in KEYS.items()]
        + [
            {"name": "rpm-limited", "key": LIMITED_KEYS["rpm"], "group": "openai", "rpm": 2},
            {"name": "tpm-limited", "key": LIMITED_KEYS["tpm"], "group": "openai", "tpm": 20},
            {"name": "tpm-stream", "key": LIMITED_KEYS["tpm-stream"], "group": "openai", "tpm": 20},
            {"name": "claude-rpm-limited", "key": LIMITED_KEYS["claude-rpm"], "group": "claude", "rpm": 1},
        ],
    }
