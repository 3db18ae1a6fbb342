"""The library's rates of the configured models, kept on disk for the day.

Reading ``genai-prices``' data costs a process about a quarter of a second and ~15 MB that stay for
its life. A router that finds every configured model's rates in today's file reads only that; the
ones missing are read by a child process (``price_reader.py``), which the file then keeps. The file
holds the library's own answers (computed by it when the file was written), so nothing about them
changes but where they are read from. It is named by the library's version and the UTC day
(the library's prices change on dates), so a new day or a new version starts a new file; a rate
that changes with the time of day (off-peak prices) is never written, and the library is read
for it as before.

The directory is ``$TOROUTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/torouter``, else
``~/.cache/torouter``; a directory that cannot be written leaves things as they were without it.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .prices import Pair, Rate, Rates, Tiered

log = logging.getLogger("torouter.usage")

CACHE_ENV = "TOROUTER_CACHE_DIR"
_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "input_image", "output_image")


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torouter"


def library_version() -> str:
    try:
        return importlib.metadata.version("genai-prices")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _rate_json(rate: Rate | None) -> Any:
    if isinstance(rate, Tiered):
        return {"base": rate.base, "tiers": [list(tier) for tier in rate.tiers]}
    return rate


def _rate(value: Any) -> Rate | None:
    if isinstance(value, dict):
        return Tiered(float(value["base"]), tuple((int(s), float(r)) for s, r in value["tiers"]))
    return None if value is None else float(value)


def rates_json(rates: Rates | None) -> Any:
    if rates is None:
        return None
    return {name: _rate_json(getattr(rates, name)) for name in _FIELDS} | {"source": rates.source}


def rates_of(value: Any) -> Rates | None:
    if value is None:
        return None
    fields = {name: _rate(value.get(name)) for name in _FIELDS}
    return Rates(**fields, source=str(value.get("source", "genai-prices")))  # type: ignore[arg-type]


class PriceCache:
    """Today's file of rates, by (provider, model); None is a known "no price"."""

    def __init__(self, directory: Path, version: str, day: str) -> None:
        self.directory = directory
        self.version = version
        self.day = day
        self.path = directory / f"prices-{version}-{day}.json"

    def of_day(self, day: str) -> PriceCache:
        """The file of another day, in the same directory, for the same version."""
        return PriceCache(self.directory, self.version, day)

    def read(self) -> dict[Pair, Rates | None]:
        try:
            raw = orjson.loads(self.path.read_bytes())
            return {(str(e["provider"]), str(e["model"])): rates_of(e["rates"]) for e in raw["entries"]}
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return {}  # no file yet (or one this version cannot read): the library is read instead

    def write(self, entries: dict[Pair, Rates | None]) -> None:
        """Writes the file whole (a reader never sees half of it) and removes other days' files."""
        body = {
            "entries": [
                {"provider": provider, "model": model, "rates": rates_json(rates)}
                for (provider, model), rates in sorted(entries.items())
            ]
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".prices-", dir=self.path.parent)
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(body))
            os.replace(temporary, self.path)
            for old in self.path.parent.glob("prices-*.json"):
                if old != self.path:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.debug("price cache not written", extra={"path": str(self.path), "error": str(exc)})
