"""The router's HTTP/1.1 client of its upstreams: aiohttp's own response protocol (its llhttp parser,
body streams, decompression, read timeouts) on keep-alive connections this module pools.

aiohttp's ``ClientSession`` spends ~140 µs of CPU per call on machinery an upstream call does not
use (cookies, redirects, tracing, proxies, a request object and a task to write its body): about a
quarter of the router's work per request at concurrency 1 (bench/README.md, "The upstream call").
Here a call is its request's bytes written at once (the upstream's fixed headers encoded when the
pool is made), then aiohttp's ``ResponseHandler`` reads the answer as ``ClientSession`` would.

What it keeps of ``ClientSession``'s behaviour: keep-alive for 30 s, DNS answers cached for 60 s,
TLS with the system's trust store (``SSL_CERT_FILE`` honoured), ``Accept-Encoding`` of what aiohttp
can decode, 1xx answers skipped, an idempotent request sent once more when a kept-alive connection
turns out closed, no redirect followed and no cookie kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import ClientOSError, ServerDisconnectedError
from aiohttp.client_proto import ResponseHandler
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy
from yarl import URL

KEEPALIVE_S = 30.0  # an idle connection is closed after this (aiohttp's default)
DNS_TTL_S = 60.0
READ_BUFFER = 2**16
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
ACCEPT_ENCODING = ", ".join(
    ["gzip", "deflate"] + (["br"] if HAS_BROTLI else []) + (["zstd"] if HAS_ZSTD else [])
)
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


class HeaderInjection(ValueError):
    """A header name or value that would end its line (CR, LF or NUL)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one URL's request goes: the connection's origin and the request line's target."""

    origin: tuple[str, int, bool]  # host, port, TLS
    host_header: bytes  # "Host: ...\r\n"
    path: bytes  # the request target: path and query, percent-encoded


class _Protocol(ResponseHandler):
    """aiohttp's response protocol, less a step its body reader asks for at every read."""

    def resume_reading(self, resume_parser: bool = True) -> None:
        # aiohttp's body reader calls this after every read, paused or not, and each call feeds the
        # parser again (empty) to finish what a pause left: nothing is left unless it paused.
        if self._reading_paused or self._buffer_paused:
            super().resume_reading(resume_parser)


class _Connection:
    __slots__ = ("idle_since", "origin", "protocol", "reused", "transport")

    def __init__(
        self, origin: tuple[str, int, bool], transport: asyncio.Transport, protocol: ResponseHandler
    ) -> None:
        self.origin = origin
        self.transport = transport
        self.protocol = protocol
        self.idle_since = 0.0
        self.reused = False

    def usable(self, now: float) -> bool:
        """Whether this idle connection may carry the next request."""
        protocol = self.protocol
        return now - self.idle_since < KEEPALIVE_S and protocol.is_connected() and not protocol.should_close

    def close(self) -> None:
        self.protocol.close()


class Response:
    """An upstream's answer: its head, and its body as aiohttp's ``StreamReader`` (``payload``).

    The connection is the response's until ``release`` (the body was read to its end: it goes back
    to the pool if it may) or ``close`` (anything else: it is closed)."""

    __slots__ = ("__weakref__", "_connection", "_pool", "headers", "payload", "reason", "status")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: CIMultiDictProxy[str],
        payload: StreamReader,
        connection: _Connection,
        pool: Http1Pool,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.payload = payload
        self._connection: _Connection | None = connection
        self._pool = pool

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.isdigit() else None

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.give_back(connection, reusable=self.payload.is_eof())

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __del__(self) -> None:
        # dropped unread (a stream whose relay never started): its connection cannot be reused
        if self._connection is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._connection.close()


