"""``torouter up``'s supervisor with several workers: N routers and N edges as OS processes on one
host, started together, started again when they exit, stopped in order. (With one worker there is
no supervisor: the edge keeps its router, ``keeper.py``, with the functions here.)

``torouter up`` reads the config and prints what it must, then replaces itself (``os.execv``: the
same process id) with this file run by a fresh interpreter, ``python -I -S``. It loads no more than
``os``, ``select``, ``signal`` and ``time`` (``socket`` too for several workers): about 9 MB, where
the process that read the config, with the config module and YAML loaded, holds 25 and one that
imports gRPC 60. Its :class:`Plan` arrives on an inherited pipe (not in its argv, which any user
can read: the banner may show keys).

- **Link**: edge *i* calls router *i* through a Unix socket in a private directory (mode 0700,
  removed at exit), unless the config names the link (``edge.router`` / ``router.listen``): then
  over TCP as configured, N routers sharing ``router.listen`` (SO_REUSEPORT).
- **Metrics**: the edges share their ``/metrics`` through Unix sockets in that directory (made for
  them when the link is TCP): ``--metrics-dir``, ``edge/worker_metrics.py``.
- **Port**: N edges share ``edge.listen`` (SO_REUSEPORT: the kernel spreads the connections). A
  shared port that another process listens on already is refused before anything starts.
- **Readiness**: a child writes its process id to an inherited pipe once it is ready (a router when
  it serves; an edge when it listens and its router answers, as ``/readyz`` would). Routers and
  edges start at the same time; the banner is printed when every one of them has said so.
- **Restarts**: a child that exits is started again (its SIGCHLD wakes the supervisor), at most
  ``MAX_RESTARTS`` times within ``RESTART_WINDOW_S``; beyond that everything stops (exit code 1).
- **A supervisor killed** (SIGKILL): every service sees its parent gone within a second and stops
  as on SIGTERM (``keeper.kept``); the routers remove the sockets' directory.
- **Stop** (SIGTERM, SIGINT): the routers first (they stop taking calls, which the edges answer 503,
  and drain theirs, which the edges keep relaying), then the edges, each within its drain time and
  a margin, or killed.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

START_TIMEOUT_S = 30.0
STOP_MARGIN_S = 10.0  # beyond a service's own drain, before it is killed
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
SOCKET_PATH_MAX = 100  # a Unix socket's path is at most 107 bytes on Linux (103 on macOS)
_POLL_S = 0.02  # how often a stopping child is looked at


class Plan:
    """What ``torouter up`` decided from the config (``cli/main.py``). It crosses the exec as
    NUL-separated fields (no JSON: its module would cost the supervisor a megabyte and a half)."""

    FIELDS = (
        "python",  # the interpreter to run the services with
        "config",  # the config file's path
        "workers",
        "edge_listen",  # host:port
        "router_listen",  # host:port (used when the link is TCP)
        "unix_link",  # edges reach their routers through Unix sockets (else: TCP, as configured)
        "router_stop_s",  # how long routers may drain (router.shutdown_grace_s)
        "edge_stop_s",  # how long edges may drain
        "key_hint",  # the banner's key ("": one of the config's)
        "admin_hint",  # the banner's admin key ("": none shown)
    )
    __slots__ = FIELDS

    def __init__(
        self,
        python: str,
        config: str,
        workers: int,
        edge_listen: str,
        router_listen: str,
        unix_link: bool,
        router_stop_s: float,
        edge_stop_s: float,
        key_hint: str = "",
        admin_hint: str = "",
    ) -> None:
        self.python = python
        self.config = config
        self.workers = workers
        self.edge_listen = edge_listen
        self.router_listen = router_listen
        self.unix_link = unix_link
        self.router_stop_s = router_stop_s
        self.edge_stop_s = edge_stop_s
        self.key_hint = key_hint
        self.admin_hint = admin_hint

    def encode(self) -> bytes:
        return "\0".join(str(getattr(self, name)) for name in self.FIELDS).encode()

    @classmethod
    def decode(cls, data: bytes) -> Plan:
        python, config, workers, edge, router, unix, router_s, edge_s, key, admin = data.decode().split("\0")
        return cls(
            python,
            config,
            int(workers),
            edge,
            router,
            unix == "True",
            float(router_s),
            float(edge_s),
            key,
            admin,
        )


class Child:
    """One service process, started with ``posix_spawn`` (its stdin /dev/null; stdout, stderr and
    the readiness pipe inherited)."""

    __slots__ = ("argv", "name", "pid", "ready", "restarts", "returncode")

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name  # "router", "edge", or "router 2" when there are several
        self.argv = argv
        self.pid = 0
        self.returncode: int | None = None
        self.restarts: list[float] = []
        self.ready = False

    def start(self) -> None:
        self.ready = False
        self.returncode = None
        self.pid = os.posix_spawn(
            self.argv[0],
            self.argv,
            os.environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # as Python ignores them: not for the child
        )

    def alive(self) -> bool:
        if self.pid == 0 or self.returncode is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.returncode = os.waitstatus_to_exitcode(status)
        return False

    def terminate(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        """Until it exits, or ``timeout``: then it is killed."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                return
            time.sleep(_POLL_S)


