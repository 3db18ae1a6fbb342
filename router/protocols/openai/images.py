"""OpenAI's images API: ``CreateImageRequest``, ``CreateImageEditRequest`` (multipart) and
``EditImageBodyJsonParam`` (JSON) read into the neutral form; ``ImagesResponse`` and the stream's
``image_generation.completed`` / ``image_edit.completed`` events written from it; and the multipart
form of an edit written again for an OpenAI upstream.

A multipart edit reaches the router as its text fields (a JSON object of strings, decoded at the
edge) plus its files: numbers and booleans may therefore come as strings (``"n": "2"``) and are
read as such. Only the rules that hold for every model are checked here (types, ``prompt``, ``n``
between 1 and 10, ``response_format``, the images of an edit); the rest is the upstream's to say,
so that new values work on day one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

import aiohttp
import orjson

from ...errors import ErrorCode, GatewayError
from ...ir import JSONDict
from ...ir_images import (
    GeneratedImage,
    ImageOperation,
    ImageRequest,
    ImageResponse,
    ImageResult,
    ImageUsage,
    InputImage,
)
from ..common import Malformed, compact_json, data_url, json_type
from ..sse import format_event

OPERATIONS: Final[dict[str, ImageOperation]] = {"images.generations": "generations", "images.edits": "edits"}
IMAGE_FIELDS: Final = ("image", "image[]")
MASK_FIELD: Final = "mask"
MAX_IMAGES: Final = 16
MAX_N: Final = 10
RESPONSE_FORMATS: Final = ("url", "b64_json")
_KNOWN: Final = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "response_format",
        "output_format",
        "background",
        "stream",
        "images",
        "mask",
        "image",
    }
)
_FORMATS: Final = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}


class UploadedFileLike(Protocol):
    """An uploaded file as the router holds it (``router.call.UploadedFile``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


def _bad(message: str, param: str | None) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def _scalar(body: JSONDict, key: str, form: bool) -> Any:
    value = body.get(key)
    if form and isinstance(value, list):  # the edge makes a list of a field sent more than once
        raise _bad(f"The form field '{key}' was sent more than once.", key)
    return value


def _string(body: JSONDict, key: str, form: bool) -> str | None:
    value = _scalar(body, key, form)
    if value is None or isinstance(value, str):
        return value
    raise _bad(f"Invalid type for '{key}': expected a string, but got {json_type(value)} instead.", key)


def _integer(body: JSONDict, key: str, form: bool) -> int | None:
    value = _scalar(body, key, form)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if form and isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 20:
        return int(value)  # (no 64-bit integer has more than 20 characters)
    raise _bad(f"Invalid type for '{key}': expected an integer, but got {json_type(value)} instead.", key)


def _boolean(body: JSONDict, key: str, form: bool) -> bool | None:
    value = _scalar(body, key, form)
    if value is None or isinstance(value, bool):
        return value
    if form and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"Invalid type for '{key}': expected a boolean, but got {json_type(value)} instead.", key)


def read_request(operation: str, body: JSONDict, files: Sequence[UploadedFileLike] = ()) -> ImageRequest:
    """The neutral form of an images request; a 400 naming the field for what no model accepts."""
    kind = OPERATIONS[operation]
    form = bool(files)
    model = _string(body, "model", form)
    if not model:
        raise _bad("you must provide a model parameter", "model")
    prompt = _string(body, "prompt", form)
    if not prompt:
        raise _bad("Missing required parameter: 'prompt'.", "prompt")
    n = _integer(body, "n", form)
    if n is not None and not 1 <= n <= MAX_N:
        raise _bad(f"Invalid 'n': {n}. 'n' must be between 1 and {MAX_N}.", "n")
    response_format = _string(body, "response_format", form)
    if response_format is not None and response_format not in RESPONSE_FORMATS:
        raise _bad(
            f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'.",
            "response_format",
        )
    request = ImageRequest(
        operation=kind,
        model=model,
        prompt=prompt,
        n=n or 1,
        size=_string(body, "size", form),
        quality=_string(body, "quality", form),
        response_format=response_format,
        output_format=_string(body, "output_format", form),
        background=_string(body, "background", form),
        stream=bool(_boolean(body, "stream", form)),
        extra={key: value for key, value in body.items() if key not in _KNOWN},
    )
    if kind == "edits":
        if form:
            _read_files(request, files)
        else:
            _read_references(request, body)
    return request


def _read_files(request: ImageRequest, files: Sequence[UploadedFileLike]) -> None:
    for upload in files:
        image = InputImage(data=upload.data, media_type=upload.content_type, filename=upload.filename)
        if upload.field in IMAGE_FIELDS:
            request.images.append(image)
        elif upload.field == MASK_FIELD:
            request.mask = image
        else:
            request.other_files.append(upload.field)
    if not request.images:
        raise _bad("Missing required parameter: 'image'.", "image")


def _reference(value: Any, path: str) -> InputImage:
    if not isinstance(value, dict):
        raise _bad(
            f"Invalid type for '{path}': expected an object, but got {json_type(value)} instead.", path
        )
    url, file_id = value.get("image_url"), value.get("file_id")
    if (url is None) == (file_id is None):
        raise _bad(f"'{path}' must have exactly one of 'image_url' or 'file_id'.", path)
    if url is not None and not (isinstance(url, str) and url):
        raise _bad(f"Invalid type for '{path}.image_url': expected a string.", f"{path}.image_url")
    if file_id is not None and not (isinstance(file_id, str) and file_id):
        raise _bad(f"Invalid type for '{path}.file_id': expected a string.", f"{path}.file_id")
    return InputImage(url=url, file_id=file_id)