class Http1Pool:
    """Keep-alive connections to the origins of one upstream account, and the calls made on them."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        # Sent on every request unless the request names the same header (as ClientSession's own),
        # by lower-case name.
        given = {"Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING, **headers}
        self._fixed = {name.lower(): (name, value) for name, value in given.items()}
        self._fixed_block = _header_block(self._fixed.values())
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._targets: dict[str, Target] = {}
        self._addresses: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._last_sweep = 0.0
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float | None,
    ) -> Response:
        """Sends one request and returns the answer's head (1xx answers skipped). ``read_timeout``
        bounds each wait for the upstream's next bytes (None: unbounded, the caller bounds it).
        Raises ``TimeoutError``, ``OSError`` (connecting), ``HeaderInjection`` and aiohttp's
        ``ClientError`` / ``HttpProcessingError`` (the connection or the answer broke)."""
        target = self._target(url)
        head = self._head(method, target, headers, body)
        connection = self._idle_connection(target.origin)
        if connection is None:
            connection = await self._connect(target.origin, connect_timeout)
        try:
            return await self._exchange(connection, method, head, body, read_timeout)
        except (ClientOSError, ServerDisconnectedError):
            if not connection.reused or method not in IDEMPOTENT:
                raise
        # The kept-alive connection had been closed by the upstream: once more on a new one
        # (RFC 9112 9.3.1.1), as ClientSession does.
        connection = await self._connect(target.origin, connect_timeout)
        return await self._exchange(connection, method, head, body, read_timeout)

    async def _exchange(
        self, connection: _Connection, method: str, head: bytes, body: bytes, read_timeout: float | None
    ) -> Response:
        protocol = connection.protocol
        try:
            protocol.set_response_params(
                read_timeout=read_timeout, read_bufsize=READ_BUFFER, skip_payload=method == "HEAD"
            )
            if len(body) <= READ_BUFFER:
                connection.transport.write(head + body)
            else:
                connection.transport.write(head)
                connection.transport.write(body)
            protocol.start_timeout()
            while True:
                message, payload = await protocol.read()
                if not 100 <= message.code < 200 or message.code == 101:
                    break
        except BaseException:
            connection.close()
            raise
        return Response(message.code, message.reason, message.headers, payload, connection, self)

    def give_back(self, connection: _Connection, reusable: bool) -> None:
        protocol = connection.protocol
        if self._closed or not reusable or protocol.should_close or not protocol.is_connected():
            connection.close()
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        connection.idle_since = now
        connection.reused = True
        self._idle.setdefault(connection.origin, []).append(connection)
        if now - self._last_sweep > KEEPALIVE_S:
            self._sweep(now)

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    # -- connections

    def _idle_connection(self, origin: tuple[str, int, bool]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()  # the most recently used: the one most likely still open
            if connection.usable(now):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: tuple[str, int, bool], within: float) -> _Connection:
        host, port, tls = origin
        loop = asyncio.get_running_loop()
        context = await self._ssl_context() if tls else None
        async with asyncio.timeout(within):
            addresses = await self._resolve(host, port)
            failure: OSError | None = None
            for address in addresses:
                try:
                    transport, protocol = await loop.create_connection(
                        lambda: _Protocol(loop),
                        address,
                        port,
                        ssl=context,
                        server_hostname=host if tls else None,
                    )
                except OSError as exc:
                    failure = exc
                    continue
                return _Connection(origin, transport, protocol)
            assert failure is not None
            raise failure

    async def _resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        known = self._addresses.get((host, port))
        if known is not None and known[0] > loop.time():
            return known[1]
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise OSError(f"no address for {host}")
        self._addresses[(host, port)] = (loop.time() + DNS_TTL_S, addresses)
        return addresses

    async def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # loading the trust store reads files: not on the event loop
            self._ssl = await asyncio.get_running_loop().run_in_executor(None, _default_ssl_context)
        return self._ssl

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for origin, connections in list(self._idle.items()):
            kept = []
            for connection in connections:
                if connection.usable(now):
                    kept.append(connection)
                else:
                    connection.close()
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]

    # -- the request's bytes

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 4096:
                self._targets.clear()
            parsed = URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.raw_host:
                raise ValueError(f"not an http(s) URL: {url!r}")
            tls = parsed.scheme == "https"
            default = 443 if tls else 80
            port = parsed.port or default
            host = parsed.raw_host
            shown = f"[{host}]" if ":" in host else host
            if port != default:
                shown = f"{shown}:{port}"
            target = Target((host, port, tls), f"Host: {shown}\r\n".encode(), parsed.raw_path_qs.encode())
            self._targets[url] = target
        return target

    def _head(self, method: str, target: Target, headers: Mapping[str, str], body: bytes) -> bytes:
        fixed = self._fixed_block
        names = {name.lower() for name in headers}
        if not names.isdisjoint(self._fixed):
            # the request's own value replaces the upstream's fixed one
            fixed = _header_block(line for name, line in self._fixed.items() if name not in names)
        length = b"Content-Length: %d\r\n" % len(body) if body or method not in ("GET", "HEAD") else b""
        return b"".join(
            (
                method.encode("ascii"),
                b" ",
                target.path,
                b" HTTP/1.1\r\n",
                target.host_header,
                fixed,
                _header_block(headers.items()),
                length,
                b"\r\n",
            )
        )


def _header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    lines = []
    for name, value in headers:
        if any(c in name or c in value for c in _FORBIDDEN_IN_HEADERS):
            raise HeaderInjection(f"header {name!r} has a line break or NUL in it")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8")


def _default_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context
