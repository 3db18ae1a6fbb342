"""The neutral form: one in-memory model of a chat exchange that every wire codec reads and writes.

N protocols need N readers and N writers through this form, not N×N translators. It is modelled
on the strictest protocol structurally (content blocks, tool calls and tool results as blocks) and
keeps what only one protocol knows in ``extra`` dicts, so that a codec can write back exactly what
it read (``dialect`` says whose extras they are; other codecs ignore them or reject them).

Nothing here parses or writes JSON: codecs do that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from .capabilities import NO_CAPABILITIES, Capabilities

JSONDict: TypeAlias = dict[str, Any]

Role = Literal["system", "developer", "user", "assistant", "tool"]


class FinishReason(StrEnum):
    """Why a choice stopped, in the gateway's own words (mapped per protocol by each codec)."""

    STOP = "stop"  # natural end, or a stop sequence matched
    LENGTH = "length"  # output token limit
    TOOL_CALLS = "tool_calls"  # the model wants tools run
    CONTENT_FILTER = "content_filter"  # refusal or safety block
    ERROR = "error"  # the upstream ended the turn abnormally


# ---------------------------------------------------------------------------- content parts


@dataclass(slots=True)
class CacheHint:
    """A prompt-cache breakpoint on a block (Anthropic cache_control, OpenAI prompt_cache_breakpoint)."""

    ttl: str | None = None


@dataclass(slots=True)
class Citation:
    """A web page the text carrying it draws on (Anthropic's web search citations, Gemini's
    grounding supports; OpenAI's ``url_citation`` annotations). ``start``/``end``: the cited span,
    as character offsets into the text of the turn (its text parts joined); None for the whole of
    the part that carries it."""

    url: str
    title: str = ""
    start: int | None = None
    end: int | None = None


@dataclass(slots=True)
class TextPart:
    text: str
    cache: CacheHint | None = None
    extra: JSONDict = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)  # read from an upstream's answer


@dataclass(slots=True)
class ImagePart:
    """An image given by URL (http(s) or ``data:`` URL) or inline base64 data."""

    url: str | None = None
    data_b64: str | None = None
    media_type: str | None = None
    detail: str | None = None
    cache: CacheHint | None = None
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class FilePart:
    """A document or file: inline base64 data, a URL, plain text, or a provider file id."""

    data_b64: str | None = None
    url: str | None = None
    text: str | None = None
    file_id: str | None = None
    filename: str | None = None
    media_type: str | None = None
    cache: CacheHint | None = None
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class AudioPart:
    data_b64: str
    format: str
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class RefusalPart:
    text: str
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class ReasoningPart:
    """Model reasoning: visible text and/or opaque provider state that must be replayed."""

    text: str = ""
    signature: str | None = None  # Anthropic thinking signature / Gemini thoughtSignature
    redacted_data: str | None = None  # Anthropic redacted_thinking.data, OpenAI encrypted_content
    extra: JSONDict = field(default_factory=dict)
    # The dialect that produced ``signature`` ("anthropic", "gemini"): a signature is only valid
    # for its own provider, and every other writer treats it as absent. Provenance, not content:
    # it takes no part in equality.
    signer: str | None = field(default=None, compare=False)


@dataclass(slots=True)
class ToolCall:
    """A call the assistant made. ``arguments`` is the JSON text exactly as the model produced it."""

    id: str
    name: str
    arguments: str
    signature: str | None = None  # Gemini thoughtSignature riding on a functionCall
    cache: CacheHint | None = None
    extra: JSONDict = field(default_factory=dict)
    signer: str | None = field(default=None, compare=False)  # who made ``signature`` (ReasoningPart)


@dataclass(slots=True)
class ToolResult:
    """The result of a tool call, given back by the caller."""

    call_id: str
    content: list[ContentPart]
    name: str | None = None  # Gemini needs the function name; recovered when absent
    is_error: bool = False
    # True when the caller gave the content as a plain string rather than a list of parts.
    as_text: bool = False
    cache: CacheHint | None = None
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class WebSearch:
    """A web search the upstream ran itself (Anthropic's server-side web search tool, Gemini's
    grounding with Google Search): what it searched for and the pages it found, ``(url, title)``."""

    queries: list[str]
    sources: list[tuple[str, str]] = field(default_factory=list)


ContentPart: TypeAlias = TextPart | ImagePart | FilePart | AudioPart | RefusalPart
Part: TypeAlias = ContentPart | ReasoningPart | ToolCall | ToolResult


@dataclass(slots=True)
class Message:
    """One turn. Tool results are parts of a ``tool`` message (one call id per OpenAI message)."""

    role: Role
    parts: list[Part]
    name: str | None = None
    # True when the caller gave the content as a plain string (OpenAI ``content: "..."``).
    as_text: bool = False
    extra: JSONDict = field(default_factory=dict)
    # Web searches the upstream ran for this (assistant) turn, read from its answer; writers of
    # protocols with no place for them leave them out.
    searches: list[WebSearch] = field(default_factory=list)

    def text(self) -> str:
        """Concatenated text of the message's text parts."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


# ---------------------------------------------------------------------------- request


@dataclass(slots=True)
class Tool:
    """A function the model may call. ``parameters`` is a JSON Schema object (or None)."""

    name: str
    description: str | None = None
    parameters: JSONDict | None = None
    strict: bool | None = None
    cache: CacheHint | None = None
    extra: JSONDict = field(default_factory=dict)
    # A tool built into one provider's API (an Anthropic server tool such as ``web_search``, whose
    # wire type, e.g. ``web_search_20250305``, this holds). Only the codec of the request's dialect
    # can write it; every other codec rejects it with a 400 naming the tool.
    builtin: str | None = None


@dataclass(slots=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (any tool) or ``tool`` (the named one)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None
    allowed: list[str] | None = None  # restrict to these tools (OpenAI allowed_tools)
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class ResponseFormat:
    """Structured output: free text, any JSON object, or JSON matching ``schema``."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: JSONDict | None = None
    strict: bool | None = None
    description: str | None = None
    extra: JSONDict = field(default_factory=dict)


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


