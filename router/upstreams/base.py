"""What an upstream kind provides (plugins implement this), and the one HTTP mechanism they share.

A plugin describes *how to call* its provider: base URL, auth headers, paths per operation, the
wire protocol it speaks. :class:`HttpUpstream` does the calling on one pool of keep-alive
connections per upstream account (``http1.py``; connection limits and timeouts from the config),
which keeps no cookies and follows no redirect: the pool is shared by every caller of the upstream.
Plugins import neither grpc nor protobuf.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from aiohttp import hdrs
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader

from .. import body_log
from ..config import UpstreamConfig
from ..errors import ErrorCode, GatewayError
from .http1 import HeaderInjection, Http1Pool, Response
from .pool import ConnectionSlots

# What a connection or an answer that broke raises (a refused or reset connection, a malformed or
# cut-off answer).
_BROKEN = (aiohttp.ClientError, HttpProcessingError, OSError)

# The most of an upstream's whole answer the router reads (an answer this large could not reach the
# edge either: it is gRPC's message bound, router/server.py). An upstream that sends more (an endless
# body, a decompression bomb) fails the request instead of filling the router's memory.
MAX_ANSWER_BYTES = 256 * 1024 * 1024

# Response headers of an upstream that a caller may see (anything else, e.g. the upstream's own
# rate-limit headers for the gateway's account, stays inside).
FORWARDED_RESPONSE_HEADERS = ("content-type",)


@dataclass(slots=True)
class UpstreamRequest:
    """One call to an upstream, already in the upstream's wire protocol."""

    operation: str
    model: str
    body: bytes
    stream: bool
    request_id: str
    deadline: float  # event-loop time by which the whole exchange must be over
    headers: dict[str, str] = field(default_factory=dict)  # protocol headers to forward
    params: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(slots=True)
class UpstreamResponse:
    """The upstream's answer: a whole body, or (for a 2xx stream) raw body chunks as they arrive."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None

    async def aclose(self) -> None:
        """Closes a stream early (the caller went away); a no-op for whole bodies."""
        if self.chunks is not None and hasattr(self.chunks, "aclose"):
            await self.chunks.aclose()


class Upstream(Protocol):
    """One configured upstream account."""

    config: UpstreamConfig
    protocol: str
    operations: frozenset[str]
    # Its streams report their usage unasked (OpenRouter), where the protocol's would not.
    reports_stream_usage: bool

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Calls the upstream. Connection failures and timeouts raise GatewayError (502/504)."""
        ...

    async def close(self) -> None:
        """Releases pooled connections."""
        ...


class UpstreamKind(Protocol):
    """A kind of upstream (``openai``, ``anthropic``, ...), registered by a plugin. Its ``protocol``
    and ``operations`` are declared here, once: its upstreams take them from it.

    What it knows of its models it may declare too (each optional, read with a default, so a kind
    without them keeps working; docs/plugins.md has an example of each):

    - ``price_provider``: the ``genai-prices`` provider id whose published prices apply to its models
      (``"openai"``, ``"google"``, …), or ``"free"``; without it (or None) its models have no known
      price unless the config's ``prices:`` gives one;
    - ``thinking_models: tuple[str, ...]``: id prefixes of its models that accept extended
      reasoning (a ``-thinking`` id);
    - ``model_families: tuple[ModelFamilies, ...]``: how its vendor's ids name a model's size, for a
      group that serves such an id with a model of its own (``routing/families.py``);
    - ``capabilities(model) -> Capabilities``: what a model accepts beyond the protocol (output
      limit, thinking budgets, sampling, stop sequences, refused fields, dialect features), which
      the codecs fit a translated request to (``router/capabilities.py``).
    """

    name: str
    protocol: str
    operations: frozenset[str]

    def create(self, config: UpstreamConfig) -> Upstream:
        """An Upstream for one configured account. Must not do I/O (sessions open lazily)."""
        ...


