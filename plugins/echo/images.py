"""Echo's images: asked through chat completions with ``modalities`` containing ``"image"`` (the
convention of OpenRouter's image models, which is how the gateway calls an OpenAI-protocol upstream
without the images endpoints), echo adds to each answer message one PNG of a single colour drawn
from the prompt, in the aspect ratio of ``image_config.aspect_ratio`` (longer side
:data:`LONG_SIDE` pixels), as ``message.images: [{type: "image_url", image_url: {url: "data:…"}}]``."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from typing import Any, Final

LONG_SIDE: Final = 64
IMAGE_TOKENS: Final = 1290  # what the real image models report for one 1024×1024 image


def wants_images(extra: dict[str, Any]) -> bool:
    modalities = extra.get("modalities")
    return isinstance(modalities, list) and "image" in modalities


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A ``width`` × ``height`` PNG of one colour (8-bit RGB)."""
    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def dimensions(extra: dict[str, Any]) -> tuple[int, int]:
    config = extra.get("image_config")
    ratio = config.get("aspect_ratio") if isinstance(config, dict) else None
    width, colon, height = str(ratio or "1:1").partition(":")
    if not colon or not width.isdigit() or not height.isdigit() or "0" in (width, height):
        return LONG_SIDE, LONG_SIDE
    w, h = int(width), int(height)
    scale = LONG_SIDE / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def picture_url(prompt: str, extra: dict[str, Any], salt: str) -> str:
    red, green, blue = hashlib.sha256(f"{salt}:{prompt}".encode()).digest()[:3]
    data = png(*dimensions(extra), (red, green, blue))
    return "data:image/png;base64," + base64.b64encode(data).decode()


def add_images(body: dict[str, Any], prompt: str, extra: dict[str, Any]) -> None:
    """Adds one image to each choice's message of a chat completion body, and its tokens."""
    for choice in body.get("choices", []):
        url = picture_url(prompt, extra, f"{body.get('id')}/{choice.get('index')}")
        choice["message"]["images"] = [{"type": "image_url", "image_url": {"url": url}}]
    usage = body.get("usage")
    if isinstance(usage, dict):
        added = IMAGE_TOKENS * len(body.get("choices", []))
        usage["completion_tokens"] = usage.get("completion_tokens", 0) + added
        usage["total_tokens"] = usage.get("total_tokens", 0) + added
        details = usage.setdefault("completion_tokens_details", {})
        details["image_tokens"] = added
