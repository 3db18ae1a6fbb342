"""``torouter up``: the router and the edge as two supervised OS processes on one host."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from torouter.edge.app import drain_s
from torouter.router.config import Config

START_TIMEOUT_S = 30.0
STOP_MARGIN_S = 10.0  # beyond a service's own drain, before it is killed
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _command(service: str, config_path: Path) -> list[str]:
    return [sys.executable, "-m", "torouter.cli.main", service, "--config", str(config_path)]


def router_ready(target: str, timeout: float = 1.0) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def edge_ready(listen: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{listen}/readyz", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(check: object, child: Child, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the {child.name} exited while starting (see its log above)")
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"the {child.name} did not become ready within {START_TIMEOUT_S:.0f}s ({what})")


def _client_host(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    return f"{host}:{port}"


def run_up(config: Config, config_path: Path, key_hint: str | None, admin_hint: str | None = None) -> int:
    """Starts both services, prints how to use them, supervises until SIGINT/SIGTERM."""
    router = Child("router", _command("router", config_path))
    edge = Child("edge", _command("edge", config_path))
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    router_target = _client_host(config.router.listen)
    edge_address = _client_host(config.edge.listen)
    try:
        router.start()
        _wait_until(lambda: router_ready(router_target), router, f"gRPC health on {router_target}")
        edge.start()
        _wait_until(lambda: edge_ready(edge_address), edge, f"http://{edge_address}/readyz")
        base = f"http://{edge_address}"
        print(f"ToRouter is up: base URL {base}/v1", flush=True)
        print(f"  OpenAI SDK:    base_url={base}/v1", flush=True)
        print(f"  Anthropic SDK: base_url={base}", flush=True)
        print(f"  Gemini SDK:    http_options={{'base_url': '{base}'}}", flush=True)
        print(f"  key: {key_hint}" if key_hint else "  key: one of the keys in your config", flush=True)
        if admin_hint:
            print(f"  admin API:     {base}/admin/v1 (admin key: {admin_hint})", flush=True)
            print(f"  console:       {base}/console (log in with the admin key)", flush=True)
        while not stopping:
            for child in (router, edge):
                if not child.alive() and not stopping:
                    _restart(child)
            time.sleep(0.2)
    except RuntimeError as exc:
        print(f"torouter up: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # The router first: it stops taking new calls (the edge answers those 503) and drains the
        # streams in flight, which the edge keeps relaying; then the edge.
        router.terminate()
        router.wait(config.router.shutdown_grace_s + STOP_MARGIN_S)
        edge.terminate()
        edge.wait(drain_s(config) + STOP_MARGIN_S)
    return 0


def _restart(child: Child) -> None:
    now = time.monotonic()
    child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_S]
    if len(child.restarts) >= MAX_RESTARTS:
        raise RuntimeError(f"the {child.name} keeps exiting ({MAX_RESTARTS} restarts within a minute)")
    code = child.process.returncode if child.process else None
    print(f"torouter up: the {child.name} exited (code {code}); restarting", file=sys.stderr, flush=True)
    child.restarts.append(now)
    child.start()
