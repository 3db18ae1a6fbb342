"""The one handler behind every API endpoint: read the request, hand it to the router in one
gRPC call, write back what the router answers (chunk by chunk for streams).

Authentication before work: the edge holds no keys (the router checks them, inside the one call),
so before reading a body it checks only that a key is present and is UTF-8 text; a body is then
read within the edge's limit and ``edge.body_timeout_s``, and a multipart form within bounds on
its parts and its text (``multipart.py``), a slice at a time. A forged key thus buys at most one
bounded read, which the router then refuses; checking keys at the edge would cost every request
a second RPC or a copy of the key store in each edge.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from torouter.proto.v1 import router_pb2
from torouter.router.errors import ErrorCode, GatewayError

from . import app_keys
from .auth import caller_key
from .errors import error_response, stream_error_event
from .keepalive import JSON_STREAM, Line
from .metrics import Metrics
from .middleware import alone
from .multipart import Upload, read_image_edit_form
from .requestid import REQUEST_ID
from .routes import Endpoint, gemini_operation, models_protocol
from .session import SessionStream, reported_usage

FrameSource = grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame] | SessionStream

# Headers a protocol needs beyond the body (everything else the caller sent stays at the edge).
# (The caller's OpenAI-Organization/-Project name the caller's account, not the gateway's: dropped.)
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
# Body encodings the edge decodes (aiohttp does, within the body limit); any other is a 415.
DECODED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
_MAX_CLIENT_TIMEOUT_S = 3600.0

_GRPC_ERRORS: dict[grpc.StatusCode, tuple[ErrorCode, str]] = {
    grpc.StatusCode.UNAVAILABLE: (
        ErrorCode.UNAVAILABLE,
        "The gateway's router is unavailable; retry shortly.",
    ),
    # the edge cancels calls only for callers that are gone: a CANCELLED it sees is a router stopping
    grpc.StatusCode.CANCELLED: (ErrorCode.UNAVAILABLE, "The gateway's router went away; retry shortly."),
    grpc.StatusCode.DEADLINE_EXCEEDED: (ErrorCode.UPSTREAM_TIMEOUT, "The request timed out."),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (ErrorCode.REQUEST_TOO_LARGE, "The request is too large."),
}


def grpc_failure(exc: grpc.aio.AioRpcError, request_id: str) -> GatewayError:
    code, message = _GRPC_ERRORS.get(
        exc.code(), (ErrorCode.INTERNAL, f"Internal gateway error (request id {request_id}).")
    )
    return GatewayError(code, message, retry_after=1.0 if code is ErrorCode.UNAVAILABLE else None)


def wants_stream(endpoint: Endpoint, operation: str, body: bytes) -> bool:
    """Whether to use the streaming RPC. A cheap byte test instead of a second JSON parse: a JSON
    body can only ask to stream with a ``"stream"`` key (a quote inside a string is escaped), and
    the router answers correctly through either RPC."""
    if operation == "streamGenerateContent":
        return True
    return endpoint.streamable and b'"stream"' in body


# Headers in which the official SDKs state their own timeout, in seconds.
TIMEOUT_HEADERS = ("x-stainless-timeout", "x-stainless-read-timeout", "x-server-timeout")


def client_timeout(request: web.Request, default: float) -> float:
    """The caller's own timeout when its SDK says it, else the config's: retries and fallbacks
    never outlast the caller."""
    for name in TIMEOUT_HEADERS:
        value = request.headers.get(name)
        if value:
            try:
                return min(max(1.0, float(value)), _MAX_CLIENT_TIMEOUT_S)
            except ValueError:
                continue
    return default


async def forward(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    started = time.perf_counter()
    app = request.app
    errors = app[app_keys.ERRORS]
    request_id = request[REQUEST_ID]
    protocol, operation = endpoint.protocol, endpoint.operation
    params: dict[str, str] = {}
    if protocol == "models":
        protocol = models_protocol(request)
    if endpoint.operation == "call":
        parsed = gemini_operation(request.match_info["target"])
        if parsed is None:
            error = GatewayError(ErrorCode.NOT_FOUND, f"Unknown method in path {request.path}.")
            return error_response(errors, "gemini", error, request_id)
        params["model"], operation = parsed
    for name in ("model", "response_id"):
        if name in request.match_info:
            params[name] = request.match_info[name]
    for name, value in request.query.items():
        if name != "key":
            params.setdefault(name, value)

    key = caller_key(request)
    if not key:
        error = GatewayError(ErrorCode.UNAUTHENTICATED, "No API key provided.")
        return error_response(errors, protocol, error, request_id)
    headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    if "anthropic-beta" in headers:
        headers["anthropic-beta"] = ",".join(request.headers.getall("anthropic-beta"))
    try:
        _check_text(key, headers, params)
    except GatewayError as error:
        return error_response(errors, protocol, error, request_id)

    body = b""
    files: list[Upload] = []
    if endpoint.body != "none":
        config = app[app_keys.CONFIG]
        limit = int(config.edge.max_body_mb * 1024 * 1024)
        try:
            body, files = await _read_body(request, endpoint, limit, config.edge.body_timeout_s)
        except GatewayError as error:
            refused = error_response(errors, protocol, error, request_id)
            refused.force_close()  # what is left of the body is not waited for
            return refused

    timeout = client_timeout(request, app[app_keys.CONFIG].edge.request_timeout_s)
    call = router_pb2.CallRequest(
        protocol=protocol,
        operation=operation,
        body=body,
        key=key,
        request_id=request_id,
        deadline_unix_ms=int((time.time() + timeout) * 1000),
        client_ip=app[app_keys.CLIENT_ADDRESS].of(request),
        alone=alone(),
    )
    if headers:  # filling an empty protobuf map still costs a slow update
        call.headers.update(headers)
    if params:
        call.params.update(params)
    for upload in files:  # built in place: extending with File messages would copy each again
        call.files.add(
            field=upload.field, filename=upload.filename, content_type=upload.content_type, data=upload.data
        )
    client = app[app_keys.CLIENT]
    if not wants_stream(endpoint, operation, body):
        try:
            reply, usage = await client.call(call, timeout)
        except grpc.aio.AioRpcError as exc:
            app[app_keys.METRICS].router_errors.labels(exc.code().name).inc()
            return error_response(errors, protocol, grpc_failure(exc, request_id), request_id)
        if usage is not None:  # it follows the reply (the router's accounting comes after it)
            _count_when_reported(app[app_keys.METRICS], usage, time.perf_counter() - started)
        elif reply.HasField("usage"):  # counted once the answer went out (off its path)
            elapsed = time.perf_counter() - started
            asyncio.get_running_loop().call_soon(app[app_keys.METRICS].count_usage, reply.usage, elapsed)
        return web.Response(status=reply.status, body=reply.body, headers=dict(reply.headers))
    rpc = client.stream(call, timeout)
    return await _stream(request, rpc, protocol, request_id, operation == "streamGenerateContent", started)


async def _stream(
    request: web.Request,
    call: FrameSource,
    protocol: str,
    request_id: str,
    always_streams: bool = False,
    started: float = 0.0,
) -> web.StreamResponse:
    """Relays frames. A JSON answer (errors, ``stream: false``) is sent whole; an SSE answer, and
    a successful answer of an operation that ``always_streams`` (Gemini's stream as a JSON array),
    is written frame by frame. A client that goes away cancels the call, and with it the upstream."""
    errors = request.app[app_keys.ERRORS]
    response: web.StreamResponse | None = None
    line: Line | None = None
    lines = request.app[app_keys.KEEPALIVE]
    collected: list[bytes] = []
    head: router_pb2.Head | None = None
    completed = False
    first_byte: float | None = None
    try:
        async for frame in call:
            if head is None:
                head = frame.head
                sse = head.headers.get("content-type", "").startswith("text/event-stream")
                if sse or (always_streams and head.status == 200):
                    headers = dict(head.headers)
                    headers["x-request-id"] = request_id
                    response = web.StreamResponse(status=head.status, headers=headers)
                    await response.prepare(request)
                    line = lines.open(response, protocol if sse else JSON_STREAM)
            if frame.data:
                if first_byte is None:
                    first_byte = time.perf_counter()
                if line is not None:
                    await line.write(frame.data)
                else:
                    collected.append(frame.data)
            if frame.last and response is not None:
                # The caller has it all: its answer ends now, and the handler with it (the next
                # request of its connection waits for that); the end, with the request's usage,
                # follows once the router has done its accounting, and is read in the background
                # (unless it came with the last frame).
                if line is not None:
                    lines.close(line)
                    line = None
                await response.write_eof()
                if not (isinstance(call, SessionStream) and call.ended):
                    completed = True
                    _count_later(request, call, (first_byte or time.perf_counter()) - started)
                    return response
        completed = True
    except grpc.aio.AioRpcError as exc:
        request.app[app_keys.METRICS].router_errors.labels(exc.code().name).inc()
        error = grpc_failure(exc, request_id)
        if response is None:
            return error_response(errors, protocol, error, request_id)
        if exc.code() is grpc.StatusCode.UNAVAILABLE or exc.code() is grpc.StatusCode.CANCELLED:
            error = GatewayError(ErrorCode.UPSTREAM_ERROR, "The gateway's router went away mid-stream.")
        await response.write(stream_error_event(errors, protocol, error))
        await response.write_eof()
        return response
    finally:
        if line is not None:
            lines.close(line)
        if not completed:
            call.cancel()
    if response is not None:
        await response.write_eof()
    await _count_usage(request, call, (first_byte or time.perf_counter()) - started)
    if response is not None:
        return response
    if head is None:
        error = GatewayError(ErrorCode.INTERNAL, f"Internal gateway error (request id {request_id}).")
        return error_response(errors, protocol, error, request_id)
    return web.Response(status=head.status, body=b"".join(collected), headers=dict(head.headers))


async def _count_usage(
    request: web.Request,
    call: FrameSource,
    first_byte_s: float,
) -> None:
    """Counts the usage a finished stream reported (once its last bytes went out: off the
    answer's path)."""
    report = await _usage(call)
    if report is not None:
        count = request.app[app_keys.METRICS].count_usage
        asyncio.get_running_loop().call_soon(count, report, first_byte_s)


async def _usage(call: FrameSource) -> router_pb2.Usage | None:
    return await (call.usage() if isinstance(call, SessionStream) else reported_usage(call))


_ENDS_READ: set[asyncio.Task[None]] = set()  # the ends being read in the background (held here)
_USAGE_DUE: set[asyncio.Future[router_pb2.Usage | None]] = set()  # usage following whole answers


async def usage_counted(timeout_s: float = 1.0) -> None:
    """Until the usage of the answers already finished is counted (their ends read), at most
    ``timeout_s``: ``/metrics`` counts every answer its caller has had."""
    if _ENDS_READ or _USAGE_DUE:
        await asyncio.wait(_ENDS_READ | _USAGE_DUE, timeout=timeout_s)


def _count_when_reported(
    metrics: Metrics, usage: asyncio.Future[router_pb2.Usage | None], first_byte_s: float
) -> None:
    """Counts the usage that follows a whole answer once it comes (None: none, or lost with the
    session)."""

    def count(reported: asyncio.Future[router_pb2.Usage | None]) -> None:
        _USAGE_DUE.discard(reported)
        report = None if reported.cancelled() else reported.result()
        if report is not None:
            metrics.count_usage(report, first_byte_s)

    _USAGE_DUE.add(usage)
    usage.add_done_callback(count)


def _count_later(request: web.Request, call: FrameSource, first_byte_s: float) -> None:
    """Reads what follows an answer's last frame (its end) and counts its usage, without holding
    the answer: a caller gone meanwhile cancels nothing (the router finishes its accounting). On
    the session, the end's usage is counted when it comes (no task reading on)."""
    if isinstance(call, SessionStream):
        usage = call.usage_later()
        if usage is not None:
            _count_when_reported(request.app[app_keys.METRICS], usage, first_byte_s)
            return

    async def read_end() -> None:
        try:
            async for _ in call:  # nothing but the end (a Stream RPC: its status)
                pass
            await _count_usage(request, call, first_byte_s)
        except grpc.aio.AioRpcError as exc:  # the router went away: only the usage count is lost
            request.app[app_keys.METRICS].router_errors.labels(exc.code().name).inc()

    task = asyncio.get_running_loop().create_task(read_end())
    _ENDS_READ.add(task)
    task.add_done_callback(_ENDS_READ.discard)


def _check_text(key: str, headers: dict[str, str], params: dict[str, str]) -> None:
    """Header bytes that are not UTF-8 reach here as lone surrogates, which cannot travel on (and
    could never match a key): a clear 4xx naming the header, never its value."""
    if not _is_text(key):
        raise GatewayError(ErrorCode.UNAUTHENTICATED, "The API key is malformed: it is not UTF-8 text.")
    for name, value in (*headers.items(), *params.items()):
        if not _is_text(value):
            raise GatewayError(ErrorCode.INVALID_REQUEST, f"The value of {name!r} is not UTF-8 text.")


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


async def _read_body(
    request: web.Request, endpoint: Endpoint, limit: int, timeout_s: float
) -> tuple[bytes, list[Upload]]:
    """The body within the edge's limit (decoded when gzip or deflate: a bomb is a 413) and within
    ``timeout_s`` (a 408 for a body that trickles in); errors in the caller's protocol."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in DECODED_ENCODINGS:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "Unsupported content-encoding: send the body as is, or encoded with gzip or deflate.",
            status=415,
        )
    try:
        if request.content.is_eof() and endpoint.body != "multipart":
            return await request.read(), []  # all of it has come: nothing to wait for, no timer
        async with asyncio.timeout(timeout_s):
            if endpoint.body == "multipart" and request.content_type.startswith("multipart/"):
                form = await read_image_edit_form(request, limit)
                return form.body, form.files
            return await request.read(), []
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None
    except RequestPayloadError:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "The request body could not be read: it is truncated, or not validly encoded as its "
            "content-encoding says.",
        ) from None
    except TimeoutError:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"The request body did not arrive within {timeout_s:g} s.",
            status=408,
        ) from None


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        ErrorCode.REQUEST_TOO_LARGE, f"The request body is larger than the gateway's limit of {limit} bytes."
    )
