"""The catalog's model entries rendered in each protocol's list and object formats."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import ErrorCode, GatewayError
from ..ir import JSONDict
from ..routing.catalog import ModelEntry

EPOCH_RFC3339 = "1970-01-01T00:00:00Z"  # no creation date is known for a configured model


def openai_model(entry: ModelEntry) -> JSONDict:
    return {
        "id": entry.id,
        "object": "model",
        "created": 0,
        "owned_by": entry.owned_by,
        "supports_thinking": entry.thinking,
    }


def openai_list(entries: Sequence[ModelEntry], params: dict[str, str]) -> JSONDict:
    return {"object": "list", "data": [openai_model(e) for e in entries]}


def anthropic_model(entry: ModelEntry) -> JSONDict:
    return {
        "type": "model",
        "id": entry.id,
        "display_name": entry.id,
        "created_at": EPOCH_RFC3339,
        "capabilities": None,  # unknown for a configured model: the spec allows null
        "max_input_tokens": None,
        "max_tokens": None,
    }


def anthropic_list(entries: Sequence[ModelEntry], params: dict[str, str]) -> JSONDict:
    """Anthropic's cursor paging: ``limit`` (1-1000, default 20), ``after_id``, ``before_id``."""
    try:
        limit = int(params.get("limit", "20"))
    except ValueError:
        raise GatewayError(ErrorCode.INVALID_REQUEST, "limit: must be an integer", param="limit") from None
    if not 1 <= limit <= 1000:
        raise GatewayError(ErrorCode.INVALID_REQUEST, "limit: must be between 1 and 1000", param="limit")
    ids = [e.id for e in entries]
    start, stop = 0, len(entries)
    if "after_id" in params:
        start = _cursor(ids, params["after_id"], "after_id") + 1
    if "before_id" in params:
        stop = _cursor(ids, params["before_id"], "before_id")
        start = max(start, stop - limit) if "after_id" not in params else start
    page = entries[start : min(stop, start + limit)]
    return {
        "data": [anthropic_model(e) for e in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": start + len(page) < stop or ("before_id" in params and start > 0),
    }


def _cursor(ids: list[str], value: str, name: str) -> int:
    try:
        return ids.index(value)
    except ValueError:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST, f"{name}: unknown model id {value!r}", param=name
        ) from None


def gemini_model(entry: ModelEntry) -> JSONDict:
    embedding = "embedding" in entry.id
    methods = ["embedContent", "batchEmbedContents"] if embedding else ["generateContent", "countTokens"]
    return {
        "name": f"models/{entry.id}",
        "baseModelId": entry.id,
        "version": "001",
        "displayName": entry.id,
        "supportedGenerationMethods": methods,
        "thinking": entry.thinking,
    }


def gemini_list(entries: Sequence[ModelEntry], params: dict[str, str]) -> JSONDict:
    """Gemini's paging: ``pageSize`` (default 50, at most 1000) and an opaque ``pageToken``."""
    try:
        size = min(1000, max(1, int(params.get("pageSize", "50"))))
        start = int(params.get("pageToken") or "0")
    except ValueError:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST, "Invalid pageSize or pageToken.", param="pageToken"
        ) from None
    page = entries[start : start + size]
    body: JSONDict = {"models": [gemini_model(e) for e in page]}
    if start + size < len(entries):
        body["nextPageToken"] = str(start + size)
    return body


@dataclass(slots=True, frozen=True)
class ModelFormat:
    """How one protocol lists models and renders one."""

    listing: Callable[[Sequence[ModelEntry], dict[str, str]], JSONDict]
    single: Callable[[ModelEntry], JSONDict]


FORMATS: dict[str, ModelFormat] = {
    "openai": ModelFormat(openai_list, openai_model),
    "anthropic": ModelFormat(anthropic_list, anthropic_model),
    "gemini": ModelFormat(gemini_list, gemini_model),
}
