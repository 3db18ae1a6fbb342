"""`torouter up --workers N` as a user runs it: N edges sharing the port and N routers behind them
(edge i → router i through a Unix socket), seen from outside — which process holds each caller's
connection (/proc), which router logged each request (its pid in the line) — with limits exact
across them on one SQLite file, a killed router started again, and SIGTERM stopping them all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import yaml
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from support.deployment import KEY, MODEL, FastUpstream, Load
from support.gateway import free_port

pytestmark = pytest.mark.slow

WINDOWED_KEY = "tr-windowed-key"
PER_MINUTE_KEY = "tr-per-minute-key"


def config_for(tmp_path: Path, upstream: FastUpstream, edge_port: int, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "edge": {"listen": f"127.0.0.1:{edge_port}"},
        "router": {"state": f"sqlite:///{tmp_path}/state.db", "shutdown_grace_s": 5, "retries": 0},
        **upstream.sections(),
        "keys": [
            {"name": "plain", "key": KEY, "group": "g"},
            {"name": "windowed", "key": WINDOWED_KEY, "group": "g", "requests_5h": 20},
            {"name": "per-minute", "key": PER_MINUTE_KEY, "group": "g", "rpm": 20},
        ],
    }
    for section, values in extra.items():
        config[section] = {**config[section], **values} if isinstance(values, dict) else values
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Up:
    process: subprocess.Popen[str]
    base_url: str
    port: int
    log: Path

    def children(self) -> dict[int, list[str]]:
        """The processes `torouter up` runs now: pid -> argv."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                status = Path(f"/proc/{entry}/status").read_text()
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
            except OSError:
                continue
            ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
            if int(ppid) == self.process.pid and "State:\tZ" not in status:
                found[int(entry)] = argv
        return found

    def pids(self, service: str) -> list[int]:
        return sorted(pid for pid, argv in self.children().items() if service in argv[3:4])

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log.read_bytes().splitlines():
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(line, dict):
                out.append(line)
        return out

    def requests(self, **fields: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line.get("msg") == "request" and all(line.get(k) == v for k, v in fields.items())
        ]

    def logged(self, message: str, pid: int) -> bool:
        return any(line.get("msg") == message and line.get("pid") == pid for line in self.lines())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def gone(self, pids: Iterable[int]) -> bool:
        return all(not Path(f"/proc/{pid}").exists() for pid in pids)


def start_up(config: Path, port: int, *args: str, workers: int = 1) -> tuple[Up, list[str]]:
    """`torouter up` started, and its banner (to the workers line when there are several)."""
    log = config.parent / "up.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "torouter.cli.main", "up", "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    up = Up(process, f"http://127.0.0.1:{port}", port, log)
    assert process.stdout is not None
    banner: list[str] = []
    last = "  workers:" if workers > 1 else "  key:"
    while not banner or not banner[-1].startswith(last):
        line = process.stdout.readline()  # the test's own timeout bounds it
        assert line, f"torouter up printed no banner: {banner} {log.read_text()[-3000:]}"
        banner.append(line.rstrip("\n"))
    return up, banner


@pytest.fixture
async def upstream() -> AsyncIterator[FastUpstream]:
    server = await FastUpstream().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def two_workers(tmp_path: Path, upstream: FastUpstream) -> Iterator[Up]:
    port = free_port()
    up, banner = start_up(config_for(tmp_path, upstream, port), port, "--workers", "2", workers=2)
    try:
        assert banner[0] == f"ToRouter is up: base URL {up.base_url}/v1", banner
        assert banner[-1] == "  workers:       2 edges and 2 routers", banner
        yield up
    finally:
        up.stop()


