"""The compose deployment under faults (issue 15), as OS processes on loopback: `torouter router`
replicas behind one `torouter edge`, Redis, and callers under load while routers are killed,
stopped and added and Redis goes away.

Each scenario runs well under a minute with at most 50 callers in a loop. Routers reach the edge as
a list target (``ipv4:127.0.0.1:A,127.0.0.1:B``: the same round robin and retry policy as a name);
adding a router needs a name whose addresses change, so that scenario runs in a private network
namespace with its own hosts file (where user namespaces are allowed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from support.deployment import KEY, MODEL, Deployment, FastUpstream, Load
from support.gateway import free_port
from support.redis_server import RedisProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def fast_upstream() -> AsyncIterator[FastUpstream]:
    upstream = await FastUpstream().start()
    try:
        yield upstream
    finally:
        await upstream.stop()


def _list_target(ports: list[int]) -> str:
    return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)


def _replicas(tmp_path: Path, upstream: FastUpstream, count: int, **kwargs: Any) -> Deployment:
    ports = [free_port() for _ in range(count)]
    return Deployment(
        tmp_path,
        upstream,
        router_addresses=[f"127.0.0.1:{port}" for port in ports],
        edge_router=_list_target(ports),
        **kwargs,
    )


async def test_kill_9_under_load_no_call_reaches_an_upstream_twice(
    tmp_path: Path, fast_upstream: FastUpstream
) -> None:
    """A router killed with calls in flight: the calls it had begun fail (their upstream call is
    lost with it), the others are retried on another router, and none reaches the upstream twice."""
    fast_upstream.latency_s = 0.2  # calls spend their time upstream: a kill catches many there
    deployment = await _replicas(tmp_path, fast_upstream, 3).start()
    try:
        load = Load(deployment.base_url, loops=30).start()
        await asyncio.sleep(2.0)
        deployment.routers[0].signal(signal.SIGKILL)
        await asyncio.sleep(2.0)
        results = await load.stop()
    finally:
        deployment.close()
    received = fast_upstream.received
    twice = sorted(nonce for nonce, count in received.items() if count > 1)
    assert twice == [], f"{len(twice)} calls reached the upstream twice: {twice[:10]}"
    answered = {r.nonce for r in results if load.answered(r)}
    failed = [r for r in results if r.status != 200]
    assert answered <= set(received)
    assert {r.status for r in failed} <= {503}, Counter(r.status for r in failed)
    assert len(failed) <= load.loops  # at most the calls the killed router had begun
    callers_upstream = len(answered) + sum(1 for r in failed if r.nonce in received)
    assert sum(received.values()) == callers_upstream  # one upstream call per caller's call, at most
    assert len(answered) > 200 and deployment.routers[0].requests()  # the killed one was serving


async def test_sigterm_under_load_fails_no_call(tmp_path: Path, fast_upstream: FastUpstream) -> None:
    """Each router in turn is stopped (SIGTERM: it drains, then exits) and started again while
    callers keep calling: every call is answered, calls racing a stopping router included."""
    fast_upstream.latency_s = 0.02
    deployment = await _replicas(tmp_path, fast_upstream, 3).start()
    try:
        plain = Load(deployment.base_url, loops=30, name="plain").start()
        streams = Load(deployment.base_url, loops=10, stream=True, name="stream").start()
        await asyncio.sleep(1.0)
        for index in (0, 1, 2, 0):
            router = deployment.routers[index]
            router.signal(signal.SIGTERM)
            assert await router.exited() == 0
            await deployment.start_router(index)
            await asyncio.sleep(1.0)
        results = [*await plain.stop(), *await streams.stop()]
    finally:
        deployment.close()
    failed = [r for r in results if r.status != 200]
    assert failed == [], Counter((r.status, r.body[:120]) for r in failed)
    assert all((plain if r.nonce.startswith("plain") else streams).answered(r) for r in results)
    assert len(results) > 500
    assert max(fast_upstream.received.values()) == 1
    assert all(len(router.said("router draining")) >= 1 for router in deployment.routers)


async def test_redis_stopped_and_restarted_under_load(tmp_path: Path, fast_upstream: FastUpstream) -> None:
    """Redis away for three seconds: keys without limits (the config's, and one created with
    `torouter keys create`) are served throughout; a key with limits gets 503 with retry-after, in
    OpenAI's format, and is served again once Redis is back; each router says so once, no traceback."""
    redis = RedisProcess(tmp_path, persist=True)
    redis.start()
    limited_key = "tr-deploy-limited"
    deployment = _replicas(
        tmp_path,
        fast_upstream,
        2,
        state=redis.url,
        keys=[{"name": "limited", "key": limited_key, "group": "g", "rpm": 1_000_000}],
    )
    try:
        created = await asyncio.create_subprocess_exec(  # as `docker compose exec router ...` does
            *[sys.executable, "-m", "torouter.cli.main", "keys", "create", "--group", "g", "--name", "made"],
            env=deployment.env,
            stdout=asyncio.subprocess.PIPE,
        )
        printed, _ = await asyncio.wait_for(created.communicate(), 60)
        assert created.returncode == 0
        created_key = printed.decode().strip().splitlines()[-1]
        await deployment.start()
        loads = {
            "config": Load(deployment.base_url, loops=8, name="config").start(),
            "created": Load(deployment.base_url, key=created_key, loops=8, name="created").start(),
            "limited": Load(deployment.base_url, key=limited_key, loops=8, name="limited").start(),
        }
        await asyncio.sleep(1.5)
        redis.stop(signal.SIGKILL)
        down = time.monotonic()
        await asyncio.sleep(3.0)
        redis.start()
        back = time.monotonic()
        await asyncio.sleep(4.0)
        results = {name: await load.stop() for name, load in loads.items()}
    finally:
        deployment.close()
        redis.stop()
    for name in ("config", "created"):
        failed = [r for r in results[name] if r.status != 200]
        assert failed == [], (name, Counter((r.status, r.body[:100]) for r in failed))
    limited = results["limited"]
    refused = [r for r in limited if r.status != 200]
    assert refused and {r.status for r in refused} == {503}
    for result in refused:
        assert down <= result.at and result.headers["retry-after"] == "1"
        error = orjson.loads(result.body)["error"]
        assert error["code"] == "service_unavailable" and "state store" in error["message"]
    recovered = [r for r in limited if r.at > back + 2.0]
    assert recovered and all(r.status == 200 for r in recovered)
    for router in deployment.routers:
        assert len(router.said("state store unavailable")) == 1, router.name
        assert len(router.said("state store available again")) == 1, router.name
    assert deployment.troubles() == []


