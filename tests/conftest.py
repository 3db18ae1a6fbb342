"""Shared fixtures: mock upstreams and the whole gateway, started once per test session; and the
closing of every SDK client a test made."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic._base_client
import openai._base_client
import pytest

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.gemini_upstream import MockGemini
from support.openai_upstream import DEFAULT_MODELS, MockOpenAI
from support.stack import Stack, stack_config


@pytest.fixture(scope="session", autouse=True)
def price_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Routers started by the tests (and their children) keep their price cache in the session's
    temporary directory, not the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TOROUTER_CACHE_DIR", str(tmp_path_factory.mktemp("price-cache")))
    yield
    mp.undo()


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


_SDK_HTTP_CLIENTS = (
    openai._base_client.AsyncHttpxClientWrapper,
    anthropic._base_client.AsyncHttpxClientWrapper,
)


@pytest.fixture(autouse=True)
async def close_sdk_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Closes the HTTP client of every openai/anthropic SDK client the test made, once it is over.

    Left to the garbage collector, an unclosed one schedules ``aclose()`` from ``__del__``; when
    its connections' transports were finalized in the same collection (closing their sockets),
    that late ``aclose()`` removes the event loop's reader of whatever socket has since been given
    the same file descriptor — once it was a mock server's listening socket, which then never
    accepted again (a request that hung for the SDK's 600 s)."""
    made: list[Any] = []
    for kind in _SDK_HTTP_CLIENTS:
        original = kind.__init__

        def track(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(kind, "__init__", track)
    yield
    for client in made:
        if not client.is_closed:
            await client.aclose()
