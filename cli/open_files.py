"""A service's open files (sockets included): the limit raised at start, and a word when it is hit.

Each caller holds a socket at the edge, each call one at the router; Docker's default soft limit
(1,024) is reached by a thousand callers. The soft limit is raised to the hard one at start (and
logged). When no file can be opened any more, accepting connections fails — silently under uvloop,
which drops them — so the process checks once a second and logs one warning when it hits the
limit, and one line when it is below it again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
from collections.abc import Coroutine
from typing import Any

CHECK_INTERVAL_S = 1.0
UNLIMITED_TARGET = 1 << 20  # what "no hard limit" is raised to
_EXHAUSTED = (errno.EMFILE, errno.ENFILE)


def raise_limit(log: logging.Logger) -> tuple[int, int]:
    """Raises the soft limit of open files to the hard one; logs and returns ``(soft, hard)``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    was = soft
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("open files limit not raised", extra={"soft": soft, "hard": hard, "error": str(exc)})
    log.info("open files limit", extra={"soft": soft, "hard": hard, "was": was})
    return soft, hard


class OpenFiles:
    """Tells, once per episode, that the process cannot open files (nor accept connections)."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.exhausted = False

    def check(self) -> bool:
        """True when a file can be opened now; logs the change when it differs from last time."""
        try:
            fd = os.open(os.devnull, os.O_RDONLY)
        except OSError as exc:
            if exc.errno not in _EXHAUSTED:
                raise
            self._hit()
            return False
        os.close(fd)
        if self.exhausted:
            self.exhausted = False
            self.log.warning("open files below the limit again: new connections are accepted")
        return True

    def _hit(self) -> None:
        if self.exhausted:
            return
        self.exhausted = True
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.log.warning(
            "open files limit reached: new connections are refused until some close "
            "(raise the limit: ulimits nofile in docker compose, LimitNOFILE in systemd)",
            extra={"soft": soft, "hard": hard},
        )

    async def watch(self, interval_s: float = CHECK_INTERVAL_S) -> None:
        while True:
            self.check()
            await asyncio.sleep(interval_s)

    def exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own loop reports each failed accept (with a traceback): once an episode here."""
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _EXHAUSTED:
            self._hit()
            return
        loop.default_exception_handler(context)


async def served(service: Coroutine[Any, Any, None], log: logging.Logger) -> None:
    """Runs a service with its open files watched."""
    open_files = OpenFiles(log)
    asyncio.get_running_loop().set_exception_handler(open_files.exception_handler)
    watch = asyncio.create_task(open_files.watch())
    try:
        await service
    finally:
        watch.cancel()
