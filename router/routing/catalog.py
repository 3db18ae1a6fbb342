"""The model catalog: which upstreams of a group serve a requested model id, and as what name.

A requested id is looked up, in this order: exactly as an upstream of the group lists it (an
OpenRouter group's full ids included); in the group's ``model_map`` (an exact key, then its glob
patterns such as ``"claude-*"`` in the order written); with a provider prefix (``openai/gpt-5``,
the prefix being an upstream's kind or name); on an upstream that serves any id (``"*"``); and,
for an id of a known vendor, by its family (:mod:`.families`): the group's ``default_model`` for
that family, else the group's own model of that size. A trailing ``-thinking`` asks for the
upstream's extended reasoning and is stripped.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..config import Config, GroupConfig, UpstreamConfig
from ..errors import ErrorCode, GatewayError, cut
from ..key_rules import THINKING_SUFFIX  # one definition, on the ground floor
from .families import Family, FamilyRules


@dataclass(slots=True, frozen=True)
class Route:
    """One way to serve a request: this upstream, under this model name."""

    upstream: UpstreamConfig
    model: str

    def headers(self) -> dict[str, str]:
        """The response headers saying who served a request: ``x-torouter-upstream`` and
        ``x-torouter-model`` (the model as the upstream names it)."""
        return {"x-torouter-upstream": self.upstream.name, "x-torouter-model": self.model}


@dataclass(slots=True, frozen=True)
class Resolution:
    requested: str
    routes: tuple[Route, ...]
    weighted: bool = False  # a tier was spread by weight: another resolution may order it otherwise
    thinking: bool = False


@dataclass(slots=True, frozen=True)
class ModelEntry:
    """A model a group can use, as the caller should name it."""

    id: str
    owned_by: str  # the upstream kind
    upstream: str
    thinking: bool  # accepts the -thinking suffix


ThinkingModels = Mapping[str, tuple[str, ...]]  # upstream kind -> prefixes of its reasoning models


def thinking_models(kinds: Mapping[str, object]) -> dict[str, tuple[str, ...]]:
    """What each registered kind declares (its optional ``thinking_models``): the catalog's table."""
    return {name: tuple(getattr(kind, "thinking_models", ())) for name, kind in kinds.items()}


def is_pattern(key: str) -> bool:
    """Whether a ``model_map`` key is a glob pattern rather than an id."""
    return any(c in key for c in "*?[")


@dataclass(slots=True)
class _GroupModels:
    """What the catalog works out once per group: its map split into ids and patterns, and the
    stand-in of each family."""

    exact: dict[str, str]
    patterns: list[tuple[str, str]]
    stand_ins: dict[Family, str | None] = field(default_factory=dict)


# Kept resolutions: at most this many, of ids at most this long (memory stays bounded whatever
# callers send to a group with an upstream that serves any id).
MAX_KEPT_RESOLUTIONS = 4096
MAX_KEPT_ID_CHARS = 256


