"""The compose topology as OS processes on loopback: `torouter router` replicas (and a Redis) behind
one `torouter edge`, a fast upstream that counts what reaches it, and a load of callers.

Every process runs the real CLI on a config file of its own and logs JSON lines to a file; the
test kills, stops and starts them as Docker would (SIGKILL, SIGTERM, a new container).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

MODEL = "gpt-4o-mini"
KEY = "tr-deploy-key"
UPSTREAM_KEY = "sk-deploy-upstream"
START_TIMEOUT_S = 30.0

# Every process a test started, killed when the test run ends: one a timed-out test could not stop
# would otherwise go on using the CPU the next tests measure with.
_STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    for process in _STARTED:
        if process.poll() is None:
            process.kill()


class FastUpstream:
    """An OpenAI-style upstream with almost no work per request, so that the gateway is what the
    load measures: it counts each caller's nonce (the last message's content) as it arrives, waits
    ``latency_s`` (streams: ``first_token_s`` before the first chunk), then answers."""

    def __init__(self, *, latency_s: float = 0.0, first_token_s: float = 0.0, chunks: int = 4) -> None:
        self.latency_s = latency_s
        self.first_token_s = first_token_s
        self.chunks = chunks
        self.received: Counter[str] = Counter()
        self.open_streams = 0
        self.most_open_streams = 0
        self._runner: web.ServerRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FastUpstream:
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def sections(self, **extra: Any) -> dict[str, Any]:
        """A config's ``upstreams`` (this one, as ``oai``) and ``groups`` (``g``, of it)."""
        upstream = {"kind": "openai", "base_url": self.base_url, "api_key": UPSTREAM_KEY, "models": [MODEL]}
        return {"upstreams": {"oai": {**upstream, **extra}}, "groups": {"g": {"upstreams": ["oai"]}}}

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        nonce = body["messages"][-1]["content"]
        self.received[nonce] += 1
        if not body.get("stream"):
            await asyncio.sleep(self.latency_s)
            return web.Response(body=_completion(nonce), content_type="application/json")
        self.open_streams += 1
        self.most_open_streams = max(self.most_open_streams, self.open_streams)
        try:
            await asyncio.sleep(self.first_token_s)
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            for index in range(self.chunks):
                await response.write(b"data: " + _chunk(f"{nonce}:{index} ") + b"\n\n")
            await response.write(b"data: " + _chunk(None) + b"\n\ndata: [DONE]\n\n")
            await response.write_eof()
            return response
        finally:
            self.open_streams -= 1


def _completion(text: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-deploy",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"re: {text}", "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
    )


def _chunk(text: str | None) -> bytes:
    delta = {"content": text} if text is not None else {}
    return orjson.dumps(
        {
            "id": "chatcmpl-deploy",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None if text else "stop"}
            ],
        }
    )