@dataclass(slots=True)
class Reasoning:
    """Extended reasoning asked for by the caller: an effort level and/or a token budget."""

    effort: ReasoningEffort | None = None
    budget_tokens: int | None = None
    include_thoughts: bool | None = None


@dataclass(slots=True)
class ChatRequest:
    """A chat request in neutral form."""

    model: str
    messages: list[Message]
    dialect: str  # protocol that produced it; its codec may re-emit ``extra``
    stream: bool = False
    include_usage: bool = False  # stream a usage report at the end (OpenAI stream_options)
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] | None = None
    n: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    extra: JSONDict = field(default_factory=dict)
    # What the model it is written for accepts, as the upstream's kind declares it (set by the
    # router): what a codec fits the request to, and a kind's own dialect of its protocol.
    capabilities: Capabilities = NO_CAPABILITIES
    # Content the reader kept verbatim in a residual because the neutral form cannot hold it (an
    # Anthropic block, a Gemini part of a kind it does not model), by kind: a writer of the same
    # dialect puts it back; a writer of another one refuses the request (``reject_opaque``).
    opaque: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- response


@dataclass(slots=True)
class Usage:
    """Token counts. ``input_tokens`` includes cached tokens (OpenAI/Gemini convention)."""

    input_tokens: int = 0
    output_tokens: int = 0  # includes reasoning tokens
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    extra: JSONDict = field(default_factory=dict)

    def total(self) -> int:
        return self.total_tokens if self.total_tokens is not None else self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: FinishReason | None
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    created: int
    choices: list[Choice]
    dialect: str
    usage: Usage | None = None
    extra: JSONDict = field(default_factory=dict)


# ---------------------------------------------------------------------------- stream events
#
# A stream is read as a sequence of *batches*: the events that one upstream frame produced. A
# writer turns one batch into zero or more frames of its protocol, so a same-protocol round trip
# keeps frame boundaries. Events address a choice (0 unless n > 1) and, for tool calls, the
# caller-facing tool index (dense, 0-based, per choice).


@dataclass(slots=True)
class StreamStart:
    """First event of a stream: identity of the response."""

    id: str
    model: str
    created: int


@dataclass(slots=True)
class RoleStart:
    """The assistant turn of a choice begins."""

    choice: int = 0


@dataclass(slots=True)
class TextDelta:
    text: str
    choice: int = 0


@dataclass(slots=True)
class ReasoningDelta:
    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None
    choice: int = 0
    signer: str | None = field(default=None, compare=False)  # who made ``signature`` (ReasoningPart)


@dataclass(slots=True)
class RefusalDelta:
    text: str
    choice: int = 0


@dataclass(slots=True)
class ToolCallStart:
    """A new tool call: id and name arrive once, arguments follow as ToolCallDelta."""

    index: int
    id: str
    name: str
    signature: str | None = None
    choice: int = 0
    signer: str | None = field(default=None, compare=False)  # who made ``signature`` (ReasoningPart)


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    choice: int = 0


@dataclass(slots=True)
class WebSearchDone:
    """The upstream ran a web search (:class:`WebSearch`), at this point of the answer."""

    search: WebSearch
    choice: int = 0


@dataclass(slots=True)
class CitationDelta:
    """A citation of the text being streamed: with no span, of the text that follows it until the
    next citation or the end of the text; with one, of that span of the whole answer's text."""

    citation: Citation
    choice: int = 0


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    choice: int = 0


@dataclass(slots=True)
class UsageReport:
    usage: Usage


@dataclass(slots=True)
class StreamFailure:
    """The upstream failed mid-stream; the writer emits its protocol's terminal error event."""

    status: int
    code: str
    message: str


StreamEvent: TypeAlias = (
    StreamStart
    | RoleStart
    | TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolCallStart
    | ToolCallDelta
    | WebSearchDone
    | CitationDelta
    | Finish
    | UsageReport
    | StreamFailure
)


@dataclass(slots=True)
class StreamBatch:
    """The events of one upstream frame, plus protocol-specific frame fields in ``extra``."""

    events: list[StreamEvent]
    dialect: str
    extra: JSONDict = field(default_factory=dict)


# ---------------------------------------------------------------------------- embeddings


@dataclass(slots=True)
class EmbeddingRequest:
    """Texts to embed. ``token_inputs`` holds token-id inputs, which only an OpenAI upstream reads."""

    model: str
    inputs: list[str]
    dialect: str
    dimensions: int | None = None
    task_type: str | None = None
    token_inputs: list[list[int]] | None = None
    extra: JSONDict = field(default_factory=dict)


@dataclass(slots=True)
class EmbeddingResponse:
    model: str
    vectors: list[list[float]]
    input_tokens: int | None = None
