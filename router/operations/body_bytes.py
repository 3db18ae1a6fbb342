"""The bytes of a request and of a relayed stream: one parse, in-place model edits, event bounds."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from ..errors import ErrorCode, GatewayError
from ..ir import JSONDict


def parse_json_object(raw: bytes) -> JSONDict:
    """The one parse of a request body; anything but a JSON object is a 400."""
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"We could not parse the JSON body of your request: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}).",
        ) from None
    if not isinstance(value, dict):
        raise GatewayError(ErrorCode.INVALID_REQUEST, "The request body must be a JSON object.")
    return value


def encode_request(value: object) -> bytes:
    """A request body (or what is kept of one) written as JSON. What orjson cannot write and the
    caller sent — nesting deeper than 255 levels, an integer beyond 64 bits — is the caller's 400."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        reason = "it is nested too deeply" if "ecursion" in str(exc) else "it holds a number out of range"
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"The request cannot be sent on: {reason} (at most 255 levels of nesting and 64-bit integers).",
        ) from None


def replace_model(raw: bytes, body: JSONDict, model: str) -> bytes:
    """The caller's bytes with the top-level ``model`` value replaced, re-encoding only when the
    value cannot be found exactly once."""
    old = orjson.dumps(body["model"])
    pattern = re.compile(rb'"model"\s*:\s*' + re.escape(old))
    matches = pattern.findall(raw)
    if len(matches) == 1:
        return pattern.sub(lambda _: b'"model":' + orjson.dumps(model), raw, count=1)
    return encode_request({**body, "model": model})


def last_event_end(data: bytes, before: int | None = None) -> int:
    """The offset just past the last complete SSE event in ``data`` (that ends before offset
    ``before``, when given; 0 if there is none)."""
    lf = data.rfind(b"\n\n", 0, before)
    crlf = data.rfind(b"\r\n\r\n", 0, before)
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def drop_events(
    block: bytes, unwanted: Callable[[bytes], object], marker: bytes = b"", taken: list[Any] | None = None
) -> bytes:
    """Complete SSE events (``block`` ends on a boundary) without those ``unwanted`` says (what it
    returns is true for them; ``taken`` gets it, in the events' order). With a ``marker`` (bytes
    every unwanted event contains), only the events around its occurrences are looked at, the block
    is not split; else LF-separated events (what OpenAI sends) are split with ``bytes.split``, others
    with a regular expression."""
    if marker:
        return _drop_marked(block, unwanted, marker, taken)
    if b"\r" in block:
        events = re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", block)
    else:
        events = [event + b"\n\n" for event in block.split(b"\n\n")[:-1]]
    kept = []
    for event in events:
        if not event:
            continue
        said = unwanted(event)
        if not said:
            kept.append(event)
        elif taken is not None:
            taken.append(said)
    return block if len(kept) == len(events) else b"".join(kept)


def _drop_marked(
    block: bytes, unwanted: Callable[[bytes], object], marker: bytes, taken: list[Any] | None
) -> bytes:
    parts: list[bytes] = []
    kept_from = 0  # the block from here on is kept (so far)
    at = block.find(marker)
    while at >= 0:
        start, end = _event_around(block, at)
        said = unwanted(block[start:end])
        if said:
            parts.append(block[kept_from:start])
            kept_from = end
            if taken is not None:
                taken.append(said)
        at = block.find(marker, end)
    if not parts:
        return block
    parts.append(block[kept_from:])
    return b"".join(parts)


def _event_around(block: bytes, at: int) -> tuple[int, int]:
    """The bounds of the SSE event holding offset ``at`` (the block ends on a boundary)."""
    start = last_event_end(block, at)
    ends = [
        i + size for i, size in ((block.find(b"\n\n", at), 2), (block.find(b"\r\n\r\n", at), 4)) if i >= 0
    ]
    return start, min(ends) if ends else len(block)


def last_event_start(data: bytes) -> int:
    """The offset where the last complete SSE event of ``data`` (which ends on a boundary) starts."""
    body = data.rstrip(b"\r\n")
    lf = body.rfind(b"\n\n")
    crlf = body.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def insert_field(raw: bytes, key: str, value: object) -> bytes:
    """The caller's bytes with one top-level field added (``key`` must not be there yet): written
    right after the opening brace, the rest untouched."""
    start = raw.index(b"{") + 1
    rest = raw[start:].lstrip()
    joint = b"" if rest.startswith(b"}") else b","
    return raw[:start] + orjson.dumps(key) + b":" + orjson.dumps(value) + joint + raw[start:]
