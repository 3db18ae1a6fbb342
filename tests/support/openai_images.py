"""``MockOpenAI``'s images endpoints: ``POST /v1/images/generations``, ``POST /v1/images/edits``
(multipart/form-data, and the JSON form) and ``GET /v1/mock-images/<w>x<h>-<rrggbb>.png`` (what
a ``url`` answer points to).

What they check, in this order (errors in OpenAI's format, like the chat endpoint's):

1. The key, as for chat.
2. The body. Generations: strict JSON validating against ``CreateImageRequest``. Edits with a
   ``multipart/form-data`` content type: the form is parsed by this module's own parser (not
   aiohttp's, so the gateway's encoder is checked independently): a malformed or truncated form →
   400 "Could not parse multipart form"; the text fields, numbers and booleans read from their
   strings, validate against ``CreateImageEditRequest``; one or more ``image`` (or ``image[]``)
   files → else 400 "Missing required parameter: 'image'."; each image, and the ``mask``, must be a
   real PNG (chunks and CRCs intact, pixels inflate: :func:`support.png.is_png`) → else 400
   ``invalid_image_file``; the mask has the first image's dimensions → else 400. Edits with a JSON
   body: ``EditImageBodyJsonParam``; an ``image_url`` that is a ``data:`` URL must hold a real PNG.
   With ``strict=True`` (default) validation is closed-world, as for chat.
3. The model (``model``, default ``dall-e-2`` for generations, ``gpt-image-1`` for edits): one of
   ``models`` → else 404 ``model_not_found``; then its rules: GPT image models (names starting
   ``gpt-image``) refuse ``response_format`` (always base64) and ``style``, take sizes ``auto``,
   ``1024x1024``, ``1536x1024``, ``1024x1536`` and qualities ``low``/``medium``/``high``/``auto``;
   ``dall-e-3`` takes ``n`` = 1 only, sizes ``1024x1024``/``1792x1024``/``1024x1792``, qualities
   ``standard``/``hd``/``auto``, no edits; ``dall-e-2`` sizes ``256x256``/``512x512``/``1024x1024``
   and quality ``standard``/``auto``; the GPT-only fields (``background``, ``output_format``,
   ``output_compression``, ``moderation``, ``input_fidelity``, ``partial_images``, ``stream``) are
   unknown parameters on DALL·E models.
4. The next queued fault of the ``images`` endpoint.

Answers (``ImagesResponse``): ``n`` PNGs whose pixels are the size divided by 64 (``1536x1024`` →
24×16; ``auto`` → 16×16, or for an edit the first image's own size), one colour per image seeded
by prompt and index. GPT image models answer ``b64_json`` with ``background``, ``output_format``,
``quality`` and ``size`` (``auto`` answered as ``1024x1024``/``medium``/``opaque``) and ``usage``
(text tokens = prompt words, image tokens 65 per input image, output 272/1056/4160 per image for
low/medium/high); DALL·E models answer ``url`` by default (a URL of this mock serving the same PNG)
or ``b64_json``, and ``dall-e-3`` a ``revised_prompt`` ("Mock revised: <prompt>"). With ``stream:
true`` (GPT image models) the answer is SSE: ``partial_images`` ``*.partial_image`` events, then
one ``*.completed`` event per image (``image_generation.`` or ``image_edit.``), each with ``event:``
lines; no ``[DONE]``. A ``die_after(k)`` fault cuts a stream after ``k`` events; the other faults
apply as for chat (stream-only kinds other than ``die_after`` are ignored by streams).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from . import schemas
from .mock_server import WORDS, RecordedRequest
from .png import is_png, png, png_size

if TYPE_CHECKING:
    from .openai_upstream import MockOpenAI, Problem

GENERATIONS_PATH: Final = "/v1/images/generations"
EDITS_PATH: Final = "/v1/images/edits"
HOSTED_PREFIX: Final = "/v1/mock-images/"
PATHS: Final = (GENERATIONS_PATH, EDITS_PATH)
IMAGE_MODELS: Final = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "dall-e-2", "dall-e-3")
ENDPOINT: Final = "images"

_GPT_SIZES: Final = ("auto", "1024x1024", "1536x1024", "1024x1536")
_SIZES: Final = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
}
_GPT_QUALITIES: Final = ("low", "medium", "high", "auto")
_QUALITIES: Final = {"dall-e-2": ("standard", "auto"), "dall-e-3": ("standard", "hd", "auto")}
_GPT_ONLY: Final = (
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "input_fidelity",
    "partial_images",
    "stream",
)
_OUTPUT_TOKENS: Final = {"low": 272, "medium": 1056, "high": 4160}
_INPUT_IMAGE_TOKENS: Final = 65
_FORM_INTEGERS: Final = ("n", "output_compression", "partial_images")
_HOSTED: Final = re.compile(r"(\d+)x(\d+)-([0-9a-f]{6})\.png")


def is_gpt_image(model: str) -> bool:
    return model.startswith(("gpt-image", "chatgpt-image"))


# --------------------------------------------------------------------------- multipart


@dataclass
class Upload:
    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)


_PARAM: Final = re.compile(r';\s*([\w*-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


def _params(header: str) -> dict[str, str]:
    return {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _PARAM.finditer(header)}


def parse_form(content_type: str, body: bytes) -> Form | str:
    """A strict RFC 7578 parser: the form, or what is wrong with it."""
    boundary = _params(content_type).get("boundary")
    if not boundary:
        return "the Content-Type has no boundary"
    delimiter = b"--" + boundary.encode()
    if not body.startswith(delimiter):
        return "the body does not start with the boundary"
    rest = body[len(delimiter) :]
    form = Form()
    while not rest.startswith(b"--"):
        if not rest.startswith(b"\r\n"):
            return "a boundary is not followed by CRLF"
        end = rest.find(b"\r\n" + delimiter, 2)
        if end < 0:
            return "the body ends before the closing boundary (truncated)"
        part, rest = rest[2:end], rest[end + 2 + len(delimiter) :]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            return "a part has no blank line after its headers"
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                return f"malformed part header {line!r}"
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        if not disposition.lower().startswith("form-data"):
            return "a part is not form-data"
        params = _params(disposition)
        name = params.get("name")
        if not name:
            return "a part has no name"
        if "filename" in params:
            form.files.append(Upload(name, params["filename"], headers.get("content-type"), data))
        else:
            form.fields.setdefault(name, []).append(data.decode("utf-8"))
    return form


def form_body(form: Form) -> dict[str, Any]:
    """The text fields as the JSON they stand for (numbers and booleans read from their strings)."""
    body: dict[str, Any] = {}
    for name, values in form.fields.items():
        value: Any = values[0] if len(values) == 1 else values
        if name in _FORM_INTEGERS and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        elif name == "stream" and value in ("true", "false"):
            value = value == "true"
        body[name] = value
    return body


# --------------------------------------------------------------------------- the endpoints


def _problem(mock: MockOpenAI, schema: str, body: Any) -> Problem | None:
    from .openai_upstream import openai_validation_message

    if not mock.validate_requests:
        return None
    found = schemas.errors("openai", schema, body, closed=mock.strict)
    return openai_validation_message(found[0]) if found else None


def _model_rules(model: str, body: Mapping[str, Any], edits: bool) -> Problem | None:
    if is_gpt_image(model):
        for name in ("response_format", "style"):
            if body.get(name) is not None:
                return f"Unknown parameter: '{name}'.", name, "unknown_parameter"
        sizes, qualities = _GPT_SIZES, _GPT_QUALITIES
    else:
        if edits and model != "dall-e-2":
            return f"Invalid model {model}. The model must be one of gpt-image-1 or dall-e-2.", "model", None
        for name in _GPT_ONLY:
            if body.get(name) is not None:
                return f"Unknown parameter: '{name}'.", name, "unknown_parameter"
        if model == "dall-e-3" and int(body.get("n") or 1) != 1:
            return (
                "Invalid 'n': integer above maximum value. Expected a value <= 1, but got "
                f"{body['n']} instead.",
                "n",
                "integer_above_max_value",
            )
        sizes, qualities = _SIZES.get(model, _SIZES["dall-e-2"]), _QUALITIES.get(model, ("standard", "auto"))
    size, quality = body.get("size"), body.get("quality")
    if size is not None and size not in sizes:
        listed = ", ".join(f"'{s}'" for s in sizes)
        return f"Invalid value: '{size}'. Supported values are: {listed}.", "size", "invalid_value"
    if quality is not None and quality not in qualities:
        listed = ", ".join(f"'{q}'" for q in qualities)
        return f"Invalid value: '{quality}'. Supported values are: {listed}.", "quality", "invalid_value"
    return None


async def generations(mock: MockOpenAI, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
    denied = mock._check_auth(rec)
    if denied is not None:
        return denied
    try:
        body = orjson.loads(rec.body)
    except orjson.JSONDecodeError:
        return mock._error(rec, 400, "We could not parse the JSON body of your request.")
    problem = _problem(mock, "CreateImageRequest", body)
    return await _answer(mock, request, rec, body, problem, edits=False, inputs=[])


async def edits(mock: MockOpenAI, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
    denied = mock._check_auth(rec)
    if denied is not None:
        return denied
    content_type = rec.headers.get("Content-Type", "")
    inputs: list[bytes] = []
    problem: Problem | None
    if content_type.lower().startswith("multipart/form-data"):
        form = parse_form(content_type, rec.body)
        if isinstance(form, str):
            return mock._error(rec, 400, f"Could not parse multipart form: {form}.")
        body = form_body(form)
        images = [f for f in form.files if f.field in ("image", "image[]")]
        masks = [f for f in form.files if f.field == "mask"]
        others = [f.field for f in form.files if f.field not in ("image", "image[]", "mask")]
        checked = {**body, "image": [base64.b64encode(f.data).decode() for f in images] or None}
        if masks:
            checked["mask"] = "<binary>"
        checked = {k: v for k, v in checked.items() if v is not None}
        problem = _problem(mock, "CreateImageEditRequest", checked)
        if problem is None and others:
            problem = f"Unknown parameter: '{others[0]}'.", others[0], "unknown_parameter"
        if problem is None and not images:
            problem = "Missing required parameter: 'image'.", "image", "missing_required_parameter"
        for upload in [*images, *masks]:
            if problem is None and not is_png(upload.data):
                problem = (
                    f"Invalid image file or mode for image {upload.filename or upload.field!r}, please check "
                    "your image file.",
                    "mask" if upload.field == "mask" else "image",
                    "invalid_image_file",
                )
        if problem is None and masks and png_size(masks[0].data) != png_size(images[0].data):
            problem = "The mask and the image must have the same dimensions.", "mask", "invalid_image_file"
        inputs = [f.data for f in images]
    else:
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return mock._error(rec, 400, "We could not parse the JSON body of your request.")
        problem = _problem(mock, "EditImageBodyJsonParam", body)
        if problem is None:
            problem, inputs = _references(body)
    return await _answer(mock, request, rec, body, problem, edits=True, inputs=inputs)


def _references(body: Mapping[str, Any]) -> tuple[Problem | None, list[bytes]]:
    inputs: list[bytes] = []
    refs = [*(body.get("images") or []), *([body["mask"]] if body.get("mask") else [])]
    for index, ref in enumerate(refs):
        url = ref.get("image_url")
        if not isinstance(url, str) or not url.startswith("data:"):
            continue  # an http(s) URL or a file id: taken on trust
        header, _, data = url.partition(",")
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raw = b""
        if not header.endswith(";base64") or not is_png(raw):
            where = (
                f"images[{index}].image_url" if index < len(body.get("images") or []) else "mask.image_url"
            )
            return ("Invalid image data URL: expected a base64 PNG.", where, "invalid_image_url"), []
        inputs.append(raw)
    return None, inputs


async def _answer(
    mock: MockOpenAI,
    request: web.Request,
    rec: RecordedRequest,
    body: Any,
    problem: Problem | None,
    *,
    edits: bool,
    inputs: Sequence[bytes],
) -> web.StreamResponse:
    if problem is not None:
        message, param, code = problem
        return mock._error(rec, 400, message, param=param, code=code)
    model = str(body.get("model") or ("gpt-image-1" if edits else "dall-e-2"))
    if model not in mock.models:
        return mock._error(
            rec,
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    problem = _model_rules(model, body, edits)
    if problem is not None:
        message, param, code = problem
        return mock._error(rec, 400, message, param=param, code=code)
    rec.stream = body.get("stream") is True
    fault = await mock._take_fault(request, rec, ENDPOINT)
    if fault is not None:
        return fault
    planned = plan_images(body, model, inputs, edits=edits, base_url=mock.base_url)
    if rec.stream:
        return await _stream(mock, request, rec, planned, body)
    return mock._json(rec, 200, planned.response())


async def hosted(mock: MockOpenAI, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
    """The PNG behind a ``url`` answer (no key needed, as for the real API's signed URLs)."""
    match = _HOSTED.fullmatch(request.match_info["name"])
    if match is None:
        return mock._error(rec, 404, f"Invalid URL (GET {rec.path})")
    colour = bytes.fromhex(match[3])
    data = png(int(match[1]), int(match[2]), (colour[0], colour[1], colour[2], 255))
    rec.status = 200
    return web.Response(body=data, content_type="image/png")


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class PlannedImages:
    """A planned answer: the images (PNG bytes), how they are given, and the usage."""

    model: str
    created: int
    images: tuple[tuple[bytes, str], ...]  # (PNG, hosted file name)
    as_url: bool
    edits: bool
    prompt: str
    settings: dict[str, str]  # background, output_format, quality, size (GPT image models)
    usage: dict[str, Any] | None
    base_url: str  # the mock's, for url answers

    def response(self) -> dict[str, Any]:
        data: list[dict[str, Any]] = []
        for image, name in self.images:
            item: dict[str, Any] = (
                {"url": self.url_of(name)} if self.as_url else {"b64_json": base64.b64encode(image).decode()}
            )
            if self.model == "dall-e-3":
                item["revised_prompt"] = f"Mock revised: {self.prompt}"
            data.append(item)
        body: dict[str, Any] = {"created": self.created, "data": data, **self.settings}
        if self.usage is not None:
            body["usage"] = self.usage
        return body

    def url_of(self, name: str) -> str:
        return f"{self.base_url.removesuffix('/v1')}{HOSTED_PREFIX}{name}"

    def events(self, partial_images: int) -> list[dict[str, Any]]:
        kind = "image_edit" if self.edits else "image_generation"
        events: list[dict[str, Any]] = []
        for image, _ in self.images:
            b64 = base64.b64encode(image).decode()
            for index in range(partial_images):
                events.append(
                    {
                        "type": f"{kind}.partial_image",
                        "b64_json": b64,
                        "created_at": self.created,
                        **self.settings,
                        "partial_image_index": index,
                    }
                )
            usage = dict(self.usage or {})
            usage.pop("output_tokens_details", None)
            events.append(
                {"type": f"{kind}.completed", "b64_json": b64, "created_at": self.created, **self.settings}
                | {"usage": usage}
            )
        return events


def plan_images(
    body: Mapping[str, Any], model: str, inputs: Sequence[bytes], *, edits: bool, base_url: str
) -> PlannedImages:
    """The deterministic answer to a valid request (module docstring)."""
    n = int(body.get("n") or 1)
    prompt = str(body.get("prompt") or "")
    size = str(body.get("size") or "auto")
    if size == "auto" and edits and inputs:
        width, height = png_size(inputs[0])
    elif size == "auto":
        width = height = 16
    else:
        w, _, h = size.partition("x")
        width, height = max(1, int(w) // 64), max(1, int(h) // 64)
    images = []
    for index in range(n):
        colour = hashlib.sha256(f"{prompt}/{index}".encode()).digest()[:3]
        name = f"{width}x{height}-{colour.hex()}.png"
        images.append((png(width, height, (colour[0], colour[1], colour[2], 255)), name))
    gpt = is_gpt_image(model)
    settings: dict[str, str] = {}
    usage = None
    if gpt:
        quality = str(body.get("quality") or "auto")
        quality = "medium" if quality == "auto" else quality
        background = str(body.get("background") or "auto")
        settings = {
            "background": "opaque" if background == "auto" else background,
            "output_format": str(body.get("output_format") or "png"),
            "quality": quality,
            "size": "1024x1024" if size == "auto" else size,
        }
        text_tokens = len(WORDS.findall(prompt))
        image_tokens = _INPUT_IMAGE_TOKENS * len(inputs)
        output = _OUTPUT_TOKENS.get(quality, 1056) * n
        usage = {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": output,
            "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
            "total_tokens": text_tokens + image_tokens + output,
        }
    return PlannedImages(
        model=model,
        created=int(time.time()),
        images=tuple(images),
        as_url=not gpt and body.get("response_format", "url") != "b64_json",
        edits=edits,
        prompt=prompt,
        settings=settings,
        usage=usage,
        base_url=base_url,
    )


async def _stream(
    mock: MockOpenAI, request: web.Request, rec: RecordedRequest, planned: PlannedImages, body: Any
) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=mock._headers(rec))
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    rec.status = 200
    await response.prepare(request)
    events = planned.events(int(body.get("partial_images") or 0))
    dies = rec.fault is not None and rec.fault.kind == "die_after"
    for event in events[: rec.fault.after_chunks] if rec.fault is not None and dies else events:
        await response.write(f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n")
        rec.response_chunks.append(event)
    if dies:
        await mock._drain(request)
        mock._abort(request, rec, "aborted")
        return response
    rec.done_sent = True
    await response.write_eof()
    return response


# --------------------------------------------------------------------------- checks of what was sent


_STREAM_SCHEMAS: Final = {
    "image_generation.partial_image": "ImageGenPartialImageEvent",
    "image_generation.completed": "ImageGenCompletedEvent",
    "image_edit.partial_image": "ImageEditPartialImageEvent",
    "image_edit.completed": "ImageEditCompletedEvent",
}


def assert_emitted_valid(rec: RecordedRequest) -> None:
    """An images answer (or its stream events) against the spec, closed world."""
    body = rec.response_json
    if isinstance(body, dict) and "error" in body:
        assert set(body) == {"error"}, body
        schemas.validate("openai", "Error", body["error"], closed=True)
    elif body is not None:
        schemas.validate("openai", "ImagesResponse", body, closed=True)
    for event in rec.response_chunks:
        schemas.validate("openai", _STREAM_SCHEMAS[event["type"]], event, closed=True)
