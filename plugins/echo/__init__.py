"""The ``echo`` upstream kind: answers by echoing the last user message, with no account needed."""

from __future__ import annotations

from collections.abc import Callable

from torouter.router import hookimpl
from torouter.router.upstreams import UpstreamKind

from .upstream import EchoKind


@hookimpl
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    register(EchoKind())
