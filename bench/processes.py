"""The processes a benchmark run starts: start, pin, wait for, measure (memory, CPU time) and stop.

Linux only where it reads /proc (the process tree, RSS, CPU time); elsewhere those figures are
reported as missing.
"""

from __future__ import annotations

import ctypes
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STOP_GRACE_S = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PR_SET_PDEATHSIG = 1


class BenchError(Exception):
    """The set-up failed: a process did not start, or a smoke request got a wrong answer."""


# ---------------------------------------------------------------------------------------------
# /proc


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    argv: tuple[str, ...]
    start: int  # start time in clock ticks since boot: tells a process from a later one with its pid
    rss_kb: int


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (index 0 is field 3, the state)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def proc_info(pid: int) -> ProcInfo | None:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = tuple(a.decode(errors="replace") for a in f.read().split(b"\0") if a)
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
    except OSError:
        return None
    return ProcInfo(
        pid=pid,
        ppid=int(fields[1]),
        argv=argv,
        start=int(fields[19]),
        rss_kb=rss_pages * os.sysconf("SC_PAGE_SIZE") // 1024,
    )


def process_tree(root_pid: int) -> list[ProcInfo]:
    """``root_pid`` and all its descendants (empty when /proc cannot be read)."""
    try:
        pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    infos = [info for pid in pids if (info := proc_info(pid)) is not None]
    children: dict[int, list[ProcInfo]] = {}
    for info in infos:
        children.setdefault(info.ppid, []).append(info)
    tree = [info for info in infos if info.pid == root_pid]
    todo = list(tree)
    while todo:
        for child in children.get(todo.pop().pid, ()):
            tree.append(child)
            todo.append(child)
    return tree


def tree_rss_mb(root_pid: int) -> tuple[float, int]:
    """Resident memory (MB) of ``root_pid`` and all its descendants, and how many processes that is."""
    tree = process_tree(root_pid)
    if not tree:
        return math.nan, 0
    return sum(p.rss_kb for p in tree) / 1024, len(tree)


def cpu_ticks(pid: int, start: int) -> int | None:
    """utime + stime of ``pid`` (every thread, not its children), if it is still the same process."""
    fields = _stat_fields(pid)
    if fields is None or int(fields[19]) != start:
        return None
    return int(fields[11]) + int(fields[12])


def context_switches(pid: int) -> int:
    """Context switches (voluntary and not) of every thread of ``pid`` so far: how often the process
    went to sleep and woke again, which on a shared core costs more than the work in between."""
    total = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    name, _, value = line.partition(":")
                    if name.endswith("ctxt_switches"):
                        total += int(value)
        except (OSError, ValueError):
            continue
    return total


# ---------------------------------------------------------------------------------------------
# CPU time per request, per process role


Classify = Callable[[ProcInfo, int], str]


def gateway_role(info: ProcInfo, root_pid: int) -> str:
    """edge / router by their command line (``torouter edge|router ...``); the root is the
    supervisor with several workers (``supervisor.py``), and the edge itself with one (``torouter
    up`` goes on as the edge)."""
    for role in ("edge", "router"):
        if role in info.argv[1:]:
            return role
    if info.pid != root_pid:
        return "other"
    return "supervisor" if any(arg.endswith("supervisor.py") for arg in info.argv) else "edge"


def single_role(name: str) -> Classify:
    return lambda info, root_pid: name


@dataclass
class CpuUsage:
    """CPU time used by each role's processes over a window in which ``requests`` completed."""

    seconds: dict[str, float] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def us_per_request(self, role: str) -> float:
        if not self.requests or role not in self.seconds:
            return math.nan
        return self.seconds[role] * 1e6 / self.requests

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def total_us_per_request(self) -> float:
        return self.total_seconds * 1e6 / self.requests if self.requests else math.nan

    def cores_busy(self) -> float:
        return self.total_seconds / self.wall_s if self.wall_s > 0 else math.nan


@dataclass
class CpuWindow:
    """Reads the CPU time of a process tree at the start and end of a measured window.

    The tree is listed (a scan of /proc) by ``CpuMeter.window()`` before the load starts; at
    the window's edges only the known processes' /proc/<pid>/stat are read, which is quick.
    """

    procs: list[ProcInfo]
    roles: dict[int, str]
    root_pid: int
    classify: Classify
    start_ticks: dict[int, int] = field(default_factory=dict)
    started: float = 0.0

    def begin(self) -> None:
        self.started = time.perf_counter()
        self.start_ticks = {p.pid: t for p in self.procs if (t := cpu_ticks(p.pid, p.start)) is not None}

    def end(self, requests: int) -> CpuUsage:
        wall = time.perf_counter() - self.started
        usage = CpuUsage(requests=requests, wall_s=wall)
        exited = []
        for p in self.procs:
            role = self.roles[p.pid]
            usage.seconds.setdefault(role, 0.0)
            usage.processes[role] = usage.processes.get(role, 0) + 1
            now = cpu_ticks(p.pid, p.start)
            before = self.start_ticks.get(p.pid)
            if now is None or before is None:
                exited.append(f"{role} {p.pid}")
                continue
            usage.seconds[role] += (now - before) / CLOCK_TICKS
        if exited:
            usage.notes.append(f"exited during the window, not counted: {', '.join(exited)}")
        known = {(p.pid, p.start) for p in self.procs}
        new = [p for p in process_tree(self.root_pid) if (p.pid, p.start) not in known]
        if new:
            names = ", ".join(f"{self.classify(p, self.root_pid)} {p.pid}" for p in new)
            usage.notes.append(f"started during the window, not counted: {names}")
        return usage


