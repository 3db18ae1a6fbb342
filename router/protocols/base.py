"""What a wire-protocol codec provides. One codec per protocol serves callers and upstreams alike.

A codec reads and writes its protocol's JSON (as parsed dicts; the dispatcher owns the one
``orjson`` parse) to and from the neutral form in :mod:`torouter.router.ir`, and renders the
gateway's errors in its protocol's format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import GatewayError
from ..ir import ChatRequest, ChatResponse, JSONDict, StreamBatch
from .sse import SSEEvent


@dataclass(slots=True)
class RenderedError:
    """An error as the caller's protocol writes it: HTTP status, headers and JSON body."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ErrorCodec(Protocol):
    """Renders gateway errors in one protocol, and reads that protocol's upstream errors."""

    def render(self, error: GatewayError, request_id: str) -> RenderedError:
        """The error as a whole HTTP response (status, headers, body)."""
        ...

    def stream_event(self, error: GatewayError) -> bytes:
        """The protocol's terminal in-stream error event, ready to write after HTTP 200."""
        ...

    def read_upstream(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        """An upstream's error response in this protocol, as a gateway error."""
        ...


class ChatStreamReader(Protocol):
    """Reads an upstream's SSE events, one at a time, into batches of neutral events."""

    def feed(self, event: SSEEvent) -> StreamBatch | None:
        """The batch this event stands for, or None for events with no content (keep-alives)."""
        ...

    @property
    def finished(self) -> bool:
        """True once the protocol's terminal event was read."""
        ...


class ChatStreamWriter(Protocol):
    """Writes batches of neutral events as one protocol's SSE frames."""

    def write(self, batch: StreamBatch) -> bytes:
        """Frames for one batch (possibly empty bytes)."""
        ...

    def close(self) -> bytes:
        """Frames that end a successful stream (e.g. OpenAI's ``data: [DONE]``)."""
        ...

    def fail(self, error: GatewayError) -> bytes:
        """The terminal error event after a mid-stream failure (nothing may follow it)."""
        ...


class ChatCodec(Protocol):
    """Chat requests, responses and streams of one protocol, to and from the neutral form."""

    dialect: str

    def read_request(self, body: JSONDict) -> ChatRequest:
        """Raises GatewayError(INVALID_REQUEST, param=...) on a body that breaks the protocol."""
        ...

    def write_request(self, request: ChatRequest) -> JSONDict: ...

    def read_response(self, body: JSONDict) -> ChatResponse: ...

    def write_response(self, response: ChatResponse) -> JSONDict: ...

    def stream_reader(self) -> ChatStreamReader: ...

    def stream_writer(self, request: ChatRequest) -> ChatStreamWriter: ...


class StreamUsage(Protocol):
    """For a protocol whose streams report usage only when asked (OpenAI's ``include_usage``)."""

    def ask(self, body: JSONDict) -> JSONDict | None:
        """The request body asking for the stream's usage; None when it asks already."""
        ...

    def is_usage_only(self, event: bytes) -> bool:
        """Whether an SSE event is the one that asking added (dropped for a caller who did not)."""
        ...

    def may_hold(self, events: bytes) -> bool:
        """A cheap byte test: False when no event of these can be that one (most blocks)."""
        ...


class StreamFraming(Protocol):
    """Another framing of the protocol's SSE streams that a caller can ask for (Gemini's JSON array
    without ``alt=sse``)."""

    content_type: str

    def applies(self, params: Mapping[str, str]) -> bool:
        """Whether a caller's URL parameters ask for this framing."""
        ...

    def frame(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The SSE stream ``chunks`` (whole events) in this framing, as they come."""
        ...


@dataclass(slots=True, frozen=True)
class WireProtocol:
    """Everything the gateway knows about one wire protocol, registered through the plugin hook.

    ``stream_terminator`` is a byte string that only the protocol's final successful stream event
    contains (OpenAI ``[DONE]``, Anthropic ``message_stop``): a relayed stream whose last event
    lacks it was cut short, and gets the protocol's error event instead of looking complete.
    """

    name: str
    errors: ErrorCodec
    chat: ChatCodec | None = None
    stream_terminator: bytes | None = None
    # Operations of this protocol that are chat requests (read by ``chat``), and the one an
    # upstream of this protocol is sent.
    chat_operations: frozenset[str] = frozenset()
    upstream_chat_operation: str = ""
    # None: the protocol's streams always report their usage.
    stream_usage: StreamUsage | None = None
    stream_framing: StreamFraming | None = None
