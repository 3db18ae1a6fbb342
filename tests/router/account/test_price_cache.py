"""Today's price file: a router whose configured models are all in it does not read the library's
data; what it reads from the file is what the library answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from torouter.router.account.price_cache import PriceCache, library_version
from torouter.router.account.prices import FREE, LibraryPrices, PriceTable, Tiered

PROVIDERS = {"oai": "openai", "claude": "anthropic", "g": "google", "free": FREE}
SERVED = {
    "oai": ("gpt-4o-mini", "gpt-4o", "no-such-model-xyz"),
    "claude": ("claude-sonnet-4-5",),
    "g": ("gemini-2.5-pro",),  # tiered above 200k input tokens
    "free": ("echo-1",),
}


def _table(
    directory: Path, day: str = "2026-12-06", served: dict[str, tuple[str, ...]] = SERVED
) -> PriceTable:
    library = LibraryPrices(PriceCache(directory, library_version(), day))
    return PriceTable(providers=PROVIDERS, library=library, served=served)


def test_a_second_start_reads_the_file_and_not_the_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    first = _table(tmp_path)
    first.load()
    assert first._library._snapshot is not None  # read the data, wrote the file
    files = list(tmp_path.glob("prices-*.json"))
    assert [f.name for f in files] == [f"prices-{library_version()}-2026-12-06.json"]

    second = _table(tmp_path)
    second.load()
    assert second._library._snapshot is None  # everything came from the file
    for upstream, models in SERVED.items():
        for model in models:
            assert second.rates(upstream, model) == first.rates(upstream, model), (upstream, model)
    assert second._library._snapshot is None
    assert second.rates("oai", "gpt-4o-mini") is not None
    assert second.rates("oai", "no-such-model-xyz") is None  # a known "no price" is kept too
    assert isinstance(second.rates("g", "gemini-2.5-pro").input, Tiered)  # type: ignore[union-attr]


def test_a_model_not_in_the_file_reads_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    _table(tmp_path).load()
    more = {**SERVED, "oai": (*SERVED["oai"], "gpt-4.1-mini")}
    table = _table(tmp_path, served=more)
    table.load()
    assert table._library._snapshot is not None  # one model was missing: the data was read
    assert table.rates("oai", "gpt-4.1-mini") is not None
    again = _table(tmp_path, served=more)
    again.load()
    assert again._library._snapshot is None  # and the file now has it


def test_any_model_or_a_new_day_reads_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day = ["2026-12-06"]
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: day[0])
    _table(tmp_path).load()
    wildcard = _table(tmp_path, served={**SERVED, "oai": ("*",)})
    wildcard.load()
    assert wildcard._library._snapshot is not None  # any model may come: the data is read at start

    table = _table(tmp_path)
    table.load()
    assert table._library._snapshot is None
    day[0] = "2026-12-07"  # the router runs past midnight (UTC): the file's day is over
    assert table._library.rates("openai", "gpt-4o-mini") is not None
    assert table._library._snapshot is not None

    tomorrow = _table(tmp_path, day="2026-12-07")
    assert tomorrow._library._cache is not None and tomorrow._library._cache.read() == {}


def test_an_unwritable_or_damaged_file_changes_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory would be")
    table = _table(blocked / "torouter")
    table.load()  # cannot write: no error
    assert table.rates("oai", "gpt-4o-mini") is not None
    cache = PriceCache(tmp_path, library_version(), "2026-12-06")
    cache.path.write_text("{not json")
    assert cache.read() == {}
