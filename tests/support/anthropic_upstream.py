"""A protocol-faithful fake of api.anthropic.com's Messages, count_tokens and Models endpoints.

``MockAnthropic`` is a real aiohttp server on 127.0.0.1 (random free port) running in the test's
event loop, with the same public shape as ``MockOpenAI`` (shared parts in
:mod:`support.mock_server`)::

    async with MockAnthropic() as m:
        client = anthropic.AsyncAnthropic(base_url=m.base_url, api_key=m.api_key, max_retries=0)
        m.enqueue(Fault.overloaded())                    # the next messages request gets a 529
        ...
        req = await m.next_request()                     # what the client really sent

``base_url`` is ``http://127.0.0.1:<port>`` without ``/v1``: the anthropic SDK's paths carry it.

What it checks, in this order, like the real API (errors are ``{"type": "error", "error":
{"type", "message"}, "request_id": "req_…"}`` with a ``request-id`` header):

1. The key: ``x-api-key: <api_key>`` (the real API), else ``Authorization: Bearer <api_key>``
   (what anthropic 2.x SDKs send) → 401 ``authentication_error`` ("x-api-key header is
   required" / "invalid x-api-key").
2. An ``anthropic-version`` header (any value) → 400 "anthropic-version: header is required".
   ``anthropic-beta`` values are recorded (``RecordedRequest.betas``).
3. POST ``/v1/messages`` and ``/v1/messages/count_tokens``: a beta request (``?beta=true``, which
   older SDKs add, or any ``anthropic-beta`` header; anthropic 2.x sends only the header) is
   checked against the ``Beta*`` schemas and answered in their shapes (``context_management:
   null``, usage ``iterations``/``speed``). A body over 32 MB → 413 ``request_too_large``; not
   JSON → 400 "The request body is not valid JSON: <parser message>"; then the body validates against
   ``CreateMessageParams``/``CountMessageTokensParams`` → 400 in pydantic's words for the first
   error, e.g. "max_tokens: Field required", "messages.0.content.0.foo: Extra inputs are not
   permitted" (``strict=True``, the default, validates closed-world), "temperature: Input should
   be less than or equal to 1", "messages.0.content.0.id: String should match pattern …".
   With the :data:`PER_TURN_BETA` beta, text-only ``role: "system"`` messages after the first
   are taken (and left out of the rest of the checks and of the answer).
4. Cross-field rules of the real API (400 ``invalid_request_error``, the real messages):
   at least one message; the first message is ``user``; roles alternate (consecutive same roles
   are rejected; ``merge_consecutive_roles=True`` merges them as the current API does, and then
   reports positions by the first message of a merged turn); only the final assistant message
   may be empty, and it may not end with whitespace; every
   ``tool_use`` of an assistant message is answered by ``tool_result`` blocks at the start of
   the next message, and every ``tool_result`` answers a ``tool_use`` of the previous message;
   tool names are unique and a ``tool_choice`` of type ``tool`` names one of them;
   ``stop_sequences`` contain non-whitespace; every ``thinking`` block carries a signature this
   mock issued for exactly that text (``redacted_thinking``: data it issued) — whatever the
   thinking setting, as the real API checks replayed history; with thinking on (``enabled`` or
   ``adaptive``): ``budget_tokens < max_tokens``, ``temperature`` 1 or absent, no ``top_k``,
   ``top_p`` ≥ 0.95 if set, ``tool_choice`` not ``any``/``tool``, and the final assistant
   message, when it contains ``tool_use``, starts with a ``thinking``/``redacted_thinking``
   block ("Expected `thinking` or `redacted_thinking`, but found `tool_use`. …").
5. The model is one of ``models`` → 404 ``not_found_error`` "model: <id>"; ``max_tokens`` is at
   most the model's output limit (32000 for opus-4-0/4-1, else 64000).
6. The next queued :class:`Fault` for the endpoint (``messages``, ``count_tokens``, ``models``)
   is applied; a request rejected above consumes none.

Deterministic answers (``plan_message``):

- Text: ``"Mock reply to: <text of the last user message>"`` (text blocks joined by a space,
  images/documents shown as ``[image]``/``[document]``, tool results left out). When the last
  user message carries ``tool_result`` blocks: ``"Mock reply to tool results: <each result's
  text, joined by '; '>"``. ``output_config.format`` (or beta ``output_format``) of type
  ``json_schema``: a sample of the schema with every string set to that text.
- Tool use (custom tools, i.e. with an ``input_schema``): when ``tool_choice`` is ``tool``
  (that tool) or ``any``, or is ``auto``/absent and the last user message has no tool results
  and its text contains the word "weather" or a tool name. The called tool is the named one,
  else the first tool whose name the text contains, else the first tool; with the word
  "parallel" (and ``disable_parallel_tool_use`` not set, no tool named) every custom tool is
  called, in order. Under ``auto`` a text block ``"I'll call <names>."`` comes first
  (``tool_preamble=False`` drops it). Inputs are built from the ``input_schema`` by
  :func:`~support.mock_server.sample` (strings ``"mock"``, enums their first value, …). Ids are
  ``toolu_01`` + 22 characters derived from the message id; blocks carry ``caller: {"type":
  "direct"}`` (required by the spec; the SDK accepts it and sends it back). ``stop_reason``
  ``tool_use``. With :attr:`MockServer.agent_script` set, its call (or text) instead.
- Web search (a ``web_search_2…`` server tool offered, no tool called, no tool results, the word
  "search" in the last user text): a ``server_tool_use`` block (``srvtoolu_01…``, input
  ``{"query": <that text>}``), a ``web_search_tool_result`` block finding :data:`SEARCH_RESULT`,
  then the text answer citing it (``web_search_result_location``; streamed as a
  ``citations_delta`` before the text); ``usage.server_tool_use.web_search_requests`` 1.
- Thinking (``thinking.type`` ``enabled`` or ``adaptive``): a first ``thinking`` block
  ``"Mock thinking about: <last user text>"`` (after tool results ``"Mock thinking about tool
  results: …"``; ``display: "omitted"``: empty text) with a signature —
  an HMAC (``signing_key``) over a per-message nonce and the text, base64. After tool results
  the model thinks again only with adaptive thinking or the ``interleaved-thinking-2025-05-14``
  beta, as the real API. A user text containing :data:`REDACTED_TRIGGER` adds a
  ``redacted_thinking`` block (signed ``data``) after it. ``MockAnthropic.sign_thinking(text)``
  makes a signature the mock accepts (for hand-built histories); another ``signing_key``
  rejects this one's signatures, as another account would.
- ``stop_sequences``: the text is cut before the earliest match; ``stop_reason``
  ``stop_sequence`` and ``stop_sequence`` set. ``max_tokens`` caps thinking + text tokens: the
  text is cut, ``stop_reason`` ``max_tokens``. Tool use is never cut.
- Tokens are whitespace-separated words (one word plus its trailing space is one token and one
  ``text_delta``/``thinking_delta``). The prompt has one token per word of the system prompt,
  text, thinking and tool-result text, compact JSON of tool inputs, one per image/document/
  redacted block, plus len(compact JSON of ``tools``)//4 (at least 1): that is what
  ``count_tokens`` answers. In a Message, ``cache_read_input_tokens`` = min(knob, prompt),
  ``cache_creation_input_tokens`` = min(knob, rest) (``cache_creation`` puts it under
  ``ephemeral_1h_input_tokens`` when the request has a ``cache_control`` with ``ttl: "1h"``, else
  ``ephemeral_5m_input_tokens``) and ``input_tokens`` the rest, as the real API excludes cache
  tokens from ``input_tokens``. ``output_tokens`` = thinking + text words + len(input JSON)//4 + 1
  per tool use. ``service_tier`` is the knob (``"standard"``), ``"standard"`` when the request
  says ``standard_only``.

Streaming follows the real API: ``event: <type>\\ndata: {json}\\n\\n`` messages written one by
one (``chunk_delay_s`` apart): ``message_start`` (the Message with ``content: []``,
``stop_reason: null``, input-side usage and ``output_tokens: 1``), ``ping``, then per block
``content_block_start`` (text ``""``, thinking ``""`` with signature ``""``, tool_use with input
``{}``, redacted_thinking whole), its deltas (``text_delta``/``thinking_delta`` per word, one
``signature_delta`` last, ``input_json_delta`` ``""`` first then 8-character pieces) and
``content_block_stop``, then ``message_delta`` (``stop_reason``, ``stop_sequence``, cumulative
usage) and ``message_stop``. Stream faults count these events (``ping`` included);
``error_after`` sends ``event: error`` ``{"type": "error", "error": {"type", "message"}}``.

Models: ``GET /v1/models`` pages ``models`` (in knob order, newest first) with ``limit``
(1–1000, default 20), ``after_id``/``before_id`` (an unknown id gives an empty page) as
``{data, first_id, last_id, has_more}``; ``GET /v1/models/{id}`` gives one ``ModelInfo``.

``assert_emitted_valid`` checks every body against the spec (closed world) and every stream:
each event's shape (the spec subset has no stream-event schemas: envelopes are checked here,
embedded ``Message``/content blocks against the spec), their order (``message_start`` first,
dense block indices, start/deltas/stop, ``message_delta`` then ``message_stop``) and the
message rebuilt from a complete stream against ``Message``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

import orjson
from aiohttp import web
from jsonschema import ValidationError
from jsonschema.exceptions import relevance

from . import schemas
from .mock_server import WORDS, AgentScript, BaseFault, MockServer, RecordedRequest, bearer, sample

DEFAULT_API_KEY: Final = "sk-ant-api03-mock-7c1e5a9d3b2f4e6a8c0d1b2a3f4e5d6cAA"
DEFAULT_MODELS: Final = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
DEFAULT_SIGNING_KEY: Final = b"torouter-mock-anthropic-thinking-signatures"
INTERLEAVED_THINKING_BETA: Final = "interleaved-thinking-2025-05-14"
PER_TURN_BETA: Final = "per-turn-control-2026-07-01"  # system turns among the messages
SEARCH_RESULT: Final = {
    "type": "web_search_result",
    "url": "https://example.com/mock-search-result",
    "title": "Mock search result",
    "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5",
    "page_age": None,
}
"""The one page the server-side web search of the mock finds."""
REDACTED_TRIGGER: Final = (
    "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"
)
"""The documented test string that makes the real API return a ``redacted_thinking`` block."""
DOCS_THINKING: Final = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"

_MESSAGES_PATH: Final = "/v1/messages"
_COUNT_PATH: Final = "/v1/messages/count_tokens"
_MODELS_PATH: Final = "/v1/models"
_MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024
_ARG_PIECE: Final = 8
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ORGANIZATION_ID: Final = "5b0d3f6e-9c1a-4e2b-8f7d-6a5c4b3e2d1f"
_FORCING_CHOICES: Final = ("any", "tool")

_DEFAULT_ERRORS: Final[dict[int, tuple[str, str]]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: (
        "billing_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
        "to upgrade or purchase credits.",
    ),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not Found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
_STATUS_OF_TYPE: Final = {error_type: status for status, (error_type, _) in _DEFAULT_ERRORS.items()}
_NOT_IN_SPEC_ERRORS: Final = frozenset({"request_too_large"})
"""Error types the API documents but the spec's ``ErrorResponse`` union lacks."""


