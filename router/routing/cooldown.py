"""Per-upstream circuit breaker: after ``threshold`` failures within ``window_s`` an upstream is
skipped for ``cooldown_s``; then one request at a time probes it, and a success closes it again.

State is per router process and shared by all its requests. A group whose every upstream is
cooling down still tries them (in priority order) rather than failing without trying.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Breaker:
    failures: deque[float] = field(default_factory=deque)
    open_until: float = 0.0
    probing: bool = False


class Cooldowns:
    def __init__(self, threshold: int = 3, window_s: float = 30.0, cooldown_s: float = 15.0) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self._breakers: dict[str, _Breaker] = {}

    def available(self, upstream: str, now: float | None = None) -> bool:
        """False while the upstream cools down; True for the one probe after it."""
        breaker = self._breakers.get(upstream)
        if breaker is None or breaker.open_until == 0.0:
            return True
        now = time.monotonic() if now is None else now
        if now < breaker.open_until or breaker.probing:
            return False
        breaker.probing = True  # half-open: let exactly one request through
        return True

    def failed(self, upstream: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        breaker = self._breakers.setdefault(upstream, _Breaker())
        if breaker.probing:  # the probe failed: cool down again
            breaker.probing = False
            breaker.open_until = now + self.cooldown_s
            return
        breaker.failures.append(now)
        while breaker.failures and breaker.failures[0] < now - self.window_s:
            breaker.failures.popleft()
        if len(breaker.failures) >= self.threshold:
            breaker.open_until = now + self.cooldown_s
            breaker.failures.clear()

    def succeeded(self, upstream: str) -> None:
        breaker = self._breakers.get(upstream)
        if breaker is not None:
            breaker.failures.clear()
            breaker.open_until = 0.0
            breaker.probing = False

    def reset(self) -> None:
        self._breakers.clear()

    def cooling(self) -> list[str]:
        now = time.monotonic()
        return [name for name, b in self._breakers.items() if b.open_until > now]
