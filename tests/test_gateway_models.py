"""/v1/models answers in the caller's protocol: OpenAI's by default, Anthropic's with
anthropic-version, for the caller's group only."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from support.schemas import validate
from support.stack import KEYS, Stack


def anthropic_client(stack: Stack, group: str = "openai") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=stack.gateway.base_url, api_key=KEYS[group], max_retries=0)


async def test_anthropic_sdk_lists_the_groups_models_with_paging(fresh: Stack) -> None:
    client = anthropic_client(fresh)
    everything = [m.id async for m in client.models.list(limit=2)]  # the SDK follows the cursor
    assert everything[: len(fresh.upstream.models)] == list(fresh.upstream.models)
    assert "house-model" in everything and "secret-model" not in everything
    first = await client.models.list(limit=2)
    assert [m.id for m in first.data] == list(fresh.upstream.models[:2]) and first.has_more
    raw = await client.models.with_raw_response.list(limit=2)
    validate("anthropic", "ListResponse_ModelInfo_", raw.http_response.json())
    model = await client.models.retrieve("gpt-5")
    assert model.id == "gpt-5" and model.type == "model"
    raw_model = await client.models.with_raw_response.retrieve("gpt-5")
    validate("anthropic", "ModelInfo", raw_model.http_response.json())


async def test_anthropic_models_errors_are_anthropic_shaped(fresh: Stack) -> None:
    client = anthropic_client(fresh)
    with pytest.raises(anthropic.NotFoundError):
        await client.models.retrieve("no-such-model")
    with pytest.raises(anthropic.PermissionDeniedError):
        await client.models.retrieve("secret-model")
    with pytest.raises(anthropic.BadRequestError):
        await client.models.list(limit=5000)
    with pytest.raises(anthropic.AuthenticationError):
        await anthropic.AsyncAnthropic(
            base_url=fresh.gateway.base_url, api_key="nope", max_retries=0
        ).models.list()


async def test_models_under_every_mount_and_header(fresh: Stack) -> None:
    async with httpx.AsyncClient(base_url=fresh.gateway.base_url) as http:
        openai_style = await http.get("/api/v1/models", headers={"authorization": f"Bearer {KEYS['demo']}"})
        anthropic_style = await http.get(
            "/v1/models", headers={"x-api-key": KEYS["demo"], "anthropic-version": "2023-06-01"}
        )
    assert openai_style.json()["object"] == "list"
    assert [m["id"] for m in openai_style.json()["data"]] == ["echo-1"]
    assert (
        anthropic_style.json()["data"][0]["type"] == "model" and anthropic_style.json()["has_more"] is False
    )
