"""The HTTP server under the edge's app: aiohttp's connection handler, with the gateway's own
answers where aiohttp would answer itself, and limits on slow clients.

- **Requests aiohttp refuses before any handler runs** (a control byte or a non-token character in
  a header, a header line over 8190 bytes, more than 128 headers, a request line too long, an
  unsupported ``content-encoding`` such as ``br``): aiohttp answers a text/plain 400 that quotes
  the offending line — a key included — and logs it with a traceback. Here the answer is an error
  in OpenAI's format (the protocol cannot be known: the path may not even have been read) with an
  ``x-request-id``, naming the kind of problem and never the header; the log gets one warning line
  with the request id and the kind, no header and no traceback.
- **Slow clients**: a connection must deliver a whole request head within
  ``edge.header_timeout_s`` of opening (a 408 then closes it). On a reused connection the wait for
  the next head is bounded by ``edge.idle_timeout_s`` (aiohttp's keep-alive timeout, which also
  closes a connection whose next head is still incomplete when it fires). The body's own timeout
  is the forwarder's (``edge.body_timeout_s``).
- **The ``Server`` header** says ``torouter``, with no version: aiohttp's default names itself and
  Python with their versions (``Python/3.11 aiohttp/3.14.5``), which tells a scanner which
  published flaws to try.
- **Connections that have not sent a request head yet** (the only ones that cannot have shown a key:
  the edge cannot authenticate a connection before its head arrives) are capped per client IP at
  ``edge.max_pending_per_ip``; one over the cap gets a 429 and is closed at once, before anything
  is parsed. A connection leaves the count when its first head has been parsed, or when it closes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from aiohttp import http_exceptions, web, web_response
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

from torouter.router.config import EdgeConfig
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.protocols.base import ErrorCodec

log = logging.getLogger("torouter.edge")

# aiohttp's own parser limits, kept (and named in the errors the edge writes for them)
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
# What every answer's Server header says. aiohttp writes its module constant into each response that
# sets none (StreamResponse._prepare_headers): set once by the runner, it covers the edge's answers
# and the ones aiohttp makes itself, at no cost per request.
SERVER_NAME = "torouter"
# After an answer given before the body was read (a 401, 408, 413...), how long aiohttp goes on
# reading and dropping the rest, so that the client sees the answer rather than a reset (its
# default, 10 s, would let a body sent a byte at a time hold the connection that much longer).
LINGER_S = 2.0


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def head_error(exc: BaseException | None, status: int) -> GatewayError:
    """The error for a request aiohttp refused (``status`` is aiohttp's), by the kind of problem.
    The exception's own text quotes the offending bytes and is never used."""
    if status == 500:
        return GatewayError(ErrorCode.INTERNAL, "Internal gateway error.")
    if status == 504:
        return GatewayError(ErrorCode.UPSTREAM_TIMEOUT, "The request timed out.")
    if isinstance(exc, http_exceptions.ContentEncodingError):
        return GatewayError(
            ErrorCode.INVALID_REQUEST,
            "Unsupported or malformed content-encoding: send the body as is, or gzip or deflate it.",
            status=415,
        )
    if isinstance(exc, http_exceptions.BadHttpMessage) and "Too many headers" in exc.message:
        message = f"The request has more than {MAX_HEADERS} headers."
    elif isinstance(exc, http_exceptions.LineTooLong):
        message = f"A request line or header is longer than the gateway's limit of {MAX_LINE_BYTES} bytes."
    elif isinstance(exc, http_exceptions.InvalidHeader) or (
        isinstance(exc, http_exceptions.BadHttpMessage) and "header" in exc.message.lower()
    ):
        message = "A request header has an invalid name or value (control characters are not allowed)."
    elif isinstance(exc, http_exceptions.BadStatusLine):
        message = "The request line could not be read: this is not an HTTP/1.1 request."
    else:
        message = "The request could not be read: its request line or headers are malformed."
    return GatewayError(ErrorCode.INVALID_REQUEST, message)


def raw_answer(errors: ErrorCodec, error: GatewayError, request_id: str) -> bytes:
    """A whole HTTP/1.1 answer (that closes the connection) for a connection no request reached."""
    rendered = errors.render(error, request_id)
    headers = {**rendered.headers, "x-request-id": request_id}
    lines = [f"HTTP/1.1 {rendered.status} {_reason(rendered.status)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"content-length: {len(rendered.body)}", "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + rendered.body


def _reason(status: int) -> str:
    return {408: "Request Timeout", 429: "Too Many Requests"}.get(status, "Error")


class PendingConnections:
    """Per client IP, the connections that have not delivered a request head yet."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.by_ip: dict[str, int] = {}

    def admit(self, ip: str) -> bool:
        count = self.by_ip.get(ip, 0)
        if count >= self.limit:
            return False
        self.by_ip[ip] = count + 1
        return True

    def release(self, ip: str) -> None:
        count = self.by_ip.get(ip, 0) - 1
        if count > 0:
            self.by_ip[ip] = count
        else:
            self.by_ip.pop(ip, None)


class EdgeRequestHandler(RequestHandler):
    """aiohttp's connection handler with the edge's answers and slow-client limits (module doc)."""

    __slots__ = ("_edge", "_head_timer", "_peer_ip")

    def __init__(self, manager: EdgeServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._edge = manager.edge
        self._head_timer: asyncio.TimerHandle | None = None
        self._peer_ip: str | None = None  # set while the connection counts as pending

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self._edge.pending.admit(ip):
            error = GatewayError(
                ErrorCode.RATE_LIMITED,
                "Too many connections from your address are waiting to send a request.",
                retry_after=1.0,
            )
            self._refuse(error, "too many pending connections")
            return
        self._peer_ip = ip
        self._head_timer = asyncio.get_running_loop().call_later(
            self._edge.config.header_timeout_s, self._head_timed_out
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._peer_ip is not None and self._request_count:  # a first head (or a refused one)
            self._settled()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._settled()
        super().connection_lost(exc)

    def _settled(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._peer_ip is not None:
            self._edge.pending.release(self._peer_ip)
            self._peer_ip = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._peer_ip is None:
            return
        seconds = self._edge.config.header_timeout_s
        error = GatewayError(
            ErrorCode.INVALID_REQUEST, f"The request head did not arrive within {seconds:g} s.", status=408
        )
        self._refuse(error, "request head timed out")

    def _refuse(self, error: GatewayError, reason: str) -> None:
        """Answers a connection no request reached, and closes it."""
        self._settled()
        request_id = new_request_id()
        log.warning("connection refused", extra={"request_id": request_id, "reason": reason})
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(raw_answer(self._edge.openai, error, request_id))
        self.force_close()
        if transport is not None:
            transport.close()

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp's own error logging: a request's fault (a head or body it could not read, seen
        again when aiohttp drains the unread rest of a body) is one warning line, with no
        traceback; anything else keeps aiohttp's line and traceback (the formatter redacts
        credentials in both)."""
        exc = kwargs.get("exc_info")
        if isinstance(exc, http_exceptions.HttpProcessingError | RequestPayloadError):
            log.warning("unreadable request", extra={"error": type(exc).__name__})
            return
        super().log_exception(*args, **kwargs)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request aiohttp refused (or a handler failure aiohttp caught)."""
        request_id = new_request_id()
        error = head_error(exc, status)
        if error.code is ErrorCode.INTERNAL:
            error = GatewayError(ErrorCode.INTERNAL, f"Internal gateway error (request id {request_id}).")
            log.error(
                "unhandled server error",
                extra={"request_id": request_id, "error": type(exc).__name__ if exc else None},
            )
        else:
            log.warning(
                "request refused by the HTTP parser",
                extra={"request_id": request_id, "status": error.status, "error": type(exc).__name__},
            )
        if request.writer.output_size > 0:  # an answer was started: the connection is broken
            raise ConnectionError("an answer was sent already")
        rendered = self._edge.openai.render(error, request_id)
        response = web.Response(status=rendered.status, body=rendered.body, headers=rendered.headers)
        response.headers["x-request-id"] = request_id
        response.force_close()
        return response


class EdgeState:
    """What the edge's connection handlers share: the config, the OpenAI error format, the pending count."""

    def __init__(self, config: EdgeConfig, openai: ErrorCodec) -> None:
        self.config = config
        self.openai = openai
        self.pending = PendingConnections(config.max_pending_per_ip)


class EdgeServer(web.Server):
    """aiohttp's low-level server, making :class:`EdgeRequestHandler` connection handlers."""

    edge: EdgeState

    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """An AppRunner whose server is an :class:`EdgeServer` (``edge`` holds what it shares)."""

    def __init__(self, app: web.Application, edge: EdgeState, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", edge.config.idle_timeout_s)
        kwargs.setdefault("max_line_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_field_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        kwargs.setdefault("lingering_time", LINGER_S)
        super().__init__(app, **kwargs)
        self.edge = edge
        web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]  # not re-exported

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = EdgeServer  # the same object; only the handlers it makes change
        assert isinstance(server, EdgeServer)
        server.edge = self.edge
        return server
