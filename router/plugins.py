"""The plugin manager: built-in kinds and protocols registered beside the ``torouter`` entry points."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pluggy

from . import hookspecs
from .protocols.base import WireProtocol
from .upstreams.base import UpstreamKind

BUILTINS = (
    "torouter.router.protocols.builtin",
    "torouter.plugins.openai",
    "torouter.plugins.anthropic",
    "torouter.plugins.gemini",
    "torouter.plugins.openrouter",
    "torouter.plugins.echo",
)


@dataclass(slots=True, frozen=True)
class Registry:
    kinds: dict[str, UpstreamKind]
    protocols: dict[str, WireProtocol]


def make_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in BUILTINS:
        manager.register(importlib.import_module(name), name=name)
    if entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    return manager


def collect(manager: pluggy.PluginManager) -> Registry:
    """Calls the registration hooks; a name registered twice is an error, not a silent override."""
    kinds: dict[str, UpstreamKind] = {}
    protocols: dict[str, WireProtocol] = {}

    def register_kind(kind: UpstreamKind) -> None:
        if kind.name in kinds:
            raise ValueError(f"upstream kind {kind.name!r} is registered twice")
        kinds[kind.name] = kind

    def register_protocol(protocol: WireProtocol) -> None:
        if protocol.name in protocols:
            raise ValueError(f"protocol {protocol.name!r} is registered twice")
        protocols[protocol.name] = protocol

    manager.hook.torouter_protocols(register=register_protocol)
    manager.hook.torouter_upstream_kinds(register=register_kind)
    for kind in kinds.values():
        if kind.protocol not in protocols:
            raise ValueError(f"upstream kind {kind.name!r} speaks unknown protocol {kind.protocol!r}")
    return Registry(kinds, protocols)


def load_registry(*, entry_points: bool = True) -> Registry:
    return collect(make_plugin_manager(entry_points=entry_points))
