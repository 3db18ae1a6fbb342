"""How to call the Gemini API: ``x-goog-api-key``, ``base_url`` without a version, ``/v1beta``
paths with the model in the URL, ``?alt=sse`` for streams."""

from __future__ import annotations

from urllib.parse import quote

from torouter.router.capabilities import Capabilities
from torouter.router.config import UpstreamConfig
from torouter.router.routing.families import ModelFamilies
from torouter.router.upstreams import HttpUpstream, UpstreamRequest

from . import models

API_VERSION = "v1beta"
OPERATIONS = frozenset(
    {"generateContent", "countTokens", "embedContent", "batchEmbedContents", "models.list", "models.get"}
)


def model_path(model: str) -> str:
    """``gemini-2.5-pro`` -> ``models/gemini-2.5-pro``; ``tunedModels/x`` is kept."""
    name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    return quote(name, safe="/-_.")


class GeminiUpstream(HttpUpstream):
    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.config.api_key} if self.config.api_key else {}

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        base = f"{self.config.base_url}/{API_VERSION}"
        if request.operation == "models.list":
            return "GET", f"{base}/models"
        if request.operation == "models.get":
            return "GET", f"{base}/{model_path(request.model)}"
        if request.operation == "generateContent" and request.stream:
            # always SSE: a caller that asked for the JSON array gets it framed by the router
            return "POST", f"{base}/{model_path(request.model)}:streamGenerateContent?alt=sse"
        if request.operation in OPERATIONS:
            return "POST", f"{base}/{model_path(request.model)}:{request.operation}"
        raise ValueError(f"gemini upstream has no operation {request.operation!r}")


class GeminiKind:
    name = "gemini"
    # model-id prefixes of the models that accept extended reasoning (a ``-thinking`` id)
    thinking_models: tuple[str, ...] = ("gemini-2.5", "gemini-3")
    # how its ids name a size ("flash-lite" is small), and which of its models do not chat
    model_families = (
        ModelFamilies(
            "gemini", small=("lite",), medium=("flash",), large=("pro", "ultra"), not_chat=("veo",)
        ),
    )
    protocol = "gemini"
    price_provider = "google"  # genai-prices' provider id
    operations = OPERATIONS

    def capabilities(self, model: str) -> Capabilities:
        """The model's largest completion and thinking budgets, the fields it refuses (:mod:`.models`)."""
        return models.capabilities(model)

    def create(self, config: UpstreamConfig) -> GeminiUpstream:
        return GeminiUpstream(config, self)
