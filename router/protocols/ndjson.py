"""Newline-delimited JSON streams (Ollama's native API and others): one event per line."""

from __future__ import annotations

from .sse import MAX_EVENT_BYTES, SSEEvent, event_too_large


class NDJSONDecoder:
    """Incremental: each complete non-blank line is one event whose ``data`` is the line (no event
    name); a partial line waits for the rest. A :class:`~.base.StreamDecoder`."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the line begun (kept in pieces: not copied for each chunk)
        self._size = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if b"\n" not in chunk:
            self._parts.append(chunk)
            self._size += len(chunk)
            if self._size > MAX_EVENT_BYTES:
                raise event_too_large()
            return []
        lines = b"".join((*self._parts, chunk)).split(b"\n")
        rest = lines.pop()
        self._parts, self._size = [rest], len(rest)
        if self._size > MAX_EVENT_BYTES:
            raise event_too_large()
        return [SSEEvent(None, line.decode("utf-8", "replace")) for line in lines if line.strip()]
