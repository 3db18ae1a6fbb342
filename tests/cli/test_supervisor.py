"""``torouter up``'s supervisor (cli/supervisor.py) on its own, run as ``torouter up`` runs it
(``python -I -S supervisor.py FD``), with stand-in services: a small script in place of the
interpreter that logs what happens to it, so that readiness, restarts, their limit and the order of
the stop are seen without starting gRPC. ``test_up_workers.py`` runs it with the real services."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.gateway import free_port
from torouter.cli import supervisor
from torouter.cli.supervisor import Plan

# Stands in for ``python -m torouter.cli.main SERVICE --config FILE ...``: FILE says what to do.
SERVICE = """
import os, signal, sys, time
args = sys.argv[1:]
service = args[2]
mode = open(args[args.index("--config") + 1]).read().strip()
ready_fd = int(args[args.index("--ready-fd") + 1])
events = os.path.join(os.path.dirname(args[args.index("--config") + 1]), "events")

def log(what):
    with open(events, "a") as out:
        out.write(f"{time.monotonic():.6f} {service} {os.getpid()} {what}\\n")

log("started " + " ".join(args[3:]))
if mode == "fail-at-start" and service == "router":
    sys.exit(2)
def stop(signum, frame):
    log("sigterm")
    time.sleep(0.2)  # a drain
    log("exited")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
os.write(ready_fd, f"{os.getpid()}\\n".encode())
os.close(ready_fd)
if mode == "crash" and service == "router":
    time.sleep(0.05)
    sys.exit(3)
while True:
    time.sleep(1)
"""


def supervise(tmp_path: Path, mode: str, workers: int = 1) -> subprocess.Popen[str]:
    (tmp_path / "service.py").write_text(SERVICE)
    fake_python = tmp_path / "python"
    fake_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{tmp_path / "service.py"}" "$@"\n')
    fake_python.chmod(0o755)
    config = tmp_path / "mode"
    config.write_text(mode)
    plan = Plan(
        python=str(fake_python),
        config=str(config),
        workers=workers,
        edge_listen=f"127.0.0.1:{free_port()}",
        router_listen="127.0.0.1:50051",
        unix_link=True,
        router_stop_s=1.0,
        edge_stop_s=1.0,
        key_hint="tr-the-key",
    )
    read, write = os.pipe()
    os.write(write, plan.encode())
    os.close(write)
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", supervisor.__file__, str(read)],
        pass_fds=(read,),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(read)
    return process


def events(tmp_path: Path) -> list[tuple[float, str, int, str]]:
    rows = []
    for line in (tmp_path / "events").read_text().splitlines():
        at, service, pid, what = line.split(" ", 3)
        rows.append((float(at), service, int(pid), what))
    return rows


def test_plan_crosses_the_exec_intact() -> None:
    plan = Plan("/usr/bin/python3", "/etc/t o.yaml", 3, "[::]:80", "127.0.0.1:1", False, 30.0, 35.5, "k", "")
    again = Plan.decode(plan.encode())
    assert [getattr(again, name) for name in Plan.FIELDS] == [getattr(plan, name) for name in Plan.FIELDS]


@pytest.mark.slow
def test_banner_once_all_are_ready_then_routers_stop_before_edges(tmp_path: Path) -> None:
    process = supervise(tmp_path, "serve", workers=2)
    assert process.stdout is not None
    banner = process.stdout.readline()
    assert banner.startswith("ToRouter is up: base URL http://127.0.0.1:"), banner
    started = [row for row in events(tmp_path) if row[3].startswith("started")]
    assert sorted(row[1] for row in started) == ["edge", "edge", "router", "router"]
    # edge i and router i share a Unix socket in a private directory
    listens = sorted(row[3].split("--listen unix:")[1].split()[0] for row in started if row[1] == "router")
    routers = sorted(row[3].split("--router unix:")[1].split()[0] for row in started if row[1] == "edge")
    assert listens == routers and [Path(p).name for p in listens] == ["router-0.sock", "router-1.sock"]
    directory = Path(listens[0]).parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    # where the edges share their /metrics: the same directory, each edge told its index
    shared = sorted(row[3].split("--metrics-dir ")[1] for row in started if row[1] == "edge")
    assert [s.split() for s in shared] == [[str(directory), "--worker-index", str(i)] for i in range(2)]
    rest = [process.stdout.readline() for _ in range(5)]
    assert rest[3].strip() == "key: tr-the-key" and "2 edges and 2 routers" in rest[4]

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    rows = events(tmp_path)
    routers_exited = max(at for at, service, _, what in rows if service == "router" and what == "exited")
    edges_stopped = min(at for at, service, _, what in rows if service == "edge" and what == "sigterm")
    assert routers_exited < edges_stopped  # both routers drained and gone before an edge is stopped
    assert sum(1 for row in rows if row[3] == "exited") == 4
    assert not directory.exists()


@pytest.mark.slow
def test_a_service_that_keeps_exiting_is_restarted_then_everything_stops(tmp_path: Path) -> None:
    process = supervise(tmp_path, "crash")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.count("torouter up: the router exited (code 3); restarting") == 5
    assert "torouter up: the router keeps exiting (5 restarts within a minute)" in stderr
    rows = events(tmp_path)
    assert len({pid for _, service, pid, what in rows if service == "router"}) == 6  # 1 + 5 restarts
    assert [what for _, service, _, what in rows if service == "edge"][-2:] == ["sigterm", "exited"]


@pytest.mark.slow
def test_a_service_that_exits_while_starting_stops_everything(tmp_path: Path) -> None:
    started = time.monotonic()
    process = supervise(tmp_path, "fail-at-start")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "ToRouter is up" not in stdout
    assert "torouter up: the router exited while starting (see its log above)" in stderr
    assert time.monotonic() - started < 20  # not the start timeout
