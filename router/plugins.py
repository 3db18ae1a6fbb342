"""The plugin manager: built-in kinds and protocols registered beside the ``torouter`` entry points.

Built-ins are registered under short names (``openai``, ``anthropic``, …, and ``protocols`` for the
built-in codecs); a third-party plugin under its entry point's name. The config's
``plugins.disabled`` names plugins not to load (``protocols`` cannot be disabled). After loading,
``check_pending`` turns a misspelled hook into an error that names it, at start.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .protocols.base import WireProtocol
from .upstreams.base import UpstreamKind

BUILTINS = {
    "protocols": "torouter.router.protocols.builtin",
    "openai": "torouter.plugins.openai",
    "anthropic": "torouter.plugins.anthropic",
    "gemini": "torouter.plugins.gemini",
    "openrouter": "torouter.plugins.openrouter",
    "echo": "torouter.plugins.echo",
}
ESSENTIAL = frozenset({"protocols"})


class PluginError(ValueError):
    """A plugin cannot be loaded: a misspelled hook, a name registered twice, an unknown protocol."""


@dataclass(slots=True, frozen=True)
class PluginInfo:
    """Who registered a kind or protocol: the plugin's name, its distribution and version."""

    plugin: str
    package: str
    version: str


@dataclass(slots=True, frozen=True)
class Registry:
    kinds: dict[str, UpstreamKind]
    protocols: dict[str, WireProtocol]
    # "kind:<name>" / "protocol:<name>" -> the plugin that registered it
    origins: dict[str, PluginInfo] = field(default_factory=dict)


def make_plugin_manager(*, entry_points: bool = True, disabled: Iterable[str] = ()) -> pluggy.PluginManager:
    blocked = set(disabled)
    essential = blocked & ESSENTIAL
    if essential:
        raise PluginError(f"the built-in plugin {sorted(essential)[0]!r} cannot be disabled")
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in blocked:
        manager.set_blocked(name)
    for name, module in BUILTINS.items():
        if name not in blocked:
            manager.register(importlib.import_module(module), name=name)
    if entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    check(manager)
    return manager


def check(manager: pluggy.PluginManager) -> None:
    """Every hook implementation matches a spec: a misspelled hook is a PluginError naming it."""
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {manager.get_name(error.plugin)!r}: {error}") from None


def _origins(manager: pluggy.PluginManager) -> dict[str, PluginInfo]:
    """Each plugin's distribution: torouter's own for the built-ins, the entry point's otherwise."""
    own = importlib.metadata.version("torouter")
    found = {name: PluginInfo(name, "torouter", own) for name in BUILTINS}
    dist: Any
    for plugin, dist in manager.list_plugin_distinfo():
        name = manager.get_name(plugin) or repr(plugin)
        found[name] = PluginInfo(name, dist.metadata["name"], dist.version)
    return found


def collect(manager: pluggy.PluginManager) -> Registry:
    """Calls the registration hooks, plugin by plugin; a name registered twice is an error."""
    kinds: dict[str, UpstreamKind] = {}
    protocols: dict[str, WireProtocol] = {}
    origins: dict[str, PluginInfo] = {}
    plugins = _origins(manager)

    def registrar(table: dict[str, Any], what: str, plugin: str) -> Any:
        def register(item: Any) -> None:
            if item.name in table:
                owner = origins[f"{what}:{item.name}"].plugin
                raise PluginError(f"{what} {item.name!r} is registered twice (by {owner!r} and {plugin!r})")
            table[item.name] = item
            origins[f"{what}:{item.name}"] = plugins.get(plugin, PluginInfo(plugin, "?", "?"))

        return register

    hooks = (
        (manager.hook.torouter_protocols, protocols, "protocol"),
        (manager.hook.torouter_upstream_kinds, kinds, "kind"),
    )
    for hook, table, what in hooks:
        for impl in reversed(hook.get_hookimpls()):  # in registration order
            impl.function(register=registrar(table, what, impl.plugin_name))
    for kind in kinds.values():
        if kind.protocol not in protocols:
            raise PluginError(f"upstream kind {kind.name!r} speaks unknown protocol {kind.protocol!r}")
    return Registry(kinds, protocols, origins)


def load_registry(*, entry_points: bool = True, disabled: Iterable[str] = ()) -> Registry:
    return collect(make_plugin_manager(entry_points=entry_points, disabled=disabled))
