"""The plugin interface: hooks are documented and tested, built-ins register like third parties."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

from torouter.router import hookimpl, hookspecs
from torouter.router.config import UpstreamConfig
from torouter.router.errors import ErrorCode
from torouter.router.plugins import collect, make_plugin_manager
from torouter.router.protocols.base import WireProtocol
from torouter.router.protocols.openai.errors import OpenAIErrors
from torouter.router.upstreams.base import UpstreamKind

HOOKS = [
    name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("torouter_")
]


def test_every_hook_is_documented_and_tested() -> None:
    this_file = Path(__file__).read_text()
    for name in HOOKS:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
        assert f"def {name}(" in this_file.split("def test_every_hook", 1)[1], f"hook {name} has no test"


def test_builtins_register_through_the_hooks() -> None:
    registry = collect(make_plugin_manager(entry_points=False))
    assert {"openai", "echo"} <= set(registry.kinds)
    assert {"openai", "anthropic", "gemini"} <= set(registry.protocols)
    assert registry.kinds["openai"].protocol == "openai"


class ShoutKind:
    """A third-party kind: echo, louder."""

    name = "shout"
    protocol = "openai"
    operations = frozenset({"chat.completions"})

    def create(self, config: UpstreamConfig) -> object:
        raise NotImplementedError


class ThirdParty:
    @hookimpl
    def torouter_upstream_kinds(self, register: Callable[[UpstreamKind], None]) -> None:
        register(ShoutKind())  # type: ignore[arg-type]

    @hookimpl
    def torouter_protocols(self, register: Callable[[WireProtocol], None]) -> None:
        register(WireProtocol("carrier-pigeon", OpenAIErrors()))


def test_a_third_party_plugin_adds_a_kind_and_a_protocol() -> None:
    manager = make_plugin_manager(entry_points=False)
    manager.register(ThirdParty())
    registry = collect(manager)
    assert registry.kinds["shout"].name == "shout"
    assert registry.protocols["carrier-pigeon"].errors is not None


def test_a_name_registered_twice_is_an_error() -> None:
    class Duplicate:
        @hookimpl
        def torouter_upstream_kinds(self, register: Callable[[UpstreamKind], None]) -> None:
            register(type("Dup", (ShoutKind,), {"name": "openai"})())  # type: ignore[arg-type]

    manager = make_plugin_manager(entry_points=False)
    manager.register(Duplicate())
    with pytest.raises(ValueError, match="registered twice"):
        collect(manager)


def test_a_kind_needs_a_known_protocol() -> None:
    class Orphan:
        @hookimpl
        def torouter_upstream_kinds(self, register: Callable[[UpstreamKind], None]) -> None:
            register(type("Orphan", (ShoutKind,), {"name": "orphan", "protocol": "nope"})())  # type: ignore[arg-type]

    manager = make_plugin_manager(entry_points=False)
    manager.register(Orphan())
    with pytest.raises(ValueError, match="unknown protocol"):
        collect(manager)


def test_error_codes_have_a_status_in_every_protocol() -> None:
    from torouter.router.errors import GatewayError

    registry = collect(make_plugin_manager(entry_points=False))
    for protocol in registry.protocols.values():
        for code in ErrorCode:
            rendered = protocol.errors.render(GatewayError(code, "x"), "req")
            assert 400 <= rendered.status < 600 and rendered.body


def test_fd_sink_writes_one_json_line_per_request(tmp_path: Path) -> None:
    import json
    import os

    from torouter.router.logs import fd_sink

    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        sink = fd_sink(fd)
        sink({"request_id": "r1", "status": 200})
        sink({"request_id": "r2", "status": 502, "error": "upstream_error"})
    finally:
        os.close(fd)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["request_id"], e["status"], e["logger"], e["level"]) for e in lines] == [
        ("r1", 200, "torouter.request", "info"),
        ("r2", 502, "torouter.request", "info"),
    ]
