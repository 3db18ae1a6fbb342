"""The admin API's paths (``/admin/v1/...``, CONTRACT §7), forwarded to the router over the same
gRPC envelope as any call, with protocol ``admin`` and the operation the path names.

The edge holds no admin logic: the router checks the admin key and runs the operation (see
``router/account/admin.py``). Here: with no admin key configured at all (``admin.keys``,
``TOROUTER_ADMIN_KEY``), everything under ``/admin`` is a 404; a request without a key is a 401;
query and path parameters go as ``params``, a body as it came; an answer that streams (the CSV
export) is written frame by frame. Errors are in OpenAI's format.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from aiohttp import web

from torouter.proto.v1 import router_pb2
from torouter.router.errors import ErrorCode, GatewayError

from . import app_keys
from .auth import caller_key
from .errors import error_response
from .forward import grpc_failure
from .requestid import REQUEST_ID

ADMIN_PROTOCOL = "admin"
ADMIN_MOUNT = "/admin/v1"
TIMEOUT_S = 300.0  # an export of millions of rows takes a while


@dataclass(slots=True, frozen=True)
class AdminRoute:
    method: str
    path: str  # under /admin/v1
    operation: str
    streams: bool = False  # the answer is written as it comes (exports)


ADMIN_ROUTES: tuple[AdminRoute, ...] = (
    AdminRoute("GET", "/keys", "keys.list"),
    AdminRoute("POST", "/keys", "keys.create"),
    AdminRoute("GET", "/keys/{name}", "keys.get"),
    AdminRoute("PATCH", "/keys/{name}", "keys.update"),
    AdminRoute("DELETE", "/keys/{name}", "keys.revoke"),
    AdminRoute("GET", "/usage", "usage.summary"),
    AdminRoute("GET", "/usage/daily", "usage.daily"),
    AdminRoute("GET", "/usage/requests", "usage.requests"),
    AdminRoute("GET", "/usage/export.csv", "usage.export", streams=True),
    AdminRoute("GET", "/models", "models.list"),
)


def _error(request: web.Request, error: GatewayError) -> web.Response:
    return error_response(request.app[app_keys.ERRORS], "openai", error, request[REQUEST_ID])


def admin_handler(route: AdminRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await forward_admin(request, route)

    return handler


async def not_found(request: web.Request) -> web.Response:
    """Any other path under /admin."""
    return _error(
        request, GatewayError(ErrorCode.NOT_FOUND, f"Unknown path: {request.method} {request.path}.")
    )


async def forward_admin(request: web.Request, route: AdminRoute) -> web.StreamResponse:
    app = request.app
    if not app[app_keys.ADMIN_ENABLED]:
        return await not_found(request)
    key = caller_key(request)
    if not key:
        return _error(request, GatewayError(ErrorCode.UNAUTHENTICATED, "No admin key provided."))
    # every query parameter is the operation's (``key`` filters usage by caller key): the admin key
    # itself comes in a header
    params = dict(request.query)
    params.update(request.match_info)
    call = router_pb2.CallRequest(
        protocol=ADMIN_PROTOCOL,
        operation=route.operation,
        body=await request.read() if request.can_read_body else b"",
        key=key,
        request_id=request[REQUEST_ID],
        deadline_unix_ms=int((time.time() + TIMEOUT_S) * 1000),
        params=params,
    )
    metadata = grpc.aio.Metadata(("x-request-id", request[REQUEST_ID]))
    stub = app[app_keys.CLIENT].stub
    if not route.streams:
        try:
            reply = await stub.Call(call, timeout=TIMEOUT_S, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            app[app_keys.METRICS].router_errors.labels(exc.code().name).inc()
            return _error(request, grpc_failure(exc, request[REQUEST_ID]))
        return web.Response(status=reply.status, body=reply.body, headers=dict(reply.headers))
    return await _streamed(request, stub.Stream(call, timeout=TIMEOUT_S, metadata=metadata))


async def _streamed(
    request: web.Request, call: grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame]
) -> web.StreamResponse:
    """Frames written as they come: the export is never whole in the edge's memory either."""
    response: web.StreamResponse | None = None
    completed = False
    try:
        async for frame in call:
            if response is None:
                headers = dict(frame.head.headers)
                headers["x-request-id"] = request[REQUEST_ID]
                response = web.StreamResponse(status=frame.head.status, headers=headers)
                await response.prepare(request)
            if frame.data:
                await response.write(frame.data)
        completed = True
    except grpc.aio.AioRpcError as exc:
        request.app[app_keys.METRICS].router_errors.labels(exc.code().name).inc()
        if response is None:
            return _error(request, grpc_failure(exc, request[REQUEST_ID]))
        if request.transport is not None:  # cut short: no clean end, so it is not taken for whole
            request.transport.close()
        return response
    finally:
        if not completed:
            call.cancel()
    if response is None:
        error = GatewayError(
            ErrorCode.INTERNAL, f"Internal gateway error (request id {request[REQUEST_ID]})."
        )
        return _error(request, error)
    await response.write_eof()
    return response


def add_admin_routes(app: web.Application) -> None:
    for route in ADMIN_ROUTES:
        app.router.add_route(route.method, ADMIN_MOUNT + route.path, admin_handler(route))
    app.router.add_route("*", "/admin/{tail:.*}", not_found)
