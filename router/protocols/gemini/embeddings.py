"""Gemini's batchEmbedContents request and response, for OpenAI embeddings callers (TRANSLATION §10.1)."""

from __future__ import annotations

import math
from typing import Any

from ...errors import ErrorCode, GatewayError
from ...ir import EmbeddingRequest, EmbeddingResponse, JSONDict

BATCH_LIMIT = 100  # requests per batchEmbedContents call


def model_name(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def write_batches(request: EmbeddingRequest) -> list[JSONDict]:
    """One batchEmbedContents body per 100 texts, in order."""
    if request.token_inputs is not None:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "Gemini embedding models take text, not token ids: send 'input' as strings.",
            param="input",
        )
    name = model_name(request.model)
    bodies: list[JSONDict] = []
    for start in range(0, len(request.inputs), BATCH_LIMIT):
        requests: list[JSONDict] = []
        for text in request.inputs[start : start + BATCH_LIMIT]:
            item: JSONDict = {"model": name, "content": {"parts": [{"text": text}]}}
            if request.dimensions is not None:
                item["outputDimensionality"] = request.dimensions
            if request.task_type is not None:
                item["taskType"] = request.task_type
            requests.append(item)
        bodies.append({"requests": requests})
    return bodies


def read_batch(body: Any) -> list[list[float]]:
    embeddings = body.get("embeddings") if isinstance(body, dict) else None
    if not isinstance(embeddings, list):
        raise GatewayError(ErrorCode.UPSTREAM_ERROR, "the upstream sent a malformed embeddings response")
    vectors: list[list[float]] = []
    for item in embeddings:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
            raise GatewayError(ErrorCode.UPSTREAM_ERROR, "the upstream sent a malformed embedding")
        vectors.append([float(v) for v in values])
    return vectors


def normalized(vector: list[float]) -> list[float]:
    """L2-normalised, as OpenAI's are (truncated Gemini vectors are not)."""
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def response_of(model: str, vectors: list[list[float]], request: EmbeddingRequest) -> EmbeddingResponse:
    estimate = sum(max(1, len(text) // 4) for text in request.inputs)  # Gemini reports no usage here
    return EmbeddingResponse(model=model, vectors=[normalized(v) for v in vectors], input_tokens=estimate)
