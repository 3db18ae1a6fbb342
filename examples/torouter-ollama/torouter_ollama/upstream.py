"""How to call Ollama: ``base_url`` is the server root (``http://localhost:11434``), chat at
``/api/chat``; no auth unless an ``api_key`` is configured (sent as a Bearer token, for a proxy)."""

from __future__ import annotations

from types import MappingProxyType

from torouter.router.capabilities import Capabilities, Refusal
from torouter.router.config import UpstreamConfig
from torouter.router.upstreams import HttpUpstream, UpstreamRequest

OPERATIONS = frozenset({"chat"})
# What its models accept: no audio out, so an OpenAI caller asking for it gets a 400 (the codec
# checks these) rather than a text answer.
CAPABILITIES = Capabilities(
    refused=MappingProxyType(
        {
            "audio": Refusal(lambda v: v is not None, "Ollama models do not produce audio."),
            "modalities": Refusal(
                lambda v: isinstance(v, list) and "audio" in v, "Ollama models do not produce audio."
            ),
        }
    )
)


class OllamaUpstream(HttpUpstream):
    reports_stream_usage = True  # the last NDJSON line carries the token counts

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def route(self, request: UpstreamRequest) -> tuple[str, str]:
        if request.operation != "chat":
            raise ValueError(f"ollama upstream has no operation {request.operation!r}")
        return "POST", f"{self.config.base_url.rstrip('/')}/api/chat"


class OllamaKind:
    name = "ollama"
    thinking_models = ("qwen3", "deepseek-r1", "gpt-oss")  # `think: true` for a `-thinking` id
    protocol = "ollama"
    operations = OPERATIONS

    def capabilities(self, model: str) -> Capabilities:
        return CAPABILITIES

    def create(self, config: UpstreamConfig) -> OllamaUpstream:
        return OllamaUpstream(config, self)
