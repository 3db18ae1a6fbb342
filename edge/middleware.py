"""One middleware: request id on every response, metrics, and errors in the caller's protocol for
whatever no endpoint answers (unknown path, wrong method, an unexpected failure)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from torouter.router.errors import ErrorCode, GatewayError, cut

from . import app_keys
from .errors import error_response
from .requestid import REQUEST_ID, request_id_for
from .routes import guess_protocol

log = logging.getLogger("torouter.edge")

_in_flight = 0  # requests this edge is answering


def alone() -> bool:
    """Whether the request being answered is this edge's only one (its answer may then go before
    the router's accounting: ``CallRequest.alone``)."""
    return _in_flight == 1


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    global _in_flight
    started = time.perf_counter()
    request_id = request_id_for(request)
    request[REQUEST_ID] = request_id
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    _in_flight += 1
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = _http_error(request, exc, request_id)
    except asyncio.CancelledError:
        request.app[app_keys.METRICS].observe(route, 499, time.perf_counter() - started)  # client went away
        raise
    except Exception:
        log.exception("unhandled edge error", extra={"request_id": request_id, "path": request.path})
        error = GatewayError(ErrorCode.INTERNAL, f"Internal gateway error (request id {request_id}).")
        response = error_response(request.app[app_keys.ERRORS], guess_protocol(request), error, request_id)
    finally:
        _in_flight -= 1
    if not response.prepared:  # streams carry it from their first byte (see forward)
        response.headers["x-request-id"] = request_id
    elapsed = time.perf_counter() - started
    # counted once aiohttp wrote the answer, which it does in this same step (off the answer's path)
    metrics = request.app[app_keys.METRICS]
    asyncio.get_running_loop().call_soon(metrics.observe, route, response.status, elapsed)
    return response


def _http_error(request: web.Request, exc: web.HTTPException, request_id: str) -> web.StreamResponse:
    errors = request.app[app_keys.ERRORS]
    protocol = guess_protocol(request)
    if exc.status == 404:
        error = GatewayError(
            ErrorCode.NOT_FOUND, f"Unknown path: {cut(request.method, 32)} {cut(request.path)}."
        )
    elif exc.status == 405:
        error = GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"Method {cut(request.method, 32)} is not allowed on {cut(request.path)}.",
            status=405,
        )
    elif exc.status == 413:
        error = GatewayError(ErrorCode.REQUEST_TOO_LARGE, "The request body is too large.")
    else:
        error = GatewayError(ErrorCode.INVALID_REQUEST, exc.reason or "Bad request.", status=exc.status)
    return error_response(errors, protocol, error, request_id)