def _read_references(request: ImageRequest, body: JSONDict) -> None:
    images = body.get("images")
    if images is None:
        raise _bad(
            "Missing required parameter: 'images'. Send a JSON body with 'images': "
            "[{'image_url': ...}], or the images as multipart/form-data 'image' files.",
            "images",
        )
    if not isinstance(images, list) or not images:
        raise _bad("'images' must be a non-empty array of {'image_url'} or {'file_id'} objects.", "images")
    if len(images) > MAX_IMAGES:
        raise _bad(f"Too many images: at most {MAX_IMAGES} per request.", "images")
    request.images = [_reference(item, f"images[{i}]") for i, item in enumerate(images)]
    if body.get("mask") is not None:
        request.mask = _reference(body["mask"], "mask")


# ---------------------------------------------------------------------------- responses


def output_format(media_type: str) -> str | None:
    return _FORMATS.get(media_type)


def _usage(usage: ImageUsage) -> JSONDict:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "text_tokens": usage.input_text_tokens,
            "image_tokens": usage.input_image_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {
            "image_tokens": usage.output_image_tokens,
            "text_tokens": usage.output_text_tokens,
        },
        "total_tokens": usage.total_tokens,
    }


def write_response(response: ImageResponse, request: ImageRequest) -> JSONDict:
    """An ``ImagesResponse``: ``b64_json``, or with ``response_format: url`` a ``data:`` URL (the
    gateway hosts no files)."""
    data: list[JSONDict] = []
    for image in response.images:
        item: JSONDict = (
            {"url": data_url(image.media_type, image.data_b64)}
            if request.response_format == "url"
            else {"b64_json": image.data_b64}
        )
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    out: JSONDict = {"created": response.created, "data": data}
    formats = {output_format(image.media_type) for image in response.images}
    if len(formats) == 1 and None not in formats and "gif" not in formats:
        out["output_format"] = formats.pop()
    if response.usage is not None:
        out["usage"] = _usage(response.usage)
    return out


_MEDIA_TYPES: Final = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def read_response(body: bytes) -> ImageResult | None:
    """An upstream's ``ImagesResponse`` whose images are all base64 (what a stream's
    ``*.completed`` events can carry), else None."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, list) or not data:
        return None
    media_type = _MEDIA_TYPES.get(str(parsed.get("output_format") or "png"), "image/png")
    images: list[GeneratedImage] = []
    for item in data:
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        if not isinstance(b64, str):
            return None
        revised = item.get("revised_prompt")
        images.append(GeneratedImage(b64, media_type, revised if isinstance(revised, str) else None))
    return ImageResult(images, _read_usage(parsed.get("usage")))


def _read_usage(usage: object) -> ImageUsage | None:
    if not isinstance(usage, dict):
        return None

    def count(section: object, key: str) -> int:
        value = section.get(key) if isinstance(section, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    inputs, outputs = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    text_in = count(inputs, "text_tokens")
    image_in = count(inputs, "image_tokens")
    if not text_in and not image_in:
        text_in = count(usage, "input_tokens")
    image_out = count(outputs, "image_tokens") if isinstance(outputs, dict) else count(usage, "output_tokens")
    return ImageUsage(text_in, image_in, count(outputs, "text_tokens"), image_out)


def completed_events(request: ImageRequest, created: int, results: Sequence[ImageResult]) -> bytes:
    """The stream of a request answered whole: one ``*.completed`` event per image (no partial
    images). The first image of each upstream call carries that call's usage."""
    kind = "image_generation.completed" if request.operation == "generations" else "image_edit.completed"
    frames = []
    for result in results:
        for index, image in enumerate(result.images):
            usage = result.usage if index == 0 and result.usage is not None else ImageUsage()
            event = {
                "type": kind,
                "b64_json": image.data_b64,
                "created_at": created,
                "size": "auto",
                "quality": "auto",
                "background": "auto",
                "output_format": output_format(image.media_type) or "png",
                "usage": {
                    "input_tokens": usage.input_tokens,
                    "input_tokens_details": {
                        "text_tokens": usage.input_text_tokens,
                        "image_tokens": usage.input_image_tokens,
                    },
                    "output_tokens": usage.output_tokens,
                    "total_tokens": usage.total_tokens,
                },
            }
            frames.append(format_event(orjson.dumps(event), kind))
    return b"".join(frames)


# ---------------------------------------------------------------------------- multipart, again


def _form_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float):
        return [str(value)]
    try:
        return [compact_json(value, "body")]
    except Malformed as exc:
        raise _bad(exc.message, None) from None


async def write_form(body: JSONDict, files: Sequence[UploadedFileLike], model: str) -> tuple[bytes, str]:
    """The edit as ``multipart/form-data`` again: the caller's fields (``model`` as the upstream
    names it) and files, in order. Returns the body and its content type (with the boundary)."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in body.items():
        for text in _form_values(model if name == "model" else value):
            form.add_field(name, text)
    for upload in files:
        form.add_field(
            upload.field,
            upload.data,
            filename=upload.filename or upload.field.rstrip("[]"),
            content_type=upload.content_type,
        )
    payload = form()
    return await payload.as_bytes(), payload.content_type
