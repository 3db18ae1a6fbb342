"""The model catalog: which upstreams of a group serve a requested model id, and as what name.

A request may name a model as the upstream names it (``gpt-5``), with a provider prefix
(``openai/gpt-5``, the prefix being an upstream's kind or name), through the group's ``model_map``
(merged over the built-in default map), or, on an OpenRouter group, by OpenRouter's full id. A
trailing ``-thinking`` asks for the upstream's extended reasoning and is stripped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..config import Config, GroupConfig, UpstreamConfig
from ..errors import ErrorCode, GatewayError

THINKING_SUFFIX = "-thinking"

# Built-in aliases: a requested id maps to the first target some upstream of the group serves.
DEFAULT_MODEL_MAP: dict[str, tuple[str, ...]] = {
    "gpt-5": ("claude-sonnet-4-6", "claude-sonnet-4-5", "gemini-2.5-pro"),
    "gpt-5-mini": ("claude-haiku-4-5", "gemini-2.5-flash"),
    "gpt-5-nano": ("claude-haiku-4-5", "gemini-2.5-flash-lite"),
    "gpt-4o": ("claude-sonnet-4-6", "claude-sonnet-4-5", "gemini-2.5-flash"),
    "gpt-4o-mini": ("claude-haiku-4-5", "gemini-2.5-flash-lite"),
    "claude-sonnet-4-6": ("gpt-5", "gemini-2.5-pro"),
    "claude-sonnet-4-5": ("gpt-5", "gemini-2.5-pro"),
    "claude-opus-4-7": ("gpt-5", "gemini-2.5-pro"),
    "claude-haiku-4-5": ("gpt-5-mini", "gemini-2.5-flash"),
    "claude-opus-4-1": ("gpt-5", "gemini-2.5-pro"),
    "gemini-2.5-pro": ("gpt-5", "claude-sonnet-4-5"),
    "gemini-2.5-flash": ("gpt-5-mini", "claude-haiku-4-5"),
}

# Upstream kinds whose models accept extended reasoning, by model-id prefix.
_THINKING_PREFIXES: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-5", "o1", "o3", "o4"),
    "anthropic": ("claude-opus-4", "claude-sonnet-4", "claude-haiku-4-5", "claude-3-7"),
    "gemini": ("gemini-2.5", "gemini-3"),
    "openrouter": ("openai/gpt-5", "anthropic/claude", "google/gemini-2.5", "google/gemini-3"),
    "echo": ("",),
}


@dataclass(slots=True, frozen=True)
class Route:
    """One way to serve a request: this upstream, under this model name."""

    upstream: UpstreamConfig
    model: str


@dataclass(slots=True, frozen=True)
class Resolution:
    requested: str
    routes: tuple[Route, ...]
    thinking: bool = False


@dataclass(slots=True, frozen=True)
class ModelEntry:
    """A model a group can use, as the caller should name it."""

    id: str
    owned_by: str  # the upstream kind
    upstream: str
    thinking: bool  # accepts the -thinking suffix


def supports_thinking(kind: str, model: str) -> bool:
    return any(model.startswith(prefix) for prefix in _THINKING_PREFIXES.get(kind, ()))


class Catalog:
    def __init__(self, config: Config) -> None:
        self._upstreams = config.upstreams
        self._groups = config.groups

    def group(self, name: str) -> GroupConfig:
        group = self._groups.get(name)
        if group is None:
            raise GatewayError(ErrorCode.PERMISSION_DENIED, "This key's group no longer exists.")
        return group

    def resolve(self, group_name: str, model: str) -> Resolution:
        """The ordered routes of a model id in a group — priority tiers, each spread by weight, then
        the group's fallback models — 403 if only other groups have it, else 404."""
        group = self.group(group_name)
        routes = self._routes(group, model)
        if routes:
            return Resolution(model, self._ordered(group, routes, model))
        if model.endswith(THINKING_SUFFIX):
            base = model[: -len(THINKING_SUFFIX)]
            routes = tuple(
                r for r in self._routes(group, base) if supports_thinking(r.upstream.kind, r.model)
            )
            if routes:
                return Resolution(model, self._ordered(group, routes, base), thinking=True)
        if self._served_elsewhere(model):
            raise GatewayError(
                ErrorCode.PERMISSION_DENIED,
                f"The model `{model}` is not available to this key's group.",
                param="model",
            )
        raise GatewayError(
            ErrorCode.NOT_FOUND,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            vendor_code="model_not_found",
        )

    def _ordered(self, group: GroupConfig, routes: tuple[Route, ...], model: str) -> tuple[Route, ...]:
        tier_of = {name: i for i, tier in enumerate(group.priority_tiers()) for name in tier}
        by_tier: dict[int, list[Route]] = {}
        for route in routes:
            by_tier.setdefault(tier_of.get(route.upstream.name, len(tier_of)), []).append(route)
        ordered: list[Route] = []
        for tier in sorted(by_tier):
            members = by_tier[tier]
            if len(members) > 1:  # weighted random order without replacement (Efraimidis-Spirakis)
                members.sort(key=lambda r: random.random() ** (1.0 / r.upstream.weight), reverse=True)
            ordered += members
        for fallback in group.fallback_models.get(model, ()):
            for route in self._routes(group, fallback):
                if route not in ordered:
                    ordered.append(route)
        return tuple(ordered)

    def _upstreams_of(self, group: GroupConfig) -> list[UpstreamConfig]:
        return [self._upstreams[name] for name in group.upstreams if name in self._upstreams]

    def _routes(self, group: GroupConfig, model: str) -> tuple[Route, ...]:
        upstreams = self._upstreams_of(group)
        # 1. the id exactly as an upstream lists it
        routes = [Route(u, model) for u in upstreams if model in u.models]
        if routes:
            return tuple(routes)
        # 2. the group's map, then the built-in map (first target the group serves)
        targets = [group.model_map[model]] if model in group.model_map else []
        targets += DEFAULT_MODEL_MAP.get(model, ())
        for target in targets:
            routes = [Route(u, target) for u in upstreams if target in u.models]
            if routes:
                return tuple(routes)
        # 3. a provider prefix naming an upstream's kind or name
        prefix, slash, rest = model.partition("/")
        if slash and rest:
            routes = [
                Route(u, rest)
                for u in upstreams
                if prefix in (u.kind, u.name) and (rest in u.models or u.serves_any_model())
            ]
            if routes:
                return tuple(routes)
        # 4. upstreams that serve any id (under the group's mapping when there is one)
        name = group.model_map.get(model, model)
        return tuple(Route(u, name) for u in upstreams if u.serves_any_model())

    def _served_elsewhere(self, model: str) -> bool:
        """Whether another group's upstream serves the id (as listed, without ``-thinking``, or
        after a prefix naming that upstream's kind or name: ``../gpt-5`` names no upstream)."""
        base = model.removesuffix(THINKING_SUFFIX)
        prefix, slash, rest = base.partition("/")
        for upstream in self._upstreams.values():
            if model in upstream.models or base in upstream.models:
                return True
            if slash and prefix in (upstream.kind, upstream.name) and rest in upstream.models:
                return True
        return False

    def models(self, group_name: str) -> list[ModelEntry]:
        """What a group can use: every listed model of its upstreams, then the map's aliases."""
        group = self.group(group_name)
        seen: dict[str, ModelEntry] = {}
        for upstream in self._upstreams_of(group):
            for model in upstream.models:
                if model != "*" and model not in seen:
                    seen[model] = ModelEntry(
                        model, upstream.kind, upstream.name, supports_thinking(upstream.kind, model)
                    )
        for alias in group.model_map:
            if alias not in seen:
                routes = self._routes(group, alias)
                if routes:
                    route = routes[0]
                    seen[alias] = ModelEntry(
                        alias,
                        route.upstream.kind,
                        route.upstream.name,
                        supports_thinking(route.upstream.kind, route.model),
                    )
        return list(seen.values())
