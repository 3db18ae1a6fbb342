"""A state store that cannot be reached: what callers get (a 503 with ``retry-after``, in their
protocol) and what operators see (one warning when an outage begins, one line when it ends: never
a line, or a traceback, per request).

While an outage lasts, calls fail at once instead of waiting on a store that is gone, but for one
call every ``probe_interval_s`` that tries the store again; its success ends the outage.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType

from ..errors import ErrorCode, GatewayError

log = logging.getLogger("torouter.router.state")

RETRY_AFTER_S = 1.0
PROBE_INTERVAL_S = 0.5


class StateUnavailable(GatewayError):
    """The state store cannot be reached."""

    def __init__(self) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE,
            "The gateway's state store is unavailable; retry shortly.",
            retry_after=RETRY_AFTER_S,
        )


class Outage:
    """Use ``with outage:`` around each call to the store: the store's own connection errors
    (``errors``) become :class:`StateUnavailable`, and are logged once per outage."""

    def __init__(
        self,
        store: str,
        errors: tuple[type[BaseException], ...],
        probe_interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self.store = store
        self.errors = errors
        self.probe_interval_s = probe_interval_s
        self.since: float | None = None  # monotonic time the current outage began; None: none
        self._next_probe = 0.0
        self._failed = 0

    def __enter__(self) -> None:
        if self.since is None:
            return
        now = time.monotonic()
        if now < self._next_probe:
            self._failed += 1
            raise StateUnavailable()
        self._next_probe = now + self.probe_interval_s  # this call probes; the others fail at once

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if error is None:
            if self.since is not None:
                self._ended()
            return
        if isinstance(error, self.errors):
            self._failed += 1
            now = time.monotonic()
            if self.since is None:
                self.since = now
                log.warning(
                    "state store unavailable: answering 503 to requests that need it until it is back",
                    extra={"store": self.store, "error": type(error).__name__},
                )
            self._next_probe = now + self.probe_interval_s
            raise StateUnavailable() from None

    def _ended(self) -> None:
        assert self.since is not None
        log.warning(
            "state store available again",
            extra={
                "store": self.store,
                "outage_s": round(time.monotonic() - self.since, 3),
                "failed_calls": self._failed,
            },
        )
        self.since = None
        self._failed = 0
