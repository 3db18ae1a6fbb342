"""A protocol-faithful fake of generativelanguage.googleapis.com (the Gemini Developer API).

``MockGemini`` is a real aiohttp server on 127.0.0.1 (random free port) running in the test's
event loop, with the same public shape as ``MockOpenAI``/``MockAnthropic`` (shared parts in
:mod:`support.mock_server`)::

    async with MockGemini() as m:
        client = genai.Client(api_key=m.api_key, http_options=types.HttpOptions(base_url=m.base_url))
        m.enqueue(Fault.rate_limit(retry_delay=23))     # the next generate request gets a 429
        ...
        req = await m.next_request()                     # what the client really sent

``base_url`` is ``http://127.0.0.1:<port>`` (google-genai appends ``/{api_version}/models/…``).

Routes, under both ``/v1beta/`` and ``/v1/`` (same shapes; error messages name the version):
POST ``models/{model}:generateContent``, ``:streamGenerateContent`` (``?alt=sse``: SSE frames
``data: <json>\\r\\n\\r\\n``, the connection closes after the last one; without ``alt=sse``: one
streamed JSON array ``[{…}\\r\\n,{…}]``, ``application/json``), ``:countTokens``,
``:embedContent``, ``:batchEmbedContents``; GET ``models`` and ``models/{model}``. Any other path
or method gets Google's HTML 404 page (no auth check), as the real front end does;
``tunedModels/…`` and ``dynamic/…`` are not served.

What it checks, in this order, like the real API (errors are ``{"error": {"code", "message",
"status", "details"?}}``, google.rpc.Status in JSON):

1. The key: ``x-goog-api-key`` header, else the ``?key=`` query parameter. Missing (or empty) →
   403 ``PERMISSION_DENIED`` "Method doesn't allow unregistered callers …"; wrong → 400
   ``INVALID_ARGUMENT`` "API key not valid. Please pass a valid API key." with an ``ErrorInfo``
   (reason ``API_KEY_INVALID``) and a ``LocalizedMessage`` detail, exactly as the real API.
2. Query parameters: only the system ones (``key``, ``alt``, ``prettyPrint``, ``fields``, …) and,
   for the model list, ``pageSize``/``pageToken``; another → 400 "Invalid JSON payload received.
   Unknown name "foo": Cannot bind query parameter. …".
3. The body is parsed the way Google's proto-JSON front end does (every problem is reported,
   lines joined by ``\\n``, each also as a ``BadRequest.fieldViolations`` entry; paths use the
   proto field names, ``tools[0].function_declarations[0].parameters.properties[2].value``):
   not JSON → "Invalid JSON payload received. Unexpected token. …"; not an object → "… Root
   element must be a message."; an unknown field anywhere → 'Invalid JSON payload received.
   Unknown name "foo" at \\'contents[0].parts[0]\\': Cannot find field.' (both the camelCase JSON
   names and the snake_case proto names are accepted, mixed freely, as google-genai sends
   ``thinking_config``/``parameters_json_schema`` inside otherwise camelCase bodies); a list for
   a singular field → "… Proto field is not repeating, cannot start list."; a wrong scalar →
   "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), "hot""; an unknown enum
   value → "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/
   google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "FOO""; bytes that are not
   base64 (standard or URL-safe) → "… (TYPE_BYTES), Base64 decoding failed for …". ``null``
   means "unset". int64 fields take numbers or digit strings, ``Type`` enum values are
   case-insensitive (``"object"`` works, as in Google's REST samples). The message types come
   from the spec's components, plus what google-genai 3.6.1 sends that the 2025 export lacks:
   ``thinkingConfig.thinkingLevel``, ``generationConfig.imageConfig``/
   ``audioTranscriptionConfig``, request ``labels``/``serviceTier``/``store``/
   ``continuationToken``, part ``partMetadata``/``mediaResolution``/``toolCall``/
   ``toolResponse``, ``functionResponse.parts``, tools ``googleMaps``/``fileSearch``/
   ``computerUse``, ``toolConfig.retrievalConfig``/``includeServerSideToolInvocations`` (loosely
   typed). ``model`` in a generateContent body is optional (the URL names the model); a
   ``functionDeclaration`` needs no ``description``. A function's ``parameters`` is the Gemini
   ``Schema`` (type, format, title, description, nullable, enum, items, properties, required,
   propertyOrdering, min/maxItems, min/maxProperties, min/maxLength, pattern, minimum, maximum,
   anyOf, default, example): ``additionalProperties``, ``$ref``, ``$defs``, ``const``,
   ``oneOf``, ``allOf``… are unknown names. ``parametersJsonSchema``/``responseJsonSchema`` take
   any JSON. ``strict=False`` drops unknown fields silently instead.
4. The model: not in ``models`` → 404 ``NOT_FOUND`` "models/x is not found for API version
   v1beta, or is not supported for generateContent. Call ListModels …"; the same 404 for a
   method the model does not support (generate on an embedding model, embed on a chat model:
   only names containing "embedding" embed), as the real API answers.
5. Semantic rules, "* GenerateContentRequest.<path>: <problem>\\n" lines (all reported):
   contents present ("contents is not specified"); no content with empty ``parts``
   ("contents.parts must not be empty."); each part sets exactly one data field (``text``,
   ``inlineData``, ``fileData``, ``functionCall``, ``functionResponse``, ``executableCode``,
   ``codeExecutionResult``, ``toolCall``, ``toolResponse``: "required oneof field 'data' must have
   one initialized field" / "oneof field 'data' is already set. Cannot set '…'"); functionCall
   and functionResponse have a ``name`` ("Name cannot be empty."); function names match
   ``[A-Za-z_][A-Za-z0-9_.:-]{0,63}``; ``parameters`` and ``parametersJsonSchema`` are not both
   set, nor ``responseSchema`` and ``responseJsonSchema``; a response schema needs
   ``responseMimeType`` ``application/json`` or ``text/x.enum``; at most 5 stop sequences;
   ``candidateCount`` ≤ 8; ``temperature`` in [0, 2], ``topP`` in [0, 1];
   ``allowedFunctionNames`` only with mode ``ANY``/``VALIDATED``. Then, one at a time, the real
   API's plain messages: roles are ``user`` or ``model`` (or absent) → "Please use a valid role:
   user, model."; a function-response turn (a content with ``functionResponse`` parts) follows a
   model content with ``functionCall`` parts and answers each of them ("Please ensure that
   function response turn comes immediately after a function call turn." / "… the number of
   function response parts is equal to the number of function call parts of the function call
   turn."); a function-call turn follows a user turn ("Please ensure that function call turn
   comes immediately after a user turn or after a function response turn."); ``thinkingBudget:
   0`` on a "-pro" thinking model → "Budget 0 is invalid. This model only works in thinking
   mode."; a ``thinkingBudget`` outside the model family's range or a ``maxOutputTokens`` above
   its limit (:data:`THINKING_BUDGET_RANGES`, :data:`MAX_OUTPUT_TOKENS`) → 400; thought signatures
   (below). countTokens checks its ``contents`` the same way (or its
   ``generateContentRequest``, whose ``model`` must be ``models/<name>``); batchEmbedContents
   wants ≤ 100 requests, each with ``model`` = ``models/<the URL's model>`` ("unexpected model
   name format" / "… does not match …") and non-empty ``content.parts``;
   ``outputDimensionality`` ≤ 3072. Wording of the starred lines other than "contents is not
   specified", "contents.parts must not be empty.", the oneof line and "Name cannot be empty."
   is the mock's own (the real texts were not available).
6. The next queued :class:`Fault` of the endpoint (``generate_content`` for both generate
   methods, ``count_tokens``, ``embed_content`` for both embed methods, ``models``); a request
   rejected above consumes none.

Thought signatures (the rules of ai.google.dev/gemini-api/docs/thought-signatures):

- Thinking models are those whose name starts with one of ``thinking_model_prefixes``
  (``gemini-2.5``, ``gemini-3``); they think unless ``thinkingBudget`` is 0. A thinking
  answer's first ``functionCall`` part (only the first, for parallel calls) carries a
  ``thoughtSignature``: base64 of an HMAC (``signing_key``) over a per-candidate nonce, the
  function name and its canonical (key-sorted) args. On models matching
  ``signature_required_prefixes`` (``gemini-3``) a text answer's last part carries one too
  (``text_signatures=False`` turns that off; in a stream it rides on the last text chunk).
- Every ``thoughtSignature`` in a request, whatever the model, must be one the mock issued for
  that kind of part (function call: same name and args; text: any text part) → else 400
  "Corrupted thought signature.". Signatures are compared as bytes (google-genai sends them
  back URL-safe base64). The documented bypass values ``skip_thought_signature_validator`` and
  ``context_engineering_is_the_way_to_go`` (raw, or as the base64 of those bytes, which is what
  the SDK sends for ``thought_signature=b"skip_thought_signature_validator"``) are accepted.
- For ``signature_required_prefixes`` models only: the current turn starts after the last
  ``user`` content holding a part other than ``functionResponse``; in every ``model`` content
  (step) of it, the first ``functionCall`` part must carry a signature → 400 "Function call is
  missing a thought_signature in functionCall parts. This is required for tools to work
  correctly, and missing thought_signature may lead to degraded model performance. Additional
  data, function call `default_api:<name>` , position <1-based content index>. Please refer to
  https://ai.google.dev/gemini-api/docs/thought-signatures for more details." Earlier turns,
  later ``functionCall`` parts of a step and text parts are not checked. Gemini 2.5 never
  requires them. ``MockGemini.sign_function_call(name, args)`` makes a signature the mock
  accepts (for hand-built histories); another ``signing_key`` rejects this one's.

Deterministic answers (``plan_response``):

- Text: ``"Mock reply to: <text of the last user content>"`` (text parts joined by a space,
  media parts shown as ``[image]``/``[audio]``/``[video]``/``[document]``/``[file]``, thought
  parts left out); candidate ``i > 0`` of ``candidateCount`` appends ``" (candidate i)"``. When
  the last user content has ``functionResponse`` parts: ``"Mock reply to tool results: <each
  response, joined by '; '>"`` (a response with a single string value shows that value, else
  its compact JSON). ``responseMimeType`` ``application/json``: a sample of
  ``responseJsonSchema``/``responseSchema`` with every string set to that text
  (:func:`~support.mock_server.sample`), or ``{"reply": <text>}`` without a schema;
  ``text/x.enum``: the schema's first enum value.
- Function calls (``tools[].functionDeclarations``): with ``toolConfig.functionCallingConfig``
  mode ``ANY`` always (limited to ``allowedFunctionNames``); with ``AUTO``/``VALIDATED``/absent
  when the last user content has no ``functionResponse`` and its text contains the word
  "weather" or a function name; never with ``NONE``. The called function is the first one
  whose name the text contains, else the first; with the word "parallel" every allowed one, in
  order. Args are a sample of ``parametersJsonSchema`` or of ``parameters`` (Gemini types
  lowered). A call part has no ``id`` (the Gemini API omits them) unless the request's history
  used ids (any ``functionCall``/``functionResponse`` with an ``id``): then 8 lowercase
  characters derived from the response id. Each call arrives whole; ``finishReason`` ``STOP``.
  With :attr:`MockServer.agent_script` set, its call (or text) instead.
- Grounding with Google Search (``googleSearch`` offered, the word "search" in the last user text,
  a text answer): ``groundingMetadata`` with the query, :data:`SEARCH_PAGE` and the whole text
  supported by it (UTF-8 byte offsets), on the candidate (a stream: on its last chunk).
- Thinking: ``thoughtsTokenCount`` = the words of ``"Mock thinking about: <text>"`` (after tool
  results ``"Mock thinking about tool results: …"``) per candidate; with
  ``thinkingConfig.includeThoughts`` that text is the first part, ``"thought": true``.
- ``stopSequences``: the text is cut before the earliest match (``finishReason`` ``STOP``, the
  Gemini API reports no stop sequence). ``maxOutputTokens`` caps thoughts + text: the text gets
  what the thoughts leave, is cut, ``finishReason`` ``MAX_TOKENS`` (possibly no part at all:
  ``content`` is then ``{"role": "model"}``). Function calls are never cut.
- A prompt (any text of ``contents``/``systemInstruction``) containing ``BLOCKME``: HTTP 200
  with ``promptFeedback`` (``blockReason`` ``SAFETY``, safety ratings) and no candidates.
- Tokens are whitespace-separated words. ``promptTokenCount`` = words of the system
  instruction and of every text part, words of the compact JSON of functionCall args and
  functionResponse responses, 1 per other part, plus len(compact JSON of ``tools``)//4 — what
  ``countTokens`` answers as ``totalTokens``. ``cachedContentTokenCount`` = min(knob ``cached_
  content_tokens``, prompt) when positive (it is part of the prompt count, as in the real API).
  ``candidatesTokenCount`` = text words + len(args JSON)//4 + 1 per call, summed over
  candidates; ``totalTokenCount`` = prompt + candidates + thoughts. Zero counts are omitted (as
  proto3 JSON does). ``responseId`` is the record's ``request_id``; ``modelVersion`` the model.

Streaming: one chunk per thought word, per text word and per function call (a whole part), per
candidate in index order; the last chunk of a candidate carries its ``finishReason``; every chunk
carries ``responseId``/``modelVersion`` and a ``usageMetadata`` with the prompt count only, except
the last one, which carries the full usage. Stream faults count chunks; ``error_after`` sends
``{"error": {"code", "message", "status"}}`` as the next chunk (google-genai raises it).

Image models (a name containing ``-image``, e.g. ``gemini-2.5-flash-image``, served when listed in
``models``): ``responseModalities`` absent or holding ``IMAGE`` → each candidate is a text part
``"Mock image of: <text of the last user content>"`` (left out when the modalities are
``["IMAGE"]``) and one ``inlineData`` PNG (:func:`support.png.png`) whose pixels follow
``imageConfig.aspectRatio`` (the longer side 16 pixels: ``16:9`` → 16×9, default ``1:1`` → 16×16),
in a colour seeded by the response id; ``candidatesTokenCount`` adds 1290 per image, and
``candidatesTokensDetails`` splits TEXT and IMAGE (``promptTokensDetails`` too when the request
has images: one token per image part, as counted above). In a stream an image part is one chunk.
``candidateCount`` > 1 → 400 "Multiple candidates is not enabled for models/<model>"; an
``imageConfig`` key other than ``aspectRatio``/``imageSize`` → 400 'Unknown name … at
\'generation_config.image_config\''; an ``aspectRatio`` not in :data:`ASPECT_RATIOS` or an
``imageSize`` not ``1K``/``2K``/``4K`` (``imageSize`` on a ``gemini-3`` image model only) → 400.
Any other model asked for ``IMAGE`` → 400 "Model does not support the requested response
modalities: image,text" (the real API's words; the other image messages are the mock's own).

countTokens → ``{"totalTokens", "promptTokensDetails"}``. embedContent → ``{"embedding":
{"values"}}``; batchEmbedContents (what ``embed_content`` always calls) → ``{"embeddings":
[{"values"}…]}``: unit-length vectors of ``outputDimensionality`` or ``embedding_dimensions``
(768) values, seeded by model, ``taskType`` and text (same input, same vector). Models:
``GET models`` pages ``models`` with ``pageSize`` (default 50, capped at 1000) and an opaque
``pageToken`` (``nextPageToken`` absent on the last page); ``GET models/{m}`` one ``Model``.

``assert_emitted_valid`` checks every body and stream chunk against the spec (closed world):
``GenerateContentResponse``, ``CountTokensResponse``, ``EmbedContentResponse``,
``BatchEmbedContentsResponse``, ``ListModelsResponse``, ``Model``; error envelopes by shape and
``Status``; and each stream's invariants (one ``responseId``/``modelVersion``, nothing for a
candidate after its ``finishReason``, a complete stream finishes every candidate and ends with
the full usage, an error chunk only last).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final

import orjson
from aiohttp import web

from . import schemas
from .mock_server import WORDS, AgentScript, BaseFault, MockServer, RecordedRequest, sample
from .png import png

DEFAULT_API_KEY: Final = "AIzaSyMock-7c1e5a9d3b2f4e6a8c0d1b2a3f4e5d6"
# Per model family: the range of thinkingBudget (-1, dynamic, always allowed) and the largest
# maxOutputTokens; outside them → 400 (the texts are the mock's own, after the real API's).
THINKING_BUDGET_RANGES: Final = (
    ("gemini-2.5-flash-lite", (512, 24_576)),
    ("gemini-2.5-flash", (0, 24_576)),
    ("gemini-2.5-pro", (128, 32_768)),
)
MAX_OUTPUT_TOKENS: Final = (("gemini-2.5", 65_536), ("gemini-3", 65_536), ("gemini-2.0", 8_192))
DEFAULT_MODELS: Final = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview", "gemini-embedding-001")
DEFAULT_SIGNING_KEY: Final = b"torouter-mock-gemini-thought-signatures"
THINKING_MODEL_PREFIXES: Final = ("gemini-2.5", "gemini-3")
SIGNATURE_REQUIRED_PREFIXES: Final = ("gemini-3",)
DUMMY_THOUGHT_SIGNATURES: Final = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")
"""The documented values that skip thought-signature validation (for foreign histories)."""
BLOCK_TRIGGER: Final = "BLOCKME"
SEARCH_PAGE: Final = {"uri": "https://example.com/mock-grounding-source", "title": "example.com"}
"""The page grounding with Google Search finds (``googleSearch`` offered, "search" asked)."""
SIGNATURES_DOC: Final = "https://ai.google.dev/gemini-api/docs/thought-signatures"
MAX_EMBEDDING_DIMENSIONS: Final = 3072
MAX_BATCH_EMBED: Final = 100
ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES: Final = ("1K", "2K", "4K")
IMAGE_OUTPUT_TOKENS: Final = 1290
"""Output tokens of one generated image (what the real API reports for a 1024×1024 image)."""

_ENDPOINT_OF: Final = {
    "generateContent": "generate_content",
    "streamGenerateContent": "generate_content",
    "countTokens": "count_tokens",
    "embedContent": "embed_content",
    "batchEmbedContents": "embed_content",
}
_SYSTEM_QUERY: Final = frozenset(
    {
        "key",
        "alt",
        "$alt",
        "prettyPrint",
        "fields",
        "$fields",
        "quotaUser",
        "callback",
        "$.xgafv",
        "upload_protocol",
        "uploadType",
        "access_token",
    }
)
_LIST_QUERY: Final = frozenset({"pageSize", "pageToken"})
_DATA_FIELDS: Final = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
)
_FUNCTION_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
_SCHEMA_MIME_TYPES: Final = ("application/json", "text/x.enum")
_DEFAULT_PAGE_SIZE: Final = 50
_MAX_PAGE_SIZE: Final = 1000
_MODEL_PLACEHOLDER: Final = "<model>"
"""Rate-limit faults name the requested model: this text is replaced when the fault is used."""
_TYPE_URL: Final = "type.googleapis.com/google.ai.generativelanguage"
_RPC_STATUSES: Final = frozenset(
    {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)
_DEFAULT_ERRORS: Final[dict[int, tuple[str, str]]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}
_UNREGISTERED: Final = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use "
    "API Key or other form of API consumer identity to call this API."
)
_KEY_INVALID: Final = "API key not valid. Please pass a valid API key."
_RATE_LIMIT_METRIC: Final = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
_RATE_LIMIT_ID: Final = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
_NOT_FOUND_PAGE: Final = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n"
    "  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>{path}</code> was not "
    "found on this server.  <ins>That’s all we know.</ins>\n"
)


# --------------------------------------------------------------------------- faults


def duration(seconds: float) -> str:
    """A google.protobuf.Duration in JSON: ``"23s"``, ``"1.500s"`` (0, 3, 6 or 9 decimals)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    for digits in (3, 6, 9):
        text = f"{seconds:.{digits}f}"
        if float(text) == seconds or digits == 9:
            return text + "s"
    raise AssertionError("unreachable")


