"""What the protocol mocks (``MockOpenAI``, ``MockAnthropic``, ``MockGemini``) share: server, records, faults.

:class:`MockServer` is a real aiohttp server on 127.0.0.1 (random free port) running in the
test's event loop. It owns everything that does not depend on the wire protocol:

- the lifecycle (``start``/``stop``/``async with``; ``stop`` wakes stalled handlers and closes
  every connection), ``port``/``url``, and ``open_connections`` (TCP connections, idle keep-alive
  ones included) with ``wait_open_connections`` for leak tests;
- the record of every request (:class:`RecordedRequest`: headers, body, parsed JSON, what was
  answered, every stream frame, and the outcome: ``completed``, ``cancelled`` when the client
  went away first, ``aborted`` when the mock dropped the connection on purpose, ``shutdown``),
  with ``next_request``/``wait_for_requests``;
- ``response_headers``: headers added to every answer, faults and streams included (e.g. the
  ``set-cookie`` pairs Cloudflare puts on OpenAI's and Anthropic's answers);
- one FIFO fault queue per endpoint (``enqueue``/``faults_pending``/``clear_faults``/``reset``)
  and the application of a :class:`BaseFault` (delay, stall, disconnect, error status, and for
  streams: die, stall or send an in-stream error after ``k`` frames);
- streaming a list of frames ``chunk_delay_s`` apart, honouring the fault (SSE by default; a
  protocol may frame per request, as Gemini does with its JSON-array streams).

A protocol subclass adds its routes (``_add_routes``) and the few protocol hooks: response
headers, how an error payload, a stream frame and the end of a stream look, which key the client
sent (for ``echo_key_in_errors``), and the status of an ``error_after`` fault met by a
non-stream request. Its ``Fault`` subclass adds the constructors whose error body is
protocol-specific (``status``, ``rate_limit``, ``error_after``…).

:func:`sample` (a deterministic instance of a JSON schema) and :data:`WORDS` (the "one word is
one token" rule) are shared by the mocks' answer planners.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Final, Literal, Self

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

FaultKind = Literal["status", "delay", "stall", "disconnect", "die_after", "stall_after", "error_after"]
Outcome = Literal["pending", "completed", "cancelled", "aborted", "shutdown"]

MAX_BODY: Final = 64 * 1024 * 1024  # aiohttp's default (1 MiB) is far below what the real APIs accept
WORDS: Final = re.compile(r"\S+\s*")
"""One token of the mocks: a run of non-space characters plus the spaces after it."""

STREAM_FAULTS: Final = frozenset({"die_after", "stall_after", "error_after"})


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True, kw_only=True)
class BaseFault:
    """One scripted misbehaviour, consumed by the next valid request to its endpoint.

    Build them with the class methods (each protocol module's ``Fault`` adds the ones with an
    error body). ``delay_s`` is waited first for every kind. Stream-only kinds (``die_after``,
    ``stall_after``, ``error_after``) on a non-stream request behave as ``disconnect``,
    ``stall`` and an error status carrying ``error``.
    """

    kind: FaultKind
    http_status: int = 200
    error: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay_s: float = 0.0
    after_chunks: int = 0

    @classmethod
    def delay(cls, seconds: float) -> Self:
        """Wait ``seconds`` before answering normally (stream: before the headers)."""
        return cls(kind="delay", delay_s=seconds)

    @classmethod
    def stall(cls) -> Self:
        """Never answer: hold the request until the client goes away or the mock stops."""
        return cls(kind="stall")

    @classmethod
    def disconnect(cls, *, delay_s: float = 0.0) -> Self:
        """Abort the TCP connection without sending any response."""
        return cls(kind="disconnect", delay_s=delay_s)

    @classmethod
    def die_after(cls, chunks: int) -> Self:
        """Stream: send status 200 and ``chunks`` frames, then abort the connection."""
        return cls(kind="die_after", after_chunks=chunks)

    @classmethod
    def stall_after(cls, chunks: int) -> Self:
        """Stream: send ``chunks`` frames, then hang until the client goes away or the mock stops."""
        return cls(kind="stall_after", after_chunks=chunks)


# --------------------------------------------------------------------------- scripted agents


@dataclass(frozen=True)
class AgentScript:
    """A coding agent's tool round trip, scripted (``mock.agent_script = AgentScript({...})``).

    A chat request that offers a tool named in ``calls`` and whose conversation holds no tool
    result yet is answered with one call of the first such tool (in ``calls``' order), with the
    arguments given; every other request gets the mock's plain text answer (``Mock reply to…``),
    and no tool call is planned from words in the prompt (an agent's prompts name all its tools).
    A name matches a tool offered under it or under ``<namespace>__<name>`` (a namespaced tool, as
    the gateway flattens it), and the call names the tool as offered.
    """

    calls: Mapping[str, Mapping[str, Any]]

    def call(self, offered: Sequence[str], answered: bool) -> tuple[str, dict[str, Any]] | None:
        """The tool to call and its arguments, or None for a text answer."""
        if answered:
            return None
        for name, args in self.calls.items():
            for tool in offered:
                if tool == name or tool.endswith(f"__{name}"):
                    return tool, dict(args)
        return None


# --------------------------------------------------------------------------- records


@dataclass(eq=False)
class RecordedRequest:
    """One request a mock received, and what became of it."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any
    peer: tuple[str, int] | None
    request_id: str
    stream: bool = False
    fault: BaseFault | None = None
    status: int | None = None
    outcome: Outcome = "pending"
    response_json: Any = None
    response_chunks: list[dict[str, Any]] = field(default_factory=list)
    done_sent: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def cancelled(self) -> bool:
        """True when the client went away before the mock finished answering."""
        return self.outcome == "cancelled"

    @property
    def chunks_sent(self) -> int:
        """Number of stream frames written (the in-stream error frame included)."""
        return len(self.response_chunks)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The stream frames written, in order (same list as ``response_chunks``)."""
        return self.response_chunks

    @property
    def betas(self) -> tuple[str, ...]:
        """The ``anthropic-beta`` values sent (comma lists and repeated headers merged)."""
        values = self.headers.getall("anthropic-beta", [])
        return tuple(b.strip() for value in values for b in value.split(",") if b.strip())

    async def wait_finished(self, timeout_s: float = 5.0) -> Outcome:
        """Wait until the handler is over; return the outcome."""
        await asyncio.wait_for(self.finished.wait(), timeout_s)
        return self.outcome

    def _finish(self, outcome: Outcome) -> None:
        if self.outcome == "pending":
            self.outcome = outcome
        self.finished.set()


class Stopping(Exception):
    """The mock is shutting down while a handler waits."""


class ClientGone(Exception):
    """A write failed because the client closed the connection."""


Handler = Callable[[web.Request, RecordedRequest], Awaitable[web.StreamResponse]]


def bearer(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` value (the value itself otherwise)."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else header.strip()


# --------------------------------------------------------------------------- the server


class MockServer:
    """The protocol-independent part of a mock upstream (see the module docstring)."""

    endpoints: ClassVar[tuple[str, ...]] = ()
    """Names of the fault queues; the first is ``enqueue``'s default."""
    fault_type: ClassVar[type[BaseFault]] = BaseFault
    """The protocol's ``Fault`` class: faults with an error body must be of this type."""
    terminator: ClassVar[bytes | None] = None
    """Bytes written after the last frame of a completed stream (OpenAI: ``data: [DONE]``)."""

    def __init__(
        self,
        *,
        api_key: str,
        models: Sequence[str],
        chunk_delay_s: float = 0.0,
        echo_key_in_errors: bool = False,
        name: str = "",
        shutdown_timeout_s: float = 1.0,
    ) -> None:
        self.api_key = api_key
        self.models: list[str] = list(models)
        self.chunk_delay_s = chunk_delay_s
        self.echo_key_in_errors = echo_key_in_errors
        self.name = name
        self.requests: list[RecordedRequest] = []
        self.agent_script: AgentScript | None = None
        self.response_headers: list[tuple[str, str]] = []
        self._shutdown_timeout_s = shutdown_timeout_s
        self._faults: dict[str, deque[BaseFault]] = {endpoint: deque() for endpoint in self.endpoints}
        self._arrivals: asyncio.Queue[RecordedRequest] = asyncio.Queue()
        self._closing = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._seq = 0

    # ---- protocol hooks

    def _add_routes(self, app: web.Application) -> None:
        """Register the protocol's routes (a catch-all to ``_unknown_path`` is added after)."""
        raise NotImplementedError

    async def _unknown_path(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        raise NotImplementedError

    def _headers(self, rec: RecordedRequest, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers of every response (request id and the like) plus ``extra``."""
        return dict(extra or {})

    def _sent_key(self, rec: RecordedRequest) -> str:
        """The API key the client sent (for ``echo_key_in_errors``)."""
        return bearer(rec.headers.get("Authorization", ""))

    def _error_body(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body of an error response carrying the protocol's ``error`` object."""
        raise NotImplementedError

    def _stream_error_frame(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        """The in-stream error frame of an ``error_after`` fault."""
        raise NotImplementedError

    def _encode_frame(self, frame: Mapping[str, Any]) -> bytes:
        """One SSE message (default: ``data: {json}``, no ``event:`` line)."""
        return b"data: " + orjson.dumps(frame) + b"\n\n"

    def _encode_stream_frame(self, rec: RecordedRequest, index: int, frame: Mapping[str, Any]) -> bytes:
        """Frame ``index`` (0-based, an in-stream error frame included) of ``rec``'s stream.

        Default: ``_encode_frame``. A protocol whose stream is not SSE for every request (Gemini
        without ``alt=sse`` streams one JSON array) frames by request here.
        """
        return self._encode_frame(frame)

    def _stream_content_type(self, rec: RecordedRequest) -> str:
        """The content type of ``rec``'s stream (default ``text/event-stream``)."""
        return "text/event-stream"

    def _stream_end(self, rec: RecordedRequest, *, completed: bool) -> bytes | None:
        """Bytes closing a stream: after the last frame (``completed``) or after an in-stream
        error frame. Default: ``terminator`` for a completed stream, nothing after an error."""
        return self.terminator if completed else None

    def _error_after_status(self, fault: BaseFault) -> int:
        """The status answering a non-stream request that meets an ``error_after`` fault."""
        return 500

    def _new_request_id(self) -> str:
        return f"req_{secrets.token_hex(16)}"

    # ---- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        app = web.Application(client_max_size=MAX_BODY)
        self._add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._route(self._unknown_path))
        app.on_response_prepare.append(self._add_response_headers)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=self._shutdown_timeout_s
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._stopping = False
        self._closing.clear()

    async def stop(self) -> None:
        """Wake stalled handlers, close every connection and stop serving."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        self._closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- addresses and state

    @property
    def port(self) -> int:
        """The TCP port (after ``start``)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """TCP connections to the mock currently open (idle keep-alive ones included)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def faults_pending(self, endpoint: str | None = None) -> int:
        """How many queued faults of ``endpoint`` (default: the main one) were not consumed yet."""
        return len(self._queue(endpoint))

    # ---- scripting

    def enqueue(self, *faults: BaseFault, endpoint: str | None = None) -> None:
        """Queue faults (FIFO); each valid request to ``endpoint`` (default: the main one) consumes one."""
        for fault in faults:
            if fault.error is not None and not isinstance(fault, self.fault_type):
                raise TypeError(
                    f"{type(self).__name__} needs faults built by {self.fault_type.__module__}.Fault, "
                    f"got one from {type(fault).__module__}"
                )
        self._queue(endpoint).extend(faults)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        for queue in self._faults.values():
            queue.clear()

    def reset(self) -> None:
        """Forget recorded requests, queued faults, the agent script and the extra response headers
        (between tests sharing one mock)."""
        self.clear_faults()
        self.agent_script = None
        self.response_headers.clear()
        self.requests.clear()
        self._arrivals = asyncio.Queue()

    def _queue(self, endpoint: str | None) -> deque[BaseFault]:
        name = self.endpoints[0] if endpoint is None else endpoint
        if name not in self._faults:
            raise ValueError(f"unknown endpoint {name!r}; expected one of {', '.join(self.endpoints)}")
        return self._faults[name]

    async def next_request(self, timeout_s: float = 5.0) -> RecordedRequest:
        """The next request not yet returned by this method, waiting up to ``timeout_s``."""
        try:
            return await asyncio.wait_for(self._arrivals.get(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"no request reached the mock within {timeout_s}s") from None

    async def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests were recorded; return them all."""
        await self._poll(
            lambda: len(self.requests) >= count,
            timeout_s,
            lambda: f"{len(self.requests)} request(s), wanted {count}",
        )
        return list(self.requests)

    async def wait_open_connections(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until exactly ``count`` TCP connections are open (leak tests)."""
        await self._poll(
            lambda: self.open_connections == count,
            timeout_s,
            lambda: f"{self.open_connections} open connection(s), wanted {count}",
        )

    @staticmethod
    async def _poll(done: Callable[[], bool], timeout_s: float, state: Callable[[], str]) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not done():
            if asyncio.get_running_loop().time() >= deadline:
                raise AssertionError(f"after {timeout_s}s: {state()}")
            await asyncio.sleep(0.01)

    # ---- plumbing

    def _route(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            rec = await self._record(request)
            try:
                response = await handler(request, rec)
            except asyncio.CancelledError:
                rec._finish("shutdown" if self._stopping else "cancelled")
                raise
            except ClientGone:
                rec._finish("cancelled")
                return web.Response(status=499)
            except Stopping:
                self._abort(request, rec, "shutdown")
                return web.Response(status=503)
            if rec.outcome == "pending" and rec.status is None:
                rec.status = response.status
            rec._finish("completed")
            return response

        return handle

    async def _record(self, request: web.Request) -> RecordedRequest:
        self._seq += 1
        body = await request.read()
        parsed: Any = None
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(body) if body else None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        rec = RecordedRequest(
            seq=self._seq,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            json=parsed,
            peer=(str(peer[0]), int(peer[1])) if peer else None,
            request_id=self._new_request_id(),
            stream=isinstance(parsed, dict) and parsed.get("stream") is True,
        )
        self.requests.append(rec)
        self._arrivals.put_nowait(rec)
        return rec

    async def _add_response_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.response_headers:
            response.headers.add(name, value)

    def _abort(self, request: web.Request, rec: RecordedRequest, outcome: Outcome) -> None:
        rec._finish(outcome)
        if request.transport is not None:
            request.transport.abort()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but raise ``Stopping`` as soon as the mock shuts down."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
            raise Stopping

    async def _hang(self) -> None:
        await self._closing.wait()
        raise Stopping

    @staticmethod
    async def _drain(request: web.Request) -> None:
        """Let written bytes leave the socket before an abort (abort drops the write buffer)."""
        transport = request.transport
        for _ in range(200):
            if transport is None or transport.get_write_buffer_size() == 0:
                return
            await asyncio.sleep(0.005)

    def _json(
        self, rec: RecordedRequest, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        rec.status = status
        rec.response_json = payload
        return web.Response(
            status=status,
            body=orjson.dumps(payload),
            content_type="application/json",
            headers=self._headers(rec, headers),
        )

    def _leaky(self, rec: RecordedRequest, message: str) -> str:
        """With ``echo_key_in_errors``, make ``message`` carry the full key the caller sent."""
        if not self.echo_key_in_errors:
            return message
        return f"{message} (request key: {self._sent_key(rec)})"

    def _leaky_error(self, rec: RecordedRequest, error: Mapping[str, Any] | None) -> dict[str, Any]:
        leaked = dict(error or {})
        leaked["message"] = self._leaky(rec, str(leaked.get("message", "")))
        return leaked

    # ---- faults

    async def _take_fault(
        self, request: web.Request, rec: RecordedRequest, endpoint: str
    ) -> web.StreamResponse | None:
        """Apply the next queued fault; a response means "answer this", None "go on normally"."""
        queue = self._queue(endpoint)
        if not queue:
            return None
        fault = rec.fault = queue.popleft()
        await self._sleep(fault.delay_s)
        if fault.kind == "delay" or (rec.stream and fault.kind in STREAM_FAULTS):
            return None
        if fault.kind in ("stall", "stall_after"):
            await self._hang()
        if fault.kind in ("disconnect", "die_after"):
            self._abort(request, rec, "aborted")
            return web.Response(status=499)
        status = fault.http_status if fault.kind == "status" else self._error_after_status(fault)
        headers = fault.headers if fault.kind == "status" else {}
        if fault.body is not None:
            rec.status = status
            return web.Response(status=status, body=fault.body, headers=self._headers(rec, headers))
        return self._json(rec, status, self._error_body(rec, self._leaky_error(rec, fault.error)), headers)

    # ---- streaming

    async def _send_stream(
        self,
        request: web.Request,
        rec: RecordedRequest,
        frames: Sequence[dict[str, Any]],
        headers: Mapping[str, str],
    ) -> web.StreamResponse:
        """Write ``frames`` as SSE (``chunk_delay_s`` apart), honouring the request's stream fault."""
        fault = rec.fault if rec.fault is not None and rec.fault.kind != "delay" else None
        response = web.StreamResponse(status=200, headers=self._headers(rec, headers))
        response.content_type = self._stream_content_type(rec)
        response.charset = "utf-8"
        response.headers["cache-control"] = "no-cache"
        rec.status = 200
        try:
            await response.prepare(request)
            limit = len(frames) if fault is None else min(fault.after_chunks, len(frames))
            for index, frame in enumerate(frames[:limit]):
                if index and self.chunk_delay_s:
                    await self._sleep(self.chunk_delay_s)
                await response.write(self._encode_stream_frame(rec, index, frame))
                rec.response_chunks.append(frame)
            if fault is None:
                end = self._stream_end(rec, completed=True)
                if end is not None:
                    await response.write(end)
                rec.done_sent = True
                await response.write_eof()
                return response
            if fault.kind == "error_after":
                error_frame = self._stream_error_frame(rec, self._leaky_error(rec, fault.error))
                await response.write(self._encode_stream_frame(rec, len(rec.response_chunks), error_frame))
                rec.response_chunks.append(error_frame)
                end = self._stream_end(rec, completed=False)
                if end is not None:
                    await response.write(end)
                await response.write_eof()
                return response
            if fault.kind == "stall_after":
                await self._hang()
            await self._drain(request)
            self._abort(request, rec, "aborted")
            return response
        except ConnectionResetError as exc:
            raise ClientGone from exc


# --------------------------------------------------------------------------- answers


def sample(schema: Any, *, text: str = "mock") -> Any:
    """A deterministic instance of a (simple) JSON schema, strings set to ``text``.

    Objects get their required properties (all of them if none is required), enums their first
    value, integers/numbers their ``minimum`` or 1, booleans true, arrays ``minItems`` samples,
    unions their first branch.
    """
    if not isinstance(schema, Mapping):
        return {}
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        if schema.get(union):
            return sample(schema[union][0], text=text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties") or {}
        wanted = schema.get("required") or list(properties)
        return {name: sample(properties.get(name, {}), text=text) for name in wanted}
    if kind == "array":
        return [sample(schema.get("items", {}), text=text) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text
