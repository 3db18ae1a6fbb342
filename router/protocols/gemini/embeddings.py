"""Gemini's embeddings (TRANSLATION §10.1): ``batchEmbedContents`` written for an upstream, and a
Gemini caller's ``embedContent`` / ``batchEmbedContents`` read into the neutral form and answered.

A caller's request is read as texts (each content's text parts joined), one ``outputDimensionality``
and one ``taskType`` for all (OpenAI has one ``dimensions``: requests that differ are a 400);
``title`` is dropped for upstreams that have none. Non-text parts cannot be embedded by another
provider's text models: a 400. Gemini reports no token usage for embeddings, so none is written.
"""

from __future__ import annotations

import math
from typing import Any, Final

from ...errors import ErrorCode, GatewayError
from ...ir import EmbeddingRequest, EmbeddingResponse, JSONDict
from ..common import Malformed, join_path, obj, opt_int, opt_str, req_dict, req_list

BATCH_LIMIT = 100  # requests per batchEmbedContents call
SINGLE: Final = "embedContent"


def model_name(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def write_batches(request: EmbeddingRequest, model: str) -> list[JSONDict]:
    """One batchEmbedContents body per 100 texts, in order, for ``model``."""
    if request.token_inputs is not None:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "Gemini embedding models take text, not token ids: send 'input' as strings.",
            param="input",
        )
    name = model_name(model)
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
    if len(vectors) != len(request.inputs):
        raise GatewayError(
            ErrorCode.UPSTREAM_ERROR,
            f"the upstream sent {len(vectors)} embeddings for {len(request.inputs)} inputs",
        )
    return EmbeddingResponse(model=model, vectors=[normalized(v) for v in vectors])


# ---------------------------------------------------------------------------- a Gemini caller


def _bad(message: str, param: str | None) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def _text(item: JSONDict, path: str) -> str:
    content = req_dict(item, "content", path)
    parts = req_list(content, "parts", join_path(path, "content"))
    texts: list[str] = []
    for index, raw in enumerate(parts):
        part_path = f"{join_path(path, 'content.parts')}[{index}]"
        part = obj(raw, part_path)
        text = opt_str(part, "text", part_path)
        if text is None:
            raise _bad("Only text can be embedded by this model's upstream: send text parts.", part_path)
        texts.append(text)
    joined = "".join(texts)
    if not joined:
        raise _bad("The content to embed is empty.", join_path(path, "content"))
    return joined


def read_request(operation: str, body: JSONDict, model: str) -> EmbeddingRequest:
    """A caller's ``embedContent`` (one content) or ``batchEmbedContents`` (``requests``) body."""
    try:
        if operation == SINGLE:
            items, paths = [body], [""]
        else:
            items = [obj(item, f"requests[{i}]") for i, item in enumerate(req_list(body, "requests", ""))]
            paths = [f"requests[{i}]" for i in range(len(items))]
            if not items:
                raise _bad("'requests' must not be empty.", "requests")
        texts: list[str] = []
        sizes: set[int | None] = set()
        tasks: set[str | None] = set()
        for item, path in zip(items, paths, strict=True):
            texts.append(_text(item, path))
            sizes.add(opt_int(item, "outputDimensionality", path))
            tasks.add(opt_str(item, "taskType", path))
    except Malformed as bad:
        raise _bad(bad.message, bad.param) from None
    if len(sizes) > 1 or len(tasks) > 1:
        raise _bad(
            "Every request of the batch must ask for the same outputDimensionality and taskType "
            "when the model's upstream is not Gemini.",
            "requests",
        )
    size, task = sizes.pop(), tasks.pop()
    if size is not None and size < 1:
        raise _bad("outputDimensionality must be a positive integer.", "outputDimensionality")
    return EmbeddingRequest(
        model=model,
        inputs=texts,
        dialect="gemini",
        dimensions=size,
        task_type=task,
        extra={"operation": operation},
    )


def write_response(response: EmbeddingResponse, request: EmbeddingRequest) -> JSONDict:
    """``{embedding: {values}}`` for ``embedContent``, ``{embeddings: [{values}]}`` for a batch."""
    if request.extra.get("operation") == SINGLE:
        return {"embedding": {"values": response.vectors[0] if response.vectors else []}}
    return {"embeddings": [{"values": vector} for vector in response.vectors]}


class GeminiEmbeddings:
    """The codec of Gemini's embeddings: a caller's ``embedContent`` / ``batchEmbedContents``; an
    upstream's ``batchEmbedContents``, 100 texts a call (each request of a batch names its model,
    so a body asked of another model is translated, not passed through)."""

    operations = frozenset({SINGLE, "batchEmbedContents"})
    operation = "batchEmbedContents"
    model_named_once = False

    def read_request(self, operation: str, body: JSONDict, model: str) -> EmbeddingRequest:
        return read_request(operation, body, model)

    def write_response(self, response: EmbeddingResponse, request: EmbeddingRequest) -> JSONDict:
        return write_response(response, request)

    def write_requests(self, request: EmbeddingRequest, model: str) -> list[JSONDict]:
        return write_batches(request, model)

    def read_response(self, body: Any) -> EmbeddingResponse:
        return EmbeddingResponse(model="", vectors=read_batch(body))

    def joined(
        self, answers: list[EmbeddingResponse], request: EmbeddingRequest, model: str
    ) -> EmbeddingResponse:
        # Gemini reports no usage for embeddings: the tokens are left to the estimate
        return response_of(model, [vector for answer in answers for vector in answer.vectors], request)
