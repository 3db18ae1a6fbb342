"""Reading the usage an upstream reports, for token limits: from the neutral form when the request
was translated, and from the relayed bytes (only for keys with a token limit) in passthrough."""

from __future__ import annotations

import orjson

from ..ir import StreamBatch, UsageReport
from ..protocols.base import ChatStreamReader, WireProtocol


def usage_of(batch: StreamBatch, current: int | None) -> int | None:
    """The running total after a batch (each report replaces the last)."""
    for event in batch.events:
        if isinstance(event, UsageReport):
            current = event.usage.total()
    return current


def body_usage(protocol: WireProtocol, body: bytes) -> int | None:
    """Total tokens of a whole chat response body, or None when it says nothing readable."""
    if protocol.chat is None:
        return None
    try:
        parsed = orjson.loads(body)
        response = protocol.chat.read_response(parsed) if isinstance(parsed, dict) else None
    except Exception:  # a body we cannot read is not worth failing the answer over
        return None
    return response.usage.total() if response is not None and response.usage is not None else None


class StreamMeter:
    """Follows a relayed stream's events for its usage, without touching the bytes."""

    def __init__(self, protocol: WireProtocol) -> None:
        self._parser = protocol.stream_decoder()
        self._reader: ChatStreamReader | None = protocol.chat.stream_reader() if protocol.chat else None
        self.tokens: int | None = None

    def feed(self, chunk: bytes) -> None:
        if self._reader is None:
            return
        for event in self._parser.feed(chunk):
            batch = self._reader.feed(event)
            if batch is not None:
                self.tokens = usage_of(batch, self.tokens)
