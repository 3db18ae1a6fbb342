"""How to call an OpenAI upstream: Bearer auth, ``base_url`` ending in ``/v1``, one path per operation."""

from __future__ import annotations

from urllib.parse import quote

from torouter.router.config import UpstreamConfig
from torouter.router.upstream import HttpUpstream, UpstreamRequest

OPERATIONS = frozenset({"chat.completions", "embeddings", "models.list", "models.get"})


class OpenAIUpstream(HttpUpstream):
    protocol = "openai"
    operations = OPERATIONS

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        base = self.config.base_url
        if request.operation == "chat.completions":
            return "POST", f"{base}/chat/completions"
        if request.operation == "embeddings":
            return "POST", f"{base}/embeddings"
        if request.operation == "models.list":
            return "GET", f"{base}/models"
        if request.operation == "models.get":
            return "GET", f"{base}/models/{quote(request.model, safe='')}"
        raise ValueError(f"openai upstream has no operation {request.operation!r}")


class OpenAIKind:
    name = "openai"
    protocol = "openai"
    operations = OPERATIONS

    def create(self, config: UpstreamConfig) -> OpenAIUpstream:
        return OpenAIUpstream(config)
