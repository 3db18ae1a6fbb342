"""Gemini image models (``gemini-2.5-flash-image``, ``gemini-3-pro-image-preview``, ...) for OpenAI
images callers, through ``generateContent`` with image output (TRANSLATION §10.2).

Request: one user content, the prompt as text and, for an edit, each input image as an
``inlineData`` part; ``generationConfig.responseModalities`` ``["TEXT", "IMAGE"]`` (what every
Gemini image model accepts). ``size`` becomes ``imageConfig.aspectRatio`` (the nearest ratio
Gemini offers); ``quality`` becomes ``imageConfig.imageSize`` on the models that take one
(``gemini-3``); ``n`` is not a candidate count (image models make one candidate): the handler
makes ``n`` calls. A ``mask`` is sent as one more image, after the others, with a sentence in the
prompt that says what it is (Gemini has no masks). What Gemini cannot do is a 400 naming the
field: a transparent ``background``, an ``output_format`` other than PNG (the gateway does not
transcode), images by http(s) URL or by file id (the gateway fetches nothing: send ``data:`` URLs or
upload files), other uploaded files. ``style``, ``moderation``, ``user``, ``input_fidelity``,
``output_compression`` and ``partial_images`` are dropped.

Response: the candidates' ``inlineData`` image parts (thought images left out) are the images; their
text becomes the ``revised_prompt`` of the call's first image; ``usageMetadata`` the usage (image
and text tokens by modality, thoughts counted as output text). A blocked prompt or a safety finish
is a 400 ``content_policy_violation``; an answer without an image a 502.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from ...errors import ErrorCode, GatewayError
from ...ir import JSONDict
from ...ir_images import GeneratedImage, ImageRequest, ImageResult, ImageUsage, InputImage
from ..common import split_data_url
from ..image_options import check_common, image_config, result_of, with_mask_note

RESPONSE_MODALITIES: Final = ("TEXT", "IMAGE")
_BLOCKED_FINISHES: Final = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)


def _bad(message: str, param: str | None) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def is_imagen(model: str) -> bool:
    """Imagen models make images through ``:predict``, which the gateway does not speak."""
    return model.removeprefix("models/").startswith("imagen-")


def check_request(request: ImageRequest) -> None:
    """A 400 for what a Gemini image model cannot do (module docstring), before any call."""
    if is_imagen(request.model):
        raise _bad(
            f"`{request.model}` is an Imagen model, which the gateway does not serve: ask for a Gemini "
            "image model such as gemini-2.5-flash-image.",
            "model",
        )
    check_common(request, "Gemini image models", _check_reference)


def _check_reference(image: InputImage, param: str) -> None:
    if image.data is not None or (image.url is not None and split_data_url(image.url) is not None):
        return
    if image.url is not None:
        raise _bad(
            "Gemini image models take images as data: URLs or uploaded files; the gateway does not "
            "fetch http(s) URLs.",
            f"{param}.image_url",
        )
    raise _bad("Gemini image models cannot read OpenAI file ids: send a data: URL or upload the file.", param)


def _inline(image: InputImage, param: str) -> JSONDict:
    _check_reference(image, param)
    if image.data is not None:
        data = base64.b64encode(image.data).decode()
        return {"inlineData": {"mimeType": image.media_type or "image/png", "data": data}}
    assert image.url is not None
    media_type, data = split_data_url(image.url) or ("", "")
    return {"inlineData": {"mimeType": media_type, "data": data}}


def write_request(request: ImageRequest, model: str) -> JSONDict:
    """The ``generateContent`` body of one image (the handler sends it ``n`` times)."""
    prompt = with_mask_note(request.prompt, request.mask is not None)
    parts: list[JSONDict] = [{"text": prompt}]
    parts += [_inline(image, f"images[{i}]") for i, image in enumerate(request.images)]
    if request.mask is not None:
        parts.append(_inline(request.mask, "mask"))
    config: JSONDict = {"responseModalities": list(RESPONSE_MODALITIES)}
    sizes = image_config(request, model, "aspectRatio", "imageSize")
    if sizes:
        config["imageConfig"] = sizes
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():  # int64 fields may come as strings
        return int(value)
    return 0


def _by_modality(details: Any, modality: str) -> int | None:
    if not isinstance(details, list):
        return None
    return sum(
        _count(item.get("tokenCount"))
        for item in details
        if isinstance(item, dict) and item.get("modality") == modality
    )


def read_usage(raw: Any) -> ImageUsage | None:
    if not isinstance(raw, dict):
        return None
    prompt = _count(raw.get("promptTokenCount"))
    candidates = _count(raw.get("candidatesTokenCount"))
    thoughts = _count(raw.get("thoughtsTokenCount"))
    image_in = _by_modality(raw.get("promptTokensDetails"), "IMAGE") or 0
    image_out = _by_modality(raw.get("candidatesTokensDetails"), "IMAGE")
    if image_out is None:
        image_out = candidates
    return ImageUsage(
        input_text_tokens=max(prompt - image_in, 0),
        input_image_tokens=image_in,
        output_text_tokens=max(candidates - image_out, 0) + thoughts,
        output_image_tokens=image_out,
    )


def read_response(body: Any) -> ImageResult:
    """The images of one ``GenerateContentResponse`` (module docstring)."""
    if not isinstance(body, dict):
        raise GatewayError(ErrorCode.UPSTREAM_ERROR, "the upstream sent a malformed generateContent response")
    feedback = body.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if reason:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"The upstream's safety system rejected the prompt ({reason}).",
            param="prompt",
            vendor_code="content_policy_violation",
        )
    images: list[GeneratedImage] = []
    texts: list[str] = []
    finishes: list[str] = []
    candidates = body.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else []:
        if not isinstance(candidate, dict):
            continue
        if isinstance(candidate.get("finishReason"), str):
            finishes.append(candidate["finishReason"])
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict) or part.get("thought"):
                continue
            blob = part.get("inlineData")
            if isinstance(blob, dict) and isinstance(blob.get("data"), str) and blob["data"]:
                media_type = str(blob.get("mimeType") or "image/png")
                if media_type.startswith("image/"):
                    images.append(GeneratedImage(blob["data"], media_type))
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
    text = " ".join(t.strip() for t in texts if t.strip())
    usage = read_usage(body.get("usageMetadata"))
    return result_of(images, text, finishes, _BLOCKED_FINISHES, usage)
