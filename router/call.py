"""A request in flight inside the router: what the edge handed over, and what goes back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .ir import JSONDict
from .protocols.base import WireProtocol
from .routing.caller_keys import Caller

if TYPE_CHECKING:
    from .account.records import Tokens, UsageRecord
    from .routing.catalog import Route

# What the dispatcher's stream yields once an answer's chunks are over, before it does its accounting
# (usage record, log line): the sessions tell the edge at once (``Frame.last``). Compared by identity.
ANSWER_OVER = b"\x00torouter: the answer is over\x00"

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
JSON_HEADERS = {"content-type": "application/json"}


@dataclass(slots=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Call:
    """One caller request, as the edge hands it over (protobuf stops at the server)."""

    protocol: str
    operation: str
    body: bytes
    key: str
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    deadline_unix_ms: int = 0
    files: list[UploadedFile] = field(default_factory=list)
    client_ip: str = ""  # as the edge saw it (its trusted proxies applied); "" when unknown
    alone: bool = False  # no other request was in flight at the edge (``CallRequest.alone``)


@dataclass(slots=True)
class Outcome:
    """The answer: a whole body, or a stream of ready-to-write chunks."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    error_code: str = ""
    usage: UsageRecord | None = None  # the request's usage record, once it is over
    usage_kept: bool = True  # False: the usage queue was full and the record was dropped
    # The request's accounting, when its whole answer may go before it (asked for by a session):
    # whoever sends the answer runs it after (``usage`` is set then). None: done already.
    accounting: Callable[[], Awaitable[None]] | None = None


@dataclass(slots=True)
class Context:
    """What dispatch learns about a request as it goes; logged once at its end."""

    call: Call
    protocol: WireProtocol
    started: float
    deadline: float
    caller: Caller | None = None
    model: str | None = None
    upstream: str | None = None
    stream: bool = False
    error_code: str = ""
    fallbacks: list[str] = field(default_factory=list)  # "upstream:error" of each route given up
    metered: bool = False  # the caller has a token limit: its usage is charged at the end
    limit_headers: dict[str, str] = field(default_factory=dict)
    blocked: str = ""  # the key restriction that refused the call (CONTRACT §5), for the log
    parsed_body: JSONDict | None = None  # the body parsed early (a model allowlist): parsed once
    route: Route | None = None  # the route of the last attempt: upstream and model as served
    reached_upstream: bool = False  # a call went out to an upstream: the request gets a usage record
    tokens: Tokens | None = None  # what the upstream reported the request used
    first_byte: float | None = None  # perf_counter when the first byte of a stream went out
    cost_usd: float | None = None  # set by the usage record
    on_route: Callable[[Route], object] | None = None  # told of each route taken (``routed``)

    def routed(self, route: Route) -> None:
        """The route an attempt takes: its upstream and its model as served."""
        self.upstream = route.upstream.name
        self.route = route
        if self.on_route is not None:
            self.on_route(route)

    @property
    def usage_tokens(self) -> int | None:
        """Total tokens the upstream reported (what token limits charge)."""
        return None if self.tokens is None else self.tokens.input + self.tokens.output

    def entry(self, status: int) -> dict[str, Any]:
        """The request's one structured log line: who, what, where, how it ended. No key, no body."""
        return {
            "request_id": self.call.request_id,
            "route": f"{self.call.protocol}.{self.call.operation}",
            "key": self.caller.name if self.caller else None,
            "group": self.caller.group if self.caller else None,
            "model": self.model,
            "upstream": self.upstream,
            "stream": self.stream,
            "status": status,
            "error": self.error_code or None,
            "fallbacks": self.fallbacks or None,
            "blocked": self.blocked or None,
            "tokens": self.usage_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }


Handler = Callable[[Context], Awaitable[Outcome]]
