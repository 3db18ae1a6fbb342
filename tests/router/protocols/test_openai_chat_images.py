"""Images through chat completions (OpenRouter's image models): the answers that carry no image."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from support.png import png
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir_images import ImageRequest
from torouter.router.protocols.openai import chat_images

PICTURE = "data:image/png;base64," + base64.b64encode(png(2, 2)).decode()


def completion(message: dict[str, Any], finish: str = "stop", **usage: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage or None,
    }


def test_images_text_and_usage_are_read() -> None:
    result = chat_images.read_response(
        completion(
            {"content": "A cat.", "images": [{"type": "image_url", "image_url": {"url": PICTURE}}]},
            prompt_tokens=10,
            completion_tokens=1300,
            completion_tokens_details={"image_tokens": 1290},
            prompt_tokens_details={"image_tokens": 4},
        )
    )
    assert [(i.media_type, i.revised_prompt) for i in result.images] == [("image/png", "A cat.")]
    assert result.usage is not None
    assert (result.usage.input_text_tokens, result.usage.input_image_tokens) == (6, 4)
    assert (result.usage.output_text_tokens, result.usage.output_image_tokens) == (10, 1290)
    camel = chat_images.read_response(
        completion({"content": None, "images": [{"imageUrl": {"url": PICTURE}}]})
    )
    assert len(camel.images) == 1 and camel.images[0].revised_prompt is None


@pytest.mark.parametrize(
    ("answer", "code", "words"),
    [
        (
            completion({"content": "I can't draw that."}, "content_filter"),
            ErrorCode.INVALID_REQUEST,
            "safety",
        ),
        (completion({"content": "Here you go!"}), ErrorCode.UPSTREAM_ERROR, "without an image"),
        (
            completion({"images": [{"image_url": {"url": "https://cdn.example/a.png"}}]}),
            ErrorCode.UPSTREAM_ERROR,
            "not sent as data: URLs",
        ),
        ({"error": "nope"}, ErrorCode.UPSTREAM_ERROR, "malformed"),
    ],
)
def test_an_answer_without_an_image_is_an_error(answer: Any, code: ErrorCode, words: str) -> None:
    with pytest.raises(GatewayError) as info:
        chat_images.read_response(answer)
    assert info.value.code == code and words in info.value.message


def test_modalities_follow_the_model_and_the_caller() -> None:
    request = ImageRequest("generations", "m", "a cat")
    assert chat_images.write_request(request, "google/gemini-2.5-flash-image")["modalities"] == [
        "image",
        "text",
    ]
    assert chat_images.write_request(request, "black-forest-labs/flux.2-pro")["modalities"] == ["image"]
    request.extra = {"modalities": ["image", "text"]}
    assert chat_images.write_request(request, "sourceful/riverflow")["modalities"] == ["image", "text"]
