"""What a wire-protocol codec provides. One codec per protocol serves callers and upstreams alike.

A codec reads and writes its protocol's JSON (as parsed dicts; the dispatcher owns the one
``orjson`` parse) to and from the neutral form in :mod:`torouter.router.ir`, and renders the
gateway's errors in its protocol's format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import GatewayError
from .sse import SSEEvent, SSEParser

if TYPE_CHECKING:  # annotations only: the edge renders errors without loading the neutral form
    from ..capabilities import Capabilities
    from ..ir import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, JSONDict, StreamBatch
    from ..ir_images import ImageRequest, ImageResult


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


class StreamDecoder(Protocol):
    """Splits an upstream's streamed bytes into events, incrementally: server-sent events by
    default (:class:`~torouter.router.protocols.sse.SSEParser`), or another framing such as NDJSON
    (:class:`~torouter.router.protocols.ndjson.NDJSONDecoder`: one event per line, as its ``data``)."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by these bytes; a partial event waits for the next call."""
        ...


class ChatStreamReader(Protocol):
    """Reads an upstream's stream events, one at a time, into batches of neutral events."""

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


class UpstreamChatCodec(Protocol):
    """The upstream half of a chat codec: requests written for an upstream of the protocol, its
    responses and streams read. All an upstream-only protocol (a plugin's provider) implements."""

    dialect: str
    # The hosted tools (``common.hosted_kind``) the protocol's upstreams run natively, written by
    # ``write_request`` from another dialect's tool of the same kind; the router leaves out others.
    hosted_tools: frozenset[str]

    def write_request(self, request: ChatRequest) -> JSONDict: ...

    def read_response(self, body: JSONDict) -> ChatResponse: ...

    def stream_reader(self) -> ChatStreamReader: ...


class CallerChatCodec(Protocol):
    """The caller half: a caller's requests read, and the answers and streams written for it."""

    dialect: str

    def read_request(self, body: JSONDict) -> ChatRequest:
        """Raises GatewayError(INVALID_REQUEST, param=...) on a body that breaks the protocol."""
        ...

    def write_response(self, response: ChatResponse) -> JSONDict: ...

    def stream_writer(self, request: ChatRequest) -> ChatStreamWriter: ...


class ChatCodec(CallerChatCodec, UpstreamChatCodec, Protocol):
    """Both halves: chat requests, responses and streams of one protocol, to and from the neutral
    form, for callers and upstreams alike (the built-in protocols)."""


class StreamUsage(Protocol):
    """For a protocol whose streams report usage only when asked (OpenAI's ``include_usage``)."""

    marker: bytes  # bytes the event that asking added always holds (only events with it are read)

    def ask(self, body: JSONDict) -> JSONDict | None:
        """The request body asking for the stream's usage; None when it asks already."""
        ...

    def usage_only(self, event: bytes) -> dict[str, Any] | None:
        """An SSE event's JSON when it is the one that asking added (dropped for a caller who did
        not, its usage counted from this JSON); None for any other event."""
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


class UpstreamEmbeddings(Protocol):
    """Embeddings asked of an upstream of the protocol: ``operation`` (the upstream's operation that
    embeds) called once per body written, in order; each answer read as it comes, then joined."""

    operation: str

    def write_requests(self, request: EmbeddingRequest, model: str) -> list[JSONDict]: ...

    def read_response(self, body: Any) -> EmbeddingResponse:
        """One call's answer (its ``model`` empty and ``input_tokens`` None when it says neither)."""
        ...

    def joined(
        self, answers: list[EmbeddingResponse], request: EmbeddingRequest, model: str
    ) -> EmbeddingResponse: ...


class EmbeddingsCodec(UpstreamEmbeddings, Protocol):
    """A protocol's embeddings, read from and written back to its callers too: ``operations`` are
    its callers' embeddings operations; ``model_named_once``: a body names its model in one place,
    so a body asked of another model can pass through with that field changed."""

    operations: frozenset[str]
    model_named_once: bool

    def read_request(self, operation: str, body: JSONDict, model: str) -> EmbeddingRequest: ...

    def write_response(self, response: EmbeddingResponse, request: EmbeddingRequest) -> JSONDict: ...


class ImageCodec(Protocol):
    """An OpenAI images request as one call of another kind (``ImageTranslation``)."""

    def check_request(self, request: ImageRequest) -> None:
        """A 400 for what the call cannot carry, before any call."""
        ...

    def write_request(self, request: ImageRequest, model: str) -> JSONDict: ...

    def read_response(self, body: Any) -> ImageResult: ...


@dataclass(slots=True, frozen=True)
class ImageTranslation:
    """How an upstream of a protocol without the images endpoints makes images for OpenAI images
    callers: the operation its image models answer (once per image), and the codec of that call."""

    operation: str
    codec: ImageCodec


@dataclass(slots=True, frozen=True)
class TokenCounting:
    """A protocol's token-count operation, answered with an estimate when the upstream speaks
    another protocol: ``chat_body`` is the chat request a count body stands for (read by the
    protocol's chat codec), ``answer`` the count as the protocol answers it."""

    operation: str
    chat_body: Callable[[JSONDict], JSONDict]
    answer: Callable[[int], JSONDict]


@dataclass(slots=True, frozen=True)
class WireProtocol:
    """Everything the gateway knows about one wire protocol, registered through the plugin hook.

    ``stream_terminator`` is a byte string that only the protocol's final successful stream event
    contains (OpenAI ``[DONE]``, Anthropic ``message_stop``): a relayed stream whose last event
    lacks it was cut short, and gets the protocol's error event instead of looking complete.
    """

    name: str
    errors: ErrorCodec
    chat: ChatCodec | None = None  # both halves: callers and upstreams speak it
    stream_terminator: bytes | None = None
    # Operations of this protocol that are chat requests (read by ``chat``), and the one an
    # upstream of this protocol is sent.
    chat_operations: frozenset[str] = frozenset()
    upstream_chat_operation: str = ""
    # None: the protocol's streams always report their usage.
    stream_usage: StreamUsage | None = None
    stream_framing: StreamFraming | None = None
    # How an upstream's stream of this protocol is split into events (a new decoder per stream).
    stream_decoder: Callable[[], StreamDecoder] = SSEParser
    # An upstream-only protocol's codec (no caller speaks it): used when ``chat`` is None.
    upstream_chat: UpstreamChatCodec | None = None
    token_counting: TokenCounting | None = None
    embeddings: EmbeddingsCodec | None = None  # both halves: callers and upstreams speak it
    upstream_embeddings: UpstreamEmbeddings | None = None  # an upstream-only protocol's
    image_translation: ImageTranslation | None = None

    @property
    def caller_codec(self) -> CallerChatCodec | None:
        return self.chat

    @property
    def upstream_codec(self) -> UpstreamChatCodec | None:
        return self.chat if self.chat is not None else self.upstream_chat

    @property
    def embedder(self) -> UpstreamEmbeddings | None:
        """What embeds with an upstream of the protocol."""
        return self.embeddings if self.embeddings is not None else self.upstream_embeddings

    # A passthrough body asked of one model, fitted to the model that serves it instead (a
    # family's stand-in, a mapped id), given what that model accepts: the new body, or None when it
    # fits as it is.
    refit: Callable[[JSONDict, Capabilities], JSONDict | None] | None = None
