"""How to call an OpenAI upstream: Bearer auth, ``base_url`` ending in ``/v1``, one path per operation."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from torouter.router.capabilities import Capabilities
from torouter.router.config import UpstreamConfig
from torouter.router.routing.families import ModelFamilies
from torouter.router.upstreams import HttpUpstream, UpstreamRequest

from . import models

OPERATIONS = frozenset(
    {"chat.completions", "embeddings", "images.generations", "images.edits", "models.list", "models.get"}
) | frozenset(
    {"responses.create", "responses.get", "responses.delete", "responses.input_items", "responses.cancel"}
)
# A stored response's operations: (method, path after /responses/{id}); query parameters forwarded.
RESPONSE_ROUTES = {
    "responses.get": ("GET", ""),
    "responses.delete": ("DELETE", ""),
    "responses.input_items": ("GET", "/input_items"),
    "responses.cancel": ("POST", "/cancel"),
}


class OpenAIUpstream(HttpUpstream):
    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        base = self.config.base_url
        if request.operation == "chat.completions":
            return "POST", f"{base}/chat/completions"
        if request.operation == "embeddings":
            return "POST", f"{base}/embeddings"
        if request.operation == "images.generations":
            return "POST", f"{base}/images/generations"
        if request.operation == "images.edits":
            return "POST", f"{base}/images/edits"
        if request.operation == "responses.create":
            return "POST", f"{base}/responses"
        if request.operation in RESPONSE_ROUTES:
            return self._response_route(request)
        if request.operation == "models.list":
            return "GET", f"{base}/models"
        if request.operation == "models.get":
            return "GET", f"{base}/models/{quote(request.model, safe='')}"
        raise ValueError(f"openai upstream has no operation {request.operation!r}")

    def _response_route(self, request: UpstreamRequest) -> tuple[str, str]:
        method, tail = RESPONSE_ROUTES[request.operation]
        response_id = quote(request.params.get("response_id", ""), safe="")
        query = urlencode([(k, v) for k, v in request.params.items() if k != "response_id"])
        url = f"{self.config.base_url}/responses/{response_id}{tail}"
        return method, f"{url}?{query}" if query else url


class OpenAIKind:
    name = "openai"
    # model-id prefixes of the models that accept extended reasoning (a ``-thinking`` id)
    thinking_models: tuple[str, ...] = ("gpt-5", "o1", "o3", "o4")
    # how its ids name a size (a bare "gpt-5" or "o3" is large), and which of its models do not chat
    model_families = (
        ModelFamilies(
            r"gpt|chatgpt|codex|o\d", small=("mini", "nano"), unsized="large", not_chat=("dall-e", "whisper")
        ),
    )
    protocol = "openai"
    price_provider = "openai"
    operations = OPERATIONS

    def capabilities(self, model: str) -> Capabilities:
        """Output limits, sampling and stop sequences by model family (:mod:`.models`)."""
        return models.capabilities(model)

    def create(self, config: UpstreamConfig) -> OpenAIUpstream:
        return OpenAIUpstream(config, self)