@dataclass
class Service:
    """One `torouter` process and its log."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, env=self.env
            )
        _STARTED.append(self.process)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def exited(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"{self.name} did not exit within {timeout_s}s"
            await asyncio.sleep(0.05)
        return self.process.returncode

    def stop(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def lines(self) -> list[dict[str, Any]]:
        out = []
        if not self.log.exists():
            return out
        for raw in self.log.read_bytes().splitlines():
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                line = {"msg": raw.decode(errors="replace"), "level": "raw"}
            if isinstance(line, dict):
                out.append(line)
        return out

    def said(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if str(line.get("msg", "")).startswith(message)]

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("msg") == "request"]

    async def wait_for(self, message: str, count: int = 1, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.said(message)) < count:
            assert self.running(), f"{self.name} exited: {self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {message!r} from {self.name} within {timeout_s}s"
            await asyncio.sleep(0.05)


class Deployment:
    """Routers listening on ``router_addresses`` (started on demand), one edge reaching them
    through ``edge_router`` (a list target, or a name), all on one config but their listen address."""

    def __init__(
        self,
        workdir: Path,
        upstream: FastUpstream,
        *,
        router_addresses: list[str],
        edge_router: str,
        state: str = "memory://",
        router: dict[str, Any] | None = None,
        edge: dict[str, Any] | None = None,
        keys: list[dict[str, Any]] | None = None,
        upstream_extra: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        from support.gateway import free_port

        self.edge_port = free_port()
        self.config: dict[str, Any] = {
            "edge": {"listen": f"127.0.0.1:{self.edge_port}", "router": edge_router, **(edge or {})},
            "router": {"listen": router_addresses[0], "state": state, "retries": 0, **(router or {})},
            **upstream.sections(**(upstream_extra or {})),
            "keys": [{"name": "deploy", "key": KEY, "group": "g"}, *(keys or [])],
        }
        self.config_path = workdir / "config.yaml"
        self.env = {**os.environ, "TOROUTER_CONFIG": str(self.config_path), "TOROUTER_LOG_LEVEL": "INFO"}
        self.routers = [
            self._service(f"router-{i}", "router", address) for i, address in enumerate(router_addresses)
        ]
        self.edge = self._service("edge", "edge", None)
        self._write(self.config_path, self.config)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    def _write(self, path: Path, config: dict[str, Any]) -> None:
        path.write_text(yaml.safe_dump(config))

    def _service(self, name: str, command: str, listen: str | None) -> Service:
        path = self.config_path
        if listen is not None:  # each router its own listen address, the rest the same
            path = self.workdir / f"{name}.yaml"
            self._write(path, {**self.config, "router": {**self.config["router"], "listen": listen}})
        argv = [sys.executable, "-m", "torouter.cli.main", command, "--config", str(path)]
        return Service(name, argv, self.workdir / f"{name}.log", self.env)

    def add_router(self, listen: str) -> Service:
        service = self._service(f"router-{len(self.routers)}", "router", listen)
        self.routers.append(service)
        return service

    async def start_router(self, index: int) -> None:
        router = self.routers[index]
        listening = len(router.said("router listening"))
        router.start()
        await router.wait_for("router listening", listening + 1)

    async def start(self, routers: int | None = None) -> Deployment:
        for index in range(len(self.routers) if routers is None else routers):
            self.routers[index].start()
        for router in self.routers:
            if router.running():
                await router.wait_for("router listening")
        self.edge.start()
        await self.edge.wait_for("edge listening")
        await self.wait_ready()
        return self

    async def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{self.base_url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "the edge never saw a router ready"
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self.edge.stop()
        for router in self.routers:
            router.stop()

    def troubles(self) -> list[dict[str, Any]]:
        """Tracebacks, errors and unreadable lines in every log."""
        return [
            {"service": service.name, **line}
            for service in (self.edge, *self.routers)
            for line in service.lines()
            if "exc" in line or line.get("level") in ("error", "critical", "raw")
        ]


@dataclass
class Result:
    nonce: str
    status: int
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Load:
    """``loops`` callers, each sending one chat request after another (a unique nonce each) until
    stopped; every answer is kept."""

    base_url: str
    key: str = KEY
    loops: int = 20
    stream: bool = False
    name: str = "load"
    pause_s: float = 0.0
    results: list[Result] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def start(self) -> Load:
        connector = aiohttp.TCPConnector(limit=0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.loops)]
        return self

    async def _loop(self) -> None:
        assert self._session is not None
        while not self._stop.is_set():
            nonce = f"{self.name}-{next(self._numbers)}"
            body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": nonce}]}
            if self.stream:
                body["stream"] = True
            try:
                async with self._session.post(
                    f"{self.base_url}/v1/chat/completions",
                    json=body,
                    headers={"authorization": f"Bearer {self.key}"},
                ) as response:
                    data = await response.read()
                    status = response.status
                    headers = {name.lower(): value for name, value in response.headers.items()}
            except aiohttp.ClientError as error:  # the edge dropped the connection: a failure too
                data, status, headers = repr(error).encode(), 0, {}
            self.results.append(Result(nonce, status, data, headers, time.monotonic()))
            if self.pause_s:
                await asyncio.sleep(self.pause_s)

    async def stop(self, timeout_s: float = 60.0) -> list[Result]:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout_s)
        if self._session is not None:
            await self._session.close()
        return self.results

    def answered(self, result: Result) -> bool:
        """A whole answer: the reply (non-stream) or every chunk and the end (stream)."""
        if result.status != 200:
            return False
        if not self.stream:
            return bool(
                orjson.loads(result.body)["choices"][0]["message"]["content"] == f"re: {result.nonce}"
            )
        return result.body.endswith(b"data: [DONE]\n\n") and f"{result.nonce}:0 ".encode() in result.body

    def since(self, moment: float) -> list[Result]:
        return [r for r in self.results if r.at >= moment]
