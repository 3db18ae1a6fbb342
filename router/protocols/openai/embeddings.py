"""OpenAI's embeddings request and response (``CreateEmbeddingRequest`` / ``CreateEmbeddingResponse``)."""

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
