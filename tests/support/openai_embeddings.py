"""MockOpenAI's ``POST /v1/embeddings``: strict like the real API (spec-validated body, embedding
models only), deterministic unit vectors, base64 (little-endian float32) or float lists."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import schemas

if TYPE_CHECKING:
    from .mock_server import RecordedRequest
    from .openai_upstream import MockOpenAI

PATH = "/v1/embeddings"
DEFAULT_DIMENSIONS = 1536


def vector(text: str, dimensions: int) -> list[float]:
    """A unit vector that depends only on the text and the size."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % 32] + i * 31) % 97) / 97.0 - 0.5 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


async def embeddings(mock: MockOpenAI, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
    denied = mock._check_auth(rec)
    if denied is not None:
        return denied
    try:
        body: Any = orjson.loads(rec.body)
    except orjson.JSONDecodeError:
        return mock._error(rec, 400, "We could not parse the JSON body of your request.")
    try:
        schemas.validate("openai", "CreateEmbeddingRequest", body)
    except AssertionError:
        return mock._error(rec, 400, "Invalid embeddings request.", param="input")
    model = body["model"]
    if "embedding" not in model:
        return mock._error(rec, 404, f"The model `{model}` does not exist or you do not have access to it.")
    raw = body["input"]
    items = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else list(raw)
    texts = [item if isinstance(item, str) else " ".join(map(str, item)) for item in items]
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        values = vector(text, dimensions)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *values)).decode() if as_base64 else values
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(item) if isinstance(item, list) else len(item.split()) for item in items)
    answer = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return mock._json(rec, 200, answer)