def service_command(python: str, service: str, arguments: list[str]) -> list[str]:
    """How a service is started: ``torouter router|edge ...`` by the same interpreter."""
    return [python, "-m", "torouter.cli.main", service, *arguments]


def banner(plan: Plan) -> str:
    """What ``torouter up`` prints once every service is ready."""
    base = f"http://{client_address(plan.edge_listen)}"
    lines = [
        f"ToRouter is up: base URL {base}/v1",
        f"  OpenAI SDK:    base_url={base}/v1",
        f"  Anthropic SDK: base_url={base}",
        f"  Gemini SDK:    http_options={{'base_url': '{base}'}}",
        f"  key: {plan.key_hint}" if plan.key_hint else "  key: one of the keys in your config",
    ]
    if plan.admin_hint:
        lines.append(f"  admin API:     {base}/admin/v1 (admin key: {plan.admin_hint})")
        lines.append(f"  console:       {base}/console (log in with the admin key)")
    if plan.workers > 1:
        lines.append(f"  workers:       {plan.workers} edges and {plan.workers} routers")
    return "\n".join(lines)


def count_restart(child: Child) -> None:
    """Notes that ``child`` is started again; RuntimeError when it has been too often lately."""
    now = time.monotonic()
    child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_S]
    if len(child.restarts) >= MAX_RESTARTS:
        raise RuntimeError(f"the {child.name} keeps exiting ({MAX_RESTARTS} restarts within a minute)")
    print(
        f"torouter up: the {child.name} exited (code {child.returncode}); restarting",
        file=sys.stderr,
        flush=True,
    )
    child.restarts.append(now)


def report_ready(fd: int) -> None:
    """A child's side: tells the supervisor that this process is ready (its id, one line)."""
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # no supervisor reads it any more: it is stopping
    finally:
        os.close(fd)


def client_address(listen: str) -> str:
    """Where a client on this host reaches a listen address (a wildcard host is loopback)."""
    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    return f"{host}:{port}"


