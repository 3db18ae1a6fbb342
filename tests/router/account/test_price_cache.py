"""Today's price file: a router whose configured models are all in it does not read the library's
data; what it reads from the file is what the library answers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from torouter.router.account import price_reader
from torouter.router.account.price_cache import PriceCache, library_version
from torouter.router.account.prices import FREE, LibraryPrices, PriceTable, Rates, Tiered

PROVIDERS = {"oai": "openai", "claude": "anthropic", "g": "google", "free": FREE}
SERVED = {
    "oai": ("gpt-4o-mini", "gpt-4o", "no-such-model-xyz"),
    "claude": ("claude-sonnet-4-5",),
    "g": ("gemini-2.5-pro",),  # tiered above 200k input tokens
    "free": ("echo-1",),
}


def _table(
    directory: Path,
    day: str = "2026-12-06",
    served: dict[str, tuple[str, ...]] = SERVED,
    providers: dict[str, str | None] = PROVIDERS,
) -> PriceTable:
    library = LibraryPrices(PriceCache(directory, library_version(), day))
    return PriceTable(providers=dict(providers), library=library, served=served)


def _spy_on_children(monkeypatch: pytest.MonkeyPatch) -> list[set[tuple[str, str]]]:
    """The pairs each child process is asked for, in order (the children still answer)."""
    asked: list[set[tuple[str, str]]] = []
    real = price_reader.read_apart

    def spied(pairs: set[tuple[str, str]]) -> price_reader.Found | None:
        asked.append(set(pairs))
        return real(pairs)

    monkeypatch.setattr("torouter.router.account.price_reader.read_apart", spied)
    return asked


def _hold_children(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Children answer only once the event returned is set (at most 10 s)."""
    release = threading.Event()
    real = price_reader.read_apart

    def held(pairs: set[tuple[str, str]]) -> price_reader.Found | None:
        release.wait(10)
        return real(pairs)

    monkeypatch.setattr("torouter.router.account.price_reader.read_apart", held)
    return release


def _reference(pair: tuple[str, str]) -> Rates | None:
    """What the library answers, read in this process."""
    return LibraryPrices().lookup(*pair)[0]


def test_a_first_start_reads_the_rates_apart_and_a_second_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    first = _table(tmp_path)
    first.load()
    assert first._library._snapshot is None  # read by a child process, which wrote nothing itself
    files = list(tmp_path.glob("prices-*.json"))
    assert [f.name for f in files] == [f"prices-{library_version()}-2026-12-06.json"]
    for pair in first._library._known:
        assert first._library._known[pair] == _reference(pair), pair

    def no_child(pairs: object) -> None:
        raise AssertionError("the file has them all: no child is asked")

    monkeypatch.setattr("torouter.router.account.price_reader.read_apart", no_child)
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


def test_a_model_not_in_the_file_is_read_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    _table(tmp_path).load()
    asked = _spy_on_children(monkeypatch)
    more = {**SERVED, "oai": (*SERVED["oai"], "gpt-4.1-mini")}
    table = _table(tmp_path, served=more)
    table.load()
    assert asked == [{("openai", "gpt-4.1-mini")}]  # only the one missing
    assert table._library._snapshot is None
    assert table.rates("oai", "gpt-4.1-mini") == _reference(("openai", "gpt-4.1-mini")) is not None
    again = _table(tmp_path, served=more)
    again.load()
    assert len(asked) == 1  # the file now has it


async def test_any_model_met_for_the_first_time_is_read_apart_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wildcard upstream: the models met are read by a child when first met (one child at a time,
    for every model met meanwhile), the file keeps them for the next start, and the data never comes here."""
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    asked = _spy_on_children(monkeypatch)
    wildcard = _table(tmp_path, served={**SERVED, "oai": ("gpt-4o", "*")})
    wildcard.load()
    assert wildcard._library._snapshot is None and len(asked) == 1
    assert wildcard.pending("oai", "gpt-4o") is None  # configured: read at start
    met = [("oai", "gpt-4.1-mini"), ("oai", "gpt-4.1-nano"), ("oai", "no-such-model-xyz-2")]
    waits = [wildcard.pending(*pair) for pair in met]
    assert all(w is not None for w in waits)
    assert wildcard.pending("oai", "gpt-4.1-mini") is not None  # the same reading, not another
    await asyncio.gather(*[w for w in waits if w is not None])
    # one child at a time, each for all met meanwhile: every model read once
    assert set().union(*asked[1:]) == {("openai", m) for _, m in met}
    assert sum(len(pairs) for pairs in asked[1:]) == len(met)
    children = len(asked)
    for upstream, model in met:
        assert wildcard.pending(upstream, model) is None
        assert wildcard.rates(upstream, model) == _reference(("openai", model))
    assert wildcard._library._snapshot is None

    again = _table(tmp_path, served={**SERVED, "oai": ("gpt-4o", "*")})
    again.load()
    assert all(again.pending(*pair) is None for pair in met)  # the file had them
    assert len(asked) == children


async def test_a_model_met_during_the_starts_reading_is_read_apart_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wildcard upstream's model met while the start's reading is under way (whether any model
    may come is not known yet): its price waits for that reading, then is read apart."""
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    release = _hold_children(monkeypatch)
    wildcard = _table(tmp_path, served={**SERVED, "oai": ("gpt-4o", "*")})
    wildcard.loading()
    reading = threading.Thread(target=wildcard.load)
    reading.start()
    waiting = wildcard.pending("oai", "gpt-4.1-mini")
    assert waiting is not None
    release.set()
    await waiting
    reading.join(10)
    library = wildcard._library
    assert ("openai", "gpt-4.1-mini") in library._known and library._snapshot is None
    assert wildcard.rates("oai", "gpt-4.1-mini") == _reference(("openai", "gpt-4.1-mini"))


