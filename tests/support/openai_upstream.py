"""A protocol-faithful fake of api.openai.com's ``/v1`` chat completions and models endpoints.

``MockOpenAI`` is a real aiohttp server on 127.0.0.1 (random free port) running in the test's
event loop::

    async with MockOpenAI() as m:
        client = openai.AsyncOpenAI(base_url=m.base_url, api_key=m.api_key, max_retries=0)
        m.enqueue(Fault.rate_limit(retry_after=2))       # the next chat request gets a 429
        ...
        req = await m.next_request()                     # what the client really sent

What it checks, in this order, like the real API (all errors in OpenAI's format):

1. ``Authorization: Bearer <api_key>`` → 401 (no key: ``code null``; wrong key: ``invalid_api_key``,
   key masked like OpenAI: first 8 characters, ``*`` for the middle, last 4).
2. The body is strict JSON (orjson) → 400 "We could not parse the JSON body of your request…".
3. The body validates against ``CreateChatCompletionRequest`` → 400 ``invalid_request_error``
   with ``param`` (``messages[0].content``) and OpenAI's message/code for the first error
   (``missing_required_parameter``, ``invalid_type``, ``invalid_value``, ``unknown_parameter``,
   ``integer_below_min_value``, ``empty_array``, …). With ``strict=True`` (default) the
   validation is closed-world: an undeclared field anywhere (``messages[1].tool_calls[0].index``)
   is rejected, as the real API does.
4. Cross-field rules of the real API: ``stream_options`` only with ``stream: true``;
   ``tool_choice``/``parallel_tool_calls`` only with ``tools``; a named ``tool_choice`` must
   name a tool; every ``tool`` message answers a ``tool_calls`` id of the assistant message
   just before it, and every such id gets an answer.
5. The model is one of ``models`` → 404 ``model_not_found``. Reasoning models (ids starting
   with one of ``reasoning_model_prefixes``: gpt-5, o1, o3, o4) reject ``max_tokens`` and a
   ``temperature``/``top_p`` other than 1 (``unsupported_parameter``/``unsupported_value``);
   other models reject ``reasoning_effort``. ``max_completion_tokens`` (or ``max_tokens``) above
   the model family's largest completion (:data:`MAX_COMPLETION_TOKENS`) → 400 ``invalid_value``
   "max_tokens is too large: …".
6. The next queued :class:`Fault` for the endpoint, if any, is applied (a request rejected above
   consumes no fault).

Deterministic answers (``plan_answer``):

- Text: ``"Mock reply to: <text of the last user message>"`` (text parts joined by a space,
  image/audio/file parts shown as ``[image]``/``[audio]``/``[file]``). When the last message is
  a ``tool`` result: ``"Mock reply to tool results: <contents of the trailing tool messages,
  joined by '; '>"``. Choice ``i > 0`` of ``n`` appends ``" (choice i)"``.
- Tool calls (function tools only): when ``tool_choice`` names a function, or is
  ``"required"`` (also ``allowed_tools`` with mode ``required``), or is auto/absent and the
  last message is a user message whose text contains the word "weather" or the name of a
  tool. The called tool is the named one, else the first tool whose name the text contains,
  else the first tool; if the text contains the word "parallel" (and ``parallel_tool_calls``
  is not false, no tool is named) every allowed function tool is called, in order. Arguments
  are compact JSON built from the tool's parameter schema (required properties, or all if
  none are required: strings ``"mock"``, enums their first value, integers/numbers their
  minimum or 1, booleans true, arrays their ``minItems`` of samples, nested objects the same).
  Ids are ``call_`` + 24 hex digits derived from the completion id. ``finish_reason``
  ``tool_calls``, ``content`` null.
- ``response_format`` ``json_object``: content ``{"reply": "<text>"}``; ``json_schema``: a
  sample of the schema with every string set to the text.
- ``stop``: content is cut before the first stop sequence. ``max_completion_tokens`` (or
  ``max_tokens``) caps the visible tokens after reasoning tokens: content is cut, finish
  ``length``. Tool calls are never cut.
- Tokens are whitespace-separated words (one word plus its trailing space is one token, and
  one stream chunk). ``prompt_tokens`` = 3 + Σ(words + 3) over messages + len(tools JSON)//4.
  ``prompt_tokens_details.cached_tokens`` = min(``cached_tokens`` knob, prompt tokens).
  ``completion_tokens_details.reasoning_tokens`` = the ``reasoning_tokens`` knob (default 16)
  per choice on reasoning models unless ``reasoning_effort`` is ``"none"``; it is included
  in ``completion_tokens``.

Streaming follows the real API: ``data: {chunk}\\n\\n`` frames written one by one
(``chunk_delay_s`` apart), first chunk per choice ``delta {role: assistant, content: "" (null
for a tool-call answer), refusal: null}``, one chunk per word, tool calls as fragments (first
``{index, id, type, function: {name, arguments: ""}}``, then argument pieces of 8 characters),
a final chunk with ``delta {}`` and ``finish_reason``, then, only with
``stream_options.include_usage``, a usage chunk with ``choices: []`` (earlier chunks then carry
``usage: null``), then ``data: [DONE]``. Chunks carry ``obfuscation`` padding unless
``stream_options.include_obfuscation`` is false or the ``obfuscation`` knob is off. With
``n > 1`` the choices' chunks are interleaved round-robin.

OpenRouter flavour (``MockOpenAI(flavour="openrouter")``, openrouter.ai/api/v1 as it answers):

- Models are OpenRouter's full ids (default :data:`OPENROUTER_MODELS`); reasoning models are the
  ``openai/gpt-5``, ``openai/o…``, ``anthropic/claude…`` and ``google/gemini-2.5…`` ones, and no
  parameter is refused per model (OpenRouter normalises them).
- OpenRouter's request fields (``models``, ``provider``, ``transforms``, ``plugins``,
  ``reasoning``, ``usage``) are accepted (their types checked) and left out of the closed-world
  check. A ``model`` that is not served falls back to the first served id of ``models``, else
  400 "``<model>`` is not a valid model ID". ``reasoning: {effort: "none"}`` or ``{enabled:
  false}`` turns the reasoning tokens off, as ``reasoning_effort: "none"`` does.
- Errors are ``{"error": {"code": <HTTP status>, "message"}}``. An ``error_after`` fault met by a
  non-stream request answers HTTP 200 with such a body (OpenRouter's error after it started
  answering); in a stream its frame is OpenRouter's unified mid-stream error: the chunk fields
  (``id``, ``object``, ``created``, ``model``, ``provider``), ``error: {code, message}`` (``code``
  the fault's, default 502) and a choice with ``finish_reason: "error"``; no ``[DONE]`` follows.
- Answers: ids ``gen-…``, a top-level ``provider``, ``native_finish_reason`` beside each
  ``finish_reason``, ``message.reasoning: null`` (Claude's reasoning: see below); ``usage`` adds
  ``cost`` (prompt tokens × 1e-6 + completion tokens × 5e-6), ``is_byok: false`` and
  ``cost_details``. Streams carry no ``usage: null``/``obfuscation``; the usage always comes last
  (``choices: []``), asked for or not.
- Streams: ``: OPENROUTER PROCESSING`` comment lines (each its own SSE block) twice before the
  first frame and once before every second frame after it (the error frame included);
  :meth:`MockOpenAI.stream_bytes` gives back the exact bytes written.
- :meth:`MockOpenAI.attribution` reads the ``HTTP-Referer``/``X-Title`` headers a request carried.
- Image models (``modalities``, ``image_config``, ``message.images``) and
  ``openai/text-embedding-3-small``: see :mod:`support.openrouter_images`.
- Claude's signed reasoning (see :mod:`support.openrouter_reasoning`): an ``anthropic/claude…``
  model that reasons answers ``message.reasoning`` and ``message.reasoning_details`` (a
  ``reasoning.text`` item signed by ``signature_of``), streamed as two ``delta.reasoning``/
  ``delta.reasoning_details`` chunks per choice before the content. Assistant messages sent back
  may carry ``reasoning``/``reasoning_details`` (type-checked, then left out of the closed-world
  check); a tool-use continuation whose last assistant message lost its signed ``reasoning.text``
  → 400 with Anthropic's "Expected `thinking` or `redacted_thinking`, but found `tool_use`" message.

Responses (``/v1/responses`` and its sub-resources): see :mod:`support.openai_responses`; their
faults queue under the endpoint ``"responses"``; ``MockOpenAI.responses.stored`` holds what it keeps.

Images (``/v1/images/generations``, ``/v1/images/edits``, multipart and JSON): see
:mod:`support.openai_images`; their faults queue under the endpoint ``"images"``.

The server, request records, fault queues and stream writing shared with ``MockAnthropic``
live in :mod:`support.mock_server`.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import orjson
from aiohttp import web
from jsonschema import ValidationError

from . import (
    openai_embeddings,
    openai_images,
    openai_responses,
    openrouter_images,
    openrouter_reasoning,
    schemas,
)
from .mock_server import WORDS as _WORDS
from .mock_server import AgentScript, BaseFault, MockServer, RecordedRequest, bearer, sample

Problem = tuple[str, str | None, str | None]
"""(message, param, code) of an OpenAI ``invalid_request_error``."""

DEFAULT_API_KEY: Final = "sk-mock-4f1c0a2e9b7d4c8e8a6b5d3c2e1f0a9bXYZ"
DEFAULT_MODELS: Final = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-5", "gpt-5-mini")
REASONING_MODEL_PREFIXES: Final = ("gpt-5", "o1", "o3", "o4")
# The largest completion per model family (the real API's 400 "max_tokens is too large" above it).
MAX_COMPLETION_TOKENS: Final = (("gpt-5", 128_000), ("gpt-4.1", 32_768), ("gpt-4o", 16_384))
KEYS_URL: Final = "https://platform.openai.com/account/api-keys"

Flavour = Literal["openai", "openrouter"]
OPENROUTER_MODELS: Final = (
    "openai/gpt-5",
    "openai/gpt-4o-mini",
    "anthropic/claude-sonnet-4.5",
    "google/gemini-2.5-flash",
    "openai/text-embedding-3-small",
    *openrouter_images.MODELS,
)
OPENROUTER_REASONING_PREFIXES: Final = ("openai/gpt-5", "openai/o", "anthropic/claude", "google/gemini-2.5")
OPENROUTER_COMMENT: Final = b": OPENROUTER PROCESSING\n\n"
OPENROUTER_FIELDS: Final = (
    "models",
    "provider",
    "transforms",
    "plugins",
    "reasoning",
    "usage",
    *openrouter_images.FIELDS,
)
_OPENROUTER_EFFORTS: Final = ("xhigh", "high", "medium", "low", "minimal", "none", "max")

_CHAT_PATH: Final = "/v1/chat/completions"
_ARG_PIECE: Final = 8

_DEFAULT_ERRORS: Final[dict[int, tuple[str, str, str | None]]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: (
        f"Incorrect API key provided. You can find your API key at {KEYS_URL}.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("Not found.", "invalid_request_error", None),
    409: ("The request conflicted with another request.", "invalid_request_error", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
        "Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: (
        "The engine is currently overloaded, please try again later.",
        "server_error",
        "server_is_overloaded",
    ),
    504: ("Gateway timeout.", "server_error", None),
}


# --------------------------------------------------------------------------- faults


class Fault(BaseFault):
    """One scripted misbehaviour (see :class:`~support.mock_server.BaseFault`), OpenAI flavour.

    ``delay``, ``stall``, ``disconnect``, ``die_after`` and ``stall_after`` come from the base;
    the constructors here build OpenAI error bodies. ``error_after`` on a non-stream request
    behaves as ``status(500, <its error>)``.
    """

    @classmethod
    def status(
        cls,
        status: int,
        *,
        message: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        delay_s: float = 0.0,
    ) -> Fault:
        """Answer ``status`` with an OpenAI error body (or the raw ``body`` bytes, as given)."""
        default_message, default_type, default_code = _DEFAULT_ERRORS.get(
            status,
            (f"Upstream error {status}.", "server_error" if status >= 500 else "invalid_request_error", None),
        )
        error = {
            "message": message if message is not None else default_message,
            "type": error_type if error_type is not None else default_type,
            "param": param,
            "code": code if code is not None or message is not None else default_code,
        }
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = str(math.ceil(retry_after))
            all_headers["retry-after-ms"] = str(round(retry_after * 1000))
        return cls(
            kind="status", http_status=status, error=error, headers=all_headers, body=body, delay_s=delay_s
        )

    @classmethod
    def rate_limit(
        cls, *, retry_after: float | None = 1.0, message: str | None = None, delay_s: float = 0.0
    ) -> Fault:
        """429 ``rate_limit_exceeded`` (type ``requests``) with ``retry-after``/``retry-after-ms``."""
        return cls.status(
            429,
            message=message,
            error_type="requests",
            code="rate_limit_exceeded",
            retry_after=retry_after,
            delay_s=delay_s,
        )

    @classmethod
    def insufficient_quota(cls) -> Fault:
        """429 ``insufficient_quota``: the not-retryable kind of 429."""
        return cls.status(
            429,
            message="You exceeded your current quota, please check your plan and billing details.",
            error_type="insufficient_quota",
            code="insufficient_quota",
        )

    @classmethod
    def error_after(
        cls,
        chunks: int,
        *,
        message: str = "The server had an error while processing your request. Sorry about that!",
        error_type: str = "server_error",
        code: str | int | None = None,
    ) -> Fault:
        """Stream: send ``chunks`` chunks, then ``data: {"error": {...}}`` and close (no [DONE]).

        The OpenRouter flavour sends its unified mid-stream error chunk instead (``code``: an HTTP
        status such as 502, or a word such as ``"server_error"``; default 502)."""
        error = {"message": message, "type": error_type, "param": None, "code": code}
        return cls(kind="error_after", after_chunks=chunks, error=error)


# --------------------------------------------------------------------------- the server


class MockOpenAI(MockServer):
    """Fake OpenAI ``/v1`` server; see the module docstring for behaviour and answer rules."""

    endpoints: ClassVar[tuple[str, ...]] = (
        "chat.completions",
        "models",
        openai_images.ENDPOINT,
        openai_responses.ENDPOINT,
    )
    fault_type: ClassVar[type[BaseFault]] = Fault
    terminator: ClassVar[bytes | None] = b"data: [DONE]\n\n"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: Sequence[str] | None = None,
        chunk_delay_s: float = 0.0,
        echo_key_in_errors: bool = False,
        strict: bool = True,
        validate_requests: bool = True,
        cached_tokens: int = 0,
        reasoning_tokens: int = 16,
        reasoning_model_prefixes: Sequence[str] | None = None,
        obfuscation: bool = True,
        name: str = "",
        shutdown_timeout_s: float = 1.0,
        flavour: Flavour = "openai",
    ) -> None:
        openrouter = flavour == "openrouter"
        super().__init__(
            api_key=api_key,
            models=models if models is not None else OPENROUTER_MODELS if openrouter else DEFAULT_MODELS,
            chunk_delay_s=chunk_delay_s,
            echo_key_in_errors=echo_key_in_errors,
            name=name,
            shutdown_timeout_s=shutdown_timeout_s,
        )
        self.flavour: Flavour = flavour
        self.strict = strict
        self.validate_requests = validate_requests
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        default_prefixes = OPENROUTER_REASONING_PREFIXES if openrouter else REASONING_MODEL_PREFIXES
        prefixes = default_prefixes if reasoning_model_prefixes is None else reasoning_model_prefixes
        self.reasoning_model_prefixes = tuple(prefixes)
        self.obfuscation = obfuscation and not openrouter
        self.responses = openai_responses.Responses(self)

    @property
    def openrouter(self) -> bool:
        """True for the OpenRouter flavour."""
        return self.flavour == "openrouter"

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post(_CHAT_PATH, self._route(self._chat))
        app.router.add_get("/v1/models", self._route(self._list_models))
        app.router.add_get("/v1/models/{model:.+}", self._route(self._get_model))
        app.router.add_post(openai_images.GENERATIONS_PATH, self._route(self._image_generations))
        app.router.add_post(openai_images.EDITS_PATH, self._route(self._image_edits))
        app.router.add_get(openai_images.HOSTED_PREFIX + "{name}", self._route(self._hosted_image))
        self.responses.add_routes(app)
        app.router.add_post(openai_embeddings.PATH, self._route(self._embeddings))

    # ---- addresses and state

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, as the OpenAI SDK's ``base_url`` takes it."""
        return f"{self.url}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded POST /v1/chat/completions requests."""
        return [r for r in self.requests if r.path == _CHAT_PATH]

    def assert_emitted_valid(self) -> None:
        """Check every body and chunk sent so far against the OpenAI spec (closed world; for the
        OpenRouter flavour, chat answers with OpenRouter's additions taken out, and its errors)."""
        if self.openrouter:
            self._assert_openrouter_valid()
            return
        for rec in self.requests:
            if rec.path.startswith(openai_responses.PATH):
                openai_responses.assert_emitted_valid(rec)
                continue
            if rec.path in openai_images.PATHS:
                openai_images.assert_emitted_valid(rec)
                continue
            body = rec.response_json
            if isinstance(body, dict) and "error" in body:
                assert set(body) == {"error"}, body
                schemas.validate("openai", "Error", body["error"], closed=True)
            elif body is not None:
                name = "CreateChatCompletionResponse" if rec.path == _CHAT_PATH else "Model"
                name = "ListModelsResponse" if rec.path == "/v1/models" else name
                schemas.validate("openai", name, body, closed=True)
            for chunk in rec.response_chunks:
                if "error" in chunk:
                    schemas.validate("openai", "Error", chunk["error"], closed=True)
                else:
                    schemas.validate("openai", "CreateChatCompletionStreamResponse", chunk, closed=True)

    def _assert_openrouter_valid(self) -> None:
        for rec in self.requests:
            body = rec.response_json
            if isinstance(body, dict) and "error" in body:
                _assert_openrouter_error(body["error"])
            elif body is not None and rec.path == _CHAT_PATH:
                plain = _without_openrouter(body)
                schemas.validate("openai", "CreateChatCompletionResponse", plain, closed=True)
            for chunk in rec.response_chunks:
                if "error" in chunk:
                    _assert_openrouter_error(chunk["error"])
                    assert [c["finish_reason"] for c in chunk["choices"]] == ["error"], chunk
                else:
                    plain = _without_openrouter(chunk)
                    schemas.validate("openai", "CreateChatCompletionStreamResponse", plain, closed=True)

    def stream_bytes(self, rec: RecordedRequest) -> bytes:
        """The exact bytes of ``rec``'s stream as written (frames, comments, ``[DONE]``)."""
        frames = b"".join(self._encode_stream_frame(rec, i, f) for i, f in enumerate(rec.response_chunks))
        return frames + (self.terminator or b"" if rec.done_sent else b"")

    @staticmethod
    def attribution(rec: RecordedRequest) -> dict[str, str | None]:
        """The OpenRouter attribution headers a request carried (None when absent)."""
        return {name: rec.headers.get(name) for name in ("HTTP-Referer", "X-Title")}

    # ---- protocol hooks

    def _headers(self, rec: RecordedRequest, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        if self.openrouter:
            return dict(extra or {})
        headers = {
            "x-request-id": rec.request_id,
            "openai-version": "2020-10-01",
            "openai-organization": "mock-org",
            "openai-processing-ms": "1",
        }
        headers.update(extra or {})
        return headers

    def _error_body(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        if self.openrouter:
            fault = rec.fault
            if fault is not None and fault.kind == "status":
                code: Any = fault.http_status
            else:
                code = error.get("code") if isinstance(error.get("code"), int) else 502
            return {"error": {"code": code, "message": error.get("message")}}
        return {"error": dict(error)}

    def _stream_error_frame(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        if not self.openrouter:
            return {"error": dict(error)}
        first = rec.response_chunks[0] if rec.response_chunks else {}
        model = first.get("model") or (rec.json or {}).get("model")
        return {
            "id": first.get("id", f"gen-mock{self.name}{rec.seq:06d}"),
            "object": "chat.completion.chunk",
            "created": first.get("created", int(time.time())),
            "model": model,
            "provider": first.get("provider", _provider_of(str(model))),
            "error": {
                "code": error.get("code") if error.get("code") is not None else 502,
                "message": error.get("message"),
            },
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "error",
                    "native_finish_reason": "error",
                }
            ],
        }

    def _error_after_status(self, fault: BaseFault) -> int:
        return 200 if self.openrouter else 500  # OpenRouter: the error is in the body of a 200

    def _encode_stream_frame(self, rec: RecordedRequest, index: int, frame: Mapping[str, Any]) -> bytes:
        encoded = self._encode_frame(frame)
        if not self.openrouter or index % 2:
            return encoded
        return OPENROUTER_COMMENT * (2 if index == 0 else 1) + encoded

    def _error(
        self,
        rec: RecordedRequest,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        if self.openrouter:
            error = {"code": status, "message": self._leaky(rec, message)}
            return self._json(rec, status, {"error": error}, headers)
        error = {"message": self._leaky(rec, message), "type": error_type, "param": param, "code": code}
        return self._json(rec, status, {"error": error}, headers)

    def _check_auth(self, rec: RecordedRequest) -> web.Response | None:
        header = rec.headers.get("Authorization", "")
        key = bearer(header)
        if not header.strip() or (header.lower().startswith("bearer") and not key):
            return self._error(
                rec,
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
                "field (with blank username) if you're accessing the API from your browser and are "
                f"prompted for a username and password. You can obtain an API key from {KEYS_URL}.",
            )
        if not header.lower().startswith("bearer ") or key != self.api_key:
            shown = key if self.echo_key_in_errors else mask_key(key)
            return self._error(
                rec,
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at {KEYS_URL}.",
                code="invalid_api_key",
            )
        return None

    # ---- endpoints

    async def _unknown_path(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return self._check_auth(rec) or self._error(rec, 404, f"Invalid URL ({rec.method} {rec.path})")

    async def _list_models(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        denied = self._check_auth(rec)
        if denied is not None:
            return denied
        fault = await self._take_fault(request, rec, "models")
        if fault is not None:
            return fault
        if self.openrouter:
            return self._json(rec, 200, {"data": [self._model(m) for m in self.models]})
        return self._json(rec, 200, {"object": "list", "data": [self._model(m) for m in self.models]})

    async def _get_model(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        denied = self._check_auth(rec)
        if denied is not None:
            return denied
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(
                rec, 404, f"The model '{model}' does not exist", param="model", code="model_not_found"
            )
        fault = await self._take_fault(request, rec, "models")
        if fault is not None:
            return fault
        return self._json(rec, 200, self._model(model))

    def _model(self, model: str) -> dict[str, Any]:
        created = 1_700_000_000 + int(hashlib.sha256(model.encode()).hexdigest()[:6], 16)
        if self.openrouter:
            return {
                "id": model,
                "canonical_slug": model,
                "name": f"{_provider_of(model)}: {model.partition('/')[2]}",
                "created": created,
                "context_length": 200_000,
                "pricing": {"prompt": "0.000001", "completion": "0.000005"},
            }
        return {"id": model, "object": "model", "created": created, "owned_by": "openai"}

    async def _chat(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        denied = self._check_auth(rec)
        if denied is not None:
            return denied
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return self._error(
                rec,
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
                "contact us through our help center at help.openai.com.)",
            )
        problem = self._request_problem(body)
        if problem is not None:
            message, param, code = problem
            return self._error(rec, 400, message, param=param, code=code)
        model = str(body["model"])
        if model not in self.models and self.openrouter:
            model = next((str(m) for m in body.get("models") or [] if m in self.models), model)
            if model not in self.models:
                return self._error(rec, 400, f"{body['model']} is not a valid model ID")
        if model not in self.models:
            return self._error(
                rec,
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        problem = self._model_problem(model, body)
        if problem is not None:
            message, param, code = problem
            return self._error(rec, 400, message, param=param, code=code)
        images = self.openrouter and openrouter_images.wants_images(body)
        if self.openrouter:
            missing = openrouter_images.modality_problem(body, model)
            if missing is not None:
                return self._error(rec, 404, missing)
            unreadable = openrouter_images.input_image_problem(body)
            if unreadable is not None:
                return self._error(rec, 400, unreadable)
            if images and rec.stream:
                return self._error(rec, 400, "mock: streamed image answers are not modelled")
            if self._signed_reasoning(model, body):
                unsigned = openrouter_reasoning.tool_loop_problem(body["messages"])
                if unsigned is not None:
                    return self._error(rec, 400, unsigned)
        fault = await self._take_fault(request, rec, "chat.completions")
        if fault is not None:
            return fault
        created = int(time.time())
        prefix = f"gen-{created}-" if self.openrouter else "chatcmpl-"
        answer = plan_answer(
            {**body, "model": model},
            completion_id=f"{prefix}mock{self.name}{rec.seq:06d}",
            created=created,
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self.reasoning_tokens if self._reasoning(model, body) else 0,
            script=self.agent_script,
        )
        thoughts = self._reasoning_text(model, body)
        if rec.stream:
            return await self._stream(request, rec, body, answer, thoughts)
        if self.openrouter:
            completion = openrouter_completion(answer)
            if images:
                openrouter_images.add_images(completion, body, model)
            if thoughts is not None:
                openrouter_reasoning.add_reasoning(completion, thoughts)
            return self._json(rec, 200, completion)
        headers = self._rate_headers()
        return self._json(rec, 200, answer.completion(), headers)

    def _reasoning(self, model: str, body: Mapping[str, Any] | None = None) -> bool:
        if not model.startswith(self.reasoning_model_prefixes):
            return False
        reasoning = (body or {}).get("reasoning") if self.openrouter else None
        if isinstance(reasoning, Mapping):
            return reasoning.get("effort") != "none" and reasoning.get("enabled") is not False
        return True

    def _signed_reasoning(self, model: str, body: Mapping[str, Any]) -> bool:
        """OpenRouter flavour: the model signs its reasoning and reasons for this request."""
        return (
            self.openrouter
            and openrouter_reasoning.signs(model)
            and self._reasoning(model, body)
            and body.get("reasoning_effort") != "none"
        )

    def _reasoning_text(self, model: str, body: Mapping[str, Any]) -> str | None:
        """The reasoning the answer shows (see :mod:`support.openrouter_reasoning`), else None."""
        if not self._signed_reasoning(model, body):
            return None
        messages = list(body.get("messages") or [])
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        return openrouter_reasoning.reasoning_text(message_text(last_user) if last_user is not None else "")

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-limit-tokens": "30000000",
            "x-ratelimit-remaining-tokens": "29999000",
            "x-ratelimit-reset-tokens": "2ms",
        }

    def _request_problem(self, body: Any) -> Problem | None:
        if not isinstance(body, dict):
            return (
                f"Invalid type for body: expected an object, but got {_kind(body)} instead.",
                None,
                "invalid_type",
            )
        if self.openrouter:
            problem = openrouter_fields_problem(body)
            if problem is not None:
                return problem
            reasoning_problem = openrouter_reasoning.messages_problem(body)
            if reasoning_problem is not None:
                return reasoning_problem, "messages", None
            body = openrouter_reasoning.without_message_fields(
                {k: v for k, v in body.items() if k not in OPENROUTER_FIELDS}
            )
        if self.validate_requests:
            found = schemas.errors("openai", "CreateChatCompletionRequest", body, closed=self.strict)
            if found:
                return openai_validation_message(found[0])
        return cross_field_problem(body)

    def _model_problem(self, model: str, body: dict[str, Any]) -> Problem | None:
        if self.openrouter:
            return None  # OpenRouter normalises parameters per model instead of refusing them
        limit = next((n for prefix, n in MAX_COMPLETION_TOKENS if model.startswith(prefix)), None)
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit is not None and isinstance(asked, int) and asked > limit:
            return (
                f"max_tokens is too large: {asked}. This model supports at most {limit} completion "
                f"tokens, whereas you provided {asked}.",
                "max_tokens",
                "invalid_value",
            )
        if self._reasoning(model):
            if body.get("max_tokens") is not None:
                return (
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead.",
                    "max_tokens",
                    "unsupported_parameter",
                )
            for knob in ("temperature", "top_p"):
                value = body.get(knob)
                if value is not None and value != 1:
                    return (
                        f"Unsupported value: '{knob}' does not support {value} with this model. "
                        "Only the default (1) value is supported.",
                        knob,
                        "unsupported_value",
                    )
        elif body.get("reasoning_effort") is not None:
            return (
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
                "unsupported_parameter",
            )
        return None

    # ---- streaming

    # ---- embeddings (the rules are in support.openai_embeddings)

    async def _embeddings(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return await openai_embeddings.embeddings(self, request, rec)

    # ---- images (the rules are in support.openai_images)

    async def _image_generations(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return await openai_images.generations(self, request, rec)

    async def _image_edits(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return await openai_images.edits(self, request, rec)

    async def _hosted_image(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return await openai_images.hosted(self, request, rec)

    @property
    def image_requests(self) -> list[RecordedRequest]:
        """The recorded POST /v1/images/generations and /v1/images/edits requests."""
        return [r for r in self.requests if r.path in openai_images.PATHS]

    async def _stream(
        self,
        request: web.Request,
        rec: RecordedRequest,
        body: dict[str, Any],
        answer: Answer,
        thoughts: str | None = None,
    ) -> web.StreamResponse:
        if self.openrouter:
            chunks = openrouter_chunks(answer)
            if thoughts is not None:
                chunks = openrouter_reasoning.with_reasoning_chunks(chunks, thoughts)
            return await self._send_stream(request, rec, chunks, {})
        options = body.get("stream_options") or {}
        chunks = list(
            answer.chunks(
                include_usage=options.get("include_usage") is True,
                obfuscation=self.obfuscation and options.get("include_obfuscation") is not False,
            )
        )
        return await self._send_stream(request, rec, chunks, self._rate_headers())


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a planned answer."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class PlannedChoice:
    """What one choice says."""

    index: int
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: Literal["stop", "length", "tool_calls"]
    completion_tokens: int


@dataclass(frozen=True)
class Answer:
    """A planned chat completion, rendered as a body or as stream chunks."""

    id: str
    created: int
    model: str
    choices: tuple[PlannedChoice, ...]
    prompt_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    system_fingerprint: str = "fp_mock0001"

    def usage(self) -> dict[str, Any]:
        """The ``CompletionUsage`` object."""
        completion = sum(c.completion_tokens for c in self.choices) + self.reasoning_tokens * len(
            self.choices
        )
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens * len(self.choices),
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def completion(self) -> dict[str, Any]:
        """The non-stream ``chat.completion`` body."""
        choices = []
        for choice in self.choices:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": choice.content,
                "refusal": None,
                "annotations": [],
            }
            if choice.tool_calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in choice.tool_calls
                ]
            choices.append(
                {
                    "index": choice.index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": choice.finish_reason,
                }
            )
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": self.system_fingerprint,
        }

    def chunks(self, *, include_usage: bool, obfuscation: bool) -> Iterator[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of the stream, in order (without [DONE])."""
        per_choice = [list(self._deltas(choice)) for choice in self.choices]
        count = 0
        for step in range(max(len(d) for d in per_choice)):
            for choice, deltas in zip(self.choices, per_choice, strict=True):
                if step < len(deltas):
                    delta, finish = deltas[step]
                    entry = {"index": choice.index, "delta": delta, "logprobs": None, "finish_reason": finish}
                    yield self._chunk([entry], include_usage, obfuscation, count)
                    count += 1
        if include_usage:
            last = self._chunk([], include_usage, obfuscation, count)
            last["usage"] = self.usage()
            yield last

    def _chunk(
        self, choices: list[dict[str, Any]], include_usage: bool, obfuscation: bool, count: int
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": self.system_fingerprint,
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = None
        if obfuscation:
            chunk["obfuscation"] = "mock" + "x" * (count % 7)
        return chunk

    @staticmethod
    def _deltas(choice: PlannedChoice) -> Iterator[tuple[dict[str, Any], str | None]]:
        first: dict[str, Any] = {
            "role": "assistant",
            "content": "" if choice.content is not None else None,
            "refusal": None,
        }
        yield first, None
        for piece in _WORDS.findall(choice.content or ""):
            yield {"content": piece}, None
        for index, call in enumerate(choice.tool_calls):
            head = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield {"tool_calls": [head]}, None
            for start in range(0, len(call.arguments), _ARG_PIECE):
                piece = call.arguments[start : start + _ARG_PIECE]
                yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None
        yield {}, choice.finish_reason


def plan_answer(
    body: Mapping[str, Any],
    *,
    completion_id: str,
    created: int,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    script: AgentScript | None = None,
) -> Answer:
    """Decide the deterministic answer to a valid chat request (rules in the module docstring;
    with ``script``, its tool call or a text answer)."""
    messages: list[Mapping[str, Any]] = list(body.get("messages") or [])
    if body.get("reasoning_effort") == "none":
        reasoning_tokens = 0
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    prompt_tokens = 3 + sum(len(_WORDS.findall(message_text(m))) + 3 for m in messages)
    if tools:
        prompt_tokens += len(orjson.dumps(body.get("tools"))) // 4
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    n = int(body.get("n") or 1)
    base = reply_text(messages)
    if script is not None:
        offered = [str(t["function"]["name"]) for t in tools]
        scripted = script.call(offered, any(m.get("role") == "tool" for m in messages))
        planned = [(scripted[0], scripted[1])] if scripted else []
    else:
        planned = [
            (str(t["function"]["name"]), sample(t["function"].get("parameters") or {}))
            for t in _tools_to_call(body, tools, messages)
        ]
    choices = []
    for index in range(n):
        if planned:
            tool_calls = tuple(
                ToolCall(
                    id="call_" + hashlib.sha256(f"{completion_id}/{index}/{i}".encode()).hexdigest()[:24],
                    name=name,
                    arguments=orjson.dumps(arguments).decode(),
                )
                for i, (name, arguments) in enumerate(planned)
            )
            tokens = sum(len(c.arguments) // 4 + 1 for c in tool_calls)
            choices.append(PlannedChoice(index, None, tool_calls, "tool_calls", tokens))
            continue
        text = base + (f" (choice {index})" if index else "")
        content = _formatted(text, body.get("response_format"))
        finish: Literal["stop", "length"] = "stop"
        stop = body.get("stop")
        for sequence in [stop] if isinstance(stop, str) else list(stop or []):
            at = content.find(sequence)
            if at >= 0:
                content = content[:at]
        words = _WORDS.findall(content)
        if limit is not None and len(words) > max(0, int(limit) - reasoning_tokens):
            words = words[: max(0, int(limit) - reasoning_tokens)]
            content = "".join(words)
            finish = "length"
        choices.append(PlannedChoice(index, content, (), finish, len(words)))
    return Answer(
        id=completion_id,
        created=created,
        model=str(body.get("model")),
        choices=tuple(choices),
        prompt_tokens=prompt_tokens,
        cached_tokens=min(cached_tokens, prompt_tokens),
        reasoning_tokens=reasoning_tokens,
    )


def _formatted(text: str, response_format: Any) -> str:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_object":
        return orjson.dumps({"reply": text}).decode()
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(sample(schema, text=text)).decode()
    return text


def _tools_to_call(
    body: Mapping[str, Any], tools: list[Mapping[str, Any]], messages: list[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return []
    by_name = {str(t["function"]["name"]): t for t in tools}
    required = choice == "required"
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        named = by_name.get(str(choice.get("function", {}).get("name")))
        return [named] if named is not None else []
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = [str((t.get("function") or {}).get("name")) for t in allowed.get("tools") or []]
        tools = [by_name[name] for name in names if name in by_name]
        required = allowed.get("mode") == "required"
    if not tools:
        return []
    last = messages[-1] if messages else {}
    text = message_text(last) if last.get("role") == "user" else ""
    mentioned = [t for t in tools if str(t["function"]["name"]).lower() in text.lower()]
    if not required and not (re.search(r"\bweather\b", text, re.IGNORECASE) or mentioned):
        return []
    if re.search(r"\bparallel\b", text, re.IGNORECASE) and body.get("parallel_tool_calls") is not False:
        return list(tools)
    return [mentioned[0] if mentioned else tools[0]]


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a request message (parts joined by a space; media as [image]/[audio]/[file])."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    pieces = []
    for part in content or []:
        kind = part.get("type")
        if kind == "text":
            pieces.append(str(part.get("text", "")))
        elif kind == "refusal":
            pieces.append(str(part.get("refusal", "")))
        elif kind == "image_url":
            pieces.append("[image]")
        elif kind == "input_audio":
            pieces.append("[audio]")
        elif kind == "file":
            pieces.append("[file]")
    return " ".join(pieces)


def reply_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text answer before per-choice suffixes, formats, stops and limits."""
    if messages and messages[-1].get("role") == "tool":
        results: list[str] = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            results.insert(0, message_text(message))
        return "Mock reply to tool results: " + "; ".join(results)
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    return "Mock reply to: " + (message_text(last_user) if last_user is not None else "")


# --------------------------------------------------------------------------- OpenRouter's shapes


def _provider_of(model: str) -> str:
    """The provider OpenRouter names for a full model id (``anthropic/…`` → ``Anthropic``)."""
    author = model.partition("/")[0] if "/" in model else "openai"
    return {"openai": "OpenAI", "google": "Google AI Studio"}.get(author, author.capitalize())


def openrouter_usage(answer: Answer) -> dict[str, Any]:
    """OpenAI's usage object plus OpenRouter's ``cost``, ``is_byok`` and ``cost_details``."""
    usage = answer.usage()
    cost = round(usage["prompt_tokens"] * 1e-6 + usage["completion_tokens"] * 5e-6, 9)
    usage["cost"] = cost
    usage["is_byok"] = False
    usage["cost_details"] = {"upstream_inference_cost": None}
    return usage


def openrouter_completion(answer: Answer) -> dict[str, Any]:
    """The non-stream body as OpenRouter writes it."""
    body = answer.completion()
    del body["service_tier"]
    body["provider"] = _provider_of(answer.model)
    for choice in body["choices"]:
        choice["native_finish_reason"] = choice["finish_reason"]
        message = choice["message"]
        del message["annotations"]
        message["reasoning"] = None
    body["usage"] = openrouter_usage(answer)
    return body


def openrouter_chunks(answer: Answer) -> list[dict[str, Any]]:
    """The stream's chunks as OpenRouter writes them; the usage always comes last."""
    chunks = list(answer.chunks(include_usage=False, obfuscation=False))
    provider = _provider_of(answer.model)
    for chunk in chunks:
        del chunk["service_tier"]
        chunk["provider"] = provider
        for choice in chunk["choices"]:
            choice["native_finish_reason"] = choice["finish_reason"]
    last: dict[str, Any] = {
        "id": answer.id,
        "object": "chat.completion.chunk",
        "created": answer.created,
        "model": answer.model,
        "provider": provider,
        "system_fingerprint": answer.system_fingerprint,
        "choices": [],
        "usage": openrouter_usage(answer),
    }
    return [*chunks, last]


def _without_openrouter(body: Mapping[str, Any]) -> dict[str, Any]:
    """A chat answer with OpenRouter's additions taken out (for the OpenAI schema)."""
    out = {k: v for k, v in body.items() if k != "provider"}
    out["choices"] = []
    for choice in body.get("choices") or []:
        kept = {k: v for k, v in choice.items() if k != "native_finish_reason"}
        if isinstance(kept.get("message"), Mapping):
            message = openrouter_images.without_images(kept["message"])
            kept["message"] = openrouter_reasoning.without_reasoning(message)
        if isinstance(kept.get("delta"), Mapping):
            kept["delta"] = openrouter_reasoning.without_reasoning(kept["delta"])
        out["choices"].append(kept)
    if isinstance(body.get("usage"), Mapping):
        extras = ("cost", "is_byok", "cost_details")
        usage = {k: v for k, v in body["usage"].items() if k not in extras}
        for key in ("prompt_tokens_details", "completion_tokens_details"):
            if isinstance(usage.get(key), Mapping):
                usage[key] = {k: v for k, v in usage[key].items() if k != "image_tokens"}
        out["usage"] = usage
    return out


def _assert_openrouter_error(error: Any) -> None:
    assert isinstance(error, dict) and set(error) <= {"code", "message", "metadata"}, error
    assert isinstance(error.get("message"), str) and error["message"], error
    assert isinstance(error.get("code"), int | str), error


def openrouter_fields_problem(body: Mapping[str, Any]) -> Problem | None:
    """Type checks of OpenRouter's own request fields (the real API answers 400 on these too)."""
    checks: dict[str, tuple[type, str]] = {
        "models": (list, "an array"),
        "provider": (dict, "an object"),
        "transforms": (list, "an array"),
        "plugins": (list, "an array"),
        "reasoning": (dict, "an object"),
        "usage": (dict, "an object"),
    }
    for name, (kind, words) in checks.items():
        value = body.get(name)
        if value is not None and not isinstance(value, kind):
            return f"Invalid type for '{name}': expected {words}, but got {_kind(value)} instead.", name, None
    image_problem = openrouter_images.fields_problem(body)
    if image_problem is not None:
        return image_problem, None, None
    for name in ("models", "transforms"):
        if not all(isinstance(item, str) for item in body.get(name) or []):
            return f"Invalid '{name}': every item must be a string.", name, None
    if not all(isinstance(p, dict) and isinstance(p.get("id"), str) for p in body.get("plugins") or []):
        return "Invalid 'plugins': every plugin must be an object with an 'id'.", "plugins", None
    reasoning = body.get("reasoning") or {}
    effort = reasoning.get("effort")
    if effort is not None and effort not in _OPENROUTER_EFFORTS:
        return f"Invalid value: '{effort}' for 'reasoning.effort'.", "reasoning.effort", None
    if effort is not None and reasoning.get("max_tokens") is not None:
        return "Only one of 'reasoning.effort' and 'reasoning.max_tokens' may be given.", "reasoning", None
    return None


# --------------------------------------------------------------------------- OpenAI's messages


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does: first 8, ``*`` for the middle, last 4."""
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def openai_param(path: Sequence[str | int]) -> str | None:
    """``messages[0].content`` rendering of a JSON path (None for the root)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _one_of(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return "one of " + (", ".join(words[:-1]) + (", or " if len(words) > 2 else " or ") + words[-1])


def _quoted_list(values: Sequence[Any]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def openai_validation_message(error: ValidationError) -> Problem:
    """(message, param, code) the way the OpenAI API words a schema violation."""
    cause = schemas.primary_error(error)
    unknown = schemas.unknown_property(cause)
    if unknown is not None:
        param = openai_param([*unknown[0], unknown[1]])
        return f"Unknown parameter: '{param}'.", param, "unknown_parameter"
    path: list[str | int] = list(cause.absolute_path)
    param = openai_param(path)
    where = param or "body"
    value = cause.instance
    rule: Any = cause.validator_value
    if cause.validator == "required":
        missing = next((str(k) for k in rule if isinstance(value, dict) and k not in value), str(rule[0]))
        param = openai_param([*path, missing])
        return f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    if cause.validator == "type":
        expected = [_TYPE_NAMES.get(str(t), str(t)) for t in (rule if isinstance(rule, list) else [rule])]
        return (
            f"Invalid type for '{where}': expected {_one_of(expected)}, but got {_kind(value)} instead.",
            param,
            "invalid_type",
        )
    if cause.validator in ("enum", "const"):
        allowed = rule if cause.validator == "enum" else [rule]
        return (
            f"Invalid value: '{value}'. Supported values are: {_quoted_list(allowed)}.",
            param,
            "invalid_value",
        )
    if cause.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        number = "integer" if isinstance(value, int) else "decimal"
        below = "inimum" in str(cause.validator)
        relation = (">" if below else "<") + ("" if str(cause.validator).startswith("exclusive") else "=")
        return (
            f"Invalid '{where}': {number} {'below minimum' if below else 'above maximum'} value. "
            f"Expected a value {relation} {rule}, but got {value} instead.",
            param,
            f"{number}_{'below_min' if below else 'above_max'}_value",
        )
    if cause.validator in ("minItems", "maxItems") and isinstance(value, list):
        if cause.validator == "minItems" and not value:
            return (
                f"Invalid '{where}': empty array. Expected an array with minimum length {rule}, "
                "but got an empty array instead.",
                param,
                "empty_array",
            )
        short = cause.validator == "minItems"
        return (
            f"Invalid '{where}': array too {'short' if short else 'long'}. Expected an array with "
            f"{'minimum' if short else 'maximum'} length {rule}, but got an array with length "
            f"{len(value)} instead.",
            param,
            f"array_{'below_min' if short else 'above_max'}_length",
        )
    if cause.validator in ("minLength", "maxLength") and isinstance(value, str):
        short = cause.validator == "minLength"
        return (
            f"Invalid '{where}': string too {'short' if short else 'long'}. Expected a string with "
            f"{'minimum' if short else 'maximum'} length {rule}, but got a string with length "
            f"{len(value)} instead.",
            param,
            f"string_{'below_min' if short else 'above_max'}_length",
        )
    return f"Invalid '{where}': {cause.message}", param, "invalid_value"


def cross_field_problem(body: Mapping[str, Any]) -> Problem | None:
    """The real API's rules that the schema cannot express (see module docstring, step 4)."""
    if body.get("stream_options") is not None and body.get("stream") is not True:
        return (
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            None,
        )
    tools = body.get("tools") or []
    for knob in ("tool_choice", "parallel_tool_calls"):
        if body.get(knob) is not None and not tools:
            return (
                f"Invalid value for '{knob}': '{knob}' is only allowed when 'tools' are specified.",
                knob,
                None,
            )
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        names = {(t.get("function") or {}).get("name") for t in tools if t.get("type") == "function"}
        if name not in names:
            return (
                f"Invalid value for 'tool_choice': function '{name}' not found in 'tools'.",
                "tool_choice",
                None,
            )
    pending: list[str] = []
    pending_at = 0
    for index, message in enumerate(body.get("messages") or []):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message with 'tool_calls'.",
                    f"messages.[{index}].role",
                    None,
                )
            pending.remove(call_id)
            continue
        if pending:
            return _unanswered(pending, pending_at)
        pending = [str(c.get("id")) for c in message.get("tool_calls") or []] if role == "assistant" else []
        pending_at = index
    if pending:
        return _unanswered(pending, pending_at)
    return None


def _unanswered(pending: list[str], index: int) -> Problem:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
        f"messages.[{index}].role",
        None,
    )
