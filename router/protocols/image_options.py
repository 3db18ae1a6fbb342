"""What every translation of an OpenAI images request to a chat-like image model shares: the
aspect ratios image models offer for ``size``, the resolution steps for ``quality``, and how a
``mask`` is described to a model that has no masks.

Used by the Gemini ``generateContent`` images (``gemini/images.py``) and by image models that
answer OpenAI chat completions (``openai/chat_images.py``), which take the same ratios and sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from ..errors import ErrorCode, GatewayError
from ..ir_images import GeneratedImage, ImageRequest, ImageResult, ImageUsage, InputImage

ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES: Final = {"low": "1K", "standard": "1K", "medium": "2K", "hd": "2K", "high": "4K"}
SHOWN_TEXT: Final = 300  # characters of a model's words quoted when it made no image
MASK_NOTE: Final = (
    "The last image is a mask: edit only the areas where it is fully transparent, and keep "
    "everything else of the first image unchanged."
)


def aspect_ratio(size: str | None) -> str | None:
    """``1536x1024`` → ``3:2``: the aspect ratio nearest to the size's (None for ``auto``)."""
    if size is None or size == "auto":
        return None
    width, x, height = size.lower().partition("x")
    if not x or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"Invalid value for 'size': {size!r}. Use 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'.",
            param="size",
        )
    wanted = math.log(int(width) / int(height))

    def distance(ratio: str) -> float:
        w, _, h = ratio.partition(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def takes_image_size(model: str) -> bool:
    """Only the Gemini 3 image models take a resolution (``models/gemini-3-pro-image-preview``,
    ``google/gemini-3-pro-image-preview``)."""
    return model.rpartition("/")[2].startswith("gemini-3")


def image_size(model: str, quality: str | None) -> str | None:
    """The resolution step a ``quality`` stands for, on the models that take one."""
    return IMAGE_SIZES.get(quality or "") if takes_image_size(model) else None


def image_config(request: ImageRequest, model: str, ratio_key: str, size_key: str) -> dict[str, str]:
    """The aspect ratio ``size`` stands for and the resolution ``quality`` stands for (on the models
    that take one), under the keys the upstream names them by; empty when neither applies."""
    config: dict[str, str] = {}
    ratio = aspect_ratio(request.size)
    if ratio is not None:
        config[ratio_key] = ratio
    resolution = image_size(model, request.quality)
    if resolution is not None:
        config[size_key] = resolution
    return config


def with_mask_note(prompt: str, has_mask: bool) -> str:
    return f"{prompt}\n\n{MASK_NOTE}" if has_mask else prompt


def check_common(
    request: ImageRequest, models: str, check_image: Callable[[InputImage, str], object]
) -> None:
    """The 400s every chat-like image model shares, naming the field, before any call: no
    transparent background, PNG only (the gateway converts nothing), ``image`` and ``mask`` files
    only, a ``size`` that is a ratio; then ``check_image(image, param)`` on each input image and
    the mask. ``models`` names them in the messages ("Gemini image models")."""
    if request.background == "transparent":
        _refuse(f"{models} cannot make transparent backgrounds.", "background")
    if request.output_format not in (None, "png"):
        _refuse(
            f"{models} answer with images in the format they make, and the gateway does not convert "
            f"them to {request.output_format!r}: ask for 'png' or leave 'output_format' out.",
            "output_format",
        )
    if request.other_files:
        name = request.other_files[0]
        _refuse(f"{models} take 'image' and 'mask' files only, not {name!r}.", name)
    aspect_ratio(request.size)
    for index, image in enumerate(request.images):
        check_image(image, f"images[{index}]")
    if request.mask is not None:
        check_image(request.mask, "mask")


def _refuse(message: str, param: str) -> None:
    raise GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def result_of(
    images: list[GeneratedImage],
    text: str,
    finishes: list[str],
    blocked: frozenset[str],
    usage: ImageUsage | None,
    missing: str = "without an image",
) -> ImageResult:
    """One call's result: its images, its text as the first image's ``revised_prompt``. With no
    image: a 400 ``content_policy_violation`` when a finish reason is in ``blocked``, else a 502
    saying the upstream answered ``missing`` (both quote what the model said)."""
    if not images:
        said = f" It said: {text[:SHOWN_TEXT]}" if text else ""
        stopped = next((f for f in finishes if f in blocked), None)
        if stopped is not None:
            raise GatewayError(
                ErrorCode.INVALID_REQUEST,
                f"The upstream's safety system stopped the image ({stopped}).{said}",
                vendor_code="content_policy_violation",
            )
        finish = finishes[0] if finishes else "none"
        raise GatewayError(
            ErrorCode.UPSTREAM_ERROR, f"The upstream answered {missing} (finish reason {finish}).{said}"
        )
    if text:
        images[0].revised_prompt = text
    return ImageResult(images, usage)
