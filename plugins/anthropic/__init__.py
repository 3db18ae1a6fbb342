"""The ``anthropic`` upstream kind: api.anthropic.com (base_url without ``/v1``)."""

from __future__ import annotations

from collections.abc import Callable

from torouter.router import hookimpl
from torouter.router.upstreams import UpstreamKind

from .upstream import AnthropicKind


@hookimpl
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    register(AnthropicKind())
