"""Open files: `torouter edge` / `router` raise their soft limit to the hard one at start and say so,
and an edge out of files logs it once (uvloop would otherwise drop connections without a word)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from support.gateway import free_port
from torouter.cli.open_files import OpenFiles


def _limit_files(soft: int, hard: int | None = None) -> Callable[[], None]:
    def apply() -> None:
        current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current_hard if hard is None else hard))

    return apply


@contextmanager
def service(
    tmp_path: Path, name: str, limit: Callable[[], None]
) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """`torouter <name>` on loopback ports with its stderr in a file; yields (process, log, port)."""
    edge, router = free_port(), free_port()
    config = {
        "edge": {"listen": f"127.0.0.1:{edge}", "router": f"127.0.0.1:{router}"},
        "router": {"listen": f"127.0.0.1:{router}", "state": "memory://"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / f"{name}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "torouter.cli.main", name, "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=limit,  # only setrlimit, in the child
        )
    try:
        yield process, log, edge if name == "edge" else router
    finally:
        process.terminate()
        process.wait(30)


def lines(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return out


def wait_for(log: Path, message: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in lines(log):
            if str(line.get("msg", "")).startswith(message):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no {message!r} in {log.read_text()[-2000:]}")


def _soft_limit_of(pid: int) -> tuple[str, str]:
    for row in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if row.startswith("Max open files"):
            soft, hard = row.split()[3:5]
            return soft, hard
    raise AssertionError("no open files row")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["edge", "router"])
def test_the_soft_limit_is_raised_to_the_hard_one_and_logged(tmp_path: Path, name: str) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"the hard limit here ({hard}) leaves nothing to raise")
    with service(tmp_path, name, _limit_files(256)) as (process, log, _):
        line = wait_for(log, "open files limit")
        assert line["was"] == 256 and line["soft"] == line["hard"] and line["soft"] > 256
        soft_now, hard_now = _soft_limit_of(process.pid)
        assert soft_now == hard_now


@pytest.mark.slow
def test_an_edge_out_of_files_says_so_once(tmp_path: Path) -> None:
    with service(tmp_path, "edge", _limit_files(96, 96)) as (_, log, port):
        wait_for(log, "edge listening")
        held: list[socket.socket] = []
        try:
            for _ in range(160):  # more connections than the edge can hold
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            reached = wait_for(log, "open files limit reached")
            assert reached["level"] == "warning" and reached["soft"] == 96
            time.sleep(2.5)  # still out of files: nothing more is said
            said = [line for line in lines(log) if str(line["msg"]).startswith("open files limit reached")]
            assert len(said) == 1
        finally:
            for sock in held:
                sock.close()
        wait_for(log, "open files below the limit again")


def test_asyncios_failed_accepts_are_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    open_files = OpenFiles(logging.getLogger("torouter.edge"))
    loop = asyncio.new_event_loop()
    passed: list[dict[str, Any]] = []
    loop.default_exception_handler = passed.append  # type: ignore[method-assign]
    try:
        for _ in range(5):
            error = OSError(errno.EMFILE, os.strerror(errno.EMFILE))
            open_files.exception_handler(
                loop, {"message": "socket.accept() out of system resource", "exception": error}
            )
        open_files.exception_handler(loop, {"message": "something else"})
    finally:
        loop.close()
    warned = [r for r in caplog.records if r.getMessage().startswith("open files limit reached")]
    assert len(warned) == 1 and open_files.exhausted
    assert passed == [{"message": "something else"}]  # other trouble goes to asyncio's own handler
    assert open_files.check() and not open_files.exhausted  # files can be opened again: said so
