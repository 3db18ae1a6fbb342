"""Reading the usage an upstream reports: from the neutral form when the request was translated, and
from the relayed bytes in passthrough, where the bytes are read, never changed.

A whole answer's usage sits at its end: small bodies are parsed once; a large one (embeddings,
base64 images) has only its last usage object parsed. A stream is followed cheaply: a byte pattern
picks the events that carry usage, and those are read (the last one at the stream's end when each
report replaces the one before, as OpenAI's and Gemini's do; each as it goes when reports add up,
as Anthropic's ``message_start`` and ``message_delta`` do, or image streams' completed events).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ..ir import StreamBatch, Usage, UsageReport
from ..ir_images import ImageUsage
from .records import Tokens

SMALL_BODY = 64 * 1024  # parsed whole below this size


def usage_of(batch: StreamBatch, current: Usage | None) -> Usage | None:
    """The usage after a translated stream's batch (each report replaces the last)."""
    for event in batch.events:
        if isinstance(event, UsageReport):
            current = event.usage
    return current


def image_tokens(usage: ImageUsage) -> Tokens:
    return Tokens(
        usage.input_tokens,
        usage.output_tokens,
        input_image=usage.input_image_tokens,
        output_image=usage.output_image_tokens,
        reported_cost=usage.cost,
    )


# ---------------------------------------------------------------------------- usage formats

Policy = Literal["last", "merge", "sum"]


@dataclass(slots=True, frozen=True)
class UsageFormat:
    """Where one kind of answer keeps its usage: the key in a whole body, the events of a stream
    that carry it (``marker``), how to find it in such an event, and how to count it."""

    key: bytes  # the usage object's key in a whole answer
    marker: re.Pattern[bytes]
    in_event: Callable[[Any], Any]  # an event's JSON -> its raw usage object (None if none)
    count: Callable[[Any], Tokens]  # a raw usage object -> tokens (raises on a malformed one)
    policy: Policy

    def body(self, raw: bytes) -> Tokens | None:
        """The usage of a whole answer; None when it reports none (or cannot be read)."""
        try:
            found = _tail_object(raw, self.key) if len(raw) > SMALL_BODY else None
            if found is None:
                parsed = orjson.loads(raw)
                found = parsed.get(self.field) if type(parsed) is dict else None
            return self.count(found) if type(found) is dict else None
        except Exception:  # an answer we cannot read is not worth failing it over
            return None

    @property
    def field(self) -> str:
        return "usage" if self.key == b"usage" else self.key.decode()

    def tap(self) -> StreamTap:
        return StreamTap(self)


class StreamTap:
    """Follows a relayed stream (fed complete SSE events) for its usage."""

    __slots__ = ("_format", "_last", "_last_event", "_merged", "_sum")

    def __init__(self, form: UsageFormat) -> None:
        self._format = form
        self._last = b""  # policy "last": the last events holding a report, read at the end
        self._last_event: Any = None  # ... or the last report's event, already read (``take``)
        self._merged: dict[str, Any] | None = None
        self._sum: Tokens | None = None

    def feed(self, events: bytes) -> None:
        if not self.marks(events):
            return
        if self._format.policy == "last":
            self._last, self._last_event = events, None  # read once, at the end
            return
        for found in self._reports(events):
            self._use(found)

    def marks(self, events: bytes) -> bool:
        """Whether ``events`` hold a usage report (what ``feed`` would read)."""
        return self._format.marker.search(events) is not None

    def take(self, event: Any) -> None:
        """An event's JSON, read already (the usage chunk the router asked for, dropped from the
        stream): counted as ``feed`` would count that event, in the stream's order."""
        if self._format.policy == "last":
            self._last, self._last_event = b"", event
            return
        try:
            usage = self._format.in_event(event)
        except Exception:
            return
        if isinstance(usage, dict):
            self._use(usage)

    def tokens(self) -> Tokens | None:
        try:
            if self._format.policy == "last":
                if self._last_event is not None:
                    usage = self._format.in_event(self._last_event)
                    return self._format.count(usage) if isinstance(usage, dict) else None
                reports = self._reports(self._last) if self._last else []
                return self._format.count(reports[-1]) if reports else None
            if self._format.policy == "merge":
                return self._format.count(self._merged) if self._merged is not None else None
        except Exception:
            return None
        return self._sum

    def _use(self, usage: dict[str, Any]) -> None:
        if self._format.policy == "merge":
            self._merged = {**(self._merged or {}), **usage}
        else:
            self._add(usage)

    def _reports(self, events: bytes) -> list[dict[str, Any]]:
        """The usage objects of the events the marker points at (only those events are parsed)."""
        found: list[dict[str, Any]] = []
        done = -1
        for match in self._format.marker.finditer(events):
            if match.start() < done:
                continue  # another marker inside an event already read
            data, done = _event_data(events, match.start())
            try:
                usage = self._format.in_event(orjson.loads(data))
            except Exception:
                continue
            if isinstance(usage, dict):
                found.append(usage)
        return found

    def _add(self, usage: dict[str, Any]) -> None:
        try:
            tokens = self._format.count(usage)
        except Exception:
            return
        if self._sum is None:
            self._sum = tokens
            return
        before = self._sum
        self._sum = Tokens(
            before.input + tokens.input,
            before.output + tokens.output,
            input_image=before.input_image + tokens.input_image,
            output_image=before.output_image + tokens.output_image,
        )


