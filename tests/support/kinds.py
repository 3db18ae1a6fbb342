"""The built-in kinds as the router loads them, for tests that write a request for one of them."""

from __future__ import annotations

from functools import cache

from torouter.router.capabilities import Capabilities, CapabilityTable
from torouter.router.plugins import load_registry


@cache
def _table() -> CapabilityTable:
    return CapabilityTable(load_registry(entry_points=False).kinds)


def capabilities_of(kind: str, model: str) -> Capabilities:
    """What the built-in ``kind`` declares ``model`` accepts (what the router sets on a request)."""
    return _table().of(kind, model)
