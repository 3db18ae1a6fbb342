"""The smaller classes: an image stream an upstream answers with plain JSON comes back as a valid
stream (the official SDK reads it), a 200 KB model id is cut in its 404 and in the request log, an
8 KB path in its 404, and model ids that name no upstream (``../gpt-5``) are a 404, not a 403."""

from __future__ import annotations

import io

import openai
import orjson
import pytest

from support.hostile import KEYS, HostileStack, assert_refused, http_request, raw_request
from support.openai_upstream import Fault

PNG_B64 = "iVBORw0KGgo="


def _whole_answer(**extra: object) -> Fault:
    body = {"created": 1, "data": [{"b64_json": PNG_B64}], "output_format": "png", **extra}
    return Fault.status(200, body=orjson.dumps(body), headers={"content-type": "application/json"})


async def test_an_image_stream_answered_with_json_comes_back_as_events(hostile: HostileStack) -> None:
    hostile.reset()
    usage = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    hostile.oai.enqueue(_whole_answer(usage=usage), endpoint="images")
    client = openai.AsyncOpenAI(
        base_url=f"{hostile.gateway.base_url}/v1", api_key=KEYS["openai"], max_retries=0
    )
    stream = await client.images.generate(model="gpt-image-1", prompt="a dot", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.completed"]
    assert events[0].b64_json == PNG_B64 and events[0].usage.total_tokens == 12


async def test_an_image_stream_answered_with_urls_comes_back_whole(hostile: HostileStack) -> None:
    hostile.reset()
    body = {"created": 1, "data": [{"url": "https://img.example/a.png"}]}
    hostile.oai.enqueue(
        Fault.status(200, body=orjson.dumps(body), headers={"content-type": "application/json"}),
        endpoint="images",
    )
    request = http_request(
        "POST",
        "/v1/images/generations",
        [(b"Authorization", b"Bearer " + KEYS["openai"].encode())],
        b'{"model":"gpt-image-1","prompt":"a dot","stream":true}',
    )
    answer = await raw_request(hostile.port, request)
    assert answer.status == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.json() == body


async def test_a_chat_stream_answered_with_json_comes_back_whole(hostile: HostileStack) -> None:
    hostile.reset()
    whole = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
    hostile.oai.enqueue(
        Fault.status(200, body=orjson.dumps(whole), headers={"content-type": "application/json"})
    )
    request = http_request(
        "POST",
        "/v1/chat/completions",
        [(b"Authorization", b"Bearer " + KEYS["openai"].encode())],
        b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}',
    )
    answer = await raw_request(hostile.port, request)
    assert answer.status == 200 and answer.json() == whole


async def test_a_200kb_model_id_is_a_404_cut_in_its_message_and_in_the_request_log(
    hostile: HostileStack, collected_logs: io.StringIO
) -> None:
    model = "m" * 200_000
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    headers = [(b"Authorization", b"Bearer " + KEYS["openai"].encode()), (b"x-request-id", b"req-long-model")]
    answer = await raw_request(hostile.port, http_request("POST", "/v1/chat/completions", headers, body))
    assert_refused(answer, "openai", 404)
    message = answer.json()["error"]["message"]  # the id repeated, but only its start
    assert len(message) < 400 and "m" * 256 + "… (199744 more characters)" in message, message[:500]
    lines = [
        orjson.loads(line) for line in collected_logs.getvalue().split("\n")[:-1] if "req-long-model" in line
    ]
    logged = [line for line in lines if line.get("logger") == "torouter.request"]
    assert logged and all(len(line["model"]) < 400 for line in logged)
    # bodies are logged at DEBUG only, cut at 64 KiB (body_log's own limit); every other line is short
    long = [(x["logger"], len(orjson.dumps(x))) for x in lines if len(orjson.dumps(x)) >= 8_000]
    assert not [x for x in long if x[0] != "torouter.bodies"], long


async def test_an_8kb_path_is_a_404_that_repeats_only_its_start(hostile: HostileStack) -> None:
    path = "/v1/" + "p" * 8_000
    headers = [(b"Authorization", b"Bearer " + KEYS["openai"].encode())]
    answer = await raw_request(hostile.port, http_request("GET", path, headers, b""))
    assert_refused(answer, "openai", 404)
    message = answer.json()["error"]["message"]
    assert len(message) < 400 and message.startswith("Unknown path: GET /v1/ppp"), message[:500]


@pytest.mark.parametrize("model", ["../gpt-5", "../../gpt-4o-mini", "nowhere/gpt-5", "./claude-haiku-4-5"])
@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
async def test_model_ids_naming_no_upstream_are_a_404(
    hostile: HostileStack, protocol: str, model: str
) -> None:
    key = KEYS["openai"].encode()
    if protocol == "openai":
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        request = http_request(
            "POST", "/v1/chat/completions", [(b"Authorization", b"Bearer " + key)], orjson.dumps(body)
        )
    elif protocol == "anthropic":
        body = {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
        request = http_request("POST", "/v1/messages", [(b"x-api-key", key)], orjson.dumps(body))
    else:
        path = f"/v1beta/models/{model.replace('/', '%2F')}:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        request = http_request("POST", path, [(b"x-goog-api-key", key)], orjson.dumps(body))
    answer = await raw_request(hostile.port, request)
    assert_refused(answer, protocol, 404)