async def test_a_thousand_slow_streams(tmp_path: Path, fast_upstream: FastUpstream) -> None:
    """1,000 streams at once whose first token takes 12 s (more than the 10 s connect timeout):
    every one is answered in full; none waits for a connection of the router's."""
    fast_upstream.first_token_s = 12.0
    deployment = await _replicas(tmp_path, fast_upstream, 1).start()
    results: list[tuple[int, int, bytes]] = []

    async def one(http: aiohttp.ClientSession, index: int) -> None:
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": f"slow-{index}"}]}
        async with http.post(
            f"{deployment.base_url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEY}"},
        ) as response:
            results.append((index, response.status, await response.read()))

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await asyncio.wait_for(asyncio.gather(*(one(http, i) for i in range(1000))), 55)
    finally:
        deployment.close()
    assert fast_upstream.most_open_streams == 1000
    failed = [(i, status, body[:200]) for i, status, body in results if status != 200]
    assert failed == []
    assert all(
        body.endswith(b"data: [DONE]\n\n") and f"slow-{i}:3 ".encode() in body for i, _, body in results
    )


# ---------------------------------------------------------------------------------------------
# a router added to a running deployment (a name, resolved again)

PRIVATE_NETWORK = "TOROUTER_TEST_PRIVATE_NETWORK"  # set inside the namespace: the hosts file there