def check_free(listen: str) -> None:
    """RuntimeError when another process listens on ``listen`` (a port shared with SO_REUSEPORT
    would otherwise be shared quietly with that process too)."""
    import socket

    host, _, port = listen.rpartition(":")
    try:
        infos = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise RuntimeError(f"cannot listen on {listen}: {exc}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise RuntimeError(f"cannot listen on {listen}: {exc.strerror}") from None


def socket_directory() -> str:
    """A new private directory (mode 0700) for the routers' sockets and the edges' metrics
    (``edge/worker_metrics.py``), with a path short enough."""
    base = os.environ.get("TMPDIR") or "/tmp"
    if len(base) + len("/torouter-0123456789abcdef/metrics-1024.sock") > SOCKET_PATH_MAX:
        base = "/tmp"
    while True:
        path = f"{base.rstrip('/')}/torouter-{os.urandom(8).hex()}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path


def router_target(socket_dir: str, index: int) -> str:
    """The gRPC target of router ``index`` in the sockets' directory."""
    return f"unix:{socket_dir}/router-{index}.sock"


def remove_directory(path: str) -> None:
    """Removes the sockets' directory and what is in it (sockets: no subdirectories)."""
    try:
        for name in os.listdir(path):
            os.unlink(f"{path}/{name}")
        os.rmdir(path)
    except OSError:
        pass


class Supervisor:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stopping = False
        self.routers: list[Child] = []
        self.edges: list[Child] = []
        self.socket_dir: str | None = None
        self._wake_r = self._ready_r = self._ready_w = -1
        self._pending = b""  # the start of a line read from the readiness pipe

    @property
    def children(self) -> list[Child]:
        return [*self.routers, *self.edges]

    def run(self) -> int:
        """Starts every service, prints how to use them, supervises until SIGINT/SIGTERM."""
        self._ready_r, self._ready_w = os.pipe()
        os.set_inheritable(self._ready_w, True)  # every child gets it
        os.set_blocking(self._ready_r, False)
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)  # a signal wakes the select below
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGCHLD, self._child_exited)
        try:
            self._plan_children()
            for child in self.children:
                child.start()
            self._wait_ready()
            if not self.stopping:
                self._banner()
            while not self.stopping:
                self._wait(60.0)
                for child in self.children:
                    if not self.stopping and not child.alive():
                        self._restart(child)
        except RuntimeError as exc:
            print(f"torouter up: {exc}", file=sys.stderr, flush=True)
            return 1
        finally:
            self._stop_children()
            if self.socket_dir is not None:
                remove_directory(self.socket_dir)
        return 0

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _child_exited(self, signum: int, frame: object) -> None:
        """Nothing: the signal's byte on the wakeup pipe is what wakes the loop."""

    def _plan_children(self) -> None:
        plan = self.plan
        several = plan.workers > 1
        if several:  # the shared ports: refuse one that another process holds
            check_free(plan.edge_listen)
            if not plan.unix_link:
                check_free(plan.router_listen)
        if plan.unix_link or several:
            self.socket_dir = socket_directory()
        common = ["--config", plan.config, "--workers", str(plan.workers), "--ready-fd", str(self._ready_w)]
        common += ["--parent", str(os.getpid())]  # a killed supervisor leaves no service behind
        for i in range(plan.workers):
            router, edge = [*common], [*common]
            if self.socket_dir is not None and plan.unix_link:
                target = router_target(self.socket_dir, i)
                router += ["--listen", target]
                edge += ["--router", target]
            if self.socket_dir is not None and several:  # /metrics answers the sum of the edges'
                edge += ["--metrics-dir", self.socket_dir, "--worker-index", str(i)]
            suffix = f" {i}" if several else ""
            self.routers.append(Child(f"router{suffix}", self._command("router", router)))
            self.edges.append(Child(f"edge{suffix}", self._command("edge", edge)))

    def _command(self, service: str, arguments: list[str]) -> list[str]:
        return service_command(self.plan.python, service, arguments)

    def _wait(self, timeout: float) -> None:
        """Sleeps until a signal, a readiness line or ``timeout``; takes in the readiness lines."""
        readable, _, _ = select.select([self._wake_r, self._ready_r], [], [], timeout)
        if self._wake_r in readable:
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        if self._ready_r in readable:
            try:
                self._pending += os.read(self._ready_r, 4096)
            except BlockingIOError:
                return
            *lines, self._pending = self._pending.split(b"\n")
            by_pid = {child.pid: child for child in self.children}
            for line in lines:
                child = by_pid.get(int(line)) if line.isdigit() else None
                if child is not None:
                    child.ready = True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.stopping:
            for child in self.children:
                if not child.alive():
                    raise RuntimeError(f"the {child.name} exited while starting (see its log above)")
            waiting = [child for child in self.children if not child.ready]
            if not waiting:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                late = waiting[0].name
                raise RuntimeError(f"the {late} did not become ready within {START_TIMEOUT_S:.0f}s")
            self._wait(left)

    def _banner(self) -> None:
        print(banner(self.plan), flush=True)

    def _restart(self, child: Child) -> None:
        count_restart(child)
        child.start()

    def _stop_children(self) -> None:
        """The routers first, then the edges (module doc)."""
        for group, drain_s in ((self.routers, self.plan.router_stop_s), (self.edges, self.plan.edge_stop_s)):
            for child in group:
                child.terminate()
            deadline = time.monotonic() + drain_s + STOP_MARGIN_S
            for child in group:
                child.wait(max(0.0, deadline - time.monotonic()))


def main(argv: list[str]) -> int:
    """``python -I -S supervisor.py FD``: the plan comes on the inherited file descriptor FD."""
    fd = int(argv[1])
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return Supervisor(Plan.decode(data)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
