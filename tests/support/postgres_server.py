"""A real PostgreSQL server on a loopback port, started by the test run from Debian's ``postgresql``
package (the Makefile installs it): ``initdb`` into a temporary directory, ``pg_ctl`` to start and
stop it. As root (CI), the server runs as the ``postgres`` user the package creates."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    path = found[0] if found else shutil.which(name)
    assert path, f"{name} is not installed: `make test` installs it (Debian package postgresql)"
    return path


class PostgresServer:
    """One throwaway cluster; ``stop``/``start`` simulate the database going away and coming back."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="torouter-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user = "torouter"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(_binary("initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        result = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{argv[0]} failed: {result.stdout}{result.stderr}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            # fsync off: a crash of the server process (not of the machine) loses no commit
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            _binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert time.monotonic() < deadline, "postgres did not start within 20 s"
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash (no shutdown checkpoint); ``fast`` a clean stop."""
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Yields a running server (``.url``), stopped and removed afterwards."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except AssertionError:
            pass  # already stopped
        server.remove()