class Catalog:
    def __init__(self, config: Config, thinking: ThinkingModels, families: FamilyRules) -> None:
        """``thinking``: each kind's reasoning models, as the kinds declare them (``thinking_models``);
        ``families``: how ids name a size, with the vendors the kinds declare (``model_families``)."""
        self._upstreams = config.upstreams
        self._groups = config.groups
        self._thinking = thinking
        self._families = families
        self._by_group: dict[str, _GroupModels] = {}
        # resolutions that come out the same each time (no tier spread by weight), by (group, id)
        self._resolved: dict[tuple[str, str], Resolution] = {}

    def supports_thinking(self, kind: str, model: str) -> bool:
        """Whether a kind's model accepts extended reasoning (a ``-thinking`` id)."""
        return any(model.startswith(prefix) for prefix in self._thinking.get(kind, ()))

    def group(self, name: str) -> GroupConfig:
        group = self._groups.get(name)
        if group is None:
            raise GatewayError(ErrorCode.PERMISSION_DENIED, "This key's group no longer exists.")
        return group

    def resolve(self, group_name: str, model: str) -> Resolution:
        """The ordered routes of a model id in a group — priority tiers, each spread by weight, then
        the group's fallback models — 403 if only other groups have it, else 404. A resolution
        without a weighted tier is kept and answered again (the catalog does not change)."""
        known = self._resolved.get((group_name, model))
        if known is not None:
            return known
        group = self.group(group_name)
        routes = self._routes(group, model)
        if routes:
            return self._keep(group_name, Resolution(model, *self._ordered(group, routes, model)))
        if model.endswith(THINKING_SUFFIX):
            base = model[: -len(THINKING_SUFFIX)]
            routes = tuple(
                r for r in self._routes(group, base) if self.supports_thinking(r.upstream.kind, r.model)
            )
            if routes:
                ordered, weighted = self._ordered(group, routes, base)
                return self._keep(group_name, Resolution(model, ordered, weighted, thinking=True))
        if self._served_elsewhere(model):
            raise GatewayError(
                ErrorCode.PERMISSION_DENIED,
                f"The model `{cut(model)}` is not available to this key's group.",
                param="model",
            )
        raise GatewayError(
            ErrorCode.NOT_FOUND,
            f"The model `{cut(model)}` does not exist or you do not have access to it.",
            param="model",
            vendor_code="model_not_found",
        )

    def _keep(self, group_name: str, resolution: Resolution) -> Resolution:
        if not resolution.weighted and len(resolution.requested) <= MAX_KEPT_ID_CHARS:
            if len(self._resolved) >= MAX_KEPT_RESOLUTIONS:
                self._resolved.clear()  # bound memory against floods of made-up ids (wildcards)
            self._resolved[(group_name, resolution.requested)] = resolution
        return resolution

    def _ordered(
        self, group: GroupConfig, routes: tuple[Route, ...], model: str
    ) -> tuple[tuple[Route, ...], bool]:
        """The routes in order, and whether a tier was spread by weight (the order is random)."""
        tier_of = {name: i for i, tier in enumerate(group.priority_tiers()) for name in tier}
        by_tier: dict[int, list[Route]] = {}
        for route in routes:
            by_tier.setdefault(tier_of.get(route.upstream.name, len(tier_of)), []).append(route)
        ordered: list[Route] = []
        weighted = False
        for tier in sorted(by_tier):
            members = by_tier[tier]
            if len(members) > 1:  # weighted random order without replacement (Efraimidis-Spirakis)
                members.sort(key=lambda r: random.random() ** (1.0 / r.upstream.weight), reverse=True)
                weighted = True
            ordered += members
        for fallback in group.fallback_models.get(model, ()):
            for route in self._routes(group, fallback):
                if route not in ordered:
                    ordered.append(route)
        return tuple(ordered), weighted

    def _upstreams_of(self, group: GroupConfig) -> list[UpstreamConfig]:
        return [self._upstreams[name] for name in group.upstreams if name in self._upstreams]

    def _group_models(self, group: GroupConfig) -> _GroupModels:
        known = self._by_group.get(group.name)
        if known is None:
            exact = {k: v for k, v in group.model_map.items() if not is_pattern(k)}
            patterns = [(k, v) for k, v in group.model_map.items() if is_pattern(k)]
            known = self._by_group[group.name] = _GroupModels(exact, patterns)
        return known

    def mapped(self, group: GroupConfig, model: str) -> str | None:
        """The target of ``model`` in the group's ``model_map`` (an exact key, else the first
        pattern matching it), or None."""
        known = self._group_models(group)
        if model in known.exact:
            return known.exact[model]
        return next((target for pattern, target in known.patterns if fnmatchcase(model, pattern)), None)

    def stand_in(self, group: GroupConfig, family: Family) -> str | None:
        """The model serving a request of ``family``: the group's ``default_model``, else its own
        model of that size."""
        if family in group.default_model:
            return group.default_model[family]
        known = self._group_models(group)
        if family not in known.stand_ins:
            listed = [m for u in self._upstreams_of(group) for m in u.models]
            known.stand_ins[family] = self._families.stand_in(listed, family)
        return known.stand_ins[family]

    @staticmethod
    def _serving(upstreams: list[UpstreamConfig], model: str) -> list[Route]:
        """The upstreams listing ``model``, else those serving any id."""
        routes = [Route(u, model) for u in upstreams if model in u.models]
        return routes or [Route(u, model) for u in upstreams if u.serves_any_model()]

    def _routes(self, group: GroupConfig, model: str) -> tuple[Route, ...]:
        upstreams = self._upstreams_of(group)
        # 1. the id exactly as an upstream lists it
        routes = [Route(u, model) for u in upstreams if model in u.models]
        if routes:
            return tuple(routes)
        # 2. the group's map: an exact key, then its patterns
        target = self.mapped(group, model)
        if target is not None:
            routes = self._serving(upstreams, target)
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
        # 4. upstreams that serve any id
        routes = [Route(u, model) for u in upstreams if u.serves_any_model()]
        if routes:
            return tuple(routes)
        # 5. a known vendor's id: the group's model of the same family (a -thinking id's family is
        # its base id's, resolved by the caller)
        family = None if model.endswith(THINKING_SUFFIX) else self._families.family_of(model)
        stand_in = self.stand_in(group, family) if family is not None else None
        return tuple(self._serving(upstreams, stand_in)) if stand_in is not None else ()

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
                        model, upstream.kind, upstream.name, self.supports_thinking(upstream.kind, model)
                    )
        for alias in group.model_map:
            if alias not in seen and not is_pattern(alias):
                routes = self._routes(group, alias)
                if routes:
                    route = routes[0]
                    seen[alias] = ModelEntry(
                        alias,
                        route.upstream.kind,
                        route.upstream.name,
                        self.supports_thinking(route.upstream.kind, route.model),
                    )
        return list(seen.values())
