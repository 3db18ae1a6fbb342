"""Embeddings on every group: OpenAI /v1/embeddings passed through to OpenAI and OpenRouter
upstreams, translated to batchEmbedContents on a Gemini group, made by echo; Gemini callers'
embedContent/batchEmbedContents translated to OpenAI's; a clear 400 on Claude."""

from __future__ import annotations

import math

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from support.stack import KEYS, OPENROUTER_ATTRIBUTION, Stack


async def test_default_base64_and_float_embeddings_from_gemini(fresh: Stack) -> None:
    client = fresh.client("gemini")
    default = await client.embeddings.create(model="gemini-embedding-001", input=["one", "two", "three"])
    assert [d.index for d in default.data] == [0, 1, 2]  # order kept
    assert all(len(d.embedding) == 768 for d in default.data)  # the SDK decoded our base64
    sent = fresh.gemini.requests[-1]
    assert sent.path.endswith("models/gemini-embedding-001:batchEmbedContents")
    assert [r["content"]["parts"][0]["text"] for r in sent.json["requests"]] == ["one", "two", "three"]
    assert all(r["model"] == "models/gemini-embedding-001" for r in sent.json["requests"])

    floats = await client.embeddings.create(
        model="gemini-embedding-001", input="hello", encoding_format="float", dimensions=8
    )
    vector = floats.data[0].embedding
    assert len(vector) == 8 and math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-6)
    assert fresh.gemini.requests[-1].json["requests"][0]["outputDimensionality"] == 8
    assert floats.usage.prompt_tokens > 0 and floats.model == "gemini-embedding-001"


async def test_token_ids_cannot_go_to_gemini(fresh: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await fresh.client("gemini").embeddings.create(model="gemini-embedding-001", input=[[1, 2, 3]])
    assert "token ids" in info.value.message and not fresh.gemini.requests


async def test_a_claude_group_has_no_embeddings_and_says_so(fresh: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await fresh.client("claude").embeddings.create(model="claude-haiku-4-5", input="x")
    assert "has no embeddings endpoint" in info.value.message and "gemini-embedding-001" in info.value.message


async def test_malformed_embedding_requests_are_400(fresh: Stack) -> None:
    client = fresh.client("gemini")
    for bad in ({"input": []}, {"input": [""]}, {"input": "x", "dimensions": 0}, {"input": {"a": 1}}):
        with pytest.raises(openai.BadRequestError):
            await client.embeddings.create(model="gemini-embedding-001", **bad)  # type: ignore[arg-type]


async def test_embeddings_pass_through_to_openai(fresh: Stack) -> None:
    model = "text-embedding-3-small"
    client = fresh.client("openai")
    default = await client.embeddings.create(model=model, input=["one", "two"])  # the SDK asks for base64
    assert [len(d.embedding) for d in default.data] == [1536, 1536]
    assert default.usage.prompt_tokens == 2
    floats = await client.embeddings.create(
        model=model, input="hello world", encoding_format="float", dimensions=8
    )
    assert len(floats.data[0].embedding) == 8
    tokens = await client.embeddings.create(model=model, input=[[1, 2, 3], [4, 5]], encoding_format="float")
    assert len(tokens.data) == 2 and tokens.usage.prompt_tokens == 5


async def test_embeddings_on_an_openrouter_group(fresh: Stack) -> None:
    model = "openai/text-embedding-3-small"
    client = fresh.client("openrouter")
    default = await client.embeddings.create(model=model, input=["one", "two"])  # base64, decoded
    assert [len(d.embedding) for d in default.data] == [1536, 1536]
    sent = fresh.openrouter.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.json == {"model": model, "input": ["one", "two"], "encoding_format": "base64"}
    assert fresh.openrouter.attribution(sent) == OPENROUTER_ATTRIBUTION  # the upstream's headers
    floats = await client.embeddings.create(model=model, input="hello", encoding_format="float", dimensions=8)
    vector = floats.data[0].embedding
    assert len(vector) == 8 and math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-6)
    assert floats.model == model

    gemini = genai.Client(
        api_key=KEYS["openrouter"], http_options=types.HttpOptions(base_url=fresh.gateway.base_url)
    )
    result = await gemini.aio.models.embed_content(  # a Gemini caller, translated to OpenAI's form
        model=model, contents=["one", "two"], config=types.EmbedContentConfig(output_dimensionality=8)
    )
    assert result.embeddings and [len(e.values or []) for e in result.embeddings] == [8, 8]
    assert fresh.openrouter.requests[-1].json == {
        "model": model,
        "input": ["one", "two"],
        "dimensions": 8,
        "encoding_format": "float",
    }


async def test_the_echo_upstream_answers_embeddings(fresh: Stack) -> None:
    client = fresh.client("demo")
    default = await client.embeddings.create(model="echo-1", input=["same", "same", "other"])
    vectors = [d.embedding for d in default.data]
    assert [len(v) for v in vectors] == [1536] * 3
    assert vectors[0] == vectors[1] != vectors[2]  # the same text, the same vector
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in vectors)
    assert default.usage.prompt_tokens > 0
    floats = await client.embeddings.create(
        model="echo-1", input=[[1, 2, 3]], encoding_format="float", dimensions=4
    )
    assert len(floats.data[0].embedding) == 4 and floats.usage.prompt_tokens == 3


async def test_gemini_callers_embed_on_every_group(fresh: Stack) -> None:
    def client(group: str) -> genai.Client:
        return genai.Client(
            api_key=KEYS[group], http_options=types.HttpOptions(base_url=fresh.gateway.base_url)
        )

    on_openai = await client("openai").aio.models.embed_content(
        model="text-embedding-3-small", contents=["alpha", "beta", "gamma"]
    )
    assert on_openai.embeddings and [len(e.values or []) for e in on_openai.embeddings] == [1536] * 3
    assert fresh.upstream.requests[-1].json["input"] == ["alpha", "beta", "gamma"]
    echoed = await client("demo").aio.models.embed_content(model="echo-1", contents="hello")
    assert echoed.embeddings and len(echoed.embeddings[0].values or []) == 1536

    async with httpx.AsyncClient(base_url=fresh.gateway.base_url) as http:
        single = await http.post(  # the single form, which the SDK does not use for the Gemini API
            "/v1beta/models/text-embedding-3-small:embedContent",
            headers={"x-goog-api-key": KEYS["openai"]},
            json={"content": {"parts": [{"text": "one "}, {"text": "two"}]}, "outputDimensionality": 4},
        )
        assert single.status_code == 200, single.text
        assert set(single.json()) == {"embedding"} and len(single.json()["embedding"]["values"]) == 4
        assert fresh.upstream.requests[-1].json["input"] == ["one two"]
        mixed = await http.post(
            "/v1beta/models/text-embedding-3-small:batchEmbedContents",
            headers={"x-goog-api-key": KEYS["openai"]},
            json={
                "requests": [
                    {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4},
                    {"content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8},
                ]
            },
        )
        assert mixed.status_code == 400 and mixed.json()["error"]["status"] == "INVALID_ARGUMENT"
        picture = await http.post(
            "/v1beta/models/text-embedding-3-small:embedContent",
            headers={"x-goog-api-key": KEYS["openai"]},
            json={"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}},
        )
        assert picture.status_code == 400 and "Only text" in picture.json()["error"]["message"]

    with pytest.raises(genai_errors.ClientError) as refused:
        await client("claude").aio.models.embed_content(model="claude-haiku-4-5", contents="x")
    assert refused.value.code == 400 and "no embeddings endpoint" in (refused.value.message or "")