def connections_held(pid: int, port: int) -> int:
    """How many established connections to local ``port`` the process ``pid`` holds (/proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
                held += 1
    return held


async def chat(client: openai.AsyncOpenAI, text: str) -> str:
    reply = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])
    return str(reply.choices[0].message.content)


async def status_of(client: openai.AsyncOpenAI, text: str) -> int:
    try:
        await chat(client, text)
    except openai.APIStatusError as error:
        return error.status_code
    return 200


def clients(up: Up, key: str, count: int) -> list[openai.AsyncOpenAI]:
    """SDK clients with a connection pool each: as many callers, spread over the edges."""
    return [
        openai.AsyncOpenAI(base_url=f"{up.base_url}/v1", api_key=key, max_retries=0) for _ in range(count)
    ]


async def test_edges_and_routers_all_serve_and_key_limits_are_exact_across_them(
    two_workers: Up, upstream: FastUpstream
) -> None:
    up = two_workers
    async with httpx.AsyncClient() as http:  # ready when the banner says so
        assert (await http.get(f"{up.base_url}/readyz")).status_code == 200
    edges, routers = up.pids("edge"), up.pids("router")
    assert len(edges) == 2 and len(routers) == 2

    # 16 callers, each on its own connection: the kernel spreads the connections over both edges
    callers = clients(up, KEY, 16)
    replies = await asyncio.gather(*(chat(c, f"caller {i}") for i, c in enumerate(callers)))
    assert replies == [f"re: caller {i}" for i in range(16)]
    held = {pid: connections_held(pid, up.port) for pid in edges}
    assert all(count > 0 for count in held.values()) and sum(held.values()) == 16, held
    served_by = Counter(line["pid"] for line in up.requests(key="plain"))
    assert sorted(served_by) == routers and sum(served_by.values()) == 16, served_by

    # a window of 20 requests is 20 across both routers, whoever serves each
    windowed = clients(up, WINDOWED_KEY, 6)
    statuses = await asyncio.gather(*(status_of(windowed[i % 6], f"windowed {i}") for i in range(30)))
    assert Counter(statuses) == {200: 20, 429: 10}
    assert sum(1 for nonce in upstream.received if nonce.startswith("windowed")) == 20
    admitted = Counter(line["pid"] for line in up.requests(key="windowed", status=200))
    assert len(admitted) == 2, admitted  # both routers admitted some of the 20
    refused = up.requests(key="windowed", status=429)
    assert len(refused) == 10 and {line["blocked"] for line in refused} == {"request_window_full"}

    # rpm: 20 a minute across both (clear of a minute's end, when its counter starts again)
    if time.time() % 60 > 40:
        await asyncio.sleep(61 - time.time() % 60)
    per_minute = clients(up, PER_MINUTE_KEY, 6)
    statuses = await asyncio.gather(*(status_of(per_minute[i % 6], f"minute {i}") for i in range(26)))
    assert Counter(statuses) == {200: 20, 429: 6}
    for client in [*callers, *windowed, *per_minute]:
        await client.close()


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that have ``labels`` (among others)."""
    return sum(
        value
        for (sample, have), value in samples.items()
        if sample == name and set(labels.items()) <= set(have)
    )