class Fault(BaseFault):
    """One scripted misbehaviour (see :class:`~support.mock_server.BaseFault`), Gemini flavour.

    ``delay``, ``stall``, ``disconnect``, ``die_after`` and ``stall_after`` come from the base
    (stream faults count chunks); the constructors here build google.rpc.Status error bodies.
    ``error_after`` on a non-stream request answers its error with the status of its ``code``.
    """

    @classmethod
    def status(
        cls,
        status: int,
        *,
        message: str | None = None,
        error_status: str | None = None,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        delay_s: float = 0.0,
    ) -> Fault:
        """Answer ``status`` with a Gemini error body (or the raw ``body`` bytes, as given).

        Defaults: 400 ``INVALID_ARGUMENT``, 401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED``,
        404 ``NOT_FOUND``, 409 ``ABORTED``, 429 ``RESOURCE_EXHAUSTED``, 499 ``CANCELLED``, 500
        ``INTERNAL``, 501 ``UNIMPLEMENTED``, 503 ``UNAVAILABLE`` ("The model is overloaded. Please
        try again later."), 504 ``DEADLINE_EXCEEDED``; other 5xx ``INTERNAL``, other 4xx
        ``INVALID_ARGUMENT``. The Gemini API sends no ``retry-after``: use ``headers`` to add one.
        """
        default_status, default_message = _DEFAULT_ERRORS.get(
            status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", f"Upstream error {status}.")
        )
        error: dict[str, Any] = {
            "code": status,
            "message": message if message is not None else default_message,
            "status": error_status if error_status is not None else default_status,
        }
        if details:
            error["details"] = [dict(d) for d in details]
        return cls(
            kind="status",
            http_status=status,
            error=error,
            headers=dict(headers or {}),
            body=body,
            delay_s=delay_s,
        )

    @classmethod
    def rate_limit(
        cls,
        *,
        retry_delay: float | None = 23.0,
        message: str | None = None,
        quota_metric: str = _RATE_LIMIT_METRIC,
        quota_id: str = _RATE_LIMIT_ID,
        quota_value: str = "10",
        model: str | None = None,
        delay_s: float = 0.0,
    ) -> Fault:
        """429 ``RESOURCE_EXHAUSTED`` as the real quota error: ``QuotaFailure`` (the requested
        model, unless ``model`` is given), ``Help`` and ``RetryInfo.retryDelay`` details."""
        name = model or _MODEL_PLACEHOLDER
        if message is None:
            message = (
                "You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
                "To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n"
                f"* Quota exceeded for metric: {quota_metric}, limit: {quota_value}, model: {name}"
            )
            if retry_delay is not None:
                message += f"\nPlease retry in {duration(retry_delay)[:-1]}s."
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": quota_metric,
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": "global", "model": name},
                        "quotaValue": quota_value,
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if retry_delay is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": duration(retry_delay)}
            )
        return cls.status(429, message=message, details=details, delay_s=delay_s)

    @classmethod
    def unavailable(cls, *, message: str | None = None, delay_s: float = 0.0) -> Fault:
        """503 ``UNAVAILABLE`` ("The model is overloaded. Please try again later.")."""
        return cls.status(503, message=message, delay_s=delay_s)

    @classmethod
    def internal(cls, *, message: str | None = None, delay_s: float = 0.0) -> Fault:
        """500 ``INTERNAL`` ("An internal error has occurred. …")."""
        return cls.status(500, message=message, delay_s=delay_s)

    @classmethod
    def error_after(
        cls, chunks: int, *, code: int = 503, message: str | None = None, error_status: str | None = None
    ) -> Fault:
        """Stream: send ``chunks`` chunks, then ``{"error": {code, message, status}}``, and close."""
        default_status, default_message = _DEFAULT_ERRORS.get(code, ("INTERNAL", f"Upstream error {code}."))
        error = {
            "code": code,
            "message": message if message is not None else default_message,
            "status": error_status if error_status is not None else default_status,
        }
        return cls(kind="error_after", after_chunks=chunks, error=error)


