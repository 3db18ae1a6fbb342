"""The plugin kit as docs/plugins.md describes it: the 30-line example works as written, plugins
can be disabled by name, and a misspelled hook fails at start naming its plugin."""

from __future__ import annotations

import re
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from support.gateway import Gateway, free_port
from torouter.router import hookimpl
from torouter.router.config import ConfigError, parse_config
from torouter.router.plugins import PluginError, check, collect, load_registry, make_plugin_manager
from torouter.router.protocols.ndjson import NDJSONDecoder
from torouter.router.protocols.sse import SSEEvent
from torouter.router.server import RouterServer, build_router
from torouter.router.upstreams import UpstreamKind

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def doc_example() -> types.ModuleType:
    """The "A kind in 30 lines" code block of docs/plugins.md, as a module."""
    section = DOC.read_text().split("## A kind in 30 lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None and len(code.group(1).strip().splitlines()) <= 40
    module = types.ModuleType("torouter_acme")
    exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)
    return module


class AcmeGateway(Gateway):
    """The gateway with the documented plugin registered, as its entry point would."""

    async def start_router(self) -> None:
        manager = make_plugin_manager(entry_points=False)
        manager.register(doc_example(), name="acme")
        self.registry = collect(manager)
        self.router = RouterServer(self.config, build_router(self.config, self.registry))
        await self.router.start()


@pytest.fixture
async def acme_server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Acme's API: OpenAI's chat format at /openai/v2/chat, authenticated by an api-key header."""
    seen: list[dict[str, Any]] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "api-key": request.headers.get("api-key"), **await request.json()})
        message = {"role": "assistant", "content": "from Acme"}
        return web.json_response(
            {
                "id": "chatcmpl-acme",
                "object": "chat.completion",
                "created": 1,
                "model": "acme-large",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        )

    app = web.Application()
    app.router.add_post("/openai/v2/chat", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_the_documented_example_kind_serves_chat(acme_server: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, seen = acme_server
    upstream = {"kind": "acme", "base_url": base_url, "api_key": "k-acme", "models": ["acme-large"]}
    config = {
        "upstreams": {"acme": upstream},
        "groups": {"g": {"upstreams": ["acme"]}},
        "keys": [{"name": "k", "key": "tr-test-acme", "group": "g"}],
    }
    async with AcmeGateway(config) as gateway:
        assert gateway.registry.origins["kind:acme"].plugin == "acme"
        async with openai.AsyncOpenAI(
            base_url=f"{gateway.base_url}/v1", api_key="tr-test-acme", max_retries=0
        ) as oa:
            reply = await oa.chat.completions.create(
                model="acme-large", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == "from Acme"
        async with anthropic.AsyncAnthropic(
            base_url=gateway.base_url, api_key="tr-test-acme", max_retries=0
        ) as an:
            message = await an.messages.create(
                model="acme-large", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
            assert message.content[0].text == "from Acme"  # type: ignore[union-attr]
    assert [(s["path"], s["api-key"]) for s in seen] == [("/openai/v2/chat", "k-acme")] * 2
    assert seen[1]["messages"] == [{"role": "user", "content": "hi"}]  # translated from Anthropic's


def test_a_disabled_plugin_takes_its_kinds_away() -> None:
    registry = load_registry(entry_points=False, disabled=["echo"])
    assert "echo" not in registry.kinds and "openai" in registry.kinds
    config = parse_config(
        "upstreams: {e: {kind: echo, base_url: 'http://127.0.0.1', models: ['*']}}\n"
        "groups: {g: {upstreams: [e]}}\nplugins: {disabled: [echo]}\n"
    )
    assert config.plugins.disabled == ("echo",)
    with pytest.raises(ConfigError, match="unknown kind 'echo'"):
        build_router(config)
    with pytest.raises(PluginError, match="cannot be disabled"):
        load_registry(entry_points=False, disabled=["protocols"])
    with pytest.raises(ConfigError, match=r"plugins\.disabled"):
        parse_config("plugins: {disabled: echo}\n")


def test_a_misspelled_hook_fails_naming_its_plugin() -> None:
    class Typo:
        @hookimpl
        def torouter_upstream_kind(self, register: Callable[[UpstreamKind], None]) -> None:  # no "s"
            raise AssertionError("never called")

    manager = make_plugin_manager(entry_points=False)
    manager.register(Typo(), name="typo-plugin")
    with pytest.raises(PluginError, match=r"plugin 'typo-plugin'.*torouter_upstream_kind"):
        check(manager)


def test_ndjson_decoder_splits_lines_across_chunks() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"b"') == [SSEEvent(None, '{"a":1}')]
    assert decoder.feed(b":2}\n\n  \n") == [SSEEvent(None, '{"b":2}')]
    assert decoder.feed(b'{"c":3}') == []
    assert decoder.feed(b"\n") == [SSEEvent(None, '{"c":3}')]