async def test_every_scrape_of_metrics_answers_the_sum_over_the_edges(two_workers: Up) -> None:
    up = two_workers
    edges = up.pids("edge")
    callers = clients(up, KEY, 10)
    replies = await asyncio.gather(*(chat(callers[i % 10], f"counted {i}") for i in range(30)))
    assert replies == [f"re: counted {i}" for i in range(30)]
    held = {pid: connections_held(pid, up.port) for pid in edges}
    assert all(count > 0 for count in held.values()), held  # both edges served some of the 30

    chat_route = {"route": "/v1/chat/completions", "status": "200"}
    for _ in range(10):
        async with httpx.AsyncClient() as http:  # a fresh connection: whichever edge the kernel picks
            response = await http.get(f"{up.base_url}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE_LATEST  # as with one edge
        seen = scraped(response.text)
        assert total(seen, "torouter_edge_requests_total", **chat_route) == 30
        assert total(seen, "torouter_edge_request_duration_seconds_count", route=chat_route["route"]) == 30
        assert total(seen, "torouter_tokens_total", group="g", kind="input") == 30 * 5  # 5 per reply
        assert total(seen, "torouter_tokens_total", group="g", kind="output") == 30 * 2
        assert total(seen, "torouter_time_to_first_byte_seconds_count", group="g") == 30
        assert seen[("torouter_edge_workers", ())] == 2
        assert seen[("torouter_edge_workers_answered", ())] == 2
    for client in callers:
        await client.close()


async def test_a_killed_router_is_started_again_and_sigterm_stops_everything(
    two_workers: Up, upstream: FastUpstream
) -> None:
    up = two_workers
    upstream.latency_s = 0.1  # calls spend their time upstream: the kill catches some there
    before = up.pids("router")
    killed = next(pid for pid in before if up.children()[pid][-1].endswith("router-0.sock"))
    sockets = Path(up.children()[killed][-1].removeprefix("unix:")).parent
    assert stat.S_IMODE(sockets.stat().st_mode) == 0o700  # private
    load = Load(up.base_url, loops=16).start()
    await asyncio.sleep(1.5)
    os.kill(killed, signal.SIGKILL)
    killed_at = time.monotonic()
    deadline = time.monotonic() + 30
    while len(set(up.pids("router")) - set(before)) != 1:
        assert time.monotonic() < deadline, "the killed router was not started again"
        await asyncio.sleep(0.05)
    (restarted,) = set(up.pids("router")) - set(before)
    while not up.logged("router listening", restarted):
        assert time.monotonic() < deadline, "the restarted router never listened"
        await asyncio.sleep(0.05)
    back = time.monotonic()
    await asyncio.sleep(2.0)
    results = await load.stop()
    assert "torouter up: the router 0 exited (code -9); restarting" in up.log.read_text()

    # calls fail only while router 0 is away (those it had begun, and its edge's meanwhile: 503s,
    # as when the one router restarts today), never twice upstream; edge 1 and router 1 serve on
    failed = [r for r in results if r.status != 200]
    assert {r.status for r in failed} <= {503}, Counter((r.status, r.body[:100]) for r in failed)
    assert all(killed_at <= r.at <= back + 1.0 for r in failed)
    assert max(upstream.received.values()) == 1
    assert any(load.answered(r) for r in results if killed_at < r.at < back)
    after = [r for r in results if r.at > back + 1.0]
    assert after and all(load.answered(r) for r in after)  # edge 0 reaches the new router
    assert up.requests(pid=restarted)
    assert await chat(clients(up, KEY, 1)[0], "still here") == "re: still here"

    children = up.children()
    assert len(children) == 4
    assert up.stop() == 0
    assert up.gone(children) and not sockets.exists()
    assert [line.get("msg") for line in up.lines()].count("router stopped") == 2  # both drained


def listens_on(pid: int, port: int) -> bool:
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A" and fields[9] in inodes:
                return True  # 0A: LISTEN
    return False


async def test_over_tcp_when_the_config_names_the_link(tmp_path: Path, upstream: FastUpstream) -> None:
    """The config's router.listen: the routers share it (SO_REUSEPORT) and the edges dial it."""
    port, router_port = free_port(), free_port()
    address = f"127.0.0.1:{router_port}"
    config = config_for(tmp_path, upstream, port, edge={"router": address}, router={"listen": address})
    up, _ = start_up(config, port, "--workers", "2", workers=2)
    try:
        routers = up.pids("router")
        assert not any(arg.startswith("unix:") for pid in routers for arg in up.children()[pid])
        assert {pid for pid in routers if listens_on(pid, router_port)} == set(routers)
        assert await chat(clients(up, KEY, 1)[0], "over tcp") == "re: over tcp"
        edge = up.children()[up.pids("edge")[0]]
        shared = Path(edge[edge.index("--metrics-dir") + 1])  # made for the metrics alone
        assert stat.S_IMODE(os.stat(shared).st_mode) == 0o700
        async with httpx.AsyncClient() as http:
            seen = scraped((await http.get(f"{up.base_url}/metrics")).text)
        assert total(seen, "torouter_edge_requests_total", route="/v1/chat/completions") == 1
        assert seen[("torouter_edge_workers_answered", ())] == 2
    finally:
        assert up.stop() == 0
    assert shared.name not in os.listdir(shared.parent)  # removed at exit


def run_up(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torouter.cli.main", "up", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_shared_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # would let a sharer in unseen
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_up(config_for(tmp_path, FastUpstream(), port), "--workers", "2")
    assert result.returncode == 1
    assert f"torouter up: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


async def test_workers_from_the_config_and_the_flag_wins(tmp_path: Path, upstream: FastUpstream) -> None:
    port = free_port()
    memory = config_for(tmp_path, upstream, port, router={"state": "memory://"}, workers=2)
    refused = await asyncio.to_thread(run_up, memory)
    assert refused.returncode == 1
    assert "torouter up: 2 routers cannot share router.state memory://" in refused.stderr
    up, banner = start_up(memory, port, "--workers", "1")
    try:
        assert not any("workers:" in line for line in banner) and len(up.pids("router")) == 1
        assert await chat(clients(up, KEY, 1)[0], "one") == "re: one"
    finally:
        assert up.stop() == 0


def read_ready(fd: int) -> list[int]:
    try:
        return [int(pid) for pid in os.read(fd, 100).split()]
    except BlockingIOError:
        return []


def test_an_edge_started_before_its_router_says_ready_once_the_router_serves(tmp_path: Path) -> None:
    """`torouter up` starts both at once: the edge listens first, answers 503 meanwhile, and tells
    the supervisor it is ready only once its router answers."""
    port = free_port()
    config = config_for(tmp_path, FastUpstream(), port)
    target = f"unix:{tmp_path}/router.sock"
    read, write = os.pipe()
    os.set_blocking(read, False)
    command = [sys.executable, "-m", "torouter.cli.main"]
    common = ["--config", str(config), "--workers", "1", "--ready-fd", str(write)]
    services: list[subprocess.Popen[bytes]] = []
    with (tmp_path / "services.log").open("wb") as log:
        try:
            edge = subprocess.Popen(
                [*command, "edge", *common, "--router", target], pass_fds=(write,), stderr=log
            )
            services.append(edge)
            deadline = time.monotonic() + 30
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                while True:
                    try:
                        readyz = http.get("/readyz")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline and services[0].poll() is None
                        time.sleep(0.05)
                assert readyz.status_code == 503
                early = http.post(
                    "/v1/chat/completions",
                    json={"model": MODEL, "messages": [{"role": "user", "content": "too early"}]},
                    headers={"authorization": f"Bearer {KEY}"},
                )
                assert early.status_code == 503 and early.headers["retry-after"] == "1"
                assert read_ready(read) == []  # not ready: its router is not there
                router = [*command, "router", *common, "--listen", target]
                services.append(subprocess.Popen(router, pass_fds=(write,), stderr=log))
                ready: list[int] = []
                while len(ready) < 2:
                    assert time.monotonic() < deadline, ready
                    ready += read_ready(read)
                    time.sleep(0.05)
                assert sorted(ready) == sorted(service.pid for service in services)
                assert http.get("/readyz").status_code == 200
        finally:
            for service in reversed(services):
                service.send_signal(signal.SIGTERM)
                service.wait(30)
            os.close(read)
            os.close(write)


# ---------------------------------------------------------------------------------------------
# One worker (the default): no supervisor; `torouter up` becomes the edge and keeps its router


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


def running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie waiting for its reaper is not)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def processes_with(marker: str) -> list[int]:
    """Every process whose command line mentions ``marker`` (a test's own config path)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker in Path(f"/proc/{entry}/cmdline").read_bytes().decode():
                    found.append(int(entry))
            except OSError:
                continue
    return found


async def test_one_worker_is_an_edge_keeping_its_router_started_again_then_stopped_first(
    tmp_path: Path, upstream: FastUpstream
) -> None:
    port = free_port()
    up, banner = start_up(config_for(tmp_path, upstream, port), port)
    try:
        assert banner[0] == f"ToRouter is up: base URL {up.base_url}/v1", banner
        assert up.logged("edge listening", up.process.pid)  # up's own process, no supervisor
        (router,) = up.children()
        assert command_line(router)[3] == "router"
        sockets = Path(command_line(router)[-1].removeprefix("unix:")).parent
        assert stat.S_IMODE(sockets.stat().st_mode) == 0o700
        assert await chat(clients(up, KEY, 1)[0], "one") == "re: one"

        os.kill(router, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (set(up.children()) - {router}):
            assert time.monotonic() < deadline, "the killed router was not started again"
            await asyncio.sleep(0.05)
        (restarted,) = up.children()
        while not up.logged("router listening", restarted):
            assert time.monotonic() < deadline, "the restarted router never listened"
            await asyncio.sleep(0.05)
        assert "torouter up: the router exited (code -9); restarting" in up.log.read_text()
        while await status_of(clients(up, KEY, 1)[0], "back") != 200:  # 503s until the edge reconnects
            assert time.monotonic() < deadline, "the edge never reached the restarted router"
            await asyncio.sleep(0.05)
    finally:
        assert up.stop() == 0
    assert up.gone([restarted]) and not sockets.exists()
    messages = [(line.get("logger"), line.get("msg")) for line in up.lines()]
    assert ("torouter.router", "router stopped") in messages  # it drained: SIGTERM, not a kill


def test_one_worker_whose_router_cannot_start_stops_with_the_reason(tmp_path: Path) -> None:
    port = free_port()
    config = config_for(tmp_path, FastUpstream(), port)
    config.write_text(config.read_text().replace("kind: openai", "kind: no-such-kind"))
    assert "no-such-kind" in config.read_text()
    result = run_up(config)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "torouter up: the router exited while starting (see its log above)" in result.stderr
    assert "unknown kind 'no-such-kind'" in result.stderr
    assert processes_with(str(config)) == []


def test_one_worker_whose_port_is_taken_leaves_no_router_behind(tmp_path: Path) -> None:
    port = free_port()
    config = config_for(tmp_path, FastUpstream(), port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run_up(config)
    assert result.returncode != 0
    assert "address already in use" in result.stderr.lower(), result.stderr[-2000:]
    assert processes_with(str(config)) == []


async def test_one_worker_whose_edge_is_killed_leaves_no_router_behind(
    tmp_path: Path, upstream: FastUpstream
) -> None:
    port = free_port()
    up, _ = start_up(config_for(tmp_path, upstream, port), port)
    (router,) = up.children()
    sockets = Path(command_line(router)[-1].removeprefix("unix:")).parent
    up.process.kill()  # as the OOM killer would: the edge stops nothing itself
    up.process.wait(30)
    deadline = time.monotonic() + 30
    while running(router):
        assert time.monotonic() < deadline, "the router outlived its edge"
        await asyncio.sleep(0.1)
    assert ("torouter.router", "router stopped") in [(x.get("logger"), x.get("msg")) for x in up.lines()]
    assert not sockets.exists()  # the router removed what the edge would have


async def test_a_killed_supervisor_leaves_no_service_behind(tmp_path: Path, upstream: FastUpstream) -> None:
    port = free_port()
    up, _ = start_up(config_for(tmp_path, upstream, port), port, "--workers", "2", workers=2)
    children = up.children()
    assert len(children) == 4
    router = next(pid for pid, argv in children.items() if argv[3] == "router")
    sockets = Path(command_line(router)[-1].removeprefix("unix:")).parent
    up.process.kill()  # SIGKILL: the supervisor stops nothing itself
    up.process.wait(30)
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in children):
        assert time.monotonic() < deadline, "a service outlived its supervisor"
        await asyncio.sleep(0.1)
    assert not sockets.exists()
    stopped = [line.get("msg") for line in up.lines()]
    assert stopped.count("router stopped") == 2
