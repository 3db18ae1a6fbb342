"""The example plugin (examples/torouter-ollama) as a plugin author ships it: installed into the
venv as its own package, found through the ``torouter`` entry point, listed by ``torouter
plugins``, and serving chat — stream and not, tools included — to the OpenAI, Anthropic and Gemini
SDKs from a mock Ollama server speaking NDJSON."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google import genai

from support.gateway import Gateway
from support.ollama_upstream import MockOllama

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torouter-ollama"
KEY = "tr-test-ollama-key"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", *args], check=True, capture_output=True, timeout=180
    )


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    """The example installed as a separate distribution (no network: no index, no build isolation)."""
    pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(EXAMPLE))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        pip("uninstall", "--yes", "torouter-ollama")
        importlib.invalidate_caches()


@pytest.fixture(scope="module")
async def ollama(installed: None) -> AsyncIterator[tuple[MockOllama, Gateway]]:
    async with MockOllama() as mock:
        config = {
            "upstreams": {
                "local": {"kind": "ollama", "base_url": mock.base_url, "models": list(mock.models)}
            },
            "groups": {"local": {"upstreams": ["local"]}},
            "keys": [{"name": "ollama", "key": KEY, "group": "local"}],
        }
        async with Gateway(config) as gateway:
            yield mock, gateway


def test_torouter_plugins_lists_the_kind_with_its_package(installed: None) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "torouter.cli.main", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    rows = {tuple(line.split()[:2]): line.split() for line in listed.splitlines()[1:]}
    assert rows[("kind", "ollama")][2:] == ["ollama", "ollama", "torouter-ollama", "0.1.0"]
    assert rows[("protocol", "ollama")][3:] == ["ollama", "torouter-ollama", "0.1.0"]
    assert rows[("kind", "openai")][3:5] == ["openai", "torouter"]


async def test_openai_callers_stream_and_not(ollama: tuple[MockOllama, Gateway]) -> None:
    mock, gateway = ollama
    async with openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEY, max_retries=0) as client:
        reply = await client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "hello"}], temperature=0.2, max_tokens=50
        )
        assert reply.choices[0].message.content == "Ollama reply to: hello"
        assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
            12,
            7,
        )
        sent = mock.requests[-1]
        assert sent["options"] == {"temperature": 0.2, "num_predict": 50} and sent["stream"] is False
        stream = await client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "stream please"}], stream=True
        )
        pieces = [
            chunk.choices[0].delta.content
            async for chunk in stream
            if chunk.choices and chunk.choices[0].delta.content
        ]
        assert len(pieces) == 2 and "".join(pieces) == "Ollama reply to: stream please"
        assert mock.requests[-1]["stream"] is True


async def test_what_the_kind_refuses_is_a_400_before_ollama(ollama: tuple[MockOllama, Gateway]) -> None:
    """The example kind declares that its models make no audio (its capabilities): an OpenAI caller
    asking for audio gets a 400 naming the field, and Ollama is not called."""
    mock, gateway = ollama
    before = len(mock.requests)
    async with openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="llama3.2",
                messages=[{"role": "user", "content": "say it"}],
                modalities=["text", "audio"],
                audio={"voice": "alloy", "format": "wav"},
            )
    assert caught.value.body["param"] == "audio"  # type: ignore[index]
    assert "do not produce audio" in caught.value.message
    assert len(mock.requests) == before


async def test_a_tool_round_trip_from_openai(ollama: tuple[MockOllama, Gateway]) -> None:
    mock, gateway = ollama
    async with openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=KEY, max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
        first = await client.chat.completions.create(model="qwen3", messages=messages, tools=[WEATHER])
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert first.choices[0].finish_reason == "tool_calls"
        assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')  # type: ignore[union-attr]
        messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
        second = await client.chat.completions.create(model="qwen3", messages=messages, tools=[WEATHER])
        assert second.choices[0].message.content == "Tool said: sunny"
        assert mock.requests[-1]["messages"][-1] == {
            "role": "tool",
            "content": "sunny",
            "tool_name": "get_weather",
        }


async def test_anthropic_callers_stream_and_not(ollama: tuple[MockOllama, Gateway]) -> None:
    _, gateway = ollama
    async with anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key=KEY, max_retries=0) as claude:
        message = await claude.messages.create(
            model="llama3.2", max_tokens=100, system="be brief", messages=[{"role": "user", "content": "hi"}]
        )
        assert message.content[0].text == "Ollama reply to: hi"  # type: ignore[union-attr]
        assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)
        async with claude.messages.stream(
            model="llama3.2", max_tokens=100, messages=[{"role": "user", "content": "streamed"}]
        ) as stream:
            text = "".join([piece async for piece in stream.text_stream])
        assert text == "Ollama reply to: streamed"


async def test_gemini_callers_stream_and_not(ollama: tuple[MockOllama, Gateway]) -> None:
    mock, gateway = ollama
    client = genai.Client(api_key=KEY, http_options={"base_url": gateway.base_url})
    reply = await client.aio.models.generate_content(model="llama3.2", contents="gemini here")
    assert reply.text == "Ollama reply to: gemini here"
    pieces = [
        chunk.text
        async for chunk in await client.aio.models.generate_content_stream(
            model="llama3.2", contents="and streaming"
        )
    ]
    assert "".join(p for p in pieces if p) == "Ollama reply to: and streaming"
    assert mock.requests[-1]["messages"] == [{"role": "user", "content": "and streaming"}]


async def test_an_unknown_model_upstream_is_a_clean_error(ollama: tuple[MockOllama, Gateway]) -> None:
    mock, gateway = ollama
    mock.models = ("llama3.2",)  # qwen3 was removed from the server, not from the config
    try:
        async with openai.AsyncOpenAI(
            base_url=f"{gateway.base_url}/v1", api_key=KEY, max_retries=0
        ) as client:
            with pytest.raises(openai.NotFoundError) as caught:
                await client.chat.completions.create(
                    model="qwen3", messages=[{"role": "user", "content": "x"}]
                )
        assert "not found" in caught.value.message
    finally:
        mock.models = ("llama3.2", "qwen3")
