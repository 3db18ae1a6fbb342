"""The ``openrouter`` upstream kind: OpenRouter (openrouter.ai), on the openai plugin's wire code."""

from __future__ import annotations

from collections.abc import Callable

from torouter.router import hookimpl
from torouter.router.upstreams import UpstreamKind

from .upstream import OpenRouterKind


@hookimpl
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    register(OpenRouterKind())
