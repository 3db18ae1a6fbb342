"""The ``openai`` upstream kind: api.openai.com and OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Callable

from torouter.router import hookimpl
from torouter.router.upstreams import UpstreamKind

from .upstream import OpenAIKind


@hookimpl
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    register(OpenAIKind())