@dataclass(frozen=True)
class CpuMeter:
    root_pid: int
    classify: Classify

    def window(self) -> CpuWindow:
        procs = process_tree(self.root_pid)
        roles = {p.pid: self.classify(p, self.root_pid) for p in procs}
        return CpuWindow(procs, roles, self.root_pid, self.classify)

    def describe(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(role, pid, argv) of each process of the tree, for the report."""
        return [(self.classify(p, self.root_pid), p.pid, p.argv) for p in process_tree(self.root_pid)]


def affinities(meter: CpuMeter) -> dict[str, set[int]]:
    """The CPUs each role's processes may run on (the union over the role's processes)."""
    out: dict[str, set[int]] = {}
    for role, pid, _argv in meter.describe():
        try:
            cpus = os.sched_getaffinity(pid)
        except OSError:
            continue
        out.setdefault(role, set()).update(cpus)
    return out


def cpu_list(cpus: Iterable[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


# ---------------------------------------------------------------------------------------------
# pinning


@dataclass(frozen=True)
class Placement:
    """Which CPUs the gateway under test, and the load generator with the mock, run on."""

    gateway: frozenset[int]
    load: frozenset[int]


def plan_pinning() -> Placement:
    """The gateway on one core, the load generator and the mock on another."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        raise BenchError(
            f"--pin needs at least 2 CPUs (this process may use {len(available)}: "
            f"{cpu_list(available)}): run without --pin"
        )
    return Placement(gateway=frozenset({available[1]}), load=frozenset({available[0]}))


# ---------------------------------------------------------------------------------------------
# child processes


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stderr_tail(self, lines: int = 200) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all held open at once, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """Runs in the child before exec: its CPUs (inherited by whatever it starts), and SIGTERM
    when this process dies, so that not even a SIGKILL of the benchmark leaves a server running."""
    parent = os.getpid()
    try:
        libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
    except OSError:
        libc = None

    def setup() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        if libc is not None and sys.platform.startswith("linux"):
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the benchmark died before prctl took effect
                os._exit(1)

    return setup


def start_child(
    name: str,
    argv: Sequence[str],
    workdir: Path,
    cpus: frozenset[int] | None = None,
    env: Mapping[str, str] | None = None,
) -> Child:
    stdout_path = workdir / f"{name}.stdout.log"
    stderr_path = workdir / f"{name}.stderr.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    try:
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                list(argv),
                cwd=workdir,  # relative paths in argv would resolve there: use absolute ones
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: we can stop its children too
                preexec_fn=_child_setup(cpus),
            )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"cannot start {name} ({shlex.join(argv)}): {exc}") from exc
    return Child(name, proc, stdout_path, stderr_path)


@dataclass
class Children:
    """The processes a run started: those still running are stopped on every way out."""

    running: list[Child] = field(default_factory=list)
    started: list[Child] = field(default_factory=list)  # all of them, for their logs

    def add(self, child: Child) -> Child:
        self.running.append(child)
        self.started.append(child)
        return child

    def stop(self, child: Child) -> None:
        if child in self.running:
            self.running.remove(child)
            stop_child(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.running)):
            self.stop(child)

    def stderr_tails(self, lines: int = 200) -> str:
        out = []
        for child in self.started:
            tail = child.stderr_tail(lines)
            if tail:
                out.append(f"\n--- {child.name} stderr ({child.stderr_path}) ---\n{tail}")
        return "\n".join(out)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_child(child: Child) -> None:
    """SIGTERM (the gateway drains and stops its processes), then SIGKILL after a grace period.

    The child was started in its own session, so its process group holds the processes it
    started; whatever of that group is still alive after the grace period is killed, and so is any
    descendant that left the group (listed before the SIGTERM, matched by pid and start time).
    """
    proc = child.proc
    pgid = proc.pid
    descendants = [p for p in process_tree(proc.pid) if p.pid != proc.pid]
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            print(
                f"{child.name} did not stop within {STOP_GRACE_S:.0f}s of SIGTERM: killing it",
                file=sys.stderr,
            )
            os.killpg(pgid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + STOP_GRACE_S
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid):
        print(f"processes left by {child.name} (group {pgid}): killing them", file=sys.stderr)
        os.killpg(pgid, signal.SIGKILL)
    for p in descendants:
        if cpu_ticks(p.pid, p.start) is not None:
            print(f"process {p.pid} left by {child.name}: killing it", file=sys.stderr)
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_for_port(child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with code {child.proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{child.name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def wait_ready(child: Child, url: str, timeout: float, since: float | None = None) -> float:
    """Poll ``url`` until it answers 200; returns the seconds since ``since`` (default: now)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with code {child.proc.returncode} before it was ready")
        try:
            with opener.open(url, timeout=1.0) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.05)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")
