"""The neutral form of image generation and editing: what a caller asked for and what came back.

Read from OpenAI's images API (``protocols/openai/images.py``) and written to an upstream that
makes images some other way (``protocols/gemini/images.py``). Kept beside ``ir.py``, on the same
floor: it imports nothing of the gateway but the JSON alias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .ir import JSONDict

ImageOperation = Literal["generations", "edits"]


@dataclass(slots=True)
class InputImage:
    """An image to edit: uploaded bytes (``data``), or a reference (an http(s) or ``data:`` URL,
    or a provider's file id)."""

    data: bytes | None = None
    media_type: str | None = None
    filename: str | None = None
    url: str | None = None
    file_id: str | None = None


@dataclass(slots=True)
class ImageRequest:
    """An image generation (``prompt`` only) or edit (``images``, optionally a ``mask``)."""

    operation: ImageOperation
    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    response_format: str | None = None  # "url" | "b64_json"
    output_format: str | None = None  # "png" | "jpeg" | "webp"
    background: str | None = None
    stream: bool = False
    images: list[InputImage] = field(default_factory=list)
    mask: InputImage | None = None
    other_files: list[str] = field(default_factory=list)  # form fields of files that are neither
    extra: JSONDict = field(default_factory=dict)  # everything else the caller sent


@dataclass(slots=True)
class GeneratedImage:
    data_b64: str
    media_type: str
    revised_prompt: str | None = None


@dataclass(slots=True)
class ImageUsage:
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_text_tokens: int = 0
    output_image_tokens: int = 0
    cost: float | None = None  # what the upstream says the call cost (OpenRouter's usage.cost)

    @property
    def input_tokens(self) -> int:
        return self.input_text_tokens + self.input_image_tokens

    @property
    def output_tokens(self) -> int:
        return self.output_text_tokens + self.output_image_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: ImageUsage) -> None:
        self.input_text_tokens += other.input_text_tokens
        self.input_image_tokens += other.input_image_tokens
        self.output_text_tokens += other.output_text_tokens
        self.output_image_tokens += other.output_image_tokens
        if other.cost is not None:
            self.cost = other.cost + (self.cost or 0.0)


@dataclass(slots=True)
class ImageResult:
    """What one upstream call made: its images and its usage."""

    images: list[GeneratedImage]
    usage: ImageUsage | None = None


@dataclass(slots=True)
class ImageResponse:
    created: int
    images: list[GeneratedImage]
    usage: ImageUsage | None = None
