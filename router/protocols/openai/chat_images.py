"""Image models that answer OpenAI chat completions with images, for OpenAI images callers.

OpenRouter's image models (``google/gemini-2.5-flash-image``, ``black-forest-labs/flux.2-pro``, ...)
have no ``/images`` endpoints: they answer ``/chat/completions`` asked with ``modalities``
(openrouter.ai/docs/guides/overview/multimodal/image-generation). Any OpenAI-protocol upstream
without the images endpoints is called this way.

Request: one user message, the prompt as its content; an edit adds one ``image_url`` part per
input image (uploaded bytes as ``data:`` URLs; http(s) URLs as they are, the upstream fetches
them) and the mask as one more image, with a sentence in the prompt saying what it is.
``modalities`` is ``["image", "text"]`` for the models that write text beside images (Google's
and OpenAI's) and ``["image"]`` for the others (image-only models refuse text output); the caller
can set it with ``extra_body``. ``size`` becomes ``image_config.aspect_ratio`` (the nearest ratio
offered), ``quality`` ``image_config.image_size`` on Gemini 3 models; an ``image_config`` sent
with ``extra_body`` is merged over those. ``n`` is not a choice count here: the handler makes
``n`` calls. Also passed from ``extra_body``: :data:`PASSED_FIELDS`. What the chat form cannot
carry is a 400 naming the field: a transparent ``background``, an ``output_format`` other than
PNG, images by file id, other uploaded files. ``style``, ``moderation``, ``input_fidelity``,
``output_compression`` and ``partial_images`` are dropped.

Response: each choice's ``message.images`` (``{type: "image_url", image_url: {url: "data:…"}}``)
are the images, its text the ``revised_prompt`` of the call's first image; ``usage``: prompt tokens
as input (image tokens from ``prompt_tokens_details.image_tokens``), completion tokens as output
(image tokens from ``completion_tokens_details.image_tokens``, all of them when it is absent).
OpenRouter's ``usage.cost`` has no place in an ``ImagesResponse``: it goes to the usage record
only. An answer with no image is a 400 ``content_policy_violation`` when a filter stopped it, else
a 502.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from ...errors import ErrorCode, GatewayError
from ...ir import JSONDict
from ...ir_images import GeneratedImage, ImageRequest, ImageResult, ImageUsage, InputImage
from ..common import data_url, split_data_url
from ..image_options import check_common, image_config, result_of, with_mask_note

OPERATION: Final = "chat.completions"
TEXT_AND_IMAGE: Final = ("image", "text")
IMAGE_ONLY: Final = ("image",)
# Authors of image models that write text too (a text-and-image request is refused by the others).
TEXT_WRITING_AUTHORS: Final = ("google/", "openai/")
# Chat fields an images caller may add with extra_body (OpenRouter's routing and accounting ones).
PASSED_FIELDS: Final = ("provider", "models", "transforms", "plugins", "usage", "user", "seed")
_BLOCKED_FINISHES: Final = frozenset({"content_filter", "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT"})


def _bad(message: str, param: str | None) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def modalities(model: str) -> list[str]:
    return list(TEXT_AND_IMAGE if model.startswith(TEXT_WRITING_AUTHORS) else IMAGE_ONLY)


def check_request(request: ImageRequest) -> None:
    """A 400 for what the chat form cannot carry (module docstring), before any call."""
    check_common(request, "Image models behind chat completions", _url)
    chosen = request.extra.get("modalities")
    if chosen is not None and not (
        isinstance(chosen, list) and chosen and all(m in TEXT_AND_IMAGE for m in chosen) and "image" in chosen
    ):
        raise _bad('\'modalities\' must be ["image"] or ["image", "text"].', "modalities")
    if not isinstance(request.extra.get("image_config", {}), dict):
        raise _bad("'image_config' must be an object.", "image_config")


def _url(image: InputImage, param: str) -> str:
    if image.data is not None:
        return data_url(image.media_type or "image/png", base64.b64encode(image.data).decode())
    if image.url is not None:
        return image.url
    raise _bad(
        "Image models behind chat completions cannot read OpenAI file ids: send a data: URL or upload "
        "the file.",
        param,
    )


def write_request(request: ImageRequest, model: str) -> JSONDict:
    """The chat completions body of one image (the handler sends it ``n`` times; ``check_request``
    first)."""
    prompt = with_mask_note(request.prompt, request.mask is not None)
    images = [*request.images, *([request.mask] if request.mask is not None else [])]
    content: str | list[JSONDict] = prompt
    if images:
        content = [{"type": "text", "text": prompt}]
        content += [
            {"type": "image_url", "image_url": {"url": _url(image, f"images[{i}]")}}
            for i, image in enumerate(images)
        ]
    body: JSONDict = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "modalities": request.extra.get("modalities") or modalities(model),
    }
    config: JSONDict = {**image_config(request, model, "aspect_ratio", "image_size")}
    config.update(request.extra.get("image_config") or {})
    if config:
        body["image_config"] = config
    for name in PASSED_FIELDS:
        if name in request.extra:
            body[name] = request.extra[name]
    return body


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _detail(usage: JSONDict, key: str) -> int | None:
    details = usage.get(key)
    value = details.get("image_tokens") if isinstance(details, dict) else None
    return _count(value) if value is not None else None


def read_usage(raw: Any) -> ImageUsage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = _count(raw.get("prompt_tokens")), _count(raw.get("completion_tokens"))
    image_in = min(_detail(raw, "prompt_tokens_details") or 0, prompt)
    image_out = _detail(raw, "completion_tokens_details")
    image_out = completion if image_out is None else min(image_out, completion)
    cost = raw.get("cost")  # OpenRouter's: kept for the usage record, not written back
    return ImageUsage(
        input_text_tokens=prompt - image_in,
        input_image_tokens=image_in,
        output_text_tokens=completion - image_out,
        output_image_tokens=image_out,
        cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


def _image_url(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    holder = item.get("image_url", item.get("imageUrl"))  # raw JSON, or a camel-casing SDK's
    url = holder.get("url") if isinstance(holder, dict) else holder
    return url if isinstance(url, str) else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def read_response(body: Any) -> ImageResult:
    """The images of one chat completion (module docstring)."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise GatewayError(ErrorCode.UPSTREAM_ERROR, "the upstream sent a malformed chat completion")
    images: list[GeneratedImage] = []
    texts: list[str] = []
    finishes: list[str] = []
    skipped = 0
    for choice in body["choices"]:
        if not isinstance(choice, dict):
            continue
        for key in ("finish_reason", "native_finish_reason"):
            if isinstance(choice.get(key), str):
                finishes.append(choice[key])
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        for item in message.get("images") or []:
            url = _image_url(item)
            parts = split_data_url(url) if url is not None else None
            if parts is not None and parts[0].startswith("image/") and parts[1]:
                images.append(GeneratedImage(parts[1], parts[0]))
            else:
                skipped += 1
        text = _text(message.get("content")).strip()
        if text:
            texts.append(text)
    what = f"with {skipped} image(s) not sent as data: URLs" if skipped else "without an image"
    usage = read_usage(body.get("usage"))
    return result_of(images, " ".join(texts), finishes, _BLOCKED_FINISHES, usage, what)
