"""The caller's key, from whichever header (or query parameter) carries it."""

from __future__ import annotations

from aiohttp import web


def caller_key(request: web.Request) -> str:
    """``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or ``?key=``; empty if none."""
    headers = request.headers
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    for name in ("x-api-key", "x-goog-api-key"):
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    return request.query.get("key", "").strip()
