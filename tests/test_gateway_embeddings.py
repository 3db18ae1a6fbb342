"""OpenAI /v1/embeddings on a Gemini group (batchEmbedContents), and a clear 400 on Claude."""

from __future__ import annotations

import math

import openai
import pytest

from support.stack import Stack


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
