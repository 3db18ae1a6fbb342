"""Every path the edge serves, mapped to ``(protocol, operation)``, under every mount."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

BodyKind = Literal["none", "json", "multipart"]

OPENAI_MOUNTS = ("/v1", "/api/v1")
# google-genai appends its own version segment to whatever base URL it is given.
GEMINI_MOUNTS = ("/v1", "/api/v1", "/v1beta", "/api/v1beta", "/v1beta/v1", "/v1beta/v1beta")

GEMINI_METHODS = {
    "generateContent": "generateContent",
    "streamGenerateContent": "streamGenerateContent",
    "countTokens": "countTokens",
    "embedContent": "embedContent",
    "batchEmbedContents": "batchEmbedContents",
}


@dataclass(slots=True, frozen=True)
class Endpoint:
    """One HTTP endpoint: which protocol and operation it is, and what its body is."""

    protocol: str  # "openai" | "anthropic" | "gemini" | "models" (decided per request)
    operation: str
    body: BodyKind = "json"
    streamable: bool = False  # the body's "stream" flag may ask for SSE


# (method, path under an OpenAI mount, endpoint)
_OPENAI_ROUTES: tuple[tuple[str, str, Endpoint], ...] = (
    ("POST", "/chat/completions", Endpoint("openai", "chat.completions", streamable=True)),
    ("POST", "/responses", Endpoint("openai", "responses.create", streamable=True)),
    ("POST", "/responses/input_tokens", Endpoint("openai", "responses.input_tokens")),
    ("GET", "/responses/{response_id}", Endpoint("openai", "responses.get", "none")),
    ("DELETE", "/responses/{response_id}", Endpoint("openai", "responses.delete", "none")),
    ("GET", "/responses/{response_id}/input_items", Endpoint("openai", "responses.input_items", "none")),
    ("POST", "/responses/{response_id}/cancel", Endpoint("openai", "responses.cancel", "none")),
    ("POST", "/embeddings", Endpoint("openai", "embeddings")),
    ("POST", "/images/generations", Endpoint("openai", "images.generations", streamable=True)),
    ("POST", "/images/edits", Endpoint("openai", "images.edits", "multipart", streamable=True)),
    ("POST", "/messages", Endpoint("anthropic", "messages", streamable=True)),
    ("POST", "/messages/count_tokens", Endpoint("anthropic", "messages.count_tokens")),
    ("GET", "/models", Endpoint("models", "models.list", "none")),
    ("GET", "/models/{model:.+}", Endpoint("models", "models.get", "none")),
)

_GEMINI_ROUTES: tuple[tuple[str, str, Endpoint], ...] = (
    ("POST", "/models/{target:.+}", Endpoint("gemini", "call")),
    ("POST", "/tunedModels/{target:.+}", Endpoint("gemini", "call")),
)
_GEMINI_ONLY_ROUTES: tuple[tuple[str, str, Endpoint], ...] = (
    ("GET", "/models", Endpoint("gemini", "models.list", "none")),
    ("GET", "/models/{model:.+}", Endpoint("gemini", "models.get", "none")),
)


def route_table() -> list[tuple[str, str, Endpoint]]:
    """``(method, full path, endpoint)`` for every mount, without duplicates."""
    table: dict[tuple[str, str], Endpoint] = {}
    for mount in OPENAI_MOUNTS:
        for method, path, endpoint in _OPENAI_ROUTES:
            table[(method, mount + path)] = endpoint
    for mount in GEMINI_MOUNTS:
        for method, path, endpoint in _GEMINI_ROUTES:
            table.setdefault((method, mount + path), endpoint)
        if mount not in OPENAI_MOUNTS:
            for method, path, endpoint in _GEMINI_ONLY_ROUTES:
                table.setdefault((method, mount + path), endpoint)
    return [(method, path, endpoint) for (method, path), endpoint in table.items()]


def gemini_operation(target: str) -> tuple[str, str] | None:
    """``gemini-2.5-pro:generateContent`` -> ``("gemini-2.5-pro", "generateContent")``."""
    model, sep, method = target.rpartition(":")
    if not sep or not model or method not in GEMINI_METHODS:
        return None
    return model, GEMINI_METHODS[method]


def guess_protocol(request: web.Request) -> str:
    """The protocol a request most likely speaks, for errors on paths that have no endpoint."""
    path = request.path
    if "anthropic-version" in request.headers or "/messages" in path:
        return "anthropic"
    if (
        "x-goog-api-key" in request.headers
        or "key" in request.query
        or "v1beta" in path
        or ":" in path.rpartition("/")[2]
    ):
        return "gemini"
    return "openai"


def models_protocol(request: web.Request) -> str:
    """``/v1/models`` is shared: Anthropic's format with ``anthropic-version``, Gemini's when the
    key came as ``x-goog-api-key`` or ``?key=``, OpenAI's otherwise."""
    if "anthropic-version" in request.headers:
        return "anthropic"
    if "x-goog-api-key" in request.headers or "key" in request.query:
        return "gemini"
    return "openai"
