"""Server-sent events: one incremental parser and one writer, shared by every codec."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ErrorCode, GatewayError

# The most one event of an upstream's stream may hold (the largest real ones, images in base64, are
# a few MB): past it the stream fails, as an upstream sending one endless line would otherwise fill
# the router's memory.
MAX_EVENT_BYTES = 64 * 1024 * 1024


def event_too_large() -> GatewayError:
    return GatewayError(
        ErrorCode.UPSTREAM_ERROR,
        f"the upstream sent a stream event larger than {MAX_EVENT_BYTES >> 20} MiB",
    )


@dataclass(slots=True, frozen=True)
class SSEEvent:
    """One dispatched event: its ``event:`` name (None when absent) and its joined ``data:`` lines."""

    event: str | None
    data: str


class SSEParser:
    """Incremental parser following the WHATWG event-stream rules (CR, LF and CRLF line ends).

    ``feed`` takes bytes as they arrive from the network and returns the events completed by
    them; partial lines and partial events are kept for the next call. Comment lines (``:``)
    and ``id:``/``retry:`` fields are ignored.
    """

    __slots__ = ("_buffer", "_data", "_data_size", "_event", "_has_data", "_parts", "_parts_size")

    def __init__(self) -> None:
        self._buffer = b""  # the line begun, up to the end of the last chunk with a line end
        self._parts: list[bytes] = []  # chunks since, none with a line end (kept, not copied again)
        self._parts_size = 0
        self._event: str | None = None
        self._data: list[str] = []
        self._data_size = 0
        self._has_data = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if b"\n" not in chunk and b"\r" not in chunk and not self._buffer.endswith(b"\r"):
            self._parts.append(chunk)  # the line goes on
            self._parts_size += len(chunk)
            if len(self._buffer) + self._parts_size + self._data_size > MAX_EVENT_BYTES:
                raise event_too_large()
            return []
        if self._parts:
            buffer = b"".join((self._buffer, *self._parts, chunk))
            self._parts, self._parts_size = [], 0
        else:
            buffer = self._buffer + chunk
        events: list[SSEEvent] = []
        start = 0
        length = len(buffer)
        while start < length:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start)
            if lf < 0 and cr < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr + 1 == length:
                    break  # a CR at the end may be the first half of CRLF: wait for more
                end, next_start = cr, cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end, next_start = lf, lf + 1
            self._line(buffer[start:end].decode("utf-8", "replace"), events)
            start = next_start
        self._buffer = buffer[start:]
        if len(self._buffer) + self._data_size > MAX_EVENT_BYTES:
            raise event_too_large()
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._has_data or self._event is not None:
                events.append(SSEEvent(self._event, "\n".join(self._data)))
            self._event, self._data, self._data_size, self._has_data = None, [], 0, False
            return
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value)
            self._has_data = True
        elif name == "event":
            self._event = value


def format_event(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE frame. ``data`` must not contain newlines (compact JSON never does)."""
    payload = data.encode() if isinstance(data, str) else data
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
