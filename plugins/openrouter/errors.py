"""OpenRouter's errors inside a 200 answer.

Once OpenRouter has begun answering (often with ``: OPENROUTER PROCESSING`` comments first), a
failure can only arrive in the body: a whole body ``{"error": {"code", "message", "metadata"?}}``,
or, in a stream, a chunk with a top-level ``error`` beside the usual chunk fields (and a choice
with ``finish_reason: "error"``), after which OpenRouter ends the stream without ``[DONE]``
(openrouter.ai/docs/api/reference/streaming, "Handling errors during streaming"). ``code`` is an
HTTP status (``502``) or a word (``"server_error"``).

Only bytes that contain ``"error"`` are parsed; everything else passes through untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson

from torouter.router.errors import GatewayError
from torouter.router.operations.body_bytes import last_event_end
from torouter.router.protocols.sse import SSEParser

ERROR_KEY = b'"error"'
DEFAULT_STATUS = 502  # OpenRouter: "your chosen model is down or we received an invalid response"


def error_status(error: object) -> int:
    """The HTTP status an error object stands for: its ``code`` when that is one, else 502."""
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return DEFAULT_STATUS


def error_message(error: object) -> str | None:
    if isinstance(error, dict):
        message = error.get("message")
        return message if isinstance(message, str) and message else None
    return error if isinstance(error, str) and error else None


def body_error(body: bytes) -> object | None:
    """The ``error`` of a whole JSON body that carries one at its top level, else None."""
    if ERROR_KEY not in body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed.get("error") if isinstance(parsed, dict) else None


async def watch_stream(
    chunks: AsyncIterator[bytes], failure: Callable[[object], GatewayError]
) -> AsyncIterator[bytes]:
    """The stream's bytes, whole SSE events at a time (as the relay forwards them anyway), until
    an event carrying a top-level ``error``: the events before it are yielded, then
    ``failure(error)`` is raised, so that the caller gets one terminal error in its own protocol.
    Closing this generator closes the upstream stream."""
    pending = b""
    try:
        async for chunk in chunks:
            data = pending + chunk if pending else chunk
            cut = last_event_end(data)
            ready, pending = data[:cut], data[cut:]
            if ERROR_KEY in ready:
                found = _error_event(ready)
                if found is not None:
                    start, error = found
                    if start:
                        yield ready[:start]
                    raise failure(error)
            if ready:
                yield ready
        if pending:  # a last event without its blank line
            found = _error_event(pending + b"\n\n")
            if found is not None:
                start, error = found
                if start:
                    yield pending[:start]
                raise failure(error)
            yield pending
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


def _error_event(data: bytes) -> tuple[int, object] | None:
    """``(offset, error)`` of the first event in ``data`` (whole events) whose JSON data has a
    top-level ``error``; None when the ``"error"`` found is only text (a word, a finish reason)."""
    at = data.find(ERROR_KEY)
    while at >= 0:
        start, end = _event_start(data, at), _event_end(data, at)
        for event in SSEParser().feed(data[start:end]):
            try:
                parsed = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict) and parsed.get("error") is not None:
                return start, parsed["error"]
        at = data.find(ERROR_KEY, end)
    return None


def _event_start(data: bytes, at: int) -> int:
    lf = data.rfind(b"\n\n", 0, at)
    crlf = data.rfind(b"\r\n\r\n", 0, at)
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _event_end(data: bytes, at: int) -> int:
    ends = [i + n for i, n in ((data.find(b"\n\n", at), 2), (data.find(b"\r\n\r\n", at), 4)) if i >= 0]
    return min(ends) if ends else len(data)
