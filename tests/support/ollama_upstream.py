"""A mock Ollama server (``POST /api/chat``, NDJSON streams) for the example plugin's tests.

It checks requests the way Ollama does (a known model, a ``messages`` list of known roles, known
``options``, tool calls with argument objects) and answers 400/404 ``{"error": "..."}`` otherwise.
Answers: after a tool result, ``Tool said: <result>``; with tools offered, a call of the first
tool; else ``Ollama reply to: <last user text>``. Streams are one JSON object per line, the last
with ``done: true`` and the token counts.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from aiohttp import web

from support.gateway import free_port

ROLES: Final = {"system", "user", "assistant", "tool"}
OPTIONS: Final = {
    "temperature", "top_p", "top_k", "seed", "stop", "num_predict", "presence_penalty", "frequency_penalty",
}  # fmt: skip
FIELDS: Final = {"model", "messages", "stream", "tools", "format", "options", "think", "keep_alive"}


class MockOllama:
    def __init__(self, models: tuple[str, ...] = ("llama3.2", "qwen3")) -> None:
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> MockOllama:
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "invalid JSON")
        problem = _check(body, self.models)
        if problem is not None:
            return _error(404 if "not found" in problem else 400, problem)
        self.requests.append(body)
        message = _answer(body)
        counts = {"prompt_eval_count": 12, "eval_count": 7}
        if body.get("stream", True) is False:
            return web.json_response(
                {"model": body["model"], "message": message, "done": True, "done_reason": "stop", **counts}
            )
        response = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
        await response.prepare(request)
        content = message["content"]
        pieces = [content[: len(content) // 2], content[len(content) // 2 :]] if content else []
        for piece in pieces:
            line = {"model": body["model"], "message": {"role": "assistant", "content": piece}, "done": False}
            await response.write(orjson.dumps(line) + b"\n")
            await asyncio.sleep(0)
        if message.get("tool_calls"):
            line = {"model": body["model"], "message": {**message, "content": ""}, "done": False}
            await response.write(orjson.dumps(line) + b"\n")
        last = {"model": body["model"], "message": {"role": "assistant", "content": ""}, "done": True}
        await response.write(orjson.dumps({**last, "done_reason": "stop", **counts}) + b"\n")
        await response.write_eof()
        return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _check(body: Any, models: tuple[str, ...]) -> str | None:
    if not isinstance(body, dict):
        return "request body must be an object"
    unknown = set(body) - FIELDS
    if unknown:
        return f"unknown fields: {sorted(unknown)}"
    if body.get("model") not in models:
        return f"model {body.get('model')!r} not found, try pulling it first"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"invalid message role {message.get('role') if isinstance(message, dict) else message!r}"
        if not isinstance(message.get("content", ""), str):
            return "message content must be a string"
        for call in message.get("tool_calls") or []:
            if not isinstance(call.get("function", {}).get("arguments"), dict):
                return "tool call arguments must be an object"
    if set(body.get("options") or {}) - OPTIONS:
        return f"unknown options: {sorted(set(body['options']) - OPTIONS)}"
    return None


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    last = body["messages"][-1]
    if last["role"] == "tool":
        return {"role": "assistant", "content": f"Tool said: {last['content']}"}
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": name, "arguments": {"city": "Paris"}}}],
        }
    return {"role": "assistant", "content": f"Ollama reply to: {last['content']}"}
