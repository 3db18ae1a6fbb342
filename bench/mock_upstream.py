"""A minimal, fast mock OpenAI upstream for the benchmark.

Run it as its own OS process::

    python bench/mock_upstream.py --port 18000

It answers ``POST /v1/chat/completions`` with a fixed chat.completion (about 650 bytes) or, when
the body contains ``"stream":true``, with ten ``chat.completion.chunk`` SSE events (plus a usage
chunk when the body asks for ``include_usage``) and ``data: [DONE]``. There is no artificial
delay and as little work per request as possible: the body is read but never parsed, the answers
are prebuilt bytes, and aiohttp's low-level server is used (no router, no middlewares, no access
log). ``GET /v1/models`` lists the one model. Anything else gets an OpenAI-style 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MODEL = "gpt-4o-mini"
ANSWER = (
    "Hello! This is a fixed answer from the ToRouter benchmark mock upstream, "
    "about the length of a short chat reply."
)
CREATED = 1_700_000_000
COMPLETION_ID = "chatcmpl-bench00000000000000000000000"
FINGERPRINT = "fp_bench0000"
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 26,
    "total_tokens": 38,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
CONTENT_CHUNKS = 8  # plus one role chunk and one finish chunk: ten chunks in all


@dataclass(frozen=True)
class Payloads:
    """Every answer the mock gives, prebuilt once at start-up."""

    completion: bytes
    stream_chunks: tuple[bytes, ...]
    usage_chunk: bytes
    done: bytes
    models: bytes
    not_found: bytes


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _chunk(delta: dict[str, object], finish_reason: str | None) -> dict[str, object]:
    return {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _split(text: str, parts: int) -> list[str]:
    words = text.split(" ")
    size = -(-len(words) // parts)
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


def build_payloads() -> Payloads:
    completion = {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    events = [_chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [_chunk({"content": piece}, None) for piece in _split(ANSWER, CONTENT_CHUNKS)]
    events.append(_chunk({}, "stop"))
    usage_event = {**_chunk({}, None), "choices": [], "usage": USAGE}
    models = {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "mock"}],
    }
    not_found = {
        "error": {"message": "Unknown path", "type": "invalid_request_error", "param": None, "code": None}
    }
    return Payloads(
        completion=_dumps(completion),
        stream_chunks=tuple(b"data: " + _dumps(e) + b"\n\n" for e in events),
        usage_chunk=b"data: " + _dumps(usage_event) + b"\n\n",
        done=b"data: [DONE]\n\n",
        models=_dumps(models),
        not_found=_dumps(not_found),
    )


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def make_handler(payloads: Payloads) -> Handler:
    json_headers = {"Content-Type": "application/json"}
    sse_headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method == "POST" and path.endswith("/chat/completions"):
            body = await request.read()
            if b'"stream":true' not in body and b'"stream": true' not in body:
                return web.Response(body=payloads.completion, headers=json_headers)
            resp = web.StreamResponse(headers=sse_headers)
            await resp.prepare(request)
            for chunk in payloads.stream_chunks:
                await resp.write(chunk)
            if b"include_usage" in body:
                await resp.write(payloads.usage_chunk)
            await resp.write(payloads.done)
            await resp.write_eof()
            return resp
        if request.method == "GET" and path.endswith("/models"):
            return web.Response(body=payloads.models, headers=json_headers)
        if request.can_read_body:
            await request.read()
        return web.Response(status=404, body=payloads.not_found, headers=json_headers)

    return handle


async def serve(host: str, port: int) -> None:
    server = web.Server(make_handler(build_payloads()), access_log=None)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock upstream listening on http://{host}:{port}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fast mock OpenAI upstream for bench/run.py")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
