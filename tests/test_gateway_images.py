"""OpenAI /v1/images/generations and /v1/images/edits through the gateway, with the official openai
SDK: passthrough to OpenAI upstreams (JSON, multipart encoded again), translated to generateContent
for Gemini image models and to chat completions with ``modalities`` for OpenRouter's image models
(and echo's), a clear 400 for Claude; bad multipart bodies get a clear 4xx, never a 500.

These tests run their own gateway (image models on the mocks, and the default 32 MB body limit, so
that the 25 MiB per-file limit can be met before the body limit).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types import ImagesResponse

from support import schemas
from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.gemini_upstream import DEFAULT_MODELS as GEMINI_MODELS
from support.gemini_upstream import Fault as GeminiFault
from support.gemini_upstream import MockGemini
from support.openai_images import IMAGE_MODELS, Form, parse_form
from support.openai_upstream import DEFAULT_MODELS as OPENAI_MODELS
from support.openai_upstream import Fault, MockOpenAI
from support.png import is_png, png, png_size
from torouter.router.call import Call, Context
from torouter.router.operations.images import ImagesHandler
from torouter.router.plugins import load_registry
from torouter.router.protocols.image_options import MASK_NOTE
from torouter.router.upstreams.base import UpstreamResponse

GEMINI_IMAGE = "gemini-2.5-flash-image"
OPENROUTER_IMAGE = "google/gemini-2.5-flash-image"
FLUX = "black-forest-labs/flux.2-pro"
KEYS = {
    "openai": "tr-images-openai",
    "gemini": "tr-images-gemini",
    "claude": "tr-images-claude",
    "openrouter": "tr-images-openrouter",
    "echo": "tr-images-echo",
}
MIB = 1024 * 1024


@dataclass
class ImagesStack:
    gateway: Gateway
    oai: MockOpenAI
    gemini: MockGemini
    orouter: MockOpenAI

    def client(self, group: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.gateway.base_url}/v1", api_key=KEYS[group], max_retries=0)

    def url(self, path: str = "/v1/images/edits") -> str:
        return f"{self.gateway.base_url}{path}"


@pytest.fixture(scope="module")
async def images_stack() -> AsyncIterator[ImagesStack]:
    async with (
        MockOpenAI(name="images", models=[*OPENAI_MODELS, *IMAGE_MODELS]) as oai,
        MockGemini(
            name="images", models=[*GEMINI_MODELS, GEMINI_IMAGE, "gemini-3-pro-image-preview"]
        ) as gemini,
        MockAnthropic(name="images") as claude,
        MockOpenAI(name="images-or", flavour="openrouter") as orouter,
    ):
        config = {
            "router": {"retries": 0},
            "upstreams": {
                "oai": {
                    "kind": "openai",
                    "base_url": oai.base_url,
                    "api_key": oai.api_key,
                    "models": oai.models,
                },
                "gem": {
                    "kind": "gemini",
                    "base_url": gemini.base_url,
                    "api_key": gemini.api_key,
                    "models": [*gemini.models, "imagen-4.0-generate-001"],
                },
                "claude": {
                    "kind": "anthropic",
                    "base_url": claude.base_url,
                    "api_key": claude.api_key,
                    "models": claude.models,
                },
                "orouter": {
                    "kind": "openrouter",
                    "base_url": orouter.base_url,
                    "api_key": orouter.api_key,
                    "models": orouter.models,
                },
                "echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["echo-image"]},
            },
            "groups": {
                "openai": {"upstreams": ["oai"]},
                "gemini": {"upstreams": ["gem"]},
                "claude": {"upstreams": ["claude"]},
                "openrouter": {"upstreams": ["orouter"]},
                "echo": {"upstreams": ["echo"]},
            },
            "keys": [{"name": f"{group}-images", "key": key, "group": group} for group, key in KEYS.items()],
        }
        async with Gateway(config, max_body_mb=32) as gateway:
            yield ImagesStack(gateway, oai, gemini, orouter)


@pytest.fixture
async def images(images_stack: ImagesStack) -> ImagesStack:
    images_stack.oai.reset()
    images_stack.gemini.reset()
    images_stack.orouter.reset()
    return images_stack


def decoded(b64: str | None) -> bytes:
    assert b64 is not None
    data = base64.b64decode(b64)
    assert is_png(data)
    return data


def valid_images_response(raw: httpx.Response) -> dict[str, Any]:
    assert raw.status_code == 200, raw.text
    body = raw.json()
    schemas.validate("openai", "ImagesResponse", body, closed=True)
    return body


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error body of a gateway answer, checked to be OpenAI's format with ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    schemas.validate("openai", "Error", body["error"], closed=True)
    return body["error"]


def sent_form(images: ImagesStack) -> Form:
    rec = images.oai.image_requests[-1]
    form = parse_form(rec.headers["Content-Type"], rec.body)
    assert isinstance(form, Form), form
    return form


# ------------------------------------------------------------------------------------ generations


async def test_generate_on_an_openai_group_passes_through(images: ImagesStack) -> None:
    client = images.client("openai")
    raw = await client.images.with_raw_response.generate(
        model="gpt-image-1", prompt="a red fox", n=2, size="1536x1024", quality="high"
    )
    body = valid_images_response(raw.http_response)
    result = raw.parse()
    assert [png_size(decoded(d.b64_json)) for d in result.data or []] == [(24, 16), (24, 16)]
    assert (result.size, result.quality, result.output_format) == ("1536x1024", "high", "png")
    assert result.usage is not None and result.usage.output_tokens == 2 * 4160
    assert raw.http_response.headers["x-torouter-upstream"] == "oai"
    sent = images.oai.image_requests[-1]
    assert sent.json == {
        "model": "gpt-image-1",
        "prompt": "a red fox",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
    }
    assert body == sent.response_json  # the upstream's answer, untouched

    url = await client.images.generate(model="dall-e-3", prompt="a blue whale", response_format="url")
    assert url.data and url.data[0].url and url.data[0].revised_prompt == "Mock revised: a blue whale"
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url.data[0].url)
    assert is_png(fetched.content) and png_size(fetched.content) == (16, 16)

    small = await client.images.generate(
        model="dall-e-2", prompt="x", size="256x256", response_format="b64_json"
    )
    assert small.data and png_size(decoded(small.data[0].b64_json)) == (4, 4)
    images.oai.assert_emitted_valid()


async def test_generation_errors_are_the_upstreams_or_the_gateways(images: ImagesStack) -> None:
    client = images.client("openai")
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gpt-image-1", prompt="x", quality="hd")  # the upstream's 400
    assert info.value.code == "invalid_value" and info.value.param == "quality"
    assert len(images.oai.image_requests) == 1
    for bad, param in (
        ({"n": 11}, "n"),
        ({"prompt": ""}, "prompt"),
        ({"response_format": "png"}, "response_format"),
    ):
        arguments: dict[str, Any] = {"model": "gpt-image-1", "prompt": "x", **bad}
        with pytest.raises(openai.BadRequestError) as info:
            await client.images.generate(**arguments)
        assert info.value.param == param
    assert len(images.oai.image_requests) == 1  # refused before any upstream
    with pytest.raises(openai.BadRequestError) as info:
        await images.client("claude").images.generate(model="claude-haiku-4-5", prompt="x")
    assert "cannot make images" in info.value.message and "gemini-2.5-flash-image" in info.value.message
    with pytest.raises(openai.NotFoundError):
        await client.images.generate(model="no-such-image-model", prompt="x")


async def test_generate_on_a_gemini_group_is_translated(images: ImagesStack) -> None:
    client = images.client("gemini")
    raw = await client.images.with_raw_response.generate(
        model=GEMINI_IMAGE, prompt="a lighthouse at dusk", n=2, size="1792x1024", quality="high"
    )
    valid_images_response(raw.http_response)
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    pictures = [decoded(d.b64_json) for d in result.data]
    assert [png_size(p) for p in pictures] == [(16, 9), (16, 9)]  # 16:9, as Gemini was asked
    assert pictures[0] != pictures[1]  # two calls, two images
    assert result.data[0].revised_prompt == "Mock image of: a lighthouse at dusk"
    assert result.output_format == "png"
    sent = images.gemini.generate_requests
    assert len(sent) == 2 and all(r.path == f"/v1beta/models/{GEMINI_IMAGE}:generateContent" for r in sent)
    assert sent[0].json == {
        "contents": [{"role": "user", "parts": [{"text": "a lighthouse at dusk"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9"}},
    }  # no imageSize: Gemini 2.5 image models have one size
    usage = result.usage
    assert usage is not None and usage.output_tokens_details is not None
    assert usage.output_tokens_details.image_tokens == 2 * 1290
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.text_tokens == usage.input_tokens

    as_url = await client.images.generate(
        model="gemini-3-pro-image-preview", prompt="a tree", response_format="url", quality="medium"
    )
    assert as_url.data and (as_url.data[0].url or "").startswith("data:image/png;base64,")
    assert is_png(base64.b64decode((as_url.data[0].url or "").partition(",")[2]))
    assert images.gemini.generate_requests[-1].json["generationConfig"]["imageConfig"] == {"imageSize": "2K"}
    images.gemini.assert_emitted_valid()

    images.gemini.enqueue(GeminiFault.unavailable(delay_s=0.05))  # one of the n calls fails
    with pytest.raises(openai.InternalServerError) as failed:
        await client.images.generate(model=GEMINI_IMAGE, prompt="x", n=3)
    assert failed.value.status_code == 503


async def test_what_gemini_cannot_do_is_a_400_naming_the_field(images: ImagesStack) -> None:
    client = images.client("gemini")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"background": "transparent"}, "background"),
        ({"output_format": "jpeg"}, "output_format"),
        ({"size": "large"}, "size"),
        ({"model": "imagen-4.0-generate-001"}, "model"),
    ]
    for bad, param in cases:
        arguments: dict[str, Any] = {"model": GEMINI_IMAGE, "prompt": "x", **bad}
        with pytest.raises(openai.BadRequestError) as info:
            await client.images.generate(**arguments)
        assert info.value.param == param, info.value.message
    assert not images.gemini.generate_requests
    with pytest.raises(openai.BadRequestError) as info:  # not an image model: Gemini says so
        await client.images.generate(model="gemini-2.5-flash", prompt="x")
    assert "response modalities" in info.value.message


async def test_generate_on_an_openrouter_group_goes_through_chat_with_modalities(images: ImagesStack) -> None:
    client = images.client("openrouter")
    raw = await client.images.with_raw_response.generate(
        model=OPENROUTER_IMAGE,
        prompt="a lighthouse at dusk",
        n=2,
        size="1792x1024",
        quality="high",
        extra_body={"provider": {"order": ["google-ai-studio"]}, "style": "vivid"},
    )
    valid_images_response(raw.http_response)
    assert raw.http_response.headers["x-torouter-upstream"] == "orouter"
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    pictures = [decoded(d.b64_json) for d in result.data]
    assert [png_size(p) for p in pictures] == [(16, 9), (16, 9)]
    assert pictures[0] != pictures[1]  # two calls, two images
    assert result.data[0].revised_prompt == "Mock image of: a lighthouse at dusk"
    assert result.data[1].revised_prompt == "Mock image of: a lighthouse at dusk"
    sent = images.orouter.chat_requests
    assert len(sent) == 2 and all(r.path == "/v1/chat/completions" for r in sent)
    assert sent[0].json == {
        "model": OPENROUTER_IMAGE,
        "messages": [{"role": "user", "content": "a lighthouse at dusk"}],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9"},  # no image_size: a Gemini 2.5 model
        "provider": {"order": ["google-ai-studio"]},  # OpenRouter's routing, from extra_body
    }  # `style` has no place in a chat request: dropped
    usage = result.usage
    assert usage is not None and usage.output_tokens_details is not None
    assert usage.output_tokens_details.image_tokens == 2 * 1290
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    images.orouter.assert_emitted_valid()

    flux = await client.images.generate(
        model=FLUX, prompt="a fox", response_format="url", extra_body={"image_config": {"image_size": "2K"}}
    )
    assert flux.data and (flux.data[0].url or "").startswith("data:image/png;base64,")
    assert flux.data[0].revised_prompt is None  # an image-only model says nothing
    assert images.orouter.chat_requests[-1].json["modalities"] == ["image"]
    assert images.orouter.chat_requests[-1].json["image_config"] == {"image_size": "2K"}

    stream = await client.images.generate(model=OPENROUTER_IMAGE, prompt="a kite", n=2, stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.completed"] * 2
    for event in events:
        schemas.validate(
            "openai", "ImageGenCompletedEvent", event.model_dump(exclude_unset=True), closed=True
        )
    assert not any(r.stream for r in images.orouter.chat_requests)  # images come whole


async def test_what_an_openrouter_image_model_cannot_do(images: ImagesStack) -> None:
    client = images.client("openrouter")
    for bad, param in (
        ({"background": "transparent"}, "background"),
        ({"output_format": "webp"}, "output_format"),
        ({"size": "big"}, "size"),
        ({"extra_body": {"modalities": ["text"]}}, "modalities"),
    ):
        arguments: dict[str, Any] = {"model": OPENROUTER_IMAGE, "prompt": "x", **bad}
        with pytest.raises(openai.BadRequestError) as info:
            await client.images.generate(**arguments)
        assert info.value.param == param, info.value.message
    assert not images.orouter.chat_requests  # refused before any upstream
    with pytest.raises(openai.NotFoundError) as missing:  # a text model: OpenRouter's own answer
        await client.images.generate(model="openai/gpt-4o-mini", prompt="x")
    assert "output modalities" in missing.value.message
    by_id = {"model": OPENROUTER_IMAGE, "prompt": "x", "images": [{"file_id": "file-1"}]}
    with pytest.raises(openai.BadRequestError) as refused:
        await client.post("/images/edits", body=by_id, cast_to=ImagesResponse)
    assert "file ids" in refused.value.message and refused.value.param == "images[0]"


async def test_edit_on_an_openrouter_group_sends_image_parts(images: ImagesStack) -> None:
    first, second, mask = uploads()
    result = await edit_with_a_mask(images.client("openrouter"), OPENROUTER_IMAGE)
    sent = images.orouter.chat_requests[-1].json
    content = sent["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": f"put a hat on it\n\n{MASK_NOTE}"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert all(url.startswith("data:image/png;base64,") for url in urls)  # sniffed, not as declared
    assert [base64.b64decode(url.partition(",")[2]) for url in urls] == [first, second, mask]
    assert sent["image_config"] == {"aspect_ratio": "2:3"}
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 3
    images.orouter.assert_emitted_valid()

    body = {
        "model": OPENROUTER_IMAGE,
        "prompt": "brighter",
        "images": [{"image_url": "https://example.com/c.png"}],
    }
    by_url = await images.client("openrouter").post("/images/edits", body=body, cast_to=ImagesResponse)
    assert by_url.data  # the JSON form: http(s) URLs as they are, OpenRouter fetches them
    parts = images.orouter.chat_requests[-1].json["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/c.png"}}


async def test_the_echo_upstream_makes_images_too(images: ImagesStack) -> None:
    client = images.client("echo")
    made = await client.images.generate(model="echo-image", prompt="a red boat", size="1024x1536", n=2)
    assert made.data and len(made.data) == 2
    pictures = [decoded(d.b64_json) for d in made.data]
    assert [png_size(p) for p in pictures] == [(43, 64)] * 2  # 2:3, longer side 64
    assert made.data[0].revised_prompt == "a red boat"
    assert made.usage is not None and made.usage.output_tokens_details is not None
    assert made.usage.output_tokens_details.image_tokens == 2 * 1290
    first, _, mask = uploads()
    edited = await client.images.edit(
        model="echo-image", image=("a.png", first, "image/png"), mask=("m.png", mask), prompt="x", stream=True
    )
    assert [e.type async for e in edited] == ["image_edit.completed"]


async def test_image_streams(images: ImagesStack) -> None:
    stream = await images.client("openai").images.generate(
        model="gpt-image-1", prompt="a kite", stream=True, partial_images=1
    )
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    images.oai.assert_emitted_valid()

    images.oai.enqueue(Fault.die_after(1), endpoint="images")  # the partial image, then nothing
    cut = await images.client("openai").images.generate(
        model="gpt-image-1", prompt="a kite", stream=True, partial_images=1
    )
    with pytest.raises(openai.APIError) as info:
        _ = [event async for event in cut]
    assert "broke the stream off mid-way" in info.value.message  # an error event ends the stream

    first, _, mask = uploads()
    edited = await images.client("openai").images.edit(
        model="gpt-image-1",
        image=("a.png", first, "image/png"),
        mask=("m.png", mask),
        prompt="x",
        stream=True,
    )
    assert [e.type async for e in edited] == ["image_edit.completed"]
    assert sent_form(images).fields["stream"] == ["true"]
    images.oai.assert_emitted_valid()

    stream = await images.client("gemini").images.generate(
        model=GEMINI_IMAGE, prompt="a kite", n=2, stream=True
    )
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.completed"] * 2
    for event in events:
        schemas.validate(
            "openai", "ImageGenCompletedEvent", event.model_dump(exclude_unset=True), closed=True
        )
        assert png_size(decoded(event.b64_json)) == (16, 16)


# ------------------------------------------------------------------------------------ edits


def uploads() -> tuple[bytes, bytes, bytes]:
    return png(8, 8, (10, 20, 30, 255)), png(8, 8, (40, 50, 60, 255)), png(8, 8, (0, 0, 0, 0))


async def edit_with_a_mask(client: openai.AsyncOpenAI, model: str) -> ImagesResponse:
    """Two images (the second declared as octet-stream) and a mask, 2:3; checked and parsed."""
    first, second, mask = uploads()
    raw = await client.images.with_raw_response.edit(
        model=model,
        image=[("first.png", first, "image/png"), ("second.png", second, "application/octet-stream")],
        mask=("mask.png", mask, "image/png"),
        prompt="put a hat on it",
        size="1024x1536",
    )
    valid_images_response(raw.http_response)
    result = raw.parse()
    assert result.data and png_size(decoded(result.data[0].b64_json)) == (11, 16)  # 2:3
    return result


async def test_edit_on_an_openai_group_sends_the_multipart_form_again(images: ImagesStack) -> None:
    first, second, mask = uploads()
    raw = await images.client("openai").images.with_raw_response.edit(
        model="gpt-image-1",
        image=[("first.png", first, "image/png"), ("second.png", second, "image/png")],
        mask=("mask.png", mask, "image/png"),
        prompt="put a hat on it",
        n=2,
        quality="low",
        input_fidelity="high",
    )
    valid_images_response(raw.http_response)
    result = raw.parse()
    assert [png_size(decoded(d.b64_json)) for d in result.data or []] == [(8, 8), (8, 8)]
    form = sent_form(images)
    assert [(f.field, f.filename, f.content_type, f.data) for f in form.files] == [
        ("image[]", "first.png", "image/png", first),
        ("image[]", "second.png", "image/png", second),
        ("mask", "mask.png", "image/png", mask),
    ]
    assert form.fields == {
        "model": ["gpt-image-1"],
        "prompt": ["put a hat on it"],
        "n": ["2"],
        "quality": ["low"],
        "input_fidelity": ["high"],
    }
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 2 * 65

    one = await images.client("openai").images.edit(
        model="dall-e-2", image=("one.png", first, "image/png"), prompt="brighter", response_format="b64_json"
    )
    assert one.data and png_size(decoded(one.data[0].b64_json)) == (8, 8)
    assert [f.field for f in sent_form(images).files] == ["image"]
    images.oai.assert_emitted_valid()


async def test_edit_on_a_gemini_group_sends_inline_images(images: ImagesStack) -> None:
    first, second, mask = uploads()
    result = await edit_with_a_mask(images.client("gemini"), GEMINI_IMAGE)
    sent = images.gemini.generate_requests[-1].json
    parts = sent["contents"][0]["parts"]
    assert parts[0] == {"text": f"put a hat on it\n\n{MASK_NOTE}"}
    assert [base64.b64decode(p["inlineData"]["data"]) for p in parts[1:]] == [first, second, mask]
    assert {p["inlineData"]["mimeType"] for p in parts[1:]} == {"image/png"}  # sniffed, not as declared
    assert sent["generationConfig"]["imageConfig"] == {"aspectRatio": "2:3"}
    revised = result.data[0].revised_prompt or ""  # the mock's text: what it was asked
    assert revised.startswith("Mock image of: put a hat on it")
    assert revised.endswith("[image] [image] [image]")
    usage = result.usage
    assert usage is not None and usage.input_tokens_details.image_tokens == 3
    images.gemini.assert_emitted_valid()


async def test_the_json_form_of_edits(images: ImagesStack) -> None:
    first, _, mask = uploads()
    as_url = "data:image/png;base64," + base64.b64encode(first).decode()
    mask_url = "data:image/png;base64," + base64.b64encode(mask).decode()
    body = {
        "model": "gpt-image-1",
        "prompt": "add snow",
        "images": [{"image_url": as_url}],
        "mask": {"image_url": mask_url},
    }
    result = await images.client("openai").post("/images/edits", body=body, cast_to=ImagesResponse)
    assert result.data and png_size(decoded(result.data[0].b64_json)) == (8, 8)  # the input's size
    sent = images.oai.image_requests[-1]
    assert sent.headers["Content-Type"] == "application/json" and sent.json == body

    gemini_body = {**body, "model": GEMINI_IMAGE}
    result = await images.client("gemini").post("/images/edits", body=gemini_body, cast_to=ImagesResponse)
    assert result.data and result.data[0].b64_json
    parts = images.gemini.generate_requests[-1].json["contents"][0]["parts"]
    assert [p["inlineData"]["data"] for p in parts[1:]] == [
        as_url.partition(",")[2],
        mask_url.partition(",")[2],
    ]
    for bad, param in (
        ({"images": [{"image_url": "https://example.com/a.png"}]}, "images[0].image_url"),
        ({"images": [{"file_id": "file-abc"}]}, "images[0]"),
    ):
        with pytest.raises(openai.BadRequestError) as info:
            await images.client("gemini").post(
                "/images/edits", body={**gemini_body, **bad}, cast_to=ImagesResponse
            )
        assert info.value.param == param
    with pytest.raises(openai.BadRequestError) as info:
        await images.client("openai").post(
            "/images/edits", body={"model": "gpt-image-1", "prompt": "x"}, cast_to=ImagesResponse
        )
    assert info.value.param == "images"


# ------------------------------------------------------------------------------------ bad multipart


def multipart(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary", end: bool = True) -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            body += b"Content-Type: image/png\r\n"
        body += b"\r\n" + data + b"\r\n"
    return body + (f"--{boundary}--\r\n".encode() if end else b"")


async def post_form(
    images: ImagesStack, body: bytes, content_type: str = "multipart/form-data; boundary=b0undary"
) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS['openai']}", "content-type": content_type}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(images.url(), content=body, headers=headers)


async def test_bad_multipart_bodies_get_a_clear_4xx(images: ImagesStack) -> None:
    fields = [("model", None, b"gpt-image-1"), ("prompt", None, b"x")]
    picture = png(4, 4)
    cases: list[tuple[bytes, str, int, str | None, str]] = [
        (
            multipart(*fields),
            "multipart/form-data; boundary=b0undary",
            400,
            "image",
            "Missing required parameter: 'image'",
        ),
        (
            multipart(*fields, ("image", "notes.txt", b"hello, not an image")),
            "multipart/form-data; boundary=b0undary",
            400,
            "image",
            "is not an image",
        ),
        (
            multipart(*fields, ("image", "a.png", picture), ("mask", "m.png", b"GIF8 nope")),
            "multipart/form-data; boundary=b0undary",
            400,
            "mask",
            "is not an image",
        ),
        (
            multipart(*fields, *[("image[]", f"{i}.png", picture) for i in range(17)]),
            "multipart/form-data; boundary=b0undary",
            400,
            "image",
            "at most 16",
        ),
        (
            multipart(*fields, ("image", "a.png", picture), end=False)[:-20],  # cut inside the image
            "multipart/form-data; boundary=b0undary",
            400,
            None,
            "malformed or truncated",
        ),
        (
            multipart(*fields, ("image", "a.png", picture)),
            "multipart/form-data",
            400,
            None,
            "malformed or truncated",
        ),
        (b"no multipart here", "multipart/form-data; boundary=b0undary", 400, None, "malformed or truncated"),
        (
            multipart(*fields, ("image", "big.png", picture + b"\0" * (25 * MIB))),
            "multipart/form-data; boundary=b0undary",
            413,
            "image",
            "per part",
        ),
        (
            multipart(*fields, ("prompt", None, b"p" * (MIB + 1)), ("image", "a.png", picture)),
            "multipart/form-data; boundary=b0undary",
            413,
            "prompt",
            "per part",
        ),
        (
            multipart(*fields, ("prompt", None, b"again"), ("image", "a.png", picture)),
            "multipart/form-data; boundary=b0undary",
            400,
            "prompt",
            "sent more than once",
        ),
    ]
    for body, content_type, status, param, words in cases:
        error = openai_error(await post_form(images, body, content_type), status)
        assert error["param"] == param and words in error["message"], error
    assert not images.oai.image_requests  # none reached the upstream


async def test_a_body_over_the_limit_is_413_and_a_good_raw_form_works(images: ImagesStack) -> None:
    too_big = multipart(("image", "big.png", png(4, 4) + b"\0" * (33 * MIB)))
    openai_error(await post_form(images, too_big), 413)

    async def chunked() -> AsyncIterator[bytes]:  # no content-length: the edge counts as it reads
        for start in range(0, len(too_big), MIB):
            yield too_big[start : start + MIB]

    headers = {
        "authorization": f"Bearer {KEYS['openai']}",
        "content-type": "multipart/form-data; boundary=b0undary",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        error = openai_error(await http.post(images.url(), content=chunked(), headers=headers), 413)
    assert "limit" in error["message"]
    fields = [("model", None, b"gpt-image-1"), ("prompt", None, "a café".encode()), ("n", None, b"1")]
    response = await post_form(images, multipart(*fields, ("image", "a.png", png(4, 4))))
    assert response.status_code == 200, response.text
    assert sent_form(images).fields["prompt"] == ["a café"]
    assert orjson.loads(response.content)["data"][0]["b64_json"]


# ------------------------------------------------------------------------------------ the relay


async def test_the_image_stream_relay_keeps_events_whole_and_reports_a_missing_end() -> None:
    partial = b'event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image"}\n\n'
    completed = b'event: image_generation.completed\r\ndata: {"type":"image_generation.completed"}\r\n\r\n'
    ctx = Context(
        Call("openai", "images.generations", b"", "key", "req"), load_registry().protocols["openai"], 0, 0
    )
    upstream = SimpleNamespace(config=SimpleNamespace(name="oai"))

    async def relayed(stream: bytes, piece: int) -> list[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(stream), piece):
                yield stream[start : start + piece]

        response = UpstreamResponse(200, {}, chunks=chunks())
        relay = ImagesHandler._relay(None, ctx, upstream, response)  # type: ignore[arg-type]
        return [chunk async for chunk in relay]

    for piece in (1, 3, 7, 1000):
        out = await relayed(partial + completed, piece)
        assert b"".join(out) == partial + completed
        assert all(chunk.endswith((b"\n\n", b"\r\n\r\n")) for chunk in out)  # whole events only
    cut = await relayed(partial, 5)
    assert b"".join(cut[:-1]) == partial and b"ended the image stream before" in cut[-1]
    assert orjson.loads(cut[-1].removeprefix(b"data: "))["error"]["code"] == "upstream_error"