# --------------------------------------------------------------------------- proto-JSON parsing


@dataclass(frozen=True)
class ProtoType:
    """The type of one proto field, as read from the spec (``kind`` is a proto-ish name)."""

    kind: str
    """message, enum, string, bytes, int32, int64, float, double, bool, struct, value, map,
    duration, timestamp"""
    name: str = ""
    repeated: bool = False
    inner: ProtoType | None = None
    values: tuple[str, ...] = ()

    def type_name(self, version: str) -> str:
        """What Google's parser prints in ``Invalid value at '…' (<this>), …``."""
        if self.kind == "message":
            return f"{_TYPE_URL}.{version}.{self.name}"
        if self.kind == "enum":
            return f"{_TYPE_URL}.{version}.{self.name}"
        if self.kind == "struct":
            return "type.googleapis.com/google.protobuf.Struct"
        if self.kind == "duration":
            return "type.googleapis.com/google.protobuf.Duration"
        if self.kind == "timestamp":
            return "type.googleapis.com/google.protobuf.Timestamp"
        return f"TYPE_{self.kind.upper()}"


@dataclass(frozen=True)
class ProtoField:
    json_name: str
    proto_name: str
    type: ProtoType


_VALUE: Final = ProtoType("value")
_STRUCT: Final = ProtoType("struct")

_ADDED_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "GenerateContentRequest": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "serviceTier": {"type": "string"},
        "store": {"type": "boolean"},
        "continuationToken": {"type": "string"},
    },
    "ThinkingConfig": {
        "thinkingLevel": {
            "type": "string",
            "enum": ["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"],
        }
    },
    "GenerationConfig": {"imageConfig": {}, "audioTranscriptionConfig": {}},
    "Part": {
        "partMetadata": {"type": "object", "additionalProperties": {}},
        "mediaResolution": {},
        "toolCall": {},
        "toolResponse": {},
    },
    "FunctionResponse": {"parts": {"type": "array", "items": {}}},
    "Tool": {"googleMaps": {}, "fileSearch": {}, "computerUse": {}},
    "ToolConfig": {"retrievalConfig": {}, "includeServerSideToolInvocations": {"type": "boolean"}},
}
"""Fields google-genai 3.6.1 sends to the Gemini API that the 2025 spec export lacks."""
_CASE_INSENSITIVE_ENUMS: Final = frozenset({"Type"})


def proto_name(json_name: str) -> str:
    """``functionDeclarations`` → ``function_declarations``."""
    return re.sub(r"([A-Z])", r"_\1", json_name).lower()


class ProtoSchema:
    """The message types of the Gemini spec, for parsing request bodies like Google's front end."""

    def __init__(self, components: Mapping[str, Any]) -> None:
        self.components = components
        self.fields: dict[str, dict[str, ProtoField]] = {}
        for name, schema in components.items():
            if schema.get("type") == "object" and "additionalProperties" not in schema:
                properties = dict(schema.get("properties") or {})
                properties.update(_ADDED_FIELDS.get(name, {}))
                table: dict[str, ProtoField] = {}
                for json_name, prop in properties.items():
                    spec_field = ProtoField(
                        json_name, proto_name(json_name), self._type(name, json_name, prop)
                    )
                    table[json_name] = table[spec_field.proto_name] = spec_field
                self.fields[name] = table

    def _type(self, owner: str, json_name: str, prop: Mapping[str, Any]) -> ProtoType:
        branches = prop.get("allOf")
        if isinstance(branches, list) and len(branches) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "allOf"}, **branches[0]}
        ref = prop.get("$ref")
        if isinstance(ref, str):
            target = ref.rsplit("/", 1)[-1]
            component = self.components[target]
            if component.get("enum"):
                return ProtoType("enum", target, values=tuple(component["enum"]))
            return ProtoType("message", target)
        kind = prop.get("type")
        if kind == "array":
            return replace(self._type(owner, json_name, prop.get("items") or {}), repeated=True)
        if kind == "object":
            extra = prop.get("additionalProperties")
            if isinstance(extra, Mapping):
                inner = self._type(owner, json_name, extra)
                return _STRUCT if inner.kind == "value" else ProtoType("map", inner=inner)
            return _STRUCT
        if kind == "string":
            if prop.get("enum"):
                return ProtoType(
                    "enum", f"{owner}.{json_name[:1].upper()}{json_name[1:]}", values=tuple(prop["enum"])
                )
            return ProtoType(
                {
                    "byte": "bytes",
                    "int64": "int64",
                    "uint64": "int64",
                    "google-duration": "duration",
                    "date-time": "timestamp",
                    "google-datetime": "timestamp",
                }.get(str(prop.get("format")), "string")
            )
        if kind == "integer":
            return ProtoType("int32")
        if kind == "number":
            return ProtoType("float" if prop.get("format") == "float" else "double")
        if kind == "boolean":
            return ProtoType("bool")
        return _VALUE


@functools.cache
def proto_schema() -> ProtoSchema:
    """The Gemini spec's message types (cached)."""
    raw = orjson.loads((schemas.specs_dir() / schemas.SPEC_FILES["gemini"]).read_bytes())
    return ProtoSchema(raw["components"]["schemas"])


@dataclass
class ParseProblem:
    """One front-end parse error: the message and the ``fieldViolations`` field (None at the root)."""

    message: str
    field: str | None


@dataclass
class ProtoParser:
    """Parses a JSON body into a message of the spec, collecting every problem like ESF does."""

    version: str
    strict: bool = True
    problems: list[ParseProblem] = field(default_factory=list)

    def message(self, name: str, value: Any, path: str = "") -> dict[str, Any]:
        """The normalised (camelCase) message, or ``{}`` when ``value`` is not an object."""
        table = proto_schema().fields[name]
        out: dict[str, Any] = {}
        if not isinstance(value, Mapping):
            self._invalid(path, ProtoType("message", name), value)
            return out
        for key, item in value.items():
            spec_field = table.get(key)
            where = f" at '{path}'" if path else ""
            if spec_field is None:
                if self.strict:
                    self.problems.append(
                        ParseProblem(
                            f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                            path or None,
                        )
                    )
                continue
            if item is None:
                continue
            child = f"{path}.{spec_field.proto_name}" if path else spec_field.proto_name
            kind = spec_field.type
            if isinstance(item, list) and not kind.repeated:
                self.problems.append(
                    ParseProblem(
                        f'Invalid JSON payload received. Unknown name "{key}"{where}: Proto field is not '
                        "repeating, cannot start list.",
                        path or None,
                    )
                )
                continue
            if kind.repeated:
                if not isinstance(item, list):
                    self._invalid(child, kind, item)
                    continue
                single = replace(kind, repeated=False)
                out[spec_field.json_name] = [
                    self.value(single, element, f"{child}[{i}]") for i, element in enumerate(item)
                ]
            else:
                out[spec_field.json_name] = self.value(kind, item, child)
        return out

    def value(self, kind: ProtoType, item: Any, path: str) -> Any:
        """One (non-repeated) field value, normalised; problems recorded."""
        if kind.kind == "message":
            return self.message(kind.name, item, path)
        if kind.kind == "value":
            return item
        if kind.kind == "struct":
            if not isinstance(item, Mapping):
                self._invalid(path, kind, item)
            return item
        if kind.kind == "map":
            if not isinstance(item, Mapping) or kind.inner is None:
                self._invalid(path, kind, item)
                return item
            return {
                key: self.value(kind.inner, entry, f"{path}[{i}].value")
                for i, (key, entry) in enumerate(item.items())
            }
        if kind.kind == "enum":
            if isinstance(item, str):
                if item in kind.values:
                    return item
                if kind.name in _CASE_INSENSITIVE_ENUMS and item.upper() in kind.values:
                    return item.upper()
            elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(kind.values):
                return kind.values[item]
            self._invalid(path, kind, item)
            return item
        if not _scalar_ok(kind.kind, item):
            if kind.kind == "bytes" and isinstance(item, str):
                message = (
                    f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for {_render(item)}"
                )
                self.problems.append(ParseProblem(message, path))
            else:
                self._invalid(path, kind, item)
            return item
        if kind.kind in ("int32", "int64"):
            return int(float(item)) if isinstance(item, float) else int(item)
        if kind.kind in ("float", "double"):
            return float(item)
        return item

    def _invalid(self, path: str, kind: ProtoType, item: Any) -> None:
        message = f"Invalid value at '{path}' ({kind.type_name(self.version)}), {_render(item)}"
        self.problems.append(ParseProblem(message, path or None))


