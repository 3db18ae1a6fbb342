"""The plugin hooks. Bodies are documentation; pluggy calls every registered implementation.

Hooks are synchronous and only *register* things; the objects they register do the I/O in their
own async methods. Built-in upstream kinds and protocols are registered through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .protocols.base import WireProtocol
    from .upstreams.base import UpstreamKind

PROJECT = "torouter"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def torouter_upstream_kinds(register: Callable[[UpstreamKind], None]) -> None:
    """Register upstream kinds (the ``kind:`` of an upstream in the config).

    Call ``register(kind)`` once per kind. A kind names the wire protocol its upstream speaks,
    the operations it supports, and builds an :class:`~torouter.router.upstreams.base.Upstream` for
    each configured account.
    """


@hookspec
def torouter_protocols(register: Callable[[WireProtocol], None]) -> None:
    """Register wire protocols: codecs that read and write a protocol to and from the neutral form.

    Call ``register(protocol)`` once per protocol. A plugin for a provider with its own protocol
    brings its codec here; one codec serves callers and upstreams of that protocol alike.
    """
