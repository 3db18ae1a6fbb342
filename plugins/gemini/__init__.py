"""The ``gemini`` upstream kind: the Gemini API (generativelanguage.googleapis.com)."""

from __future__ import annotations

from collections.abc import Callable

from torouter.router import hookimpl
from torouter.router.upstreams import UpstreamKind

from .upstream import GeminiKind


@hookimpl
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    register(GeminiKind())