def _scalar_ok(kind: str, value: Any) -> bool:
    """``value`` is acceptable proto JSON for a scalar field of this kind."""
    if kind in ("int32", "int64"):
        return _is_integer(value)
    if kind in ("float", "double"):
        return _is_number(value)
    if kind == "bool":
        return isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if kind == "bytes":
        return decode_base64(value) is not None
    if kind == "duration":
        return re.fullmatch(r"-?\d+(\.\d{1,9})?s", value) is not None
    return True


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        if value in ("NaN", "Infinity", "-Infinity"):
            return True
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _render(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def decode_base64(text: str) -> bytes | None:
    """Bytes of a proto ``bytes`` JSON value (standard or URL-safe base64, padding optional)."""
    normal = text.replace("-", "+").replace("_", "/")
    normal += "=" * (-len(normal) % 4)
    try:
        return base64.b64decode(normal, validate=True)
    except (binascii.Error, ValueError):
        return None


# --------------------------------------------------------------------------- thought signatures


def sign(key: bytes, kind: bytes, nonce: bytes, payload: bytes) -> str:
    """An HMAC-SHA256 token over (kind, nonce, payload), carrying the nonce: base64 text."""
    mac = hmac.new(key, kind + b"\0" + nonce + b"\0" + payload, hashlib.sha256).digest()
    return base64.b64encode(b"\x12GM" + nonce + mac).decode()


def _call_payload(call: Mapping[str, Any]) -> bytes:
    args = call.get("args") or {}
    return str(call.get("name", "")).encode() + b"\0" + orjson.dumps(args, option=orjson.OPT_SORT_KEYS)


def is_dummy_signature(token: str) -> bool:
    """One of :data:`DUMMY_THOUGHT_SIGNATURES`, raw or base64 of its bytes."""
    if token in DUMMY_THOUGHT_SIGNATURES:
        return True
    raw = decode_base64(token)
    return raw is not None and raw.decode("latin-1") in DUMMY_THOUGHT_SIGNATURES


def signature_valid(key: bytes, part: Mapping[str, Any], token: str) -> bool:
    """True when ``token`` is a dummy or was issued by a mock with ``key`` for a part like ``part``."""
    if is_dummy_signature(token):
        return True
    raw = decode_base64(token)
    if raw is None or len(raw) != 3 + 16 + 32 or not raw.startswith(b"\x12GM"):
        return False
    nonce = raw[3:19]
    call = part.get("functionCall")
    if isinstance(call, Mapping):
        expected = sign(key, b"functionCall", nonce, _call_payload(call))
    else:
        expected = sign(key, b"text", nonce, b"")
    return hmac.compare_digest(base64.b64decode(expected), raw)


# --------------------------------------------------------------------------- the server


class MockGemini(MockServer):
    """Fake generativelanguage.googleapis.com; see the module docstring for behaviour and rules."""

    endpoints: ClassVar[tuple[str, ...]] = ("generate_content", "count_tokens", "embed_content", "models")
    fault_type: ClassVar[type[BaseFault]] = Fault

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: Sequence[str] = DEFAULT_MODELS,
        chunk_delay_s: float = 0.0,
        echo_key_in_errors: bool = False,
        strict: bool = True,
        cached_content_tokens: int = 0,
        embedding_dimensions: int = 768,
        thinking_model_prefixes: Sequence[str] = THINKING_MODEL_PREFIXES,
        signature_required_prefixes: Sequence[str] = SIGNATURE_REQUIRED_PREFIXES,
        text_signatures: bool = True,
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
        self.cached_content_tokens = cached_content_tokens
        self.embedding_dimensions = embedding_dimensions
        self.thinking_model_prefixes = tuple(thinking_model_prefixes)
        self.signature_required_prefixes = tuple(signature_required_prefixes)
        self.text_signatures = text_signatures
        self.signing_key = signing_key

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{version:v1beta|v1}/models", self._route(self._dispatch))
        app.router.add_route("*", "/{version:v1beta|v1}/models/{rest:[^/]+}", self._route(self._dispatch))

    # ---- addresses and state

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, as google-genai's ``HttpOptions(base_url=…)`` takes it."""
        return self.url

    @property
    def generate_requests(self) -> list[RecordedRequest]:
        """The recorded generateContent/streamGenerateContent requests."""
        return [
            r for r in self.requests if route_of(r.path)[2] in ("generateContent", "streamGenerateContent")
        ]

    def sign_function_call(self, name: str, args: Mapping[str, Any] | None = None) -> str:
        """A ``thoughtSignature`` this mock accepts on a ``functionCall`` part with this name and args."""
        return sign(
            self.signing_key, b"functionCall", b"\0" * 16, _call_payload({"name": name, "args": args})
        )

    def thinks(self, model: str) -> bool:
        """``model`` is a thinking model (``thinking_model_prefixes``)."""
        return model.startswith(self.thinking_model_prefixes)

    def requires_signatures(self, model: str) -> bool:
        """``model`` validates thought signatures of the current turn (``signature_required_prefixes``)."""
        return model.startswith(self.signature_required_prefixes)

    def assert_emitted_valid(self) -> None:
        """Check every body and stream chunk sent so far against the Gemini spec (closed world)."""
        for rec in self.requests:
            body = rec.response_json
            _, rest, method = route_of(rec.path)
            if isinstance(body, dict) and "error" in body:
                validate_error_body(body)
            elif body is not None:
                if method is None:
                    name = "ListModelsResponse" if rest is None else "Model"
                else:
                    name = {
                        "generateContent": "GenerateContentResponse",
                        "countTokens": "CountTokensResponse",
                        "embedContent": "EmbedContentResponse",
                        "batchEmbedContents": "BatchEmbedContentsResponse",
                    }[method]
                schemas.validate("gemini", name, body, closed=True)
            if rec.response_chunks:
                validate_stream(rec.response_chunks, complete=rec.done_sent)

    # ---- protocol hooks

    def _new_request_id(self) -> str:
        return secrets.token_urlsafe(17)

    def _headers(self, rec: RecordedRequest, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "server": "scaffolding on HTTPServer2",
            "vary": "Origin, X-Origin, Referer",
            "x-content-type-options": "nosniff",
            "x-frame-options": "SAMEORIGIN",
            "x-xss-protection": "0",
            "server-timing": "gfet4t7; dur=12",
        }
        headers.update(extra or {})
        return headers

    def _sent_key(self, rec: RecordedRequest) -> str:
        header = rec.headers.get("x-goog-api-key")
        return header if header is not None else rec.query.get("key", "")

    def _error_body(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        model = route_of(rec.path)[1] or "unknown"
        filled = orjson.loads(orjson.dumps(error).replace(_MODEL_PLACEHOLDER.encode(), model.encode()))
        return {"error": filled}

    def _stream_error_frame(self, rec: RecordedRequest, error: Mapping[str, Any]) -> dict[str, Any]:
        return self._error_body(rec, error)

    def _encode_frame(self, frame: Mapping[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(frame) + b"\r\n\r\n"

    def _encode_stream_frame(self, rec: RecordedRequest, index: int, frame: Mapping[str, Any]) -> bytes:
        if is_sse(rec):
            return self._encode_frame(frame)
        return (b"[" if index == 0 else b"\r\n,") + orjson.dumps(frame, option=orjson.OPT_INDENT_2)

    def _stream_content_type(self, rec: RecordedRequest) -> str:
        return "text/event-stream" if is_sse(rec) else "application/json"

    def _stream_end(self, rec: RecordedRequest, *, completed: bool) -> bytes | None:
        return None if is_sse(rec) else b"]"

    def _error_after_status(self, fault: BaseFault) -> int:
        return int((fault.error or {}).get("code") or 500)

    def _error(
        self,
        rec: RecordedRequest,
        code: int,
        message: str,
        *,
        status: str | None = None,
        details: Sequence[Mapping[str, Any]] | None = None,
    ) -> web.Response:
        error: dict[str, Any] = {
            "code": code,
            "message": self._leaky(rec, message),
            "status": status or _DEFAULT_ERRORS.get(code, ("INVALID_ARGUMENT", ""))[0],
        }
        if details:
            error["details"] = [dict(d) for d in details]
        return self._json(rec, code, {"error": error})

    def _bad_request(self, rec: RecordedRequest, problems: Sequence[ParseProblem]) -> web.Response:
        violations = []
        for problem in problems:
            violation = {"description": problem.message}
            if problem.field is not None:
                violation = {"field": problem.field, **violation}
            violations.append(violation)
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}]
        return self._error(rec, 400, "\n".join(p.message for p in problems), details=details)

    def _not_found_page(self, rec: RecordedRequest) -> web.Response:
        rec.status = 404
        return web.Response(
            status=404,
            text=_NOT_FOUND_PAGE.format(path=rec.path),
            content_type="text/html",
            headers=self._headers(rec),
        )

    def _auth_problem(self, rec: RecordedRequest) -> web.Response | None:
        key = self._sent_key(rec)
        if not key:
            return self._error(rec, 403, _UNREGISTERED, status="PERMISSION_DENIED")
        if key != self.api_key:
            details: list[dict[str, Any]] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": _KEY_INVALID,
                },
            ]
            return self._error(rec, 400, _KEY_INVALID, details=details)
        return None

    def _query_problem(self, rec: RecordedRequest, allowed: frozenset[str]) -> web.Response | None:
        unknown = [k for k in rec.query if k not in _SYSTEM_QUERY and k not in allowed]
        if not unknown:
            return None
        problems = [
            ParseProblem(
                f'Invalid JSON payload received. Unknown name "{k}": Cannot bind query parameter. '
                f"Field '{k}' could not be found in request message.",
                None,
            )
            for k in unknown
        ]
        return self._bad_request(rec, problems)

    def _model_problem(
        self, rec: RecordedRequest, version: str, model: str, method: str
    ) -> web.Response | None:
        if model in self.models and method in supported_methods(model):
            return None
        return self._error(
            rec,
            404,
            f"models/{model} is not found for API version {version}, or is not supported for {method}. "
            "Call ListModels to see the list of available models and their supported methods.",
        )

    # ---- endpoints

    async def _unknown_path(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        rec.stream = False
        return self._not_found_page(rec)

    async def _dispatch(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        version = request.match_info["version"]
        rest = request.match_info.get("rest")
        rec.stream = False
        if rest is None:
            if request.method != "GET":
                return self._not_found_page(rec)
            return await self._list_models(request, rec)
        model, colon, method = rest.partition(":")
        if not colon:
            if request.method != "GET":
                return self._not_found_page(rec)
            return await self._get_model(request, rec, version, model)
        if request.method != "POST" or method not in _ENDPOINT_OF:
            return self._not_found_page(rec)
        rec.stream = method == "streamGenerateContent"
        denied = self._auth_problem(rec) or self._query_problem(rec, frozenset())
        if denied is not None:
            return denied
        body = self._parse_json(rec)
        if isinstance(body, web.Response):
            return body
        if method in ("generateContent", "streamGenerateContent"):
            return await self._generate(request, rec, version, model, method, body)
        if method == "countTokens":
            return await self._count_tokens(request, rec, version, model, body)
        return await self._embed(request, rec, version, model, method, body)

    def _parse_json(self, rec: RecordedRequest) -> dict[str, Any] | web.Response:
        if not rec.body.strip():
            return {}
        try:
            body = json.loads(rec.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._bad_request(rec, [ParseProblem(json_error_message(rec.body, exc), None)])
        if not isinstance(body, dict):
            message = 'Invalid JSON payload received. Unknown name "": Root element must be a message.'
            return self._bad_request(rec, [ParseProblem(message, None)])
        return body

    def _proto(
        self, rec: RecordedRequest, version: str, name: str, body: Any
    ) -> dict[str, Any] | web.Response:
        parser = ProtoParser(version, strict=self.strict)
        parsed = parser.message(name, body)
        if parser.problems:
            return self._bad_request(rec, parser.problems)
        return parsed

    async def _generate(
        self,
        request: web.Request,
        rec: RecordedRequest,
        version: str,
        model: str,
        method: str,
        raw: dict[str, Any],
    ) -> web.StreamResponse:
        body = self._proto(rec, version, "GenerateContentRequest", raw)
        if isinstance(body, web.Response):
            return body
        missing = self._model_problem(rec, version, model, "generateContent")
        if missing is not None:
            return missing
        starred = request_problems(body, prefix="GenerateContentRequest")
        if starred:
            return self._error(rec, 400, "".join(starred))
        problem = conversation_problem(body.get("contents") or []) or self._thinking_problem(body, model)
        problem = problem or self._signature_problem(body.get("contents") or [], model)
        problem = problem or image_problem(body, model)
        if problem is not None:
            return self._error(rec, 400, problem)
        fault = await self._take_fault(request, rec, "generate_content")
        if fault is not None:
            return fault
        planned = plan_response(
            body,
            model=model,
            response_id=rec.request_id,
            thinking=self.thinks(model) and thinking_budget(body) != 0,
            signed_text=self.text_signatures and self.requires_signatures(model),
            cached_content_tokens=self.cached_content_tokens,
            signing_key=self.signing_key,
            images=makes_images(body, model),
            script=self.agent_script,
        )
        if rec.stream:
            return await self._send_stream(request, rec, planned.chunks(), {})
        return self._json(rec, 200, planned.body())

    def _thinking_problem(self, body: Mapping[str, Any], model: str) -> str | None:
        budget = thinking_budget(body)
        if budget == 0 and self.thinks(model) and re.search(r"-pro\b", model):
            return "Budget 0 is invalid. This model only works in thinking mode."
        span = next((s for prefix, s in THINKING_BUDGET_RANGES if model.startswith(prefix)), None)
        if budget is not None and budget != -1 and span is not None and not span[0] <= budget <= span[1]:
            return (
                f"The thinking budget {budget} is invalid. This model only supports thinking budgets "
                f"in the range [{span[0]}, {span[1]}]."
            )
        asked = (body.get("generationConfig") or {}).get("maxOutputTokens")
        limit = next((n for prefix, n in MAX_OUTPUT_TOKENS if model.startswith(prefix)), None)
        if isinstance(asked, int) and limit is not None and asked > limit:
            return (
                f"Unable to submit request because it has a maxOutputTokens value of {asked} but the "
                f"supported range is from 1 (inclusive) to {limit + 1} (exclusive). Update the value "
                "and try again."
            )
        return None

    def _signature_problem(self, contents: Sequence[Mapping[str, Any]], model: str) -> str | None:
        for content in contents:
            for part in content.get("parts") or []:
                token = part.get("thoughtSignature")
                if token is not None and not signature_valid(self.signing_key, part, str(token)):
                    return "Corrupted thought signature."
        if not self.requires_signatures(model):
            return None
        start = 0
        for index, content in enumerate(contents):
            parts = content.get("parts") or []
            if content.get("role", "user") == "user" and any("functionResponse" not in p for p in parts):
                start = index + 1
        for index in range(start, len(contents)):
            content = contents[index]
            calls = [p for p in content.get("parts") or [] if "functionCall" in p]
            if content.get("role") == "model" and calls and not calls[0].get("thoughtSignature"):
                name = calls[0]["functionCall"].get("name", "")
                return (
                    "Function call is missing a thought_signature in functionCall parts. This is required "
                    "for tools to work correctly, and missing thought_signature may lead to degraded model "
                    f"performance. Additional data, function call `default_api:{name}` , position "
                    f"{index + 1}. Please refer to {SIGNATURES_DOC} for more details."
                )
        return None

    async def _count_tokens(
        self, request: web.Request, rec: RecordedRequest, version: str, model: str, raw: dict[str, Any]
    ) -> web.StreamResponse:
        body = self._proto(rec, version, "CountTokensRequest", raw)
        if isinstance(body, web.Response):
            return body
        missing = self._model_problem(rec, version, model, "countTokens")
        if missing is not None:
            return missing
        inner = body.get("generateContentRequest")
        if inner is not None and body.get("contents"):
            starred = [
                "* CountTokensRequest: only one of contents and generate_content_request may be set.\n"
            ]
        elif inner is not None:
            starred = request_problems(inner, prefix="CountTokensRequest.generate_content_request")
            if not re.fullmatch(r"models/[^/]+", str(inner.get("model", ""))):
                starred.insert(
                    0, "* CountTokensRequest.generate_content_request.model: unexpected model name format\n"
                )
        else:
            starred = request_problems({"contents": body.get("contents") or []}, prefix="CountTokensRequest")
        if starred:
            return self._error(rec, 400, "".join(starred))
        fault = await self._take_fault(request, rec, "count_tokens")
        if fault is not None:
            return fault
        total = count_prompt_tokens(inner if inner is not None else body)
        return self._json(
            rec,
            200,
            {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]},
        )

    async def _embed(
        self,
        request: web.Request,
        rec: RecordedRequest,
        version: str,
        model: str,
        method: str,
        raw: dict[str, Any],
    ) -> web.StreamResponse:
        batch = method == "batchEmbedContents"
        body = self._proto(rec, version, "BatchEmbedContentsRequest" if batch else "EmbedContentRequest", raw)
        if isinstance(body, web.Response):
            return body
        missing = self._model_problem(rec, version, model, "embedContent")
        if missing is not None:
            return missing
        if batch:
            requests = body.get("requests") or []
            starred = []
            if not requests:
                starred.append("* BatchEmbedContentsRequest.requests: requests is not specified\n")
            if len(requests) > MAX_BATCH_EMBED:
                starred.append(
                    f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH_EMBED} requests can be in one "
                    "batch\n"
                )
            for i, item in enumerate(requests):
                where = f"BatchEmbedContentsRequest.requests[{i}]"
                given = str(item.get("model", ""))
                if not re.fullmatch(r"models/[^/]+", given):
                    starred.append(f"* {where}.model: unexpected model name format\n")
                elif given != f"models/{model}":
                    starred.append(
                        f"* {where}.model: the model of the request ({given}) does not match the model of "
                        f"the batch (models/{model}).\n"
                    )
                starred.extend(embed_problems(item, where))
        else:
            requests = [body]
            starred = embed_problems(body, "EmbedContentRequest")
        if starred:
            return self._error(rec, 400, "".join(starred))
        fault = await self._take_fault(request, rec, "embed_content")
        if fault is not None:
            return fault
        vectors = [
            {"values": embedding(model, item, default_dimensions=self.embedding_dimensions)}
            for item in requests
        ]
        return self._json(rec, 200, {"embeddings": vectors} if batch else {"embedding": vectors[0]})

    async def _list_models(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        denied = self._auth_problem(rec) or self._query_problem(rec, _LIST_QUERY)
        if denied is not None:
            return denied
        raw_size = rec.query.get("pageSize", "0")
        if not re.fullmatch(r"-?\d+", raw_size):
            return self._bad_request(
                rec,
                [
                    ParseProblem(
                        f"Invalid value at 'page_size' (TYPE_INT32), {_render(raw_size)}", "page_size"
                    )
                ],
            )
        size = int(raw_size)
        if size < 0:
            return self._error(rec, 400, "* ListModelsRequest.page_size: page_size must not be negative\n")
        size = min(size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
        start = 0
        token = rec.query.get("pageToken")
        if token:
            decoded = decode_base64(token)
            name = decoded.decode("utf-8", "replace") if decoded is not None else ""
            if not name.startswith("models/") or name[len("models/") :] not in self.models:
                return self._error(rec, 400, "Invalid page token.")
            start = self.models.index(name[len("models/") :])
        fault = await self._take_fault(request, rec, "models")
        if fault is not None:
            return fault
        page = self.models[start : start + size]
        listing: dict[str, Any] = {"models": [model_object(m) for m in page]}
        if start + size < len(self.models):
            following = f"models/{self.models[start + size]}".encode()
            listing["nextPageToken"] = base64.urlsafe_b64encode(following).decode().rstrip("=")
        return self._json(rec, 200, listing)

    async def _get_model(
        self, request: web.Request, rec: RecordedRequest, version: str, model: str
    ) -> web.StreamResponse:
        denied = self._auth_problem(rec) or self._query_problem(rec, frozenset())
        if denied is not None:
            return denied
        if model not in self.models:
            return self._error(
                rec,
                404,
                f"models/{model} is not found for API version {version}, or is not supported for get. "
                "Call ListModels to see the list of available models and their supported methods.",
            )
        fault = await self._take_fault(request, rec, "models")
        if fault is not None:
            return fault
        return self._json(rec, 200, model_object(model))


def route_of(path: str) -> tuple[str | None, str | None, str | None]:
    """(version, model, method) of a request path; model None for the list, method None for GETs."""
    match = re.fullmatch(r"/(v1beta|v1)/models(?:/([^/]+))?", path)
    if match is None:
        return None, None, None
    rest = match.group(2)
    if rest is None:
        return match.group(1), None, None
    model, colon, method = rest.partition(":")
    return match.group(1), model, method if colon else None


def is_sse(rec: RecordedRequest) -> bool:
    """The stream was asked for as SSE (``alt=sse``) rather than as a JSON array."""
    return (rec.query.get("alt") or rec.query.get("$alt")) == "sse"


def json_error_message(body: bytes, exc: ValueError) -> str:
    """Google's "Invalid JSON payload received. …" for a body that does not parse."""
    reason = "Unexpected token."
    position = 0
    if isinstance(exc, json.JSONDecodeError):
        position = exc.pos
        reasons = {
            "Expecting property name enclosed in double quotes": "Expected an object key or }.",
            "Expecting ',' delimiter": "Expected , or } after key:value pair.",
            "Expecting ':' delimiter": "Expected : between key:value pair.",
            "Unterminated string starting at": "Closing quote expected in string.",
        }
        reason = reasons.get(exc.msg, reason)
    text = body.decode("utf-8", "replace")
    line_start = text.rfind("\n", 0, position) + 1
    start = max(line_start, position - 40)
    end = text.find("\n", position)
    snippet = text[start : end if end >= 0 else len(text)][:80]
    return f"Invalid JSON payload received. {reason}\n{snippet}\n{' ' * (position - start)}^"


# --------------------------------------------------------------------------- request rules


def _parts(content: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [p for p in (content or {}).get("parts") or [] if isinstance(p, Mapping)]


def request_problems(body: Mapping[str, Any], *, prefix: str) -> list[str]:
    """The "* <prefix>.<path>: <problem>\\n" lines of a (parsed) GenerateContentRequest."""
    found: list[str] = []
    contents = body.get("contents") or []
    if not contents:
        found.append(f"* {prefix}.contents: contents is not specified\n")
    for i, content in enumerate(contents):
        found.extend(_content_problems(content, f"{prefix}.contents[{i}]"))
    system = body.get("systemInstruction")
    if system is not None:
        for j, part in enumerate(_parts(system)):
            found.extend(_part_problems(part, f"{prefix}.system_instruction.parts[{j}]"))
    for t, tool in enumerate(body.get("tools") or []):
        for d, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"{prefix}.tools[{t}].function_declarations[{d}]"
            if not _FUNCTION_NAME.fullmatch(str(declaration.get("name", ""))):
                found.append(
                    f"* {where}.name: Invalid function name. Must start with a letter or an underscore. Must "
                    "be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), "
                    "with a maximum length of 64.\n"
                )
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                found.append(
                    f"* {where}.parameters_json_schema: parameters and parameters_json_schema cannot both "
                    "be set.\n"
                )
    config = body.get("generationConfig") or {}
    where = f"{prefix}.generation_config"
    if "responseSchema" in config and "responseJsonSchema" in config:
        found.append(
            f"* {where}.response_json_schema: response_schema and response_json_schema cannot both be set.\n"
        )
    if ("responseSchema" in config or "responseJsonSchema" in config) and config.get(
        "responseMimeType"
    ) not in _SCHEMA_MIME_TYPES:
        found.append(
            f"* {where}.response_mime_type: a response schema requires response_mime_type to be one of "
            f"{', '.join(_SCHEMA_MIME_TYPES)}.\n"
        )
    if len(config.get("stopSequences") or []) > 5:
        found.append(f"* {where}.stop_sequences: at most 5 stop sequences are allowed.\n")
    if int(config.get("candidateCount") or 0) > 8:
        found.append(f"* {where}.candidate_count: candidate_count must be between 1 and 8.\n")
    temperature = config.get("temperature")
    if temperature is not None and not 0 <= float(temperature) <= 2:
        found.append(f"* {where}.temperature: temperature must be between 0 and 2.\n")
    top_p = config.get("topP")
    if top_p is not None and not 0 <= float(top_p) <= 1:
        found.append(f"* {where}.top_p: top_p must be between 0 and 1.\n")
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("allowedFunctionNames") and calling.get("mode") not in ("ANY", "VALIDATED"):
        found.append(
            f"* {prefix}.tool_config.function_calling_config.allowed_function_names: allowed_function_names "
            "may only be set when mode is ANY or VALIDATED.\n"
        )
    return found


def _content_problems(content: Mapping[str, Any], where: str) -> list[str]:
    parts = _parts(content)
    if not parts:
        return [f"* {where}.parts: contents.parts must not be empty.\n"]
    found: list[str] = []
    for j, part in enumerate(parts):
        found.extend(_part_problems(part, f"{where}.parts[{j}]"))
    return found


def _part_problems(part: Mapping[str, Any], where: str) -> list[str]:
    data = [name for name in _DATA_FIELDS if name in part]
    if not data:
        return [f"* {where}.data: required oneof field 'data' must have one initialized field\n"]
    if len(data) > 1:
        return [f"* {where}: oneof field 'data' is already set. Cannot set '{data[1]}'\n"]
    for kind, proto in (("functionCall", "function_call"), ("functionResponse", "function_response")):
        if kind in part and not str(part[kind].get("name", "")):
            return [f"* {where}.{proto}.name: Name cannot be empty.\n"]
    return []


def embed_problems(request: Mapping[str, Any], where: str) -> list[str]:
    """The starred problems of one (parsed) EmbedContentRequest."""
    found: list[str] = []
    if "content" not in request:
        found.append(f"* {where}.content: content is not specified\n")
    elif not _parts(request["content"]):
        found.append(f"* {where}.content.parts: contents.parts must not be empty.\n")
    else:
        for j, part in enumerate(_parts(request["content"])):
            found.extend(_part_problems(part, f"{where}.content.parts[{j}]"))
    dimensions = int(request.get("outputDimensionality") or 0)
    if not 0 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
        found.append(
            f"* {where}.output_dimensionality: output_dimensionality must be between 1 and "
            f"{MAX_EMBEDDING_DIMENSIONS}.\n"
        )
    return found


def conversation_problem(contents: Sequence[Mapping[str, Any]]) -> str | None:
    """The first violation of the real API's role and function-turn rules (module docstring, 5)."""
    for content in contents:
        if content.get("role", "") not in ("", "user", "model"):
            return "Please use a valid role: user, model."
    for index, content in enumerate(contents):
        parts = _parts(content)
        responses = sum(1 for p in parts if "functionResponse" in p)
        calls = sum(1 for p in parts if "functionCall" in p)
        previous = contents[index - 1] if index else None
        previous_calls = sum(1 for p in _parts(previous) if "functionCall" in p)
        if responses:
            if previous is None or previous.get("role") != "model" or not previous_calls:
                return (
                    "Please ensure that function response turn comes immediately after a function call turn."
                )
            if responses != previous_calls:
                return (
                    "Please ensure that the number of function response parts is equal to the number of "
                    "function call parts of the function call turn."
                )
        if calls and (previous is None or previous.get("role", "user") != "user"):
            return (
                "Please ensure that function call turn comes immediately after a user turn or after a "
                "function response turn."
            )
    return None


def thinking_budget(body: Mapping[str, Any]) -> int | None:
    """``generationConfig.thinkingConfig.thinkingBudget`` (None when unset)."""
    config = ((body.get("generationConfig") or {}).get("thinkingConfig")) or {}
    budget = config.get("thinkingBudget")
    return None if budget is None else int(budget)


# --------------------------------------------------------------------------- models


def is_embedding_model(model: str) -> bool:
    """Embedding models are those whose name contains "embedding"."""
    return "embedding" in model


def is_image_model(model: str) -> bool:
    """Image models are those whose name contains "-image" (``gemini-2.5-flash-image``)."""
    return "-image" in model


def response_modalities(body: Mapping[str, Any]) -> list[str]:
    """``generationConfig.responseModalities`` upper-cased (``["TEXT", "IMAGE"]`` when absent)."""
    asked = (body.get("generationConfig") or {}).get("responseModalities")
    return [str(m).upper() for m in asked] if asked else ["TEXT", "IMAGE"]


def makes_images(body: Mapping[str, Any], model: str) -> bool:
    """The answer to this (valid) request carries images."""
    return is_image_model(model) and "IMAGE" in response_modalities(body)


def image_problem(body: Mapping[str, Any], model: str) -> str | None:
    """What the image rules of the module docstring refuse (None when nothing)."""
    config = body.get("generationConfig") or {}
    asked = [str(m).upper() for m in config.get("responseModalities") or []]
    if not is_image_model(model):
        if "IMAGE" in asked:
            wanted = ",".join(sorted(m.lower() for m in asked))
            return f"Model does not support the requested response modalities: {wanted}"
        return None
    if int(config.get("candidateCount") or 1) > 1:
        return f"Multiple candidates is not enabled for models/{model}"
    image_config = config.get("imageConfig")
    if image_config is None:
        return None
    if not isinstance(image_config, Mapping):
        return "Invalid value at 'generation_config.image_config': expected an object."
    for key in image_config:
        if key not in ("aspectRatio", "aspect_ratio", "imageSize", "image_size"):
            return (
                f'Invalid JSON payload received. Unknown name "{key}" at '
                "'generation_config.image_config': Cannot find field."
            )
    where = "* GenerateContentRequest.generation_config.image_config"
    ratio = image_config.get("aspectRatio", image_config.get("aspect_ratio"))
    if ratio is not None and ratio not in ASPECT_RATIOS:
        return f"{where}.aspect_ratio: {ratio} is not supported.\n"
    size = image_config.get("imageSize", image_config.get("image_size"))
    if size is not None and (size not in IMAGE_SIZES or not model.startswith("gemini-3")):
        return f"{where}.image_size: {size} is not supported for models/{model}.\n"
    return None


def image_dimensions(body: Mapping[str, Any]) -> tuple[int, int]:
    """The mock image's pixels: the aspect ratio with its longer side 16 (``16:9`` → 16×9)."""
    image_config = (body.get("generationConfig") or {}).get("imageConfig") or {}
    ratio = str(image_config.get("aspectRatio", image_config.get("aspect_ratio")) or "1:1")
    across, _, down = ratio.partition(":")
    width, height = int(across), int(down)
    longer = max(width, height)
    return max(1, round(16 * width / longer)), max(1, round(16 * height / longer))


def mock_image(body: Mapping[str, Any], seed: bytes) -> str:
    """Base64 of the PNG a mock image model answers (size from :func:`image_dimensions`)."""
    red, green, blue = hashlib.sha256(seed).digest()[:3]
    width, height = image_dimensions(body)
    return base64.b64encode(png(width, height, (red, green, blue, 255))).decode()


def count_prompt_images(body: Mapping[str, Any]) -> int:
    """The image parts of a request's contents (each counted as one prompt token)."""
    return sum(
        1
        for content in body.get("contents") or []
        for part in _parts(content)
        if str((part.get("inlineData") or part.get("fileData") or {}).get("mimeType", "")).startswith(
            "image/"
        )
    )


def supported_methods(model: str) -> tuple[str, ...]:
    """``Model.supportedGenerationMethods`` of a model of the mock."""
    if is_embedding_model(model):
        return ("embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent")
    return ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")


def display_name(model: str) -> str:
    """``gemini-2.5-flash`` → ``Gemini 2.5 Flash``; ``gemini-embedding-001`` → ``Gemini Embedding 001``."""
    return " ".join(
        word if any(c.isdigit() for c in word) else word.capitalize() for word in model.split("-")
    )


def model_object(model: str) -> dict[str, Any]:
    """A ``Model`` object for ``model``."""
    info: dict[str, Any] = {
        "name": f"models/{model}",
        "baseModelId": model,
        "version": "001",
        "displayName": display_name(model),
        "description": f"Mock {display_name(model)}",
        "supportedGenerationMethods": list(supported_methods(model)),
    }
    if is_embedding_model(model):
        info.update(inputTokenLimit=2048, outputTokenLimit=1)
        return info
    info.update(
        inputTokenLimit=1_048_576,
        outputTokenLimit=65_536,
        temperature=1,
        topP=0.95,
        topK=64,
        maxTemperature=2,
    )
    if model.startswith(THINKING_MODEL_PREFIXES):
        info["thinking"] = True
    return info


# --------------------------------------------------------------------------- answers


def _words(text: str) -> int:
    return len(WORDS.findall(text))


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def part_text(part: Mapping[str, Any]) -> str:
    """What a request part says, as text (media as ``[image]`` and the like)."""
    if "text" in part:
        return str(part["text"])
    media = part.get("inlineData") or part.get("fileData")
    if isinstance(media, Mapping):
        mime = str(media.get("mimeType", ""))
        kind = mime.split("/", 1)[0]
        if kind in ("image", "audio", "video"):
            return f"[{kind}]"
        return "[document]" if mime == "application/pdf" else "[file]"
    return ""


def result_text(response: Any) -> str:
    """A function response as text: its single string value, else compact JSON."""
    if isinstance(response, Mapping) and len(response) == 1:
        (only,) = response.values()
        if isinstance(only, str):
            return only
    return _compact(response)


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """The prompt tokens of a request (module docstring: one per word, …)."""
    contents = list(body.get("contents") or [])
    system = body.get("systemInstruction")
    if system is not None:
        contents.append(system)
    tokens = 0
    for content in contents:
        for part in _parts(content):
            if "functionCall" in part:
                tokens += _words(_compact(part["functionCall"].get("args") or {}))
            elif "functionResponse" in part:
                tokens += _words(_compact(part["functionResponse"].get("response") or {}))
            elif "text" in part:
                tokens += _words(str(part["text"]))
            else:
                tokens += 1
    if body.get("tools"):
        tokens += len(orjson.dumps(body["tools"])) // 4
    return max(tokens, 1)


def gemini_json_schema(schema: Any) -> Any:
    """A Gemini ``Schema`` as JSON Schema for :func:`sample` (``type`` values lower-cased)."""
    if isinstance(schema, list):
        return [gemini_json_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: gemini_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = gemini_json_schema(value)
        else:
            out[key] = value
    return out


def _blocked(body: Mapping[str, Any]) -> bool:
    contents = [*(body.get("contents") or []), body.get("systemInstruction") or {}]
    return any(BLOCK_TRIGGER in str(p.get("text", "")) for c in contents for p in _parts(c))


def _sample_args(declaration: Mapping[str, Any]) -> dict[str, Any]:
    schema = declaration.get("parametersJsonSchema")
    if schema is None:
        schema = gemini_json_schema(declaration.get("parameters") or {})
    arguments = sample(schema)
    return arguments if isinstance(arguments, dict) else {}


def _functions_to_call(body: Mapping[str, Any], text: str, results: bool) -> list[Mapping[str, Any]]:
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = config.get("mode") or "AUTO"
    if not declarations or mode == "NONE":
        return []
    allowed = config.get("allowedFunctionNames")
    if allowed and mode in ("ANY", "VALIDATED"):
        declarations = [d for d in declarations if d.get("name") in allowed]
    mentioned = [d for d in declarations if str(d.get("name", "")).lower() in text.lower()]
    if mode != "ANY" and (results or not (re.search(r"\bweather\b", text, re.IGNORECASE) or mentioned)):
        return []
    if not declarations:
        return []
    if re.search(r"\bparallel\b", text, re.IGNORECASE):
        return declarations
    return [mentioned[0] if mentioned else declarations[0]]


def _formatted(text: str, config: Mapping[str, Any]) -> str:
    mime = config.get("responseMimeType")
    if "responseJsonSchema" in config:  # the API takes Gemini's upper-case types there too
        schema = gemini_json_schema(config["responseJsonSchema"])
    else:
        schema = gemini_json_schema(config.get("responseSchema")) if "responseSchema" in config else None
    if mime == "application/json":
        answer = sample(schema, text=text) if schema is not None else {"reply": text}
        return _compact(answer)
    if mime == "text/x.enum" and isinstance(schema, Mapping) and schema.get("enum"):
        return str(schema["enum"][0])
    return text


def _short_id(seed: str) -> str:
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(8):
        digest, rest = divmod(digest, 36)
        chars.append("0123456789abcdefghijklmnopqrstuvwxyz"[rest])
    return "".join(chars)


@dataclass(frozen=True)
class PlannedCandidate:
    """One planned candidate: its parts, finish reason and token counts."""

    index: int
    parts: tuple[dict[str, Any], ...]
    finish_reason: str
    output_tokens: int
    thought_tokens: int
    image_tokens: int = 0  # of output_tokens, those of generated images
    grounding: dict[str, Any] | None = None  # groundingMetadata (grounding with Google Search)

    def pieces(self) -> Iterator[dict[str, Any]]:
        """The parts as stream deltas: one per word of text, a function call or an image whole."""
        for part in self.parts:
            if "functionCall" in part or "inlineData" in part:
                yield dict(part)
                continue
            words = WORDS.findall(str(part.get("text", ""))) or [""]
            for n, word in enumerate(words):
                piece: dict[str, Any] = {"text": word}
                if part.get("thought"):
                    piece["thought"] = True
                if n == len(words) - 1 and "thoughtSignature" in part:
                    piece["thoughtSignature"] = part["thoughtSignature"]
                yield piece


@dataclass(frozen=True)
class PlannedResponse:
    """A planned answer, rendered as a ``GenerateContentResponse`` or as the chunks of a stream."""

    response_id: str
    model: str
    candidates: tuple[PlannedCandidate, ...]
    prompt_tokens: int
    cached_tokens: int
    blocked: bool = False
    prompt_image_tokens: int = 0  # of prompt_tokens, those of image parts (details split when > 0)

    def usage(self, *, final: bool = True) -> dict[str, Any]:
        """``usageMetadata`` (``final=False``: the prompt-only one of an intermediate chunk)."""
        output = sum(c.output_tokens for c in self.candidates) if final else 0
        thoughts = sum(c.thought_tokens for c in self.candidates) if final else 0
        usage: dict[str, Any] = {"promptTokenCount": self.prompt_tokens}
        if output:
            usage["candidatesTokenCount"] = output
        usage["totalTokenCount"] = self.prompt_tokens + output + thoughts
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        usage["promptTokensDetails"] = [
            {"modality": "TEXT", "tokenCount": self.prompt_tokens - self.prompt_image_tokens}
        ]
        if self.prompt_image_tokens:
            usage["promptTokensDetails"].append({"modality": "IMAGE", "tokenCount": self.prompt_image_tokens})
        images = sum(c.image_tokens for c in self.candidates) if final else 0
        if images:
            usage["candidatesTokensDetails"] = [
                {"modality": "TEXT", "tokenCount": output - images},
                {"modality": "IMAGE", "tokenCount": images},
            ]
        if self.cached_tokens:
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached_tokens}]
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def _envelope(self, candidates: list[dict[str, Any]] | None, usage: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.blocked:
            body["promptFeedback"] = prompt_feedback()
        else:
            body["candidates"] = candidates or []
        body.update(usageMetadata=usage, modelVersion=self.model, responseId=self.response_id)
        return body

    def body(self) -> dict[str, Any]:
        """The non-stream ``GenerateContentResponse``."""
        candidates = []
        for candidate in self.candidates:
            content: dict[str, Any] = {"role": "model"}
            if candidate.parts:
                content = {"parts": [dict(p) for p in candidate.parts], "role": "model"}
            entry = {"content": content, "finishReason": candidate.finish_reason, "index": candidate.index}
            if candidate.grounding is not None:
                entry["groundingMetadata"] = candidate.grounding
            candidates.append(entry)
        return self._envelope(candidates, self.usage())

    def chunks(self) -> list[dict[str, Any]]:
        """The stream's chunks, in order (module docstring)."""
        if self.blocked:
            return [self._envelope(None, self.usage())]
        planned: list[tuple[PlannedCandidate, dict[str, Any] | None, bool]] = []
        for candidate in self.candidates:
            pieces = list(candidate.pieces()) if candidate.parts else [None]
            planned.extend((candidate, piece, n == len(pieces) - 1) for n, piece in enumerate(pieces))
        chunks = []
        for n, (candidate, piece, last) in enumerate(planned):
            content: dict[str, Any] = (
                {"parts": [piece], "role": "model"} if piece is not None else {"role": "model"}
            )
            entry: dict[str, Any] = {"content": content}
            if last:
                entry["finishReason"] = candidate.finish_reason
                if candidate.grounding is not None:  # with the last chunk, as Gemini sends it
                    entry["groundingMetadata"] = candidate.grounding
            entry["index"] = candidate.index
            chunks.append(self._envelope([entry], self.usage(final=n == len(planned) - 1)))
        return chunks


def grounded(body: Mapping[str, Any], asked: str) -> bool:
    """Whether the model grounds its answer with Google Search: the tool is offered and the user
    asks to search."""
    offered = any("googleSearch" in tool or "google_search" in tool for tool in body.get("tools") or [])
    return offered and re.search(r"\bsearch\b", asked, re.IGNORECASE) is not None


def grounding_metadata(asked: str, text: str) -> dict[str, Any]:
    """The ``groundingMetadata`` of an answer grounded on :data:`SEARCH_PAGE`: the query, the page,
    and the whole text (in UTF-8 bytes) supported by it."""
    return {
        "webSearchQueries": [asked],
        "groundingChunks": [{"web": dict(SEARCH_PAGE)}],
        "groundingSupports": [
            {
                "segment": {"startIndex": 0, "endIndex": len(text.encode()), "text": text},
                "groundingChunkIndices": [0],
            }
        ],
        "searchEntryPoint": {"renderedContent": "<div>Mock search suggestions</div>"},
    }


def prompt_feedback() -> dict[str, Any]:
    """The ``promptFeedback`` of a blocked prompt (``SAFETY``, harassment rated ``HIGH``)."""
    ratings = [
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
    ]
    return {"blockReason": "SAFETY", "safetyRatings": ratings}


def plan_response(
    body: Mapping[str, Any],
    *,
    model: str,
    response_id: str,
    thinking: bool,
    signed_text: bool = False,
    cached_content_tokens: int = 0,
    signing_key: bytes = DEFAULT_SIGNING_KEY,
    images: bool = False,
    script: AgentScript | None = None,
) -> PlannedResponse:
    """Decide the deterministic answer to a valid (parsed) request (rules in the module docstring).
    ``images``: the model answers with images (:func:`makes_images`)."""
    prompt = count_prompt_tokens(body)
    cached = min(max(cached_content_tokens, 0), prompt)
    prompt_images = count_prompt_images(body)
    if _blocked(body):
        return PlannedResponse(response_id, model, (), prompt, cached, blocked=True)
    contents = body.get("contents") or []
    last_user = next((c for c in reversed(contents) if c.get("role", "user") == "user"), None)
    parts = _parts(last_user)
    results = [p["functionResponse"] for p in parts if "functionResponse" in p]
    asked = " ".join(part_text(p) for p in parts if "functionResponse" not in p and not p.get("thought"))
    if results:
        subject = "tool results: " + "; ".join(result_text(r.get("response")) for r in results)
        reply, thought = f"Mock reply to {subject}", f"Mock thinking about {subject}"
    else:
        reply, thought = f"Mock reply to: {asked}", f"Mock thinking about: {asked}"
    config = body.get("generationConfig") or {}
    include_thoughts = thinking and bool((config.get("thinkingConfig") or {}).get("includeThoughts"))
    thought_tokens = _words(thought) if thinking else 0
    if script is not None:
        offered = [
            str(d.get("name")) for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []
        ]
        answered = any("functionResponse" in p for c in contents for p in _parts(c))
        scripted = script.call(offered, answered)
        calls: list[tuple[str, Any]] = [scripted] if scripted else []
    else:
        calls = [(str(d["name"]), _sample_args(d)) for d in _functions_to_call(body, asked, bool(results))]
    use_ids = any(
        "id" in (p.get("functionCall") or p.get("functionResponse") or {})
        for c in contents
        for p in _parts(c)
    )
    count = max(int(config.get("candidateCount") or 1), 1)
    candidates = []
    for index in range(count):
        nonce = hashlib.sha256(f"{response_id}/{index}".encode()).digest()[:16]
        out: list[dict[str, Any]] = []
        if include_thoughts:
            out.append({"text": thought, "thought": True})
        output_tokens = 0
        finish = "STOP"
        if images:
            text = f"Mock image of: {asked}"
            if "TEXT" in response_modalities(body):
                out.append({"text": text})
                output_tokens += len(WORDS.findall(text))
            out.append({"inlineData": {"mimeType": "image/png", "data": mock_image(body, nonce)}})
            output_tokens += IMAGE_OUTPUT_TOKENS
            candidates.append(
                PlannedCandidate(
                    index, tuple(out), finish, output_tokens, thought_tokens, IMAGE_OUTPUT_TOKENS
                )
            )
            continue
        if calls:
            for k, (name, arguments) in enumerate(calls):
                call: dict[str, Any] = {"name": name, "args": arguments}
                if use_ids:
                    call = {"id": _short_id(f"{response_id}/{index}/{k}"), **call}
                part: dict[str, Any] = {"functionCall": call}
                if thinking and k == 0:
                    part["thoughtSignature"] = sign(signing_key, b"functionCall", nonce, _call_payload(call))
                out.append(part)
                output_tokens += len(orjson.dumps(call["args"])) // 4 + 1
        else:
            text = _formatted(reply if index == 0 else f"{reply} (candidate {index})", config)
            found = [(text.find(s), s) for s in config.get("stopSequences") or [] if s and text.find(s) >= 0]
            if found:
                text = text[: min(found)[0]]
            words = WORDS.findall(text)
            if config.get("maxOutputTokens"):
                room = max(0, int(config["maxOutputTokens"]) - thought_tokens)
                if len(words) > room:
                    text, words, finish = "".join(words[:room]), words[:room], "MAX_TOKENS"
            if text:
                part = {"text": text}
                if thinking and signed_text:
                    part["thoughtSignature"] = sign(signing_key, b"text", nonce, b"")
                out.append(part)
            output_tokens += len(words)
            if text and not results and grounded(body, asked):
                grounding = grounding_metadata(asked, text)
                candidates.append(
                    PlannedCandidate(
                        index, tuple(out), finish, output_tokens, thought_tokens, grounding=grounding
                    )
                )
                continue
        candidates.append(PlannedCandidate(index, tuple(out), finish, output_tokens, thought_tokens))
    return PlannedResponse(
        response_id, model, tuple(candidates), prompt, cached, prompt_image_tokens=prompt_images
    )


def embedding(model: str, request: Mapping[str, Any], *, default_dimensions: int = 768) -> list[float]:
    """A deterministic unit-length vector for one (parsed) EmbedContentRequest."""
    dimensions = int(request.get("outputDimensionality") or default_dimensions)
    text = " ".join(part_text(p) for p in _parts(request.get("content")))
    seed = f"{model}\0{request.get('taskType') or ''}\0{text}".encode()
    raw = hashlib.shake_256(seed).digest(2 * dimensions)
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "little") / 32767.5 - 1.0 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


# --------------------------------------------------------------------------- emitted-data checks


def validate_error_body(body: Mapping[str, Any]) -> None:
    """An error body: ``{"error": google.rpc.Status + status}`` (the spec's ``Status`` has no
    ``status`` field, so the envelope is checked here and the rest against ``Status``)."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, Mapping) and set(error) <= {"code", "message", "status", "details"}, error
    assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), error
    assert error.get("status") in _RPC_STATUSES, error
    for detail in error.get("details") or []:
        assert isinstance(detail, Mapping) and str(detail.get("@type", "")).startswith(
            "type.googleapis.com/"
        ), detail
    schemas.validate("gemini", "Status", {k: v for k, v in error.items() if k != "status"}, closed=True)


def validate_stream(chunks: Sequence[Mapping[str, Any]], *, complete: bool) -> None:
    """Check the chunks of one stream (each against the spec, and the invariants between them)."""
    identity: tuple[Any, Any] | None = None
    finished: set[int] = set()
    seen: set[int] = set()
    blocked = False
    for n, chunk in enumerate(chunks):
        where = f"chunk {n}"
        if "error" in chunk:
            validate_error_body(chunk)
            assert n == len(chunks) - 1, f"{where}: an error chunk is the last one"
            assert not complete, f"{where}: a stream with an error chunk is not complete"
            continue
        schemas.validate("gemini", "GenerateContentResponse", chunk, closed=True)
        ids = (chunk.get("responseId"), chunk.get("modelVersion"))
        assert ids[0] and ids[1], f"{where}: responseId and modelVersion on every chunk"
        assert identity in (None, ids), f"{where}: responseId/modelVersion changed"
        identity = ids
        blocked = blocked or bool((chunk.get("promptFeedback") or {}).get("blockReason"))
        for candidate in chunk.get("candidates") or []:
            index = int(candidate.get("index", 0))
            assert index not in finished, f"{where}: candidate {index} after its finishReason"
            seen.add(index)
            for part in (candidate.get("content") or {}).get("parts") or []:
                if "functionCall" in part:
                    assert isinstance(part["functionCall"].get("args", {}), dict), f"{where}: partial args"
            if candidate.get("finishReason"):
                finished.add(index)
    if complete:
        assert chunks, "a complete stream has chunks"
        assert blocked or (seen and finished == seen), f"unfinished candidates: {sorted(seen - finished)}"
        usage = chunks[-1].get("usageMetadata") or {}
        assert "totalTokenCount" in usage, "the last chunk carries the full usage"
        if not blocked:
            assert usage.get("totalTokenCount", 0) >= usage.get("promptTokenCount", 0) + usage.get(
                "candidatesTokenCount", 0
            ), "the last chunk carries the full usage"


def rebuild_stream(chunks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``GenerateContentResponse`` a complete stream adds up to (text deltas joined per part kind)."""
    candidates: dict[int, dict[str, Any]] = {}
    last: Mapping[str, Any] = {}
    for chunk in chunks:
        last = chunk
        for candidate in chunk.get("candidates") or []:
            index = int(candidate.get("index", 0))
            slot = candidates.setdefault(index, {"content": {"parts": [], "role": "model"}, "index": index})
            parts: list[dict[str, Any]] = slot["content"]["parts"]
            for part in (candidate.get("content") or {}).get("parts") or []:
                previous = parts[-1] if parts else None
                joinable = (
                    previous is not None
                    and "text" in part
                    and "text" in previous
                    and bool(previous.get("thought")) == bool(part.get("thought"))
                    and "thoughtSignature" not in previous
                )
                if joinable and previous is not None:
                    previous["text"] += part["text"]
                    if "thoughtSignature" in part:
                        previous["thoughtSignature"] = part["thoughtSignature"]
                else:
                    parts.append(dict(part))
            if candidate.get("finishReason"):
                slot["finishReason"] = candidate["finishReason"]
    for slot in candidates.values():
        if not slot["content"]["parts"]:
            slot["content"] = {"role": "model"}
    rebuilt: dict[str, Any] = {}
    if "promptFeedback" in last:
        rebuilt["promptFeedback"] = last["promptFeedback"]
    else:
        rebuilt["candidates"] = [candidates[i] for i in sorted(candidates)]
    for key in ("usageMetadata", "modelVersion", "responseId"):
        if key in last:
            rebuilt[key] = last[key]
    return rebuilt
