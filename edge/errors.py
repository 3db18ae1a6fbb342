"""Errors the edge answers itself (no key, body too large, unknown path, router unreachable),
rendered by the same protocol codecs the router uses."""

from __future__ import annotations

from aiohttp import web

from torouter.router.errors import GatewayError
from torouter.router.protocols.base import WireProtocol


def error_response(
    protocols: dict[str, WireProtocol], protocol: str, error: GatewayError, request_id: str
) -> web.Response:
    codec = (protocols.get(protocol) or protocols["openai"]).errors
    rendered = codec.render(error, request_id)
    return web.Response(status=rendered.status, body=rendered.body, headers=rendered.headers)


def stream_error_event(protocols: dict[str, WireProtocol], protocol: str, error: GatewayError) -> bytes:
    return (protocols.get(protocol) or protocols["openai"]).errors.stream_event(error)