def _run_in_private_network(node_id: str, workdir: Path) -> None:
    """Runs one test again in a private network and mount namespace, where ``router`` is a name in a
    hosts file of the test's own and 127.0.0.2-4 are loopback addresses nobody else sees."""
    unshare, ip, mount = shutil.which("unshare"), shutil.which("ip"), shutil.which("mount")
    if not (unshare and ip and mount):
        pytest.skip("needs unshare, ip and mount (util-linux, iproute2)")
    probe = subprocess.run([unshare, "--map-root-user", "--net", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user and network namespaces are not allowed here: {probe.stderr.decode().strip()}")
    hosts = workdir / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    script = f'{ip} link set lo up && {mount} --bind "$0" /etc/hosts && exec "$@"'
    result = subprocess.run(
        [
            *[unshare, "--map-root-user", "--net", "--mount", "sh", "-c", script, str(hosts)],
            *[sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest", node_id],
            f"--basetemp={workdir / 'inside'}",
        ],
        env={**os.environ, PRIVATE_NETWORK: str(hosts)},
        capture_output=True,
        text=True,
        timeout=110,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("settings", "within_s"),
    [
        pytest.param({}, 30.0, id="defaults"),
        pytest.param(
            {"router": {"max_connection_age_s": 2}, "edge": {"router_refresh_s": 0}}, 15.0, id="age-only"
        ),
        pytest.param(
            {"router": {"max_connection_age_s": 0}, "edge": {"router_refresh_s": 1}}, 15.0, id="refresh-only"
        ),
    ],
)
def test_a_router_added_under_load_gets_its_share(
    request: pytest.FixtureRequest, tmp_path: Path, settings: dict[str, Any], within_s: float
) -> None:
    """Two routers behind the name ``router``, under load; a third is added (its address added to
    the name, as `docker compose up --scale router=3` does): within ``within_s`` it serves its
    share. Routers age connections out (the edge resolves again when one goes) and the edge
    resolves the name periodically: either is enough."""
    if PRIVATE_NETWORK not in os.environ:
        _run_in_private_network(request.node.nodeid, tmp_path)
        return
    asyncio.run(_a_router_added(tmp_path, Path(os.environ[PRIVATE_NETWORK]), settings, within_s))


def _write_hosts(hosts: Path, *router_addresses: str) -> None:
    """The name ``router`` for these addresses (written in place: the bind mount stays on the file)."""
    lines = ["127.0.0.1 localhost", *(f"{address} router" for address in router_addresses)]
    with hosts.open("r+") as names:
        names.truncate(0)
        names.write("\n".join(lines) + "\n")


async def _a_router_added(tmp_path: Path, hosts: Path, settings: dict[str, Any], within_s: float) -> None:
    upstream = await FastUpstream(latency_s=0.01).start()
    _write_hosts(hosts, "127.0.0.2", "127.0.0.3")
    deployment = Deployment(
        tmp_path,
        upstream,
        router_addresses=["127.0.0.2:50051", "127.0.0.3:50051"],
        edge_router="dns:///router:50051",
        router=settings.get("router"),
        edge=settings.get("edge"),
    )
    try:
        await deployment.start()
        load = Load(deployment.base_url, loops=12).start()
        await asyncio.sleep(2.0)
        _write_hosts(hosts, "127.0.0.2", "127.0.0.3", "127.0.0.4")
        added = deployment.add_router("127.0.0.4:50051")
        added_at = time.monotonic()
        await deployment.start_router(2)
        share = 0.0
        while time.monotonic() - added_at < within_s + 5:
            await asyncio.sleep(1.0)
            since = time.time() - 2.0
            counts = [sum(1 for line in r.requests() if line["ts"] >= since) for r in deployment.routers]
            share = counts[2] / max(1, sum(counts))
            if share >= 0.2:  # a third would be even; a fifth is clearly its share
                break
        took = time.monotonic() - added_at
        results = await load.stop()
    finally:
        deployment.close()
        await upstream.stop()
    assert share >= 0.2 and took <= within_s, f"the added router had {share:.0%} after {took:.1f}s"
    assert added.requests()
    assert all(r.status == 200 for r in results), Counter(r.status for r in results)
