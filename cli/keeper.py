"""``torouter up`` with one worker: the edge keeps its router as a child, with no supervisor.

A third process only to watch two would hold ~10 MB of the tree's memory (an interpreter of its
own), so with one worker ``torouter up`` starts the router itself and then goes on as the edge, in
the same process (the config it has read is the edge's; nothing is loaded twice). The edge then
does what the supervisor does for several workers (``supervisor.py``):

- **Readiness**: the banner is printed when the edge listens and its router answers (``/readyz``);
  a router that exits before that stops everything (exit code 1).
- **Restarts**: a router that exits later is started again, at most ``MAX_RESTARTS`` times within
  ``RESTART_WINDOW_S``; beyond that the edge stops too (exit code 1). Meanwhile the edge answers
  503, as it does for any router it cannot reach.
- **Stop** (SIGTERM, SIGINT): the router first (it stops taking calls and drains its own, which
  the edge keeps relaying), then the edge drains; the sockets' directory is removed.
- **An edge killed** (SIGKILL, the OOM killer) stops nothing itself: its router notices that its
  parent is gone within a second and stops as on SIGTERM (:func:`kept`), so a ``torouter up``
  started again never finds an old router still running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from .supervisor import (
    STOP_MARGIN_S,
    Child,
    Plan,
    banner,
    count_restart,
    remove_directory,
    router_target,
    service_command,
)

WATCH_INTERVAL_S = 0.1  # how often the router is looked at (waitpid, no signal handler needed)
PARENT_CHECK_S = 1.0  # how often the router looks whether its edge is still there


def router_child(plan: Plan, socket_dir: str | None) -> Child:
    """The router ``torouter up`` starts for its one edge (on the Unix socket in ``socket_dir``, or
    where the config says)."""
    arguments = ["--config", plan.config, "--workers", "1", "--parent", str(os.getpid())]
    if socket_dir is not None:
        arguments += ["--listen", router_target(socket_dir, 0)]
    return Child("router", service_command(plan.python, "router", arguments))


class RouterKeeper:
    """The edge's side of ``torouter up`` with one worker: its router child, kept running."""

    def __init__(self, plan: Plan, router: Child, socket_dir: str | None) -> None:
        self.plan = plan
        self.router = router
        self.socket_dir = socket_dir
        self.failed = False
        self._ready = False
        self._stopped = False

    def on_ready(self) -> None:
        """The edge listens and its router answers: the banner."""
        self._ready = True
        print(banner(self.plan), flush=True)

    async def watch(self, stop_edge: Callable[[], None]) -> None:
        """Starts the router again whenever it exits, until that is too often (then, and when it
        exits before it was ever ready, ``stop_edge`` is called)."""
        while not self._stopped:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if self._stopped or self.router.alive():
                continue
            try:
                if not self._ready:
                    raise RuntimeError("the router exited while starting (see its log above)")
                count_restart(self.router)
            except RuntimeError as exc:
                print(f"torouter up: {exc}", file=sys.stderr, flush=True)
                self.failed = True
                stop_edge()
                return
            self.router.start()

    async def stop(self) -> None:
        """Stops the router within its drain time (and a margin; then it is killed), and removes
        the sockets' directory."""
        self._stopped = True  # from here on only this looks at the router: no one else reaps it
        self.router.terminate()
        await asyncio.to_thread(self.router.wait, self.plan.router_stop_s + STOP_MARGIN_S)
        if self.socket_dir is not None:
            remove_directory(self.socket_dir)


async def kept(service: Coroutine[Any, Any, None], parent: int, listen: str | None) -> None:
    """A kept service's side (the router an edge keeps, or a service of the supervisor): runs
    ``service``, and stops it as SIGTERM does (a drain) once its parent ``parent`` is gone; a router
    then removes the sockets' directory its parent would have (``listen``: its ``unix:`` target)."""
    orphaned = asyncio.Event()
    watch = asyncio.create_task(_stop_when_orphaned(parent, orphaned))
    try:
        await service
    finally:
        watch.cancel()
    if orphaned.is_set() and listen is not None and listen.startswith("unix:"):
        remove_directory(os.path.dirname(listen.removeprefix("unix:")))


async def _stop_when_orphaned(parent: int, orphaned: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            orphaned.set()
            os.kill(os.getpid(), signal.SIGTERM)
            return