# --------------------------------------------------------------------------- faults


class Fault(BaseFault):
    """One scripted misbehaviour (see :class:`~support.mock_server.BaseFault`), Anthropic flavour.

    ``delay``, ``stall``, ``disconnect``, ``die_after`` and ``stall_after`` come from the base
    (stream faults count SSE events, ``ping`` included); the constructors here build Anthropic
    error bodies. ``error_after`` on a non-stream request answers its error with the status of
    its type (``overloaded_error`` 529, ``api_error`` 500, …).
    """

    @classmethod
    def status(
        cls,
        status: int,
        *,
        message: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        delay_s: float = 0.0,
    ) -> Fault:
        """Answer ``status`` with an Anthropic error body (or the raw ``body`` bytes, as given).

        Default types: 400 ``invalid_request_error``, 401 ``authentication_error``, 402
        ``billing_error``, 403 ``permission_error``, 404 ``not_found_error``, 413
        ``request_too_large``, 429 ``rate_limit_error``, 500 ``api_error``, 504
        ``timeout_error``, 529 ``overloaded_error``; other 5xx ``api_error``, other 4xx
        ``invalid_request_error``. ``retry_after`` sets ``retry-after`` (whole seconds, rounded up).
        """
        default_type, default_message = _DEFAULT_ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", f"Upstream error {status}.")
        )
        error = {
            "type": error_type if error_type is not None else default_type,
            "message": message if message is not None else default_message,
        }
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = str(math.ceil(retry_after))
        return cls(
            kind="status", http_status=status, error=error, headers=all_headers, body=body, delay_s=delay_s
        )

    @classmethod
    def rate_limit(
        cls, *, retry_after: float | None = 1.0, message: str | None = None, delay_s: float = 0.0
    ) -> Fault:
        """429 ``rate_limit_error`` with ``retry-after`` and exhausted ``anthropic-ratelimit-*``."""
        reset = _rfc3339(datetime.now(UTC) + timedelta(seconds=retry_after or 0))
        headers = {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset,
        }
        return cls.status(429, message=message, retry_after=retry_after, headers=headers, delay_s=delay_s)

    @classmethod
    def overloaded(
        cls, *, retry_after: float | None = None, message: str | None = None, delay_s: float = 0.0
    ) -> Fault:
        """529 ``overloaded_error`` ("Overloaded")."""
        return cls.status(529, message=message, retry_after=retry_after, delay_s=delay_s)

    @classmethod
    def error_after(
        cls, chunks: int, *, message: str = "Overloaded", error_type: str = "overloaded_error"
    ) -> Fault:
        """Stream: send ``chunks`` events, then ``event: error`` with this error, and close."""
        return cls(kind="error_after", after_chunks=chunks, error={"type": error_type, "message": message})


