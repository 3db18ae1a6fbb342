"""Echo's embeddings: a unit vector that depends only on the text and the size (the same text gives
the same vector, different texts differ), through the one OpenAI embeddings codec."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import orjson

from torouter.router.ir import EmbeddingResponse
from torouter.router.protocols.openai import embeddings as codec

DEFAULT_DIMENSIONS = 1536  # text-embedding-3-small's


def vector(text: str, dimensions: int) -> list[float]:
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend(byte / 255.0 - 0.5 for byte in block)
        counter += 1
    del raw[dimensions:]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def embed(body: bytes, estimate_tokens: Callable[[str], int]) -> bytes:
    """The OpenAI embeddings response to an OpenAI embeddings request body."""
    request = codec.read_request(orjson.loads(body))
    size = request.dimensions or DEFAULT_DIMENSIONS
    texts = request.inputs or [" ".join(map(str, ids)) for ids in request.token_inputs or []]
    tokens = sum(estimate_tokens(text) for text in request.inputs) + sum(
        len(ids) for ids in request.token_inputs or []
    )
    response = EmbeddingResponse(request.model, [vector(text, size) for text in texts], tokens)
    return orjson.dumps(codec.write_response(response, request))
