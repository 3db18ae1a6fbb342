"""How to call an Anthropic upstream: ``x-api-key`` and ``anthropic-version`` headers, paths under
``/v1``. A caller's own ``anthropic-version`` and ``anthropic-beta`` (passthrough) win over ours."""

from __future__ import annotations

from urllib.parse import quote

from torouter.router.capabilities import Capabilities
from torouter.router.config import UpstreamConfig
from torouter.router.routing.families import ModelFamilies
from torouter.router.upstreams import HttpUpstream, UpstreamRequest

from . import models

API_VERSION = "2023-06-01"
OPERATIONS = frozenset({"messages", "messages.count_tokens", "models.list", "models.get"})
_PATHS = {
    "messages": "/v1/messages",
    "messages.count_tokens": "/v1/messages/count_tokens",
    "models.list": "/v1/models",
}


class AnthropicUpstream(HttpUpstream):
    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key
        return headers

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        base = self.config.base_url
        query = "?beta=true" if request.params.get("beta") == "true" else ""
        if request.operation == "models.get":
            return "GET", f"{base}/v1/models/{quote(request.model, safe='')}"
        path = _PATHS.get(request.operation)
        if path is None:
            raise ValueError(f"anthropic upstream has no operation {request.operation!r}")
        return ("GET" if request.operation == "models.list" else "POST"), f"{base}{path}{query}"


class AnthropicKind:
    name = "anthropic"
    # model-id prefixes of the models that accept extended reasoning (a ``-thinking`` id)
    thinking_models: tuple[str, ...] = ("claude-opus-4", "claude-sonnet-4", "claude-haiku-4-5", "claude-3-7")
    # how its ids name a size (a group without Claude serves a Claude id with its model of that size)
    model_families = (ModelFamilies("claude", small=("haiku",), medium=("sonnet",), large=("opus",)),)
    protocol = "anthropic"
    price_provider = "anthropic"
    operations = OPERATIONS

    def capabilities(self, model: str) -> Capabilities:
        """The model's largest completion and the fields it refuses (:mod:`.models`)."""
        return models.capabilities(model)

    def create(self, config: UpstreamConfig) -> AnthropicUpstream:
        return AnthropicUpstream(config, self)
