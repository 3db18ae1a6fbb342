"""Where a request's CPU goes: each stage of the gateway measured on its own, on one core.

    python bench/stages.py [--requests N] [--concurrency 32]

Every process under test runs on CPU 1; the load generator (this process) and the mock upstream run
on CPU 0. Each stage is driven with N requests at a fixed concurrency after a warm-up, and its
processes' CPU time (utime + stime from /proc) is read before and after: the table gives CPU
microseconds per request for each process, which is what bounds throughput on one core
(1 s / the sum = requests per second one core can carry).

Stages:

- ``grpc hop``: a stub router (a grpc.aio server answering every Call with the mock's prebuilt
  answer, headers first as the real router does) and a bare grpc.aio client sending the same
  CallRequest the edge sends, over TCP and over a Unix socket;
- ``edge``: the real edge in front of the stub router: HTTP in, the gRPC call, HTTP out;
- ``edge-upstream``: the same, the stub router also calling the mock upstream with aiohttp for each
  Call (nothing else): what a second busy process on the core costs the edge;
- ``dispatch``: the router's dispatcher in process (no gRPC): keys, routing, the upstream call with
  aiohttp, usage metering and the per-request log line;
- ``gateway``: the real edge and the real router, started as two commands joined by TCP (as in
  compose: a gRPC call per request);
- ``up``: ``torouter up`` (one worker): the edge and its router joined by a Unix socket, the
  requests on the session between them (edge/session.py).

Linux only (CPU affinity and /proc); at least 2 CPUs. A benchmark, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load
import mock_upstream
import processes
import report
import run

UNDER_TEST_CPU = 1
LOAD_CPU = 0


def cpu_seconds(pid: int) -> float:
    info = processes.proc_info(pid)
    ticks = processes.cpu_ticks(pid, info.start) if info is not None else None
    if ticks is None:
        raise processes.BenchError(f"process {pid} is gone")
    return ticks / processes.CLOCK_TICKS


async def closed_loop(count: int, concurrency: int, one: Callable[[], Awaitable[object]]) -> None:
    """``count`` calls of ``one``, ``concurrency`` at a time, each worker starting the next as its
    last one ends."""
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def pinned(argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(UNDER_TEST_CPU), *argv]


async def drive(url: str, stream: bool, requests: int, concurrency: int) -> None:
    """``requests`` chat completions at ``concurrency`` (load.one_request checks each answer)."""
    body = load.request_body(stream)
    async with load.client_session(concurrency) as session:
        await closed_loop(requests, concurrency, lambda: load.one_request(session, url, body, stream))


Costs = dict[str, tuple[float, float]]  # per process: CPU µs and context switches, per request


def snapshot(pids: dict[str, int]) -> dict[str, tuple[float, int]]:
    return {name: (cpu_seconds(pid), processes.context_switches(pid)) for name, pid in pids.items()}


def costs_between(
    before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]], requests: int
) -> Costs:
    return {
        name: ((after[name][0] - cpu) * 1e6 / requests, (after[name][1] - switches) / requests)
        for name, (cpu, switches) in before.items()
    }


def per_request(pids: dict[str, int], work: Callable[[], None], requests: int) -> Costs:
    before = snapshot(pids)
    work()
    return costs_between(before, snapshot(pids), requests)


def loader(url: str, stream: bool, args: argparse.Namespace) -> Callable[[], None]:
    def work() -> None:
        run.run_async(drive(url, stream, args.requests, args.concurrency))

    return work


# ---------------------------------------------------------------------------------------------
# the stub router and the bare gRPC client (each run as its own process by this script)


async def serve_stub_router(listen: str) -> None:
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from torouter.proto.v1 import router_pb2, router_pb2_grpc
    from torouter.router.server import SERVER_OPTIONS

    payloads = mock_upstream.build_payloads()
    json_headers = {"content-type": "application/json"}
    sse_headers = {"content-type": "text/event-stream", "cache-control": "no-cache"}

    upstream = os.environ.get("STUB_UPSTREAM")  # a variant: each Call also calls the mock with aiohttp
    session = aiohttp.ClientSession() if upstream else None

    class Stub(router_pb2_grpc.RouterServicer):
        async def Call(
            self, request: router_pb2.CallRequest, context: grpc.aio.ServicerContext[object, object]
        ) -> router_pb2.CallReply:
            await context.send_initial_metadata(())
            if session is not None and upstream:
                async with session.post(upstream, data=load.request_body(False)) as answer:
                    return router_pb2.CallReply(status=200, headers=json_headers, body=await answer.read())
            return router_pb2.CallReply(status=200, headers=json_headers, body=payloads.completion)

        async def Stream(
            self, request: router_pb2.CallRequest, context: grpc.aio.ServicerContext[object, object]
        ) -> AsyncIterator[router_pb2.Frame]:
            await context.send_initial_metadata(())
            head = router_pb2.Head(status=200, headers=sse_headers)
            for i, chunk in enumerate((*payloads.stream_chunks, payloads.done)):
                yield router_pb2.Frame(head=head, data=chunk) if i == 0 else router_pb2.Frame(data=chunk)

        async def Session(
            self,
            request_iterator: AsyncIterator[router_pb2.Batch],
            context: grpc.aio.ServicerContext[object, object],
        ) -> AsyncIterator[router_pb2.Batch]:
            # the stub answers calls of their own only (the edge falls back to them without a session)
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the stub router has no session")
            yield router_pb2.Batch()  # type: ignore[unreachable]  # makes this a stream handler

    server = grpc.aio.server(options=SERVER_OPTIONS)
    router_pb2_grpc.add_RouterServicer_to_server(Stub(), server)
    checker = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    server.add_insecure_port(listen)
    await server.start()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


async def grpc_client(target: str, requests: int, concurrency: int) -> None:
    import grpc

    from torouter.edge.client import CHANNEL_OPTIONS
    from torouter.proto.v1 import router_pb2, router_pb2_grpc

    call = router_pb2.CallRequest(
        protocol="openai",
        operation="chat.completions",
        body=load.request_body(False),
        key=load.GATEWAY_KEY,
        request_id="0123456789abcdef0123456789abcdef",
        deadline_unix_ms=int((time.time() + 3600) * 1000),
        client_ip="127.0.0.1",
    )
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        for _ in range(200):
            await stub.Call(call, timeout=30, wait_for_ready=True)
        sys.stdout.write("go\n")
        sys.stdout.flush()
        sys.stdin.readline()  # the parent has read our CPU time
        await closed_loop(requests, concurrency, lambda: stub.Call(call, timeout=30))
    sys.stdout.write("done\n")
    sys.stdout.flush()
    sys.stdin.readline()


async def dispatch_in_process(config_path: str, stream: bool, requests: int, concurrency: int) -> None:
    from torouter.router.config import load_config
    from torouter.router.dispatch import Call
    from torouter.router.logs import fd_sink
    from torouter.router.server import build_router

    devnull = os.open(os.devnull, os.O_WRONLY)
    app = build_router(load_config(Path(config_path)), request_log=fd_sink(devnull))
    app.start()
    body = load.request_body(stream)

    async def one() -> None:
        call = Call(
            protocol="openai",
            operation="chat.completions",
            body=body,
            key=load.GATEWAY_KEY,
            request_id="0123456789abcdef0123456789abcdef",
            headers={},
            params={},
            deadline_unix_ms=int((time.time() + 30) * 1000),
            files=[],
            client_ip="127.0.0.1",
        )
        outcome = await app.dispatcher.handle(call)
        if outcome.chunks is not None:
            async for _ in outcome.chunks:
                pass
        if outcome.status != 200:
            raise RuntimeError(f"dispatch answered {outcome.status}: {outcome.body[:300]!r}")

    await closed_loop(300, concurrency, one)
    started, switched = time.process_time(), processes.context_switches(os.getpid())
    await closed_loop(requests, concurrency, one)
    used = time.process_time() - started
    switches = processes.context_switches(os.getpid()) - switched
    await app.close()
    print(f"{used * 1e6 / requests:.0f} {switches / requests:.2f}")


# ---------------------------------------------------------------------------------------------
# the stages


class Stages:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.children: list[processes.Child] = []
        self.rows: list[tuple[str, str, Costs]] = []
        self.python = sys.executable
        self.script = str(Path(__file__).resolve())

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> processes.Child:
        child = processes.start_child(name, argv, self.workdir, env=env)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            processes.stop_child(child)
        self.children.clear()

    def record(self, stage: str, request: str, costs: Costs) -> None:
        self.rows.append((stage, request, costs))
        cells = ", ".join(
            f"{name} {us:.0f} µs ({switches:.1f} switches)" for name, (us, switches) in costs.items()
        )
        print(f"{stage:<24} {request:<10} {cells}", file=sys.stderr)

    def grpc_hop(self, mock_port: int) -> None:
        for transport in ("tcp", "unix"):
            if transport == "tcp":
                port = processes.free_ports(1)[0]
                listen, target = f"127.0.0.1:{port}", f"127.0.0.1:{port}"
            else:
                path = self.workdir / "stub.sock"
                listen = target = f"unix:{path}"
            stub = self.start("stub-router", pinned([self.python, self.script, "stub-router", listen]))
            time.sleep(0.1)
            client = subprocess.Popen(
                pinned([self.python, self.script, "grpc-client", target, str(self.args.requests)]),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert client.stdin is not None and client.stdout is not None
            if client.stdout.readline().strip() != "go":
                raise processes.BenchError("the gRPC client did not start")
            pids = {"client": client.pid, "server": stub.proc.pid}
            before = snapshot(pids)
            client.stdin.write("\n")
            client.stdin.flush()
            client.stdout.readline()
            costs = costs_between(before, snapshot(pids), self.args.requests)
            client.stdin.write("\n")
            client.stdin.flush()
            client.wait(30)
            self.record(f"grpc hop ({transport})", "non-stream", costs)
            self.stop_all()

    def edge(self, mock_port: int, call_upstream: bool = False) -> None:
        edge_port, stub_port = processes.free_ports(2)
        config = run.write_config(self.workdir, edge_port, stub_port, mock_port)
        env = (
            {"STUB_UPSTREAM": f"http://127.0.0.1:{mock_port}/v1/chat/completions"} if call_upstream else None
        )
        stub = self.start(
            "stub-router", pinned([self.python, self.script, "stub-router", f"127.0.0.1:{stub_port}"]), env
        )
        edge = self.start("edge", pinned([*run.torouter_command(), "edge", "--config", str(config)]))
        processes.wait_ready(edge, f"http://127.0.0.1:{edge_port}/readyz", 60)
        url = f"http://127.0.0.1:{edge_port}/v1/chat/completions"
        pids = {"edge": edge.proc.pid, "stub router": stub.proc.pid}
        for stream in (False,) if call_upstream else (False, True):  # the stub streams canned frames
            loader(url, stream, self.args)()  # warm-up
            self.record(
                "edge + stub router calling the mock" if call_upstream else "edge + stub router",
                report.kind(stream),
                per_request(pids, loader(url, stream, self.args), self.args.requests),
            )
        self.stop_all()

    def dispatch(self, mock_port: int) -> None:
        edge_port, router_port = processes.free_ports(2)
        config = run.write_config(self.workdir, edge_port, router_port, mock_port)
        for stream in (False, True):
            argv = [self.python, self.script, "dispatch", str(config), str(self.args.requests)]
            out = subprocess.run(
                pinned(argv + (["--stream"] if stream else [])),
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if out.returncode != 0:
                raise processes.BenchError(f"dispatch stage failed: {out.stderr[-2000:]}")
            cpu_us, switches = (float(word) for word in out.stdout.split()[-2:])
            self.record("dispatch (in process)", report.kind(stream), {"router": (cpu_us, switches)})

    def gateway(self, mock_port: int) -> None:
        edge_port, router_port = processes.free_ports(2)
        config = run.write_config(self.workdir, edge_port, router_port, mock_port)
        router = self.start("router", pinned([*run.torouter_command(), "router", "--config", str(config)]))
        processes.wait_for_port(router, router_port, 60)
        edge = self.start("edge", pinned([*run.torouter_command(), "edge", "--config", str(config)]))
        processes.wait_ready(edge, f"http://127.0.0.1:{edge_port}/readyz", 60)
        url = f"http://127.0.0.1:{edge_port}/v1/chat/completions"
        pids = {"edge": edge.proc.pid, "router": router.proc.pid}
        for stream in (False, True):
            loader(url, stream, self.args)()
            self.record(
                "gateway (TCP, a call per request)",
                report.kind(stream),
                per_request(pids, loader(url, stream, self.args), self.args.requests),
            )
        self.stop_all()

    def up(self, mock_port: int) -> None:
        edge_port = processes.free_ports(1)[0]
        config = run.write_config(self.workdir, edge_port, None, mock_port)
        gateway = self.start("up", pinned([*run.torouter_command(), "up", "--config", str(config)]))
        processes.wait_ready(gateway, f"http://127.0.0.1:{edge_port}/readyz", 60)
        # the edge is the root (taskset execs it); the router its one child
        edge_pid = gateway.proc.pid
        routers = [info.pid for info in processes.process_tree(edge_pid) if info.pid != edge_pid]
        if len(routers) != 1:
            raise processes.BenchError(f"torouter up has {len(routers)} children, not its router")
        url = f"http://127.0.0.1:{edge_port}/v1/chat/completions"
        pids = {"edge": edge_pid, "router": routers[0]}
        for stream in (False, True):
            loader(url, stream, self.args)()
            self.record(
                "torouter up (Unix socket, session)",
                report.kind(stream),
                per_request(pids, loader(url, stream, self.args), self.args.requests),
            )
        self.stop_all()

    def render(self) -> str:
        lines = [
            f"## Per-stage CPU per request (µs), concurrency {self.args.concurrency}, "
            f"{self.args.requests} requests, processes under test on CPU {UNDER_TEST_CPU}",
            "",
            "| stage | request | CPU per request (µs) | total | one core carries (req/s) "
            "| context switches per request |",
            "|---|---|---|---:|---:|---|",
        ]
        for stage, request, costs in self.rows:
            total = sum(us for us, _ in costs.values())
            cells = ", ".join(f"{name} {us:.0f}" for name, (us, _) in costs.items())
            switches = ", ".join(f"{name} {count:.1f}" for name, (_, count) in costs.items())
            lines.append(f"| {stage} | {request} | {cells} | {total:.0f} | {1e6 / total:,.0f} | {switches} |")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from torouter.cli.main import GRPC_EXPERIMENTS

    os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)  # as the gateway's processes have it
    if argv[:1] == ["stub-router"]:
        run.run_async(serve_stub_router(argv[1]))
        return 0
    if argv[:1] == ["grpc-client"]:
        run.run_async(grpc_client(argv[1], int(argv[2]), 32))
        return 0
    if argv[:1] == ["dispatch"]:
        run.run_async(dispatch_in_process(argv[1], "--stream" in argv, int(argv[2]), 32))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per stage, after a warm-up")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--stages", default="grpc,edge,edge-upstream,dispatch,gateway,up", help="comma-separated subset"
    )
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        print("bench/stages.py needs Linux and at least 2 CPUs", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {LOAD_CPU})
    workdir = Path(tempfile.mkdtemp(prefix="torouter-stages-"))
    stages = Stages(args, workdir)
    mock_port = processes.free_ports(1)[0]
    mock = processes.start_child(
        "mock",
        [
            "taskset",
            "-c",
            str(LOAD_CPU),
            sys.executable,
            str(run.BENCH_DIR / "mock_upstream.py"),
            "--port",
            str(mock_port),
        ],
        workdir,
    )
    try:
        processes.wait_for_port(mock, mock_port, 15)
        wanted = args.stages.split(",")
        for name, stage in (
            ("grpc", stages.grpc_hop),
            ("edge", stages.edge),
            ("edge-upstream", lambda port: stages.edge(port, call_upstream=True)),
            ("dispatch", stages.dispatch),
            ("gateway", stages.gateway),
            ("up", stages.up),
        ):
            if name in wanted:
                stage(mock_port)
        print(stages.render())
        return 0
    except (processes.BenchError, aiohttp.ClientError, load.RequestFailed, subprocess.TimeoutExpired) as exc:
        print(f"bench/stages.py: {exc}", file=sys.stderr)
        return 2
    finally:
        stages.stop_all()
        processes.stop_child(mock)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