# --------------------------------------------------------------------------- the server


class MockAnthropic(MockServer):
    """Fake api.anthropic.com; see the module docstring for behaviour and answer rules."""

    endpoints: ClassVar[tuple[str, ...]] = ("messages", "count_tokens", "models")
    fault_type: ClassVar[type[BaseFault]] = Fault

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: Sequence[str] = DEFAULT_MODELS,
        chunk_delay_s: float = 0.0,
        echo_key_in_errors: bool = False,
        strict: bool = True,
        validate_requests: bool = True,
        merge_consecutive_roles: bool = False,
        cache_read_tokens: int = 0,
        cache_creation_tokens: int = 0,
        service_tier: str = "standard",
        tool_preamble: bool = True,
        signing_key: bytes = DEFAULT_SIGNING_KEY,
        name: str = "",
        shutdown_timeout_s: float = 1.0,
    ) -> None:
        super().__init__(
            api_key=api_key,
            models=models,
            chunk_delay_s=chunk_delay_s,
            echo_key_in_errors=echo_key_in_errors,
            name=name,
            shutdown_timeout_s=shutdown_timeout_s,
        )
        self.strict = strict
        self.validate_requests = validate_requests
        self.merge_consecutive_roles = merge_consecutive_roles
        self.cache_read_tokens = cache_read_tokens
        self.cache_creation_tokens = cache_creation_tokens
        self.service_tier = service_tier
        self.tool_preamble = tool_preamble
        self.signing_key = signing_key

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post(_MESSAGES_PATH, self._route(self._messages))
        app.router.add_post(_COUNT_PATH, self._route(self._count_tokens))
        app.router.add_get(_MODELS_PATH, self._route(self._list_models))
        app.router.add_get(_MODELS_PATH + "/{model:.+}", self._route(self._get_model))

    # ---- addresses and state

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, as the anthropic SDK's ``base_url`` takes it (no ``/v1``)."""
        return self.url

    @property
    def messages_requests(self) -> list[RecordedRequest]:
        """The recorded POST /v1/messages requests."""
        return [r for r in self.requests if r.path == _MESSAGES_PATH]

    def sign_thinking(self, thinking: str, *, nonce: bytes = b"\0" * 16) -> str:
        """A signature this mock accepts for a ``thinking`` block with this text."""
        return sign(self.signing_key, b"thinking", nonce, thinking.encode())

    def assert_emitted_valid(self) -> None:
        """Check every body and stream sent so far against the Anthropic spec (closed world)."""
        for rec in self.requests:
            beta = is_beta(rec)
            prefix = "Beta" if beta else ""
            body = rec.response_json
            if isinstance(body, dict) and body.get("type") == "error":
                validate_error_body(body, beta=beta)
            elif body is not None:
                if rec.path == _MESSAGES_PATH:
                    name = f"{prefix}Message"
                elif rec.path == _COUNT_PATH:
                    name = f"{prefix}CountMessageTokensResponse"
                elif rec.path == _MODELS_PATH:
                    name = "ListResponse_ModelInfo_"
                else:
                    name = "ModelInfo"
                schemas.validate("anthropic", name, body, closed=True)
            if rec.response_chunks:
                validate_stream(rec.response_chunks, complete=rec.done_sent, beta=beta)

    # ---- protocol hooks

    def _new_request_id(self) -> str:
        return "req_011C" + "".join(secrets.choice(_BASE62) for _ in range(20))

    def _headers(self, rec: RecordedRequest, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"request-id": rec.request_id, "anthropic-organization-id": _ORGANIZATION_ID}
        headers.update(extra or {})
        return headers

    def _sent_key(self, rec: RecordedRequest) -> str:
        return rec.headers.get("x-api-key") or bearer(rec.headers.get("Authorization", ""))

    def _error_body(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "error", "error": dict(error), "request_id": rec.request_id}

    def _stream_error_frame(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "error", "error": dict(error)}

    def _encode_frame(self, frame: Mapping[str, Any]) -> bytes:
        return b"event: " + str(frame["type"]).encode() + b"\ndata: " + orjson.dumps(frame) + b"\n\n"

    def _error_after_status(self, fault: BaseFault) -> int:
        return _STATUS_OF_TYPE.get(str((fault.error or {}).get("type")), 500)

    def _error(
        self, rec: RecordedRequest, status: int, message: str, *, error_type: str = "invalid_request_error"
    ) -> web.Response:
        error = {"type": error_type, "message": self._leaky(rec, message)}
        return self._json(rec, status, self._error_body(rec, error), {"x-should-retry": "false"})

    def _rate_headers(self) -> dict[str, str]:
        reset = _rfc3339(datetime.now(UTC) + timedelta(seconds=1))
        headers: dict[str, str] = {}
        for kind, limit in (("requests", 4000), ("tokens", 2_000_000), ("input-tokens", 2_000_000)):
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = str(limit - 1)
            headers[f"anthropic-ratelimit-{kind}-reset"] = reset
        headers["anthropic-ratelimit-output-tokens-limit"] = "400000"
        headers["anthropic-ratelimit-output-tokens-remaining"] = "400000"
        headers["anthropic-ratelimit-output-tokens-reset"] = reset
        return headers

    def _check_headers(self, rec: RecordedRequest) -> web.Response | None:
        key = rec.headers.get("x-api-key")
        if key is None:
            authorization = rec.headers.get("Authorization", "")
            key = bearer(authorization) if authorization.lower().startswith("bearer ") else None
        if not key:
            return self._error(rec, 401, "x-api-key header is required", error_type="authentication_error")
        if key != self.api_key:
            return self._error(rec, 401, "invalid x-api-key", error_type="authentication_error")
        if not rec.headers.get("anthropic-version", "").strip():
            return self._error(rec, 400, "anthropic-version: header is required")
        return None

    # ---- endpoints

    async def _unknown_path(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return self._check_headers(rec) or self._error(rec, 404, "Not Found", error_type="not_found_error")

    async def _messages(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        body_or_error = self._parse(rec, "CreateMessageParams")
        if isinstance(body_or_error, web.Response):
            return body_or_error
        body = body_or_error
        model = str(body["model"])
        limit = model_max_tokens(model)
        if int(body.get("max_tokens") or 0) > limit:
            return self._error(
                rec,
                400,
                f"max_tokens: {body['max_tokens']} > {limit}, which is the maximum allowed number of "
                f"output tokens for {model}",
            )
        fault = await self._take_fault(request, rec, "messages")
        if fault is not None:
            return fault
        planned = plan_message(
            body,
            message_id=self._message_id(rec),
            beta=is_beta(rec),
            betas=rec.betas,
            cache_read_tokens=self.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens,
            service_tier=self.service_tier,
            tool_preamble=self.tool_preamble,
            signing_key=self.signing_key,
            script=self.agent_script,
        )
        if rec.stream:
            return await self._send_stream(request, rec, list(planned.events()), self._rate_headers())
        return self._json(rec, 200, planned.message(), self._rate_headers())

    async def _count_tokens(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        body_or_error = self._parse(rec, "CountMessageTokensParams")
        if isinstance(body_or_error, web.Response):
            return body_or_error
        fault = await self._take_fault(request, rec, "count_tokens")
        if fault is not None:
            return fault
        answer: dict[str, Any] = {"input_tokens": count_input_tokens(body_or_error)}
        if is_beta(rec):
            answer["context_management"] = None
        return self._json(rec, 200, answer)

    def _parse(self, rec: RecordedRequest, schema: str) -> dict[str, Any] | web.Response:
        """Steps 1–5 of the module docstring: the valid body, or the error response."""
        denied = self._check_headers(rec)
        if denied is not None:
            return denied
        if len(rec.body) > _MAX_REQUEST_BYTES:
            return self._error(rec, 413, _DEFAULT_ERRORS[413][1], error_type="request_too_large")
        try:
            body = json.loads(rec.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._error(rec, 400, f"The request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return self._error(
                rec, 400, "Input should be a valid dictionary or object to extract fields from"
            )
        if PER_TURN_BETA in rec.betas and isinstance(body.get("messages"), list):
            problem_or_body = _without_system_turns(body)
            if isinstance(problem_or_body, str):
                return self._error(rec, 400, problem_or_body)
            body = problem_or_body
        if self.validate_requests:
            name = f"Beta{schema}" if is_beta(rec) else schema
            found = schemas.errors("anthropic", name, body, closed=self.strict)
            if found:
                return self._error(rec, 400, anthropic_validation_message(found[0]))
        problem = request_problem(
            body, signing_key=self.signing_key, merge_roles=self.merge_consecutive_roles
        )
        if problem is not None:
            return self._error(rec, 400, problem)
        model = str(body.get("model"))
        if model not in self.models:
            return self._error(rec, 404, f"model: {model}", error_type="not_found_error")
        return body

    def _message_id(self, rec: RecordedRequest) -> str:
        return "msg_01" + _base62(
            hashlib.sha256(f"{self.name}/{rec.seq}/{rec.request_id}".encode()).digest(), 22
        )

    async def _list_models(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        denied = self._check_headers(rec)
        if denied is not None:
            return denied
        raw_limit = rec.query.get("limit", "20")
        try:
            limit = int(raw_limit)
        except ValueError:
            return self._error(
                rec, 400, "limit: Input should be a valid integer, unable to parse string as an integer"
            )
        if not 1 <= limit <= 1000:
            bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 1000"
            return self._error(rec, 400, f"limit: Input should be {bound}")
        after, before = rec.query.get("after_id"), rec.query.get("before_id")
        if after and before:
            return self._error(rec, 400, "Only one of `before_id` and `after_id` may be specified.")
        fault = await self._take_fault(request, rec, "models")
        if fault is not None:
            return fault
        ids = self.models
        if after:
            start = ids.index(after) + 1 if after in ids else len(ids)
            page, has_more = ids[start : start + limit], start + limit < len(ids)
        elif before:
            end = ids.index(before) if before in ids else 0
            start = max(0, end - limit)
            page, has_more = ids[start:end], start > 0
        else:
            page, has_more = ids[:limit], limit < len(ids)
        listing = {
            "data": [self._model_info(m) for m in page],
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
            "has_more": has_more,
        }
        return self._json(rec, 200, listing)

    async def _get_model(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        denied = self._check_headers(rec)
        if denied is not None:
            return denied
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(rec, 404, f"model: {model}", error_type="not_found_error")
        fault = await self._take_fault(request, rec, "models")
        if fault is not None:
            return fault
        return self._json(rec, 200, self._model_info(model))

    def _model_info(self, model: str) -> dict[str, Any]:
        return model_info(
            model, released=datetime(2025, 10, 1, tzinfo=UTC) - timedelta(days=30 * self.models.index(model))
        )


def is_beta(rec: RecordedRequest) -> bool:
    """A beta request: ``?beta=true`` (older SDKs) or any ``anthropic-beta`` header (2.x SDKs send
    no query). It is validated against the ``Beta*`` schemas and answered in the ``Beta*`` shapes."""
    return rec.query.get("beta") == "true" or bool(rec.betas)


# --------------------------------------------------------------------------- models


def model_max_tokens(model: str) -> int:
    """The output-token limit of a model (opus 4.0/4.1: 32000, others 64000)."""
    return 32000 if re.match(r"claude-opus-4-[01]\b|claude-opus-4-2025", model) else 64000


def display_name(model: str) -> str:
    """``claude-sonnet-4-5`` → ``Claude Sonnet 4.5`` (date suffixes dropped)."""
    parts = [p for p in model.split("-") if not re.fullmatch(r"\d{8}", p)]
    words = [p.capitalize() for p in parts if not p.isdigit()]
    version = ".".join(p for p in parts if p.isdigit())
    return " ".join([*words, version] if version else words)


def model_info(model: str, *, released: datetime) -> dict[str, Any]:
    """A ``ModelInfo`` object for ``model``."""
    yes = {"supported": True}
    return {
        "type": "model",
        "id": model,
        "display_name": display_name(model),
        "created_at": _rfc3339(released),
        "max_input_tokens": 200_000,
        "max_tokens": model_max_tokens(model),
        "capabilities": {
            "batch": yes,
            "citations": yes,
            "code_execution": yes,
            "context_management": {
                "supported": True,
                "clear_thinking_20251015": yes,
                "clear_tool_uses_20250919": yes,
                "compact_20260112": None,
            },
            "effort": {"supported": True, "low": yes, "medium": yes, "high": yes, "max": yes, "xhigh": None},
            "image_input": yes,
            "pdf_input": yes,
            "structured_outputs": yes,
            "thinking": {"supported": True, "types": {"enabled": yes, "adaptive": yes}},
        },
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base62(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


# --------------------------------------------------------------------------- signatures


def sign(key: bytes, kind: bytes, nonce: bytes, payload: bytes) -> str:
    """An HMAC-SHA256 token over (kind, nonce, payload), carrying the nonce: base64 text."""
    mac = hmac.new(key, kind + b"\0" + nonce + b"\0" + payload, hashlib.sha256).digest()
    return base64.b64encode(b"\x01MK" + nonce + mac).decode()


def verify(key: bytes, kind: bytes, token: str, payload: bytes) -> bool:
    """True when ``token`` was made by :func:`sign` with this key, kind and payload."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 3 + 16 + 32 or not raw.startswith(b"\x01MK"):
        return False
    return hmac.compare_digest(token, sign(key, kind, raw[3:19], payload))


def redacted_data(key: bytes, nonce: bytes) -> str:
    """The opaque ``data`` of a ``redacted_thinking`` block the mock issues."""
    return sign(key, b"redacted_thinking", nonce, b"")


# --------------------------------------------------------------------------- request rules


@dataclass
class Turn:
    """One message of the request (consecutive same-role messages merged when allowed)."""

    index: int
    role: str
    blocks: list[dict[str, Any]]
    empty: bool


def _without_system_turns(body: dict[str, Any]) -> dict[str, Any] | str:
    """With the ``per-turn-control`` beta (which Claude Code sends with its mid-conversation system
    turns, and leaves out when an API refuses them), ``role: "system"`` messages are taken after
    the first message, text only: the body without them (checked and planned as usual), or the
    error message."""
    messages = body["messages"]
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "system":
            continue
        if index == 0:
            return f"messages.{index}: use the top-level `system` parameter for the initial system prompt"
        content = message.get("content")
        blocks = [content] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not all(
            isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text") for b in blocks
        ):
            return f"messages.{index}: text-only role `system` messages require text content blocks"
    return {
        **body,
        "messages": [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")],
    }


def turns_of(messages: Sequence[Mapping[str, Any]], *, merge: bool) -> list[Turn]:
    """The request's messages as :class:`Turn` s, string content as one text block."""
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}] if content else []
        else:
            blocks = [dict(b) for b in content or [] if isinstance(b, Mapping)]
        role = str(message.get("role"))
        if merge and turns and turns[-1].role == role:
            turns[-1].blocks.extend(blocks)
            turns[-1].empty = turns[-1].empty and not blocks
            continue
        turns.append(Turn(index, role, blocks, not blocks))
    return turns


def thinking_on(body: Mapping[str, Any]) -> bool:
    """Thinking is ``enabled`` or ``adaptive``."""
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive")


def request_problem(body: Mapping[str, Any], *, signing_key: bytes, merge_roles: bool = False) -> str | None:
    """The first violation of the real API's cross-field rules (module docstring, step 4)."""
    messages = body.get("messages") or []
    if not messages:
        return "messages: at least one message is required"
    turns = turns_of(messages, merge=merge_roles)
    for previous, turn in itertools.pairwise(turns):
        if turn.role == previous.role:
            return (
                f'messages: roles must alternate between "user" and "assistant", but found multiple '
                f'"{turn.role}" roles in a row'
            )
    if turns[0].role != "user":
        return 'messages: first message must use the "user" role'
    for position, turn in enumerate(turns):
        final_assistant = position == len(turns) - 1 and turn.role == "assistant"
        if turn.empty and not final_assistant:
            return (
                f"messages.{turn.index}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        last = turn.blocks[-1] if turn.blocks else {}
        if (
            final_assistant
            and last.get("type") == "text"
            and str(last.get("text")) != str(last.get("text")).rstrip()
        ):
            return "messages: final assistant content cannot end with trailing whitespace"
    problem = _tool_pairing_problem(turns) or _signature_problem(turns, signing_key)
    if problem is not None:
        return problem
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    names = [str(t.get("name")) for t in tools]
    if len(set(names)) != len(names):
        return "tools: Tool names must be unique."
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "tool" and choice.get("name") not in names:
        return f"tool_choice: Tool '{choice.get('name')}' not found in provided tools"
    for sequence in body.get("stop_sequences") or []:
        if not str(sequence).strip():
            return "stop_sequences: each stop sequence must contain non-whitespace"
    if thinking_on(body):
        return _thinking_problem(body, turns)
    return None


def _tool_pairing_problem(turns: Sequence[Turn]) -> str | None:
    for position, turn in enumerate(turns):
        if turn.role == "user":
            previous = turns[position - 1] if position else None
            offered = (
                {str(b.get("id")) for b in previous.blocks if b.get("type") == "tool_use"}
                if previous
                else set()
            )
            for k, block in enumerate(turn.blocks):
                if block.get("type") == "tool_result" and str(block.get("tool_use_id")) not in offered:
                    return (
                        f"messages.{turn.index}.content.{k}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
            continue
        ids = [str(b.get("id")) for b in turn.blocks if b.get("type") == "tool_use"]
        if not ids:
            continue
        answered: set[str] = set()
        for block in turns[position + 1].blocks if position + 1 < len(turns) else []:
            if block.get("type") != "tool_result":
                break
            answered.add(str(block.get("tool_use_id")))
        missing = [i for i in ids if i not in answered]
        if missing:
            return (
                f"messages.{turn.index}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` "
                "block in the next message."
            )
    return None


def _signature_problem(turns: Sequence[Turn], key: bytes) -> str | None:
    for turn in turns:
        for k, block in enumerate(turn.blocks):
            kind = block.get("type")
            if kind == "thinking" and not verify(
                key, b"thinking", str(block.get("signature", "")), str(block.get("thinking", "")).encode()
            ):
                return f"messages.{turn.index}.content.{k}: Invalid `signature` in `thinking` block"
            if kind == "redacted_thinking" and not verify(
                key, b"redacted_thinking", str(block.get("data")), b""
            ):
                return f"messages.{turn.index}.content.{k}: Invalid `data` in `redacted_thinking` block"
    return None


def _thinking_problem(body: Mapping[str, Any], turns: Sequence[Turn]) -> str | None:
    thinking = body["thinking"]
    max_tokens = body.get("max_tokens")
    if (
        thinking.get("type") == "enabled"
        and max_tokens is not None
        and int(thinking.get("budget_tokens") or 0) >= max_tokens
    ):
        return (
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            f"documentation at {DOCS_THINKING}#max-tokens-and-context-window-size"
        )
    considerations = f"{DOCS_THINKING}#important-considerations-when-using-extended-thinking"
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our "
            f"documentation at {considerations}"
        )
    if body.get("top_k") is not None:
        return (
            "`top_k` must be unset when thinking is enabled. Please consult our documentation at "
            f"{considerations}"
        )
    top_p = body.get("top_p")
    if top_p is not None and top_p < 0.95:
        return (
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please "
            f"consult our documentation at {considerations}"
        )
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") in _FORCING_CHOICES:
        return "Thinking may not be enabled when tool_choice forces tool use."
    last_assistant = next((t for t in reversed(turns) if t.role == "assistant"), None)
    if last_assistant is not None and any(b.get("type") == "tool_use" for b in last_assistant.blocks):
        first = str(last_assistant.blocks[0].get("type"))
        if first not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{last_assistant.index}.content.0.type: Expected `thinking` or "
                f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final "
                "`assistant` message must start with a thinking block (preceeding the lastmost set of "
                "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from "
                "previous turns. To avoid this requirement, disable `thinking`. Please consult our "
                f"documentation at {DOCS_THINKING}"
            )
    return None


# --------------------------------------------------------------------------- pydantic's words

_PYDANTIC_TYPES: Final = {
    "string": "a valid string",
    "integer": "a valid integer",
    "number": "a valid number",
    "boolean": "a valid boolean",
    "array": "a valid list",
    "object": "a valid dictionary",
    "null": "None",
}


def dotted(path: Sequence[str | int]) -> str:
    """``messages.0.content.1`` rendering of a JSON path."""
    return ".".join(str(p) for p in path)


def _literals(values: Sequence[Any]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def primary_cause(error: ValidationError) -> ValidationError:
    """The error to report, descending through unions like pydantic does.

    A union branch that rejects the value's JSON type is out (``content`` given as a list is
    not a bad string); a discriminated union follows the branch of the value's tag. Otherwise
    :func:`support.schemas.primary_error` decides.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return error
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]) if sub.relative_schema_path else -1, []).append(
            sub
        )
    viable = [
        subs
        for subs in branches.values()
        if not any(s.validator == "type" and not s.relative_path for s in subs)
    ]
    if len(viable) == 1 and len(branches) > 1:
        return primary_cause(max(viable[0], key=relevance))
    instance = error.instance
    discriminator = error.schema.get("discriminator") if isinstance(error.schema, dict) else None
    tag = discriminator.get("propertyName") if isinstance(discriminator, dict) else "type"
    if isinstance(instance, dict) and tag in instance:
        matching = [subs for subs in viable if not any(list(s.relative_path) == [tag] for s in subs)]
        if len(matching) == 1:
            return primary_cause(max(matching[0], key=relevance))
    return schemas.primary_error(error)


def anthropic_validation_message(error: ValidationError) -> str:
    """The real API's (pydantic's) ``<path>: <message>`` for a schema violation."""
    cause = primary_cause(error)
    unknown = schemas.unknown_property(cause)
    if unknown is not None:
        return f"{dotted([*unknown[0], unknown[1]])}: Extra inputs are not permitted"
    path: list[str | int] = list(cause.absolute_path)
    rule: Any = cause.validator_value
    value = cause.instance
    where = dotted(path) or "body"
    if cause.validator == "required":
        missing = next((str(k) for k in rule if isinstance(value, dict) and k not in value), str(rule[0]))
        return f"{dotted([*path, missing])}: Field required"
    if cause.validator == "type":
        kinds = [_PYDANTIC_TYPES.get(str(t), str(t)) for t in (rule if isinstance(rule, list) else [rule])]
        return f"{where}: Input should be {' or '.join(kinds)}"
    if cause.validator in ("enum", "const"):
        allowed = list(rule) if cause.validator == "enum" else [rule]
        if path and path[-1] == "type" and len(allowed) > 2:
            return (
                f"{where}: Input tag '{value}' found using 'type' does not match any of the expected tags: "
                + ", ".join(f"'{a}'" for a in allowed)
            )
        return f"{where}: Input should be {_literals(allowed)}"
    bounds = {
        "minimum": "greater than or equal to",
        "exclusiveMinimum": "greater than",
        "maximum": "less than or equal to",
        "exclusiveMaximum": "less than",
    }
    if cause.validator in bounds:
        return f"{where}: Input should be {bounds[str(cause.validator)]} {rule}"
    if cause.validator in ("minLength", "maxLength"):
        least = cause.validator == "minLength"
        plural = "s" * (rule != 1)
        return f"{where}: String should have at {'least' if least else 'most'} {rule} character{plural}"
    if cause.validator in ("minItems", "maxItems") and isinstance(value, list):
        least = cause.validator == "minItems"
        return (
            f"{where}: List should have at {'least' if least else 'most'} {rule} item{'s' * (rule != 1)} "
            f"after validation, not {len(value)}"
        )
    if cause.validator == "pattern":
        return f"{where}: String should match pattern '{rule}'"
    return f"{where}: {cause.message}"


# --------------------------------------------------------------------------- answers


def _words(text: str) -> int:
    return len(WORDS.findall(text))


def block_text(block: Mapping[str, Any]) -> str:
    """What a request content block says, as text (media as ``[image]``/``[document]``)."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "document", "search_result"):
        return f"[{kind}]"
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return content
        return " ".join(block_text(part) for part in content or [] if isinstance(part, Mapping))
    return ""


def user_text(turn: Turn | None) -> str:
    """The text of a user turn (tool results left out), blocks joined by a space."""
    if turn is None:
        return ""
    return " ".join(block_text(b) for b in turn.blocks if b.get("type") != "tool_result")


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """The prompt tokens of a request (module docstring: one per word, …)."""
    system = body.get("system")
    if isinstance(system, str):
        tokens = _words(system)
    else:
        tokens = sum(_words(str(b.get("text", ""))) for b in system or [] if isinstance(b, Mapping))
    for turn in turns_of(body.get("messages") or [], merge=True):
        for block in turn.blocks:
            kind = block.get("type")
            if kind == "tool_use":
                tokens += _words(orjson.dumps(block.get("input") or {}).decode())
            elif kind == "thinking":
                tokens += _words(str(block.get("thinking", "")))
            elif kind in ("redacted_thinking", "image", "document", "search_result"):
                tokens += 1
            else:
                tokens += _words(block_text(block))
    if body.get("tools"):
        tokens += len(orjson.dumps(body["tools"])) // 4
    return max(tokens, 1)


def _uses_1h_cache(node: Any) -> bool:
    if isinstance(node, Mapping):
        control = node.get("cache_control")
        if isinstance(control, Mapping) and control.get("ttl") == "1h":
            return True
        return any(_uses_1h_cache(v) for v in node.values())
    if isinstance(node, list):
        return any(_uses_1h_cache(v) for v in node)
    return False


@dataclass(frozen=True)
class PlannedMessage:
    """A planned answer, rendered as a ``Message`` body or as the SSE events of a stream."""

    id: str
    model: str
    content: tuple[dict[str, Any], ...]
    stop_reason: str
    stop_sequence: str | None
    prompt_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cache_1h: bool
    output_tokens: int
    service_tier: str
    beta: bool = False

    def usage(self, *, output_tokens: int | None = None) -> dict[str, Any]:
        """The ``Usage`` object (``output_tokens`` overridable for ``message_start``)."""
        creation = self.cache_creation_tokens
        usage: dict[str, Any] = {
            "input_tokens": self.prompt_tokens - self.cache_read_tokens - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": self.cache_read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if self.cache_1h else creation,
                "ephemeral_1h_input_tokens": creation if self.cache_1h else 0,
            },
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": self.service_tier,
            "server_tool_use": None,
            "inference_geo": None,
        }
        searches = sum(1 for block in self.content if block["type"] == "web_search_tool_result")
        if searches:
            usage["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": 0}
        if self.beta:
            usage.update(iterations=None, speed=None)
        return usage

    def message(self, *, started: bool = False) -> dict[str, Any]:
        """The ``Message`` body (``started``: as in ``message_start``, before any content)."""
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [] if started else [dict(b) for b in self.content],
            "stop_reason": None if started else self.stop_reason,
            "stop_sequence": None if started else self.stop_sequence,
            "stop_details": None,
            "container": None,
            "usage": self.usage(output_tokens=1 if started else None),
        }
        if self.beta:
            message["context_management"] = None
        return message

    def events(self) -> Iterator[dict[str, Any]]:
        """The stream's events, in order."""
        yield {"type": "message_start", "message": self.message(started=True)}
        yield {"type": "ping"}
        for index, block in enumerate(self.content):
            kind = block["type"]
            if kind == "text":
                start: dict[str, Any] = {"type": "text", "text": "", "citations": None}
            elif kind == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
            elif kind in ("tool_use", "server_tool_use"):
                start = {**block, "input": {}}
            else:
                start = dict(block)
            yield {"type": "content_block_start", "index": index, "content_block": start}
            for citation in (block.get("citations") or []) if kind == "text" else []:
                delta = {"type": "citations_delta", "citation": citation}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            for delta in _deltas(block):
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            yield {"type": "content_block_stop", "index": index}
        usage = self.usage()
        yield {
            "type": "message_delta",
            "delta": {
                "stop_reason": self.stop_reason,
                "stop_sequence": self.stop_sequence,
                "stop_details": None,
            },
            "usage": {
                key: usage[key]
                for key in (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                )
            },
        }
        yield {"type": "message_stop"}


def _deltas(block: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        for piece in WORDS.findall(block["text"]):
            yield {"type": "text_delta", "text": piece}
    elif kind == "thinking":
        for piece in WORDS.findall(block["thinking"]):
            yield {"type": "thinking_delta", "thinking": piece}
        yield {"type": "signature_delta", "signature": block["signature"]}
    elif kind in ("tool_use", "server_tool_use"):
        arguments = orjson.dumps(block["input"]).decode()
        yield {"type": "input_json_delta", "partial_json": ""}
        for start in range(0, len(arguments), _ARG_PIECE):
            yield {"type": "input_json_delta", "partial_json": arguments[start : start + _ARG_PIECE]}


def plan_message(
    body: Mapping[str, Any],
    *,
    message_id: str,
    beta: bool = False,
    betas: Sequence[str] = (),
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
    service_tier: str = "standard",
    tool_preamble: bool = True,
    signing_key: bytes = DEFAULT_SIGNING_KEY,
    script: AgentScript | None = None,
) -> PlannedMessage:
    """Decide the deterministic answer to a valid request (rules in the module docstring; with
    ``script``, its tool call or a text answer)."""
    turns = turns_of(body.get("messages") or [], merge=True)
    last_user = next((t for t in reversed(turns) if t.role == "user"), None)
    results = [b for b in last_user.blocks if b.get("type") == "tool_result"] if last_user else []
    asked = user_text(last_user)
    if results:
        subject = "tool results: " + "; ".join(block_text(r) for r in results)
        reply, thought = f"Mock reply to {subject}", f"Mock thinking about {subject}"
    else:
        reply, thought = f"Mock reply to: {asked}", f"Mock thinking about: {asked}"
    nonce = hashlib.sha256(message_id.encode()).digest()[:16]
    content: list[dict[str, Any]] = []
    output_tokens = 0
    thinking = body.get("thinking") if thinking_on(body) else None
    if thinking is not None and (
        not results or thinking.get("type") == "adaptive" or INTERLEAVED_THINKING_BETA in betas
    ):
        text = "" if thinking.get("display") == "omitted" else thought
        signature = sign(signing_key, b"thinking", nonce, text.encode())
        content.append({"type": "thinking", "thinking": text, "signature": signature})
        output_tokens += max(_words(text), 1)
        if REDACTED_TRIGGER in asked:
            content.append({"type": "redacted_thinking", "data": redacted_data(signing_key, nonce)})
            output_tokens += 1
    if script is not None:
        offered = [str(t.get("name")) for t in body.get("tools") or []]
        answered = any(b.get("type") == "tool_result" for t in turns if t.role == "user" for b in t.blocks)
        scripted = script.call(offered, answered)
        calls = [(scripted[0], scripted[1])] if scripted else []
    else:
        calls = [
            (str(t["name"]), sample(t.get("input_schema") or {}))
            for t in _tools_to_call(body, last_user, results, asked)
        ]
    searched = not calls and not results and searches_the_web(body, asked)
    citations: list[dict[str, Any]] | None = None
    if searched:  # the server-side web search, run before the answer that cites it
        tool_id = "srvtoolu_01" + _base62(hashlib.sha256(f"{message_id}/search".encode()).digest(), 22)
        direct = {"type": "direct"}
        content.append(
            {
                "type": "server_tool_use",
                "id": tool_id,
                "name": "web_search",
                "input": {"query": asked},
                "caller": direct,
            }
        )
        content.append(
            {
                "type": "web_search_tool_result",
                "tool_use_id": tool_id,
                "content": [SEARCH_RESULT],
                "caller": direct,
            }
        )
        citations = [
            {
                "type": "web_search_result_location",
                "url": SEARCH_RESULT["url"],
                "title": SEARCH_RESULT["title"],
                "encrypted_index": "Eo8BCioIAhgBIiQ",
                "cited_text": "A page the mock found.",
            }
        ]
    stop_sequence: str | None = None
    if calls:
        choice = body.get("tool_choice") or {}
        if tool_preamble and choice.get("type") not in _FORCING_CHOICES:
            preamble = "I'll call " + ", ".join(name for name, _ in calls) + "."
            content.append({"type": "text", "text": preamble, "citations": None})
            output_tokens += _words(preamble)
        for i, (name, arguments) in enumerate(calls):
            tool_id = "toolu_01" + _base62(hashlib.sha256(f"{message_id}/{i}".encode()).digest(), 22)
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": name,
                    "input": arguments,
                    "caller": {"type": "direct"},
                }
            )
            output_tokens += len(orjson.dumps(arguments)) // 4 + 1
        stop_reason = "tool_use"
    else:
        text = _formatted(reply, body)
        stop_reason = "end_turn"
        found = [(text.find(s), s) for s in body.get("stop_sequences") or [] if s and text.find(s) >= 0]
        if found:
            at, stop_sequence = min(found)
            text, stop_reason = text[:at], "stop_sequence"
        words = WORDS.findall(text)
        room = max(0, int(body.get("max_tokens") or 0) - output_tokens)
        if "max_tokens" in body and len(words) > room:
            text, words = "".join(words[:room]), words[:room]
            stop_reason, stop_sequence = "max_tokens", None
        content.append({"type": "text", "text": text, "citations": citations})
        output_tokens += len(words)
    prompt = count_input_tokens(body)
    read = min(max(cache_read_tokens, 0), prompt)
    creation = min(max(cache_creation_tokens, 0), prompt - read)
    return PlannedMessage(
        id=message_id,
        model=str(body.get("model")),
        content=tuple(content),
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        prompt_tokens=prompt,
        cache_read_tokens=read,
        cache_creation_tokens=creation,
        cache_1h=_uses_1h_cache(body),
        output_tokens=max(output_tokens, 1),
        service_tier="standard" if body.get("service_tier") == "standard_only" else service_tier,
        beta=beta,
    )


def searches_the_web(body: Mapping[str, Any], asked: str) -> bool:
    """Whether the model runs the web search tool: it is offered and the user asks to search."""
    offered = any(str(t.get("type", "")).startswith("web_search_") for t in body.get("tools") or [])
    return offered and re.search(r"\bsearch\b", asked, re.IGNORECASE) is not None


def _formatted(text: str, body: Mapping[str, Any]) -> str:
    output_format = (body.get("output_config") or {}).get("format") or body.get("output_format")
    if isinstance(output_format, Mapping) and output_format.get("type") == "json_schema":
        return orjson.dumps(sample(output_format.get("schema") or {}, text=text)).decode()
    return text


def _tools_to_call(
    body: Mapping[str, Any], last_user: Turn | None, results: list[dict[str, Any]], text: str
) -> list[Mapping[str, Any]]:
    tools = [t for t in body.get("tools") or [] if t.get("type") in (None, "custom") and "input_schema" in t]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none" or last_user is None:
        return []
    if choice.get("type") == "tool":
        return [t for t in tools if t["name"] == choice.get("name")][:1]
    mentioned = [t for t in tools if str(t["name"]).lower() in text.lower()]
    if choice.get("type") != "any" and (results or not (re.search(r"\bweather\b", text, re.I) or mentioned)):
        return []
    if re.search(r"\bparallel\b", text, re.IGNORECASE) and not choice.get("disable_parallel_tool_use"):
        return tools
    return [mentioned[0] if mentioned else tools[0]]


# --------------------------------------------------------------------------- emitted-data checks

_DELTA_FIELDS: Final = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "thinking"),
    "input_json_delta": ("partial_json", "tool_use"),
}


def validate_error_body(body: Mapping[str, Any], *, beta: bool = False) -> None:
    """An error body: the spec's ``ErrorResponse`` (``request_too_large``, which the docs list but
    the spec lacks, is checked for shape only)."""
    error = body.get("error") or {}
    if error.get("type") in _NOT_IN_SPEC_ERRORS:
        assert set(body) == {"type", "error", "request_id"} and set(error) == {"type", "message"}, body
        return
    schemas.validate("anthropic", "BetaErrorResponse" if beta else "ErrorResponse", body, closed=True)


def validate_stream(events: Sequence[Mapping[str, Any]], *, complete: bool, beta: bool = False) -> None:
    """Check the events of one stream (shapes and order; a complete one also rebuilt)."""
    prefix = "Beta" if beta else ""
    open_block: int | None = None
    kinds: list[str] = []
    rebuilt: dict[str, Any] | None = None
    ended = False
    for n, event in enumerate(events):
        kind = event.get("type")
        where = f"event {n} ({kind})"
        assert not ended, f"{where} after message_stop"
        if kind == "ping":
            assert set(event) == {"type"}, where
            continue
        if kind == "error":
            assert set(event) == {"type", "error"}, where
            validate_error_body({**event, "request_id": None}, beta=beta)
            assert n == len(events) - 1, f"{where} is not the last event"
            continue
        if n == 0 or rebuilt is None:
            assert kind == "message_start", f"{where}: a stream starts with message_start"
            assert set(event) == {"type", "message"}, where
            schemas.validate("anthropic", f"{prefix}Message", event["message"], closed=True)
            assert event["message"]["content"] == [] and event["message"]["stop_reason"] is None, where
            rebuilt = json.loads(json.dumps(event["message"]))
            continue
        if kind == "content_block_start":
            assert set(event) == {"type", "index", "content_block"}, where
            assert open_block is None and event["index"] == len(kinds), f"{where}: index not dense"
            schemas.validate("anthropic", f"{prefix}ContentBlock", event["content_block"], closed=True)
            open_block = event["index"]
            kinds.append(event["content_block"]["type"])
            rebuilt["content"].append(dict(event["content_block"]))
            if kinds[-1] == "tool_use":
                rebuilt["content"][-1]["_json"] = ""
        elif kind == "content_block_delta":
            assert set(event) == {"type", "index", "delta"}, where
            assert open_block is not None and event["index"] == open_block, (
                f"{where}: delta outside its block"
            )
            delta = event["delta"]
            field_name, block_kind = _DELTA_FIELDS[delta["type"]]
            assert set(delta) == {"type", field_name} and isinstance(delta[field_name], str), where
            assert kinds[open_block] == block_kind, f"{where}: {delta['type']} in a {kinds[open_block]} block"
            block = rebuilt["content"][open_block]
            if delta["type"] == "input_json_delta":
                block["_json"] += delta["partial_json"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                block[field_name] += delta[field_name]
        elif kind == "content_block_stop":
            assert set(event) == {"type", "index"} and event["index"] == open_block, where
            block = rebuilt["content"][open_block]
            if "_json" in block:
                block["input"] = json.loads(block.pop("_json") or "{}")
            open_block = None
        elif kind == "message_delta":
            assert set(event) == {"type", "delta", "usage"} and open_block is None, where
            assert set(event["delta"]) <= {"stop_reason", "stop_sequence", "stop_details", "container"}, where
            schemas.validate("anthropic", f"{prefix}StopReason", event["delta"]["stop_reason"], closed=True)
            usage = event["usage"]
            assert "output_tokens" in usage and set(usage) <= {
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "server_tool_use",
            }, where
            assert all(isinstance(v, int) and v >= 0 for k, v in usage.items() if k != "server_tool_use"), (
                where
            )
            rebuilt.update({k: v for k, v in event["delta"].items() if k != "container"})
            rebuilt["usage"].update(usage)
        elif kind == "message_stop":
            assert set(event) == {"type"} and rebuilt.get("stop_reason") is not None, where
            ended = True
        else:
            raise AssertionError(f"{where}: unknown event type")
    if complete:
        assert ended, "a complete stream ends with message_stop"
        assert rebuilt is not None
        schemas.validate("anthropic", f"{prefix}Message", rebuilt, closed=True)
