"""Errors the edge answers itself (no key, body too large, unknown path, router unreachable),
rendered by the same protocol codecs the router uses."""

from __future__ import annotations

from aiohttp import web

from torouter.router.errors import GatewayError
from torouter.router.protocols.anthropic.errors import AnthropicErrors
from torouter.router.protocols.base import ErrorCodec
from torouter.router.protocols.gemini.errors import GeminiErrors
from torouter.router.protocols.openai.errors import OpenAIErrors


def error_codecs() -> dict[str, ErrorCodec]:
    """The error formats of the protocols the edge serves. Only these: the edge answers only their
    endpoints, and loads neither the plugin registry nor any codec beyond them (a process with less
    in memory, which ``torouter up`` runs beside every router)."""
    return {"openai": OpenAIErrors(), "anthropic": AnthropicErrors(), "gemini": GeminiErrors()}


def error_response(
    errors: dict[str, ErrorCodec], protocol: str, error: GatewayError, request_id: str
) -> web.Response:
    rendered = (errors.get(protocol) or errors["openai"]).render(error, request_id)
    return web.Response(status=rendered.status, body=rendered.body, headers=rendered.headers)


def stream_error_event(errors: dict[str, ErrorCodec], protocol: str, error: GatewayError) -> bytes:
    return (errors.get(protocol) or errors["openai"]).stream_event(error)
