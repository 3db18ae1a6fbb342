"""Newline-delimited JSON streams (Ollama's native API and others): one event per line."""

from __future__ import annotations

from .sse import SSEEvent


class NDJSONDecoder:
    """Incremental: each complete non-blank line is one event whose ``data`` is the line (no event
    name); a partial line waits for the rest. A :class:`~.base.StreamDecoder`."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()
        return [SSEEvent(None, line.decode("utf-8", "replace")) for line in lines if line.strip()]
