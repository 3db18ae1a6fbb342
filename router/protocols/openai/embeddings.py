"""OpenAI's embeddings request and response (``CreateEmbeddingRequest`` / ``CreateEmbeddingResponse``):
read from a caller and written back; written for an upstream (floats asked for, ``user`` and the
caller's Gemini ``taskType`` dropped) and its answer read."""

from __future__ import annotations

import base64
import struct
from typing import Any

from ...errors import ErrorCode, GatewayError
from ...ir import EmbeddingRequest, EmbeddingResponse, JSONDict

_MAX_INPUTS = 2048


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_request(body: JSONDict) -> EmbeddingRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("you must provide a model parameter", "model")
    raw: Any = body.get("input")
    texts: list[str] = []
    tokens: list[list[int]] | None = None
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        texts = list(raw)
    elif (
        isinstance(raw, list)
        and raw
        and all(isinstance(item, int) and not isinstance(item, bool) for item in raw)
    ):
        tokens = [list(raw)]
    elif (
        isinstance(raw, list)
        and raw
        and all(isinstance(item, list) and item and all(_is_token(t) for t in item) for item in raw)
    ):
        tokens = [list(item) for item in raw]
    else:
        raise _bad(
            "'input' must be a string, a list of strings, or token ids (a list of integers or of lists)",
            "input",
        )
    if len(texts) > _MAX_INPUTS or (tokens is not None and len(tokens) > _MAX_INPUTS):
        raise _bad(f"'input' may hold at most {_MAX_INPUTS} items", "input")
    if any(not text for text in texts):
        raise _bad("'input' cannot contain an empty string", "input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
    ):
        raise _bad("'dimensions' must be a positive integer", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise _bad("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    known = {"model", "input", "dimensions", "encoding_format", "user"}
    return EmbeddingRequest(
        model=model,
        inputs=texts,
        dialect="openai",
        dimensions=dimensions,
        token_inputs=tokens,
        extra={"encoding_format": encoding, **{k: v for k, v in body.items() if k not in known}},
    )


def encode_base64(vector: list[float]) -> str:
    """The OpenAI SDK's default wire form: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def write_response(response: EmbeddingResponse, request: EmbeddingRequest) -> JSONDict:
    as_base64 = request.extra.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": encode_base64(v) if as_base64 else v}
        for i, v in enumerate(response.vectors)
    ]
    tokens = response.input_tokens or 0
    return {
        "object": "list",
        "data": data,
        "model": response.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def write_request(request: EmbeddingRequest, model: str) -> JSONDict:
    """The body for an OpenAI upstream (floats: the gateway decodes nothing it need not)."""
    body: JSONDict = {"model": model, "input": request.token_inputs or request.inputs}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    body["encoding_format"] = "float"
    return body


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # base64 of little-endian float32, should an upstream send it anyway
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
    if isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    raise GatewayError(ErrorCode.UPSTREAM_ERROR, "the upstream sent a malformed embedding")


def read_response(body: Any) -> EmbeddingResponse:
    """An upstream's ``CreateEmbeddingResponse``, its vectors in input order."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise GatewayError(ErrorCode.UPSTREAM_ERROR, "the upstream sent a malformed embeddings response")
    ordered = sorted(data, key=lambda item: item.get("index") if isinstance(item.get("index"), int) else 0)
    usage = body.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return EmbeddingResponse(
        model=str(body.get("model") or ""),
        vectors=[_vector(item.get("embedding")) for item in ordered],
        input_tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
    )


class OpenAIEmbeddings:
    """The codec of OpenAI's ``/embeddings``, for callers and upstreams (one call for every input)."""

    operations = frozenset({"embeddings"})
    operation = "embeddings"
    model_named_once = True

    def read_request(self, operation: str, body: JSONDict, model: str) -> EmbeddingRequest:
        return read_request(body)

    def write_response(self, response: EmbeddingResponse, request: EmbeddingRequest) -> JSONDict:
        return write_response(response, request)

    def write_requests(self, request: EmbeddingRequest, model: str) -> list[JSONDict]:
        return [write_request(request, model)]

    def read_response(self, body: Any) -> EmbeddingResponse:
        return read_response(body)

    def joined(
        self, answers: list[EmbeddingResponse], request: EmbeddingRequest, model: str
    ) -> EmbeddingResponse:
        (response,) = answers
        response.model = response.model or model
        return response
