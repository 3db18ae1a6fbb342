"""Micro-benchmark: what a key's restrictions cost the router per request (CONTRACT §5).

    python bench/key_checks.py [--requests N] [--state sqlite|memory]

Runs, in one process and without any network, the checks the dispatcher makes before a request may
go upstream — authenticate the key, expiry and IP rules, the model allowlist, and the counters
(spend, the sliding request windows, rpm) — for a key with no restrictions and for a key with every
restriction (none of them near blocking), alternating in rounds so that machine noise hits both
alike. Prints the median and p99 per request in microseconds. The whole gateway's added latency is
measured by ``run.py`` (``--key-rules`` gives its key every restriction).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from torouter.router.config import KeyConfig, hash_key
from torouter.router.key_rules import parse_rules
from torouter.router.routing.caller_keys import KeyRing
from torouter.router.routing.limits import Limiter
from torouter.router.routing.restrictions import check_key, check_model
from torouter.router.state import open_store

RULES = parse_rules(
    {
        "spend_cap_usd": 1e6,
        "requests_5h": 10**9,
        "requests_24h": 10**9,
        "requests_7d": 10**9,
        "expires_at": "2999-01-01T00:00:00Z",
        "ip_allow": ["127.0.0.0/8", "::1/128"],
        "ip_deny": ["10.0.0.0/8"],
        "models": ["gpt-4o-mini"],
    }
)


async def run(requests: int, state: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'k.db'}" if state == "sqlite" else "memory://")
        keys = (
            KeyConfig("plain", hash_key("plain-secret"), "g"),
            KeyConfig("ruled", hash_key("ruled-secret"), "g", rpm=10**9, rules=RULES),
        )
        ring, limiter = KeyRing(keys, store), Limiter(store)
        timings: dict[str, list[float]] = {"plain": [], "ruled": []}

        async def one(secret: str) -> float:
            started = time.perf_counter()
            caller = await ring.authenticate(secret)
            if caller.rules is not None:
                check_key(caller.rules, "127.0.0.1")
                check_model(caller.rules, "gpt-4o-mini")
            await limiter.admit(caller)
            return (time.perf_counter() - started) * 1e6

        for _ in range(200):  # warm-up
            await one("plain-secret")
            await one("ruled-secret")
        for _ in range(requests // 100):
            for name in ("plain", "ruled"):
                timings[name] += [await one(f"{name}-secret") for _ in range(100)]
        await store.close()
    for name, values in timings.items():
        values.sort()
        p99 = values[int(len(values) * 0.99) - 1]
        median = statistics.median(values)
        print(f"{state:7} {name:6} median {median:7.1f} µs   p99 {p99:7.1f} µs   n={len(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--state", choices=("sqlite", "memory"), default="sqlite")
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.state))


if __name__ == "__main__":
    main()
