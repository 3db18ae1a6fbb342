"""The OpenRouter-flavoured MockOpenAI's image models: chat completions asked with ``modalities``
(openrouter.ai/docs/guides/overview/multimodal/image-generation).

- Image models are :data:`IMAGE_MODELS`: ``google/gemini-2.5-flash-image`` writes text and images,
  ``black-forest-labs/flux.2-pro`` images only. They are served when listed in the mock's
  ``models`` (:data:`MODELS` adds them to the flavour's defaults).
- ``modalities`` is an array of ``"text"``/``"image"``; a model that cannot give every modality
  asked for → 404 "No endpoints found that support the requested output modalities: …" (OpenRouter's
  words), and so does ``"image"`` asked of a text model. An image model asked without ``"image"``
  answers text as any model does.
- ``image_config``: an object of ``aspect_ratio`` (Gemini's ratios,
  :data:`support.gemini_upstream.ASPECT_RATIOS`) and ``image_size`` (``1K``/``2K``/``4K``);
  anything else → 400.
- ``image_url`` parts of the messages must be http(s) URLs or ``data:image/…;base64,`` URLs of real
  PNG/JPEG bytes, else 400 (the real API fails to read them).
- Answer (non-stream; a stream asking for images is refused, the mock does not model image
  deltas): ``message.images`` holds one ``{type: "image_url", image_url: {url: "data:image/png;…"}}``
  whose PNG has the aspect ratio (longer side 16 pixels) and a colour seeded by the answer id;
  ``message.content`` is ``"Mock image of: <prompt text>"`` for a text-writing model and ``""``
  otherwise. ``usage.completion_tokens`` adds :data:`IMAGE_TOKENS`, reported again as
  ``completion_tokens_details.image_tokens``; ``prompt_tokens_details.image_tokens`` counts one
  token per input image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Final

from .gemini_upstream import ASPECT_RATIOS, IMAGE_SIZES
from .png import is_png, png

IMAGE_MODELS: Final = {"google/gemini-2.5-flash-image": True, "black-forest-labs/flux.2-pro": False}
MODELS: Final = tuple(IMAGE_MODELS)
IMAGE_TOKENS: Final = 1290
FIELDS: Final = ("modalities", "image_config")


def fields_problem(body: Mapping[str, Any]) -> str | None:
    """Type and value checks of ``modalities`` and ``image_config`` (a 400 message, or None)."""
    chosen = body.get("modalities")
    if chosen is not None and (
        not isinstance(chosen, list) or not chosen or not all(m in ("text", "image") for m in chosen)
    ):
        return "Invalid 'modalities': expected a non-empty array of 'text' and 'image'."
    config = body.get("image_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        return "Invalid type for 'image_config': expected an object."
    for key, value in config.items():
        if key == "aspect_ratio" and value not in ASPECT_RATIOS:
            return f"Invalid 'image_config.aspect_ratio': {value!r}."
        if key == "image_size" and value not in IMAGE_SIZES:
            return f"Invalid 'image_config.image_size': {value!r}."
        if key not in ("aspect_ratio", "image_size"):
            return f"Unknown parameter: 'image_config.{key}'."
    return None


def wants_images(body: Mapping[str, Any]) -> bool:
    return "image" in (body.get("modalities") or [])


def modality_problem(body: Mapping[str, Any], model: str) -> str | None:
    """The 404 message when the model cannot give the modalities asked for, else None."""
    chosen = list(body.get("modalities") or [])
    if not wants_images(body):
        return None
    writes_text = IMAGE_MODELS.get(model)
    if writes_text is None or ("text" in chosen and not writes_text):
        return f"No endpoints found that support the requested output modalities: {', '.join(chosen)}"
    return None


def input_image_problem(body: Mapping[str, Any]) -> str | None:
    """A 400 message for an ``image_url`` the real API could not read."""
    for url in input_image_urls(body):
        if url.startswith(("http://", "https://")):
            continue
        header, comma, data = url.partition(",")
        if not comma or not header.startswith("data:image/") or not header.endswith(";base64"):
            return f"Invalid image URL: {url[:40]!r}."
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error:
            return "Invalid image data: not base64."
        if not (is_png(raw) or raw.startswith(b"\xff\xd8\xff")):
            return "Invalid image data: not a PNG or JPEG image."
    return None


def input_image_urls(body: Mapping[str, Any]) -> list[str]:
    urls = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                urls.append(str((part.get("image_url") or {}).get("url", "")))
    return urls


def dimensions(body: Mapping[str, Any]) -> tuple[int, int]:
    ratio = str((body.get("image_config") or {}).get("aspect_ratio") or "1:1")
    width, _, height = ratio.partition(":")
    w, h = int(width), int(height)
    scale = 16 / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def add_images(completion: dict[str, Any], body: Mapping[str, Any], model: str) -> None:
    """Turn an answer (OpenRouter's shape, already planned) into the image model's answer."""
    red, green, blue = hashlib.sha256(str(completion["id"]).encode()).digest()[:3]
    url = (
        "data:image/png;base64," + base64.b64encode(png(*dimensions(body), (red, green, blue, 255))).decode()
    )
    prompt = " ".join(_last_user_text(body).split())
    for choice in completion["choices"]:
        message = choice["message"]
        message["content"] = f"Mock image of: {prompt}" if IMAGE_MODELS[model] else ""
        message["images"] = [{"type": "image_url", "image_url": {"url": url}}]
        choice["finish_reason"] = choice["native_finish_reason"] = "stop"
    usage = completion["usage"]
    usage["completion_tokens"] += IMAGE_TOKENS * len(completion["choices"])
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    details = usage.setdefault("completion_tokens_details", {})
    details["image_tokens"] = IMAGE_TOKENS * len(completion["choices"])
    usage.setdefault("prompt_tokens_details", {})["image_tokens"] = len(input_image_urls(body))
    usage["cost"] = round(usage["prompt_tokens"] * 1e-6 + usage["completion_tokens"] * 5e-6, 9)


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(list(body.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", ""))
                    for p in content
                    if isinstance(p, Mapping) and p.get("type") == "text"
                )
    return ""


def without_images(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message with the ``images`` OpenRouter adds taken out (for the OpenAI schema)."""
    return {k: v for k, v in message.items() if k != "images"}