def _event_data(events: bytes, at: int) -> tuple[bytes, int]:
    """The data of the SSE event around offset ``at`` (its ``data:`` lines joined), and its end."""
    start = max(events.rfind(b"\n\n", 0, at), events.rfind(b"\r\n\r\n", 0, at), 0)
    ends = [i for i in (events.find(b"\n\n", at), events.find(b"\r\n\r\n", at)) if i >= 0]
    end = min(ends) if ends else len(events)
    event = events[start:end].strip(b"\r\n")
    if event.startswith(b"data: ") and b"\n" not in event:  # one data line: OpenAI's, Gemini's
        return event[6:], end
    lines = [
        line[6:] if line.startswith(b"data: ") else line[5:]
        for line in event.splitlines()
        if line.startswith(b"data:")
    ]
    return b"\n".join(lines), end


# ---------------------------------------------------------------------------- per answer kind


def _pattern(key: str) -> re.Pattern[bytes]:
    return re.compile(rb'"' + key.encode() + rb'"\s*:\s*\{')


def _get(data: Any, *path: str) -> Any:
    for step in path:
        data = data.get(step) if isinstance(data, dict) else None
    return data


def _anthropic_event(data: Any) -> Any:
    return _get(data, "message", "usage") if _get(data, "type") == "message_start" else _get(data, "usage")


def _openai_image_tokens(raw: Any) -> Tokens:
    """``ImagesResponse.usage`` and image stream events: input split into text and image tokens."""
    details = _get(raw, "input_tokens_details")
    image_in = _get(details, "image_tokens") if isinstance(details, dict) else None
    output = raw.get("output_tokens")
    out_details = _get(raw, "output_tokens_details")
    text_out = _get(out_details, "text_tokens") if isinstance(out_details, dict) else None
    inputs = raw.get("input_tokens")
    if not isinstance(inputs, int) or not isinstance(output, int):
        raise ValueError("usage without token counts")
    image_out = output - text_out if isinstance(text_out, int) else output
    return Tokens(
        inputs,
        output,
        input_image=image_in if isinstance(image_in, int) else 0,
        output_image=image_out,
    )


# The counts of each protocol's usage object, read directly: the codecs' readers keep every field
# for translation and cost several times more; here, on every passthrough answer, only counts matter.


def _n(value: Any) -> int:
    return value if type(value) is int else 0


def _opt(value: Any) -> int | None:
    return value if type(value) is int else None


def _inner(usage: dict[str, Any], key: str) -> dict[str, Any]:
    value = usage.get(key)
    return value if isinstance(value, dict) else {}


