"""Shared fixtures: mock upstreams and the whole gateway, started once per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.gemini_upstream import MockGemini
from support.openai_upstream import DEFAULT_MODELS, MockOpenAI
from support.stack import Stack, stack_config


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    async with (
        MockOpenAI(name="main", models=(*DEFAULT_MODELS, "text-embedding-3-small")) as upstream,
        MockOpenAI(
            name="leaky", echo_key_in_errors=True, api_key="sk-leaky-9f8e7d6c5b4a39281706aBCD"
        ) as leaky,
        MockOpenAI(name="other", models=["secret-model"], api_key="sk-other-0011223344556677") as other,
        MockAnthropic(name="claude") as claude,
        MockGemini(name="gemini") as gemini,
        MockOpenAI(
            name="openrouter",
            flavour="openrouter",
            api_key="sk-or-v1-mock-0123456789abcdef0123",
        ) as openrouter,
        Gateway(stack_config(upstream, leaky, other, claude, gemini, openrouter)) as gateway,
    ):
        yield Stack(gateway, upstream, leaky, other, claude, gemini, openrouter)


@pytest.fixture
async def fresh(stack: Stack) -> Stack:
    """The session stack with recorded requests and queued faults cleared."""
    stack.reset()
    return stack
