"""Rebuilding a stream event of this dialect from its batch: the residual the reader kept, with
the batch's events written over it (a same-protocol relay gives back the upstream's events)."""

from __future__ import annotations

from typing import Final

from ....ir import (
    Finish,
    JSONDict,
    ReasoningDelta,
    RoleStart,
    StreamBatch,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
)
from ...common import sub
from .block_fields import input_object
from .response import stop_to_wire, write_usage

_USAGE_FIELDS: Final = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)


def rebuild(batch: StreamBatch) -> tuple[str | None, JSONDict]:
    """(SSE event name, data) of a batch read from an Anthropic stream."""
    data = {k: v for k, v in batch.extra.items() if k != "_event"}
    kind = data.get("type")
    name = batch.extra.get("_event", kind)
    if kind == "message_start":
        data["message"] = _message_start(sub(data, "message"), batch)
    elif kind == "content_block_start":
        data["content_block"] = _block_start(sub(data, "content_block"), batch)
    elif kind == "content_block_delta":
        data["delta"] = _block_delta(sub(data, "delta"), batch)
    elif kind == "message_delta":
        _message_delta(data, batch)
    return name if isinstance(name, str) else None, data


def _message_start(message: JSONDict, batch: StreamBatch) -> JSONDict:
    for event in batch.events:
        if isinstance(event, StreamStart):
            message["id"], message["model"] = event.id, event.model
        elif isinstance(event, RoleStart):
            message["role"] = "assistant"
        elif isinstance(event, UsageReport):
            message["usage"] = write_usage(event.usage, True)
    return message


def _block_start(block: JSONDict, batch: StreamBatch) -> JSONDict:
    for event in batch.events:
        if isinstance(event, TextDelta):
            block["text"] = event.text
        elif isinstance(event, ReasoningDelta):
            if event.redacted_data is not None:
                block["data"] = event.redacted_data
            if event.text:
                block["thinking"] = event.text
            if event.signature is not None:
                block["signature"] = event.signature
        elif isinstance(event, ToolCallStart):
            block["id"], block["name"] = event.id, event.name
        elif isinstance(event, ToolCallDelta):
            block["input"] = input_object(event.arguments)
    return block


def _block_delta(delta: JSONDict, batch: StreamBatch) -> JSONDict:
    for event in batch.events:
        if isinstance(event, TextDelta):
            delta["text"] = event.text
        elif isinstance(event, ToolCallDelta):
            delta["partial_json"] = event.arguments
        elif isinstance(event, ReasoningDelta):
            if event.signature is not None:
                delta["signature"] = event.signature
            else:
                delta["thinking"] = event.text
    return delta


def _message_delta(data: JSONDict, batch: StreamBatch) -> None:
    """Stop reason over the delta; the running usage over the usage fields the upstream sent."""
    for event in batch.events:
        if isinstance(event, Finish):
            delta = sub(data, "delta")
            delta["stop_reason"] = stop_to_wire(event.reason, delta.get("stop_reason"))
            data["delta"] = delta
        elif isinstance(event, UsageReport) and isinstance(data.get("usage"), dict):
            totals = write_usage(event.usage, True)
            usage = dict(data["usage"])
            for key in _USAGE_FIELDS:
                if usage.get(key) is not None and key in totals:
                    usage[key] = totals[key]
            data["usage"] = usage