class HttpUpstream:
    """Calls an HTTP upstream on pooled keep-alive connections. Subclasses say how (auth, paths).

    Its ``protocol`` and ``operations`` are its kind's, given at creation (``create`` passes the
    kind: ``MyUpstream(config, self)``); a subclass created without one declares its own."""

    protocol: str = ""
    operations: frozenset[str] = frozenset()
    reports_stream_usage: bool = False

    def __init__(self, config: UpstreamConfig, kind: UpstreamKind | None = None) -> None:
        self.config = config
        if kind is not None:
            self.protocol, self.operations = kind.protocol, kind.operations
        self._pool: Http1Pool | None = None
        self._slots = ConnectionSlots(config.name, config.max_connections, config.pool_timeout_s)

    # -- what a plugin describes

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate the gateway's account with the upstream."""
        raise NotImplementedError

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        """``(method, url)`` for an operation."""
        raise NotImplementedError

    # -- the mechanism

    def pool(self) -> Http1Pool:
        """The account's keep-alive connections (made on first use), with its fixed headers."""
        if self._pool is None:
            self._pool = Http1Pool({**self.config.headers, **self.auth_headers()})
        return self._pool

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if not body_log.enabled():
            return await self._send(request)
        fields = {"upstream": self.config.name, "operation": request.operation}
        body_log.body("upstream.request", request.body, request.request_id, **fields)
        response = await self._send(request)
        if response.chunks is not None:
            response.chunks = body_log.chunks("upstream.chunk", response.chunks, request.request_id, **fields)
        else:
            body_log.body(
                "upstream.response", response.body, request.request_id, status=response.status, **fields
            )
        return response

    async def _send(self, request: UpstreamRequest) -> UpstreamResponse:
        loop = asyncio.get_running_loop()
        await self._slots.acquire(max(0.001, request.deadline - loop.time()))
        try:
            response = await self._exchange(request)
        except BaseException:
            self._slots.release()
            raise
        if response.chunks is None:
            self._slots.release()
        return response

    async def _exchange(self, request: UpstreamRequest) -> UpstreamResponse:
        """One HTTP exchange, holding a slot: given back by ``_send``, or by a stream's ``_relay``
        when it ends (or, were the relay dropped unstarted, when its response is collected)."""
        method, url = self.route(request)
        loop = asyncio.get_running_loop()
        budget = max(0.001, min(request.deadline - loop.time(), self.config.timeout_s))
        headers = (
            {"content-type": request.content_type, **request.headers} if request.body else request.headers
        )
        if request.stream:
            # Streams may pause between events (long thinking): bound the gap, not the whole stream.
            try:
                response = await self._request(method, url, headers, request.body, budget, budget)
            except TimeoutError:
                raise self._timeout() from None
            if response.status < 300:
                release = weakref.finalize(response, self._slots.release)
                return UpstreamResponse(
                    response.status, _all_headers(response.headers), chunks=self._relay(response, release)
                )
            return await self._whole(response)
        try:
            async with asyncio.timeout(budget):
                response = await self._request(method, url, headers, request.body, budget, None)
                return await self._whole(response)
        except TimeoutError:
            raise self._timeout() from None

    async def _request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        budget: float,
        read_timeout: float | None,
    ) -> Response:
        # A redirect is answered, never followed: it would carry the body, and the key headers
        # (x-api-key, x-goog-api-key), to another origin.
        try:
            return await self.pool().request(
                method, url, headers, body, connect_timeout=min(10.0, budget), read_timeout=read_timeout
            )
        except HeaderInjection as exc:
            raise GatewayError(ErrorCode.INVALID_REQUEST, str(exc)) from None
        except _BROKEN as exc:
            raise self._unreachable(exc) from None

    async def _whole(self, response: Response) -> UpstreamResponse:
        """The answer with its whole body; its connection given back (or closed)."""
        try:
            body = await _whole_body(response, MAX_ANSWER_BYTES)
        except _TooLarge:
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR,
                f"upstream {self.config.name!r} answered with more than {MAX_ANSWER_BYTES >> 20} MiB",
            ) from None
        except TimeoutError:
            raise self._timeout() from None
        except _BROKEN as exc:
            raise self._unreachable(exc) from None
        finally:
            response.release()  # closes the connection unless the body was read to its end
        if response.status >= 300:
            return UpstreamResponse(response.status, _all_headers(response.headers), body)
        forwarded = {
            name: response.headers[name] for name in FORWARDED_RESPONSE_HEADERS if name in response.headers
        }
        return UpstreamResponse(response.status, forwarded, body)

    async def _relay(self, response: Response, release: Callable[[], object]) -> AsyncIterator[bytes]:
        """The body as it arrives; closing the generator early closes the upstream connection."""
        completed = False
        try:
            async for chunk in response.payload.iter_any():
                yield chunk
            completed = True
        except TimeoutError:
            raise self._timeout() from None
        except _BROKEN as exc:
            salvaged = _buffered(response.payload)
            if salvaged:
                yield salvaged
            raise GatewayError(
                ErrorCode.UPSTREAM_ERROR,
                f"upstream {self.config.name!r} broke the stream off mid-way ({type(exc).__name__})",
            ) from None
        finally:
            if completed:
                response.release()
            else:
                response.close()  # drop the connection: it cannot be reused mid-body
            release()

    def _timeout(self) -> GatewayError:
        return GatewayError(ErrorCode.UPSTREAM_TIMEOUT, f"upstream {self.config.name!r} timed out")

    def _unreachable(self, exc: BaseException) -> GatewayError:
        return GatewayError(
            ErrorCode.UPSTREAM_ERROR,
            f"upstream {self.config.name!r} is unreachable or closed the connection ({type(exc).__name__})",
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class _TooLarge(Exception):
    pass


async def _whole_body(response: Response, limit: int) -> bytes:
    """The answer's body, up to ``limit`` bytes (``_TooLarge`` past it). One declared to fit and not
    compressed is read at once; any other is counted as it arrives."""
    length = response.content_length
    if length is not None and length > limit:
        raise _TooLarge
    if length is not None and hdrs.CONTENT_ENCODING not in response.headers:
        return await response.payload.read()
    parts: list[bytes] = []
    size = 0
    async for chunk in response.payload.iter_any():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        parts.append(chunk)
    return b"".join(parts)


def _buffered(content: StreamReader) -> bytes:
    """Bytes that arrived just before the connection broke. aiohttp raises a broken connection's
    error before handing out what it had already buffered; those bytes are the upstream's last
    events and belong to the caller."""
    buffer = getattr(content, "_buffer", None)
    try:
        return b"".join(buffer) if buffer else b""
    except TypeError:
        return b""


def _all_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