def _openai_chat_tokens(usage: dict[str, Any]) -> Tokens:
    prompt, completion = _inner(usage, "prompt_tokens_details"), _inner(usage, "completion_tokens_details")
    cost = usage.get("cost")  # OpenRouter's
    return Tokens(
        _n(usage.get("prompt_tokens")),
        _n(usage.get("completion_tokens")),
        _opt(prompt.get("cached_tokens")),
        _opt(prompt.get("cache_write_tokens")),
        reasoning=_opt(completion.get("reasoning_tokens")),
        reported_cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


def _responses_tokens(usage: dict[str, Any]) -> Tokens:
    details, output = _inner(usage, "input_tokens_details"), _inner(usage, "output_tokens_details")
    return Tokens(
        _n(usage.get("input_tokens")),
        _n(usage.get("output_tokens")),
        _opt(details.get("cached_tokens")),
        _opt(details.get("cache_write_tokens")),
        reasoning=_opt(output.get("reasoning_tokens")),
    )


def _anthropic_tokens(usage: dict[str, Any]) -> Tokens:
    """Anthropic's ``input_tokens`` leave out cache reads and writes; records count every prompt token."""
    read, written = _opt(usage.get("cache_read_input_tokens")), _opt(usage.get("cache_creation_input_tokens"))
    split = _inner(usage, "cache_creation")
    return Tokens(
        _n(usage.get("input_tokens")) + (read or 0) + (written or 0),
        _n(usage.get("output_tokens")),
        read,
        written,
        _opt(split.get("ephemeral_5m_input_tokens")),
        _opt(split.get("ephemeral_1h_input_tokens")),
        _opt(_inner(usage, "output_tokens_details").get("thinking_tokens")),
    )


def _gemini_tokens(usage: dict[str, Any]) -> Tokens:
    """Gemini's candidates leave out thoughts; records count them in the output, as OpenAI does."""
    thoughts = _opt(usage.get("thoughtsTokenCount"))
    return Tokens(
        _n(usage.get("promptTokenCount")),
        _n(usage.get("candidatesTokenCount")) + (thoughts or 0),
        _opt(usage.get("cachedContentTokenCount")),
        reasoning=thoughts,
    )


_USAGE = _pattern("usage")

OPENAI_CHAT = UsageFormat(b"usage", _USAGE, lambda d: _get(d, "usage"), _openai_chat_tokens, "last")
RESPONSES = UsageFormat(b"usage", _USAGE, lambda d: _get(d, "response", "usage"), _responses_tokens, "last")
OPENAI_IMAGES = UsageFormat(b"usage", _USAGE, lambda d: _get(d, "usage"), _openai_image_tokens, "sum")
ANTHROPIC = UsageFormat(b"usage", _USAGE, _anthropic_event, _anthropic_tokens, "merge")
GEMINI = UsageFormat(
    b"usageMetadata", _pattern("usageMetadata"), lambda d: _get(d, "usageMetadata"), _gemini_tokens, "last"
)

# (protocol, operation of the upstream call) -> where its answers keep their usage
FORMATS: dict[tuple[str, str], UsageFormat] = {
    ("openai", "chat.completions"): OPENAI_CHAT,
    ("openai", "embeddings"): OPENAI_CHAT,
    ("openai", "responses.create"): RESPONSES,
    ("openai", "images.generations"): OPENAI_IMAGES,
    ("openai", "images.edits"): OPENAI_IMAGES,
    ("anthropic", "messages"): ANTHROPIC,
    ("gemini", "generateContent"): GEMINI,
    ("gemini", "streamGenerateContent"): GEMINI,
}


def usage_format(protocol: str, operation: str) -> UsageFormat | None:
    return FORMATS.get((protocol, operation))


# ---------------------------------------------------------------------------- a body's last object

# A JSON object nested at most three deep (usage objects are two), strings skipped whole.
_STRING = rb'"(?:[^"\\]|\\.)*"'
_OBJECT = re.compile(
    rb"\{(?:[^{}\"]|"
    + _STRING
    + rb"|\{(?:[^{}\"]|"
    + _STRING
    + rb"|\{(?:[^{}\"]|"
    + _STRING
    + rb")*\})*\})*\}",
    re.DOTALL,
)


def _tail_object(raw: bytes, key: bytes) -> Any:
    """The value of the last ``"key": {...}`` in a large body, parsed alone; None when not found.
    (A key inside a JSON string has escaped quotes, so the pattern cannot match there.)"""
    marker = re.compile(rb'"' + re.escape(key) + rb'"\s*:\s*(?=\{)')
    start = raw.rfind(b'"' + key + b'"')
    if start < 0:
        return None
    matched = marker.match(raw, start)
    if matched is None:
        return None
    found = _OBJECT.match(raw, matched.end())
    return orjson.loads(found.group(0)) if found else None
