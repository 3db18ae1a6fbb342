"""The library's rates of some models, read in a child process.

``genai-prices``' data (and pydantic, which it needs) costs a process ~15 MB that are never given
back, even once nothing refers to them, and a quarter of a second to read. A router that needs only
its configured models' rates asks a short-lived child for them: it reads the data, answers on its
standard output, and exits with its memory. The router keeps only the answers (and today's price
file, ``price_cache.py``, keeps them for the next start).

    python -m torouter.router.account.price_reader < {"pairs": [["openai", "gpt-4o-mini"], ...]}

answers ``{"entries": [{"provider", "model", "rates", "volatile"}, ...]}``: each pair's rates as
today's file writes them (``null``: no price) and whether they change with the time of day (those
the router reads from the library itself: the child's answer is for the moment it was asked).
A child that fails, or does not answer within ``TIMEOUT_S``, leaves the router to read the data in
its own process, as it did before.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import orjson

from .price_cache import rates_json, rates_of
from .prices import LibraryPrices, Pair, Rates

log = logging.getLogger("torouter.usage")

TIMEOUT_S = 10.0  # it answers in ~0.2 s; a loaded machine may take a few
COMMAND = (sys.executable, "-m", "torouter.router.account.price_reader")

Found = dict[Pair, tuple[Rates | None, bool]]  # (rates or None: no price, volatile)


def read_apart(pairs: Iterable[Pair]) -> Found | None:
    """The library's rates of ``pairs`` as a child process reads them; None when it could not."""
    asked = {"pairs": sorted(pairs)}
    try:
        done = subprocess.run(COMMAND, input=orjson.dumps(asked), capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("price data not read apart: reading it here", extra={"error": type(exc).__name__})
        return None
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        log.warning(
            "price data not read apart: reading it here",
            extra={"exit_code": done.returncode, "error": problem[0][:200]},
        )
        return None
    try:
        entries = orjson.loads(done.stdout)["entries"]
        return {
            (str(e["provider"]), str(e["model"])): (rates_of(e["rates"]), bool(e["volatile"]))
            for e in entries
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        log.warning("price data not read apart: reading it here", extra={"error": type(exc).__name__})
        return None


def answer(asked: Any) -> dict[str, Any]:
    """The child's answer to ``asked`` (``{"pairs": [[provider, model], ...]}``)."""
    library = LibraryPrices()
    entries = []
    for provider, model in asked["pairs"]:
        rates, volatile = library.lookup(str(provider), str(model))
        entries.append(
            {"provider": provider, "model": model, "rates": rates_json(rates), "volatile": volatile}
        )
    return {"entries": entries}


def main() -> int:
    sys.stdout.buffer.write(orjson.dumps(answer(orjson.loads(sys.stdin.buffer.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