def test_the_data_is_read_here_for_a_rate_of_the_time_of_day_or_a_failed_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    # deepseek-chat is cheaper at night (UTC)
    off_peak = _table(tmp_path / "b", served={"ds": ("deepseek-chat",)}, providers={"ds": "deepseek"})
    off_peak.load()
    assert off_peak._library._snapshot is not None
    assert off_peak._library._known == {}  # the library answers it, at the time of each request

    monkeypatch.setattr(price_reader, "COMMAND", (sys.executable, "-c", "import sys; sys.exit(3)"))
    with caplog.at_level("WARNING", logger="torouter.usage"):
        failed = _table(tmp_path / "c")
        failed.load()
    assert failed._library._snapshot is not None
    assert failed.rates("oai", "gpt-4o-mini") == _reference(("openai", "gpt-4o-mini"))
    assert [r.getMessage() for r in caplog.records] == ["price data not read apart: reading it here"]
    assert getattr(caplog.records[0], "exit_code", None) == 3


def test_a_new_day_is_read_in_the_background_while_the_last_days_rates_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = ["2026-12-06"]
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: day[0])
    table = _table(tmp_path)
    table.load()
    library = table._library
    yesterdays = library.rates("openai", "gpt-4o-mini")
    assert yesterdays is not None

    release = _hold_children(monkeypatch)
    day[0] = "2026-12-07"  # the router runs past midnight (UTC): the file's day is over
    assert library.rates("openai", "gpt-4o-mini") is yesterdays  # at once, while today's are read
    renewal = library._renewal
    assert renewal is not None and renewal.is_alive()
    assert library.rates("anthropic", "claude-sonnet-4-5") is not None
    assert library._renewal is renewal  # one reading at a time
    release.set()
    renewal.join(30)
    assert library._renewal is None and library._snapshot is None
    assert library._cache is not None and library._cache.day == "2026-12-07"
    assert [f.name for f in tmp_path.glob("prices-*.json")] == [f"prices-{library_version()}-2026-12-07.json"]
    assert library.rates("openai", "gpt-4o-mini") == _reference(("openai", "gpt-4o-mini"))

    tomorrow = _table(tmp_path, day="2026-12-08")
    assert tomorrow._library._cache is not None and tomorrow._library._cache.read() == {}


def test_a_price_asked_during_the_starts_reading_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that needs a price while the start's reading is under way (in the router's thread,
    the child not answered yet) waits for that reading, rather than read the data itself."""
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-06")
    release = _hold_children(monkeypatch)
    table = _table(tmp_path)
    table.loading()
    reading = threading.Thread(target=table.load)
    reading.start()
    threading.Timer(0.2, release.set).start()
    assert table.rates("oai", "gpt-4o-mini") == _reference(("openai", "gpt-4o-mini"))
    assert release.is_set()  # it waited for the child's answer
    reading.join(10)
    assert table._library._snapshot is None


def test_a_router_process_never_holds_the_data_when_it_needs_no_more_than_its_models(tmp_path: Path) -> None:
    """In a process of its own (this one may have read the data already): a first start, a second
    one, and a wildcard upstream meeting a model leave ``genai_prices`` and pydantic unimported."""
    script = f"""
import asyncio
import sys
from pathlib import Path
from torouter.router.account.price_cache import PriceCache, library_version
from torouter.router.account.prices import LibraryPrices
for everything in (False, False, True):
    library = LibraryPrices(PriceCache(Path({str(tmp_path)!r}), library_version(), "2026-12-06"))
    library.load({{("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")}}, everything)
    assert library._known[("openai", "gpt-4o-mini")] is not None

async def meet() -> None:  # a wildcard upstream meets a model
    waiting = library.pending(("openai", "gpt-4.1-mini"))
    assert waiting is not None
    await waiting

asyncio.run(meet())
assert library.rates("openai", "gpt-4.1-mini") is not None
print(sorted(m for m in sys.modules if m.startswith(("genai_prices", "pydantic"))))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_unwritable_or_damaged_file_changes_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory would be")
    table = _table(blocked / "torouter")
    table.load()  # cannot write: no error
    assert table.rates("oai", "gpt-4o-mini") is not None
    cache = PriceCache(tmp_path, library_version(), "2026-12-06")
    cache.path.write_text("{not json")
    assert cache.read() == {}


def test_a_day_that_is_over_has_its_file_no_longer_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model read apart just after midnight (UTC) by a router still on the last day's file: its
    rates answer, but that file is not written again (writing it removes every other day's file,
    the new day's among them)."""
    monkeypatch.setattr("torouter.router.account.prices.utc_day", lambda: "2026-12-07")
    today = PriceCache(tmp_path, library_version(), "2026-12-07")
    today.write({("openai", "gpt-4o"): None})
    library = LibraryPrices(PriceCache(tmp_path, library_version(), "2026-12-06"))
    known: dict[tuple[str, str], Rates | None] = {}
    assert library._read_apart({("openai", "gpt-4o-mini")}, known)
    assert known[("openai", "gpt-4o-mini")] == _reference(("openai", "gpt-4o-mini"))
    assert [f.name for f in tmp_path.glob("prices-*.json")] == [today.path.name]
