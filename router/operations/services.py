"""What every operation handler works with: one object, built once by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from ..capabilities import CapabilityTable
from ..protocols.base import WireProtocol
from ..routing.catalog import Catalog
from ..routing.cooldown import Cooldowns
from ..routing.fallbacks import RetryPolicy
from ..state import StateStore
from ..upstreams.base import Upstream
from .reasoning_memo import ReasoningMemo


@dataclass(slots=True, frozen=True)
class Services:
    """The router's shared parts: the catalog, the upstreams by name, the codecs by protocol,
    cooldowns, the retry policy, the state store, the reasoning memo and what each kind's models
    accept."""

    catalog: Catalog
    upstreams: dict[str, Upstream]
    protocols: dict[str, WireProtocol]
    cooldowns: Cooldowns
    retry: RetryPolicy
    store: StateStore
    memo: ReasoningMemo
    capabilities: CapabilityTable


class Operation:
    """Base of the operation handlers: the services under their own names."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.catalog = services.catalog
        self.upstreams = services.upstreams
        self.protocols = services.protocols
        self.cooldowns = services.cooldowns
        self.retry = services.retry
        self.store = services.store
        self.memo = services.memo
        self.capabilities = services.capabilities
