"""Prices per million tokens, and what a request's tokens cost.

Where a price comes from, first found wins:

1. the config's ``prices:`` rules (an upstream and a model, a model, or every model of an upstream);
2. the ``genai-prices`` library's data, which ships inside the package (its auto-update is never
   started: prices change only with the locked version), for the upstream kind's provider
   (``price_provider`` of the kind: ``openai``, ``anthropic``, ``google``, ``openrouter``; the
   ``echo`` kind is :data:`FREE`);
3. otherwise the price is unknown: the cost is ``None``, never 0.

A price is compiled once per model into :class:`Rates` (USD per million tokens, tiers kept) and the
cost is plain arithmetic: ``genai-prices``' own calculation takes ~150 µs a call, too much for every
request. The arithmetic follows its rules (a count that has no price of its own is billed at the
rate of the count it is part of; a tier applies to all tokens once the input passes its start);
``tests/router/account/test_prices.py`` holds it to the library's answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..config import PriceRule

if TYPE_CHECKING:
    from .price_cache import PriceCache

Pair = tuple[str, str]  # (genai-prices provider, model)
FREE = "free"  # a kind's price_provider for upstreams that cost nothing (echo)
log = logging.getLogger("torouter.usage")

# How long a request that needs a price waits for the start's reading (a child's answer and, should
# it fail, the data read here) before it reads the data itself.
LOAD_WAIT_S = 15.0
_RECOMPILE_S = 3600.0  # library prices may change on a date: compiled again at most hourly


@dataclass(slots=True, frozen=True)
class Tiered:
    """A rate that changes with the request's input tokens: ``tiers`` are ``(start, rate)``, the
    highest start the input passes wins (Anthropic's and Google's long-context prices)."""

    base: float
    tiers: tuple[tuple[int, float], ...]

    def at(self, input_tokens: int) -> float:
        for start, rate in reversed(self.tiers):
            if input_tokens > start:
                return rate
        return self.base


Rate = float | Tiered


def _at(rate: Rate, input_tokens: int) -> float:
    return rate if type(rate) is float else rate.at(input_tokens)  # type: ignore[union-attr]


@dataclass(slots=True)
class Tokens:
    """What a request used, as the upstream reported it. ``input`` counts every prompt token, the
    cached and image ones too; ``output`` every completion token, reasoning and image ones too.
    ``reported_cost`` is what the upstream says it cost (OpenRouter's ``usage.cost``)."""

    input: int = 0
    output: int = 0
    cache_read: int | None = None
    cache_write: int | None = None  # 5-minute and 1-hour writes together
    cache_write_5m: int | None = None
    cache_write_1h: int | None = None
    reasoning: int | None = None
    input_image: int = 0
    output_image: int = 0
    reported_cost: float | None = None


@dataclass(slots=True, frozen=True)
class Rates:
    """USD per million tokens. A rate left out bills its tokens at the rate of what they are part
    of (a cache read at the input rate, ...)."""

    input: Rate
    output: Rate
    cache_read: Rate | None = None
    cache_write: Rate | None = None
    cache_write_1h: Rate | None = None
    input_image: Rate | None = None
    output_image: Rate | None = None
    source: str = "genai-prices"  # or "config", "free"

    def cost(self, used: Tokens) -> float:
        """USD for these tokens: each count at its own rate when it has one, else at the rate of
        what it is part of (cache and image input at the input rate, image output at the output
        rate); tiers by the request's input tokens. Straight-line: it runs on every request."""
        n = used.input
        rest_in, rest_out, total = n, used.output, 0.0
        read, one_hour = used.cache_read or 0, used.cache_write_1h or 0
        if self.cache_read is not None and read:
            total += read * _at(self.cache_read, n)
            rest_in -= read
        if self.cache_write_1h is not None and one_hour:
            total += one_hour * _at(self.cache_write_1h, n)
            rest_in -= one_hour
        if self.cache_write is not None and used.cache_write:
            writes = used.cache_write - (one_hour if self.cache_write_1h is not None else 0)
            total += writes * _at(self.cache_write, n)
            rest_in -= writes
        if self.input_image is not None and used.input_image:
            total += used.input_image * _at(self.input_image, n)
            rest_in -= used.input_image
        if self.output_image is not None and used.output_image:
            total += used.output_image * _at(self.output_image, n)
            rest_out -= used.output_image
        if rest_in > 0:
            total += rest_in * _at(self.input, n)
        if rest_out > 0:
            total += rest_out * _at(self.output, n)
        return total / 1_000_000

    def per_million(self) -> dict[str, Any]:
        """The rates as the admin API lists them (a tiered rate as its base and its tiers)."""
        out: dict[str, Any] = {"source": self.source}
        for name in ("input", "output", "cache_read", "cache_write", "cache_write_1h"):
            rate = getattr(self, name)
            if isinstance(rate, Tiered):
                out[name] = rate.base
                out[f"{name}_tiers"] = [{"above_input_tokens": s, "rate": r} for s, r in rate.tiers]
            elif rate is not None:
                out[name] = rate
        return out


ZERO = Rates(0.0, 0.0, source=FREE)

# genai-prices price keys -> Rates fields
_LIBRARY_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_1h_mtok": "cache_write_1h",
    "input_image_mtok": "input_image",
    "output_image_mtok": "output_image",
}


def _rate(value: Any) -> Rate | None:
    if isinstance(value, Decimal):
        return float(value)
    base, tiers = getattr(value, "base", None), getattr(value, "tiers", None)
    if isinstance(base, Decimal) and isinstance(tiers, list):
        return Tiered(float(base), tuple((int(t.start), float(t.price)) for t in tiers))
    return None


class LibraryPrices:
    """The ``genai-prices`` data bundled with the installed package. With a
    :class:`~.price_cache.PriceCache`, the configured models' rates come from today's file when it
    has them all, else from a child process that reads the data and exits with its memory
    (``price_reader.py``). Where any model may come (a wildcard upstream), a model met for the first
    time is read the same way (``pending``, awaited before its price is asked). This process reads
    the data itself only for a rate that changes with the time of day, or when the child failed."""

    def __init__(self, cache: PriceCache | None = None) -> None:
        self._snapshot: Any = None
        self._reading = threading.Lock()
        self._cache = cache
        self._known: dict[Pair, Rates | None] = {}  # from the file or the child, for its day
        self._any = False  # any model may come: one not known is read apart (``pending``)
        self._renewal: threading.Thread | None = None
        self._loaded = threading.Event()  # clear while a start's reading is under way (``loading``)
        self._loaded.set()
        self._asked: set[Pair] = set()  # models met for the first time, for the next child
        self._learning: dict[Pair, asyncio.Future[None]] = {}
        self._learner: ThreadPoolExecutor | None = None

    def loading(self) -> None:
        """Says that :meth:`load` is about to run in another thread: a request that needs a price
        meanwhile waits for it (rather than read the data itself)."""
        self._loaded.clear()

    def load(self, wanted: Iterable[Pair] = (), everything: bool = True) -> None:
        """Gets the rates of ``wanted`` (provider, model) pairs ready now rather than on the first
        request: from today's file, the missing ones from a child process (writing the file for the
        next start); with ``everything`` (any model may come: a wildcard upstream), every rate the
        file has, and a model met later is read apart then (``pending``). Without a file, or when
        the child fails, from the data in this process (a quarter of a second). The router does it
        in a thread as it starts: a request asking meanwhile waits for that."""
        try:
            self._load(set(wanted), everything)
        finally:
            self._loaded.set()

    def _load(self, wanted: set[Pair], everything: bool) -> None:
        if self._cache is not None:
            known = self._cache.read()
            missing = wanted - known.keys()
            if not missing or self._read_apart(missing, known):
                self._known = known if everything else {pair: known[pair] for pair in wanted}
                self._any = everything
                return
        self._data()
        if self._cache is not None and wanted:
            lasting = self._cache.read()  # what other configs sharing the file put there stays
            for provider, model in sorted(wanted):
                rates, volatile = self.lookup(provider, model)
                if not volatile:
                    lasting[(provider, model)] = rates
            self._cache.write(lasting)

    def _read_apart(self, pairs: set[Pair], known: dict[Pair, Rates | None]) -> bool:
        """Adds the rates of ``pairs`` to ``known`` (the day's file) as a child process reads them,
        and writes the file (unless its day is over); False when the child failed, or a rate
        changes with the time of day (the data is then read here)."""
        from .price_reader import read_apart  # (it imports this module)

        found = read_apart(pairs)
        if found is None or any(volatile for _, volatile in found.values()):
            return False
        known.update({pair: rates for pair, (rates, _) in found.items()})
        cache = self._cache
        if cache is not None and cache.day == utc_day():
            cache.write(known)
        return True

    @property
    def learns(self) -> bool:
        """Whether a model may still be read apart when met (:meth:`pending` may have work)."""
        return not self._loaded.is_set() or (self._any and self._snapshot is None)

    def pending(self, pair: Pair) -> Awaitable[None] | None:
        """What to await before :meth:`rates` answers for ``pair`` without reading the data here:
        None when it can at once; otherwise the reading of a model met for the first time where
        any model may come (one child for every model met meanwhile, one child at a time), after
        the start's reading when that is still under way."""
        if not self._loaded.is_set():
            return asyncio.ensure_future(self._after_load(pair))
        if not self._any or pair in self._known or self._snapshot is not None:
            return None
        waiting = self._learning.get(pair)
        if waiting is None:
            if self._learner is None:
                self._learner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torouter-prices")
            self._asked.add(pair)
            waiting = asyncio.get_running_loop().run_in_executor(self._learner, self._learn)
            self._learning[pair] = waiting
            waiting.add_done_callback(lambda _: self._learning.pop(pair, None))
        return asyncio.shield(waiting)  # a request abandoned meanwhile leaves it to the others

    async def _after_load(self, pair: Pair) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._loaded.wait, LOAD_WAIT_S)
        waiting = self.pending(pair) if self._loaded.is_set() else None
        if waiting is not None:
            await waiting

    def _learn(self) -> None:
        """In the learner's thread: the rates of the models asked for since the last reading."""
        try:
            self._loaded.wait(LOAD_WAIT_S)
            asked = set(self._asked)
            self._asked.difference_update(asked)
            asked -= self._known.keys()
            if not asked or self._snapshot is not None or self._cache is None:
                return
            known = self._cache.read() | self._known
            if not self._read_apart(asked, known):
                self._data()
                return
            with self._reading:  # merged into what answers now (a new day's renewal may have begun)
                self._known = self._known | {pair: known[pair] for pair in asked}
        except Exception:
            log.exception("a model's price was not read: it is read here when asked")

    def _data(self) -> Any:
        snapshot = self._snapshot
        if snapshot is None:
            with self._reading:
                if self._snapshot is None:
                    # The bundled data only: the library's UpdatePrices (which fetches over the
                    # network) is never started, and a snapshot of our own is not replaced by one
                    # it would install.
                    from genai_prices.data import providers
                    from genai_prices.data_snapshot import DataSnapshot

                    self._snapshot = DataSnapshot(providers=providers, from_auto_update=False)
                snapshot = self._snapshot
        return snapshot

    def rates(self, provider: str, model: str) -> Rates | None:
        known = self._known
        if not known and not self._loaded.is_set():  # the start's reading is under way: its answer
            self._loaded.wait(LOAD_WAIT_S)
            known = self._known
        if known:
            cache = self._cache
            if cache is not None and cache.day != utc_day():
                self._renew(cache.of_day(utc_day()))  # the file's day is over
            pair = (provider, model)
            if pair in known:
                return known[pair]
        return self.lookup(provider, model)[0]

    def _renew(self, cache: PriceCache) -> None:
        """Reads the new day's rates of the same models in a thread, as a start does (from the
        day's file, or a child process), while the last day's go on answering: a router running
        past midnight (UTC) neither stops its event loop to read the data nor keeps it."""
        if self._renewal is not None:
            return
        pairs = set(self._known)

        def renew() -> None:
            today = LibraryPrices(cache)
            try:
                today.load(pairs, everything=self._any)
            except Exception:
                log.exception("the new day's prices were not read: the last day's stay")
                today._known = self._known
            with self._reading:
                if today._snapshot is not None:  # read in this process: the data answers
                    self._snapshot = today._snapshot
                self._known, self._cache = today._known, cache
            self._renewal = None

        self._renewal = threading.Thread(target=renew, name="price-renewal", daemon=True)
        self._renewal.start()

    def lookup(self, provider: str, model: str) -> tuple[Rates | None, bool]:
        """The library's rates, and whether they change with the time of day (never cached)."""
        try:
            _, info = self._data().find_provider_model(model, None, provider, None)
        except LookupError:
            return None, False
        volatile = isinstance(info.prices, list) and any(
            type(p.constraint).__name__ == "TimeOfDateConstraint" for p in info.prices
        )
        prices = info.get_prices(_now())
        fields: dict[str, Rate] = {}
        for key, name in _LIBRARY_KEYS.items():
            rate = _rate(getattr(prices, key, None))
            if rate is not None:
                fields[name] = rate
        if "input" not in fields and "output" not in fields:
            return None, volatile  # priced by something else than tokens (per request, per second, ...)
        fields.setdefault("input", 0.0)
        fields.setdefault("output", 0.0)
        return Rates(**fields), volatile  # type: ignore[arg-type]


def utc_day() -> str:
    """Today's date in UTC (the library's prices change on dates), as the price cache names files."""
    return str(_now().strftime("%Y-%m-%d"))


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(tz=UTC)


@dataclass(slots=True, frozen=True)
class Priced:
    """A price found for an (upstream, model), with when it was compiled."""

    rates: Rates | None
    compiled_at: float


class PriceTable:
    """Rates by upstream and model: the config's rules over the library's data, cached."""

    def __init__(
        self,
        rules: Iterable[PriceRule] = (),
        providers: dict[str, str | None] | None = None,
        library: LibraryPrices | None = None,
        served: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        """``providers`` maps an upstream name to its kind's price provider (None: unknown);
        ``served``, an upstream name to the models it serves (``*``: any)."""
        self._by_pair: dict[tuple[str, str], Rates] = {}
        self._by_model: dict[str, Rates] = {}
        self._by_upstream: dict[str, Rates] = {}
        for rule in rules:
            rates = Rates(
                rule.input,
                rule.output,
                rule.cache_read,
                rule.cache_write,
                rule.cache_write_1h,
                source="config",
            )
            if rule.upstream and rule.model:
                self._by_pair[(rule.upstream, rule.model)] = rates
            elif rule.model:
                self._by_model[rule.model] = rates
            elif rule.upstream:
                self._by_upstream[rule.upstream] = rates
        self._providers = providers or {}
        self._library = library or LibraryPrices()
        self._served = served or {}
        self._cache: dict[tuple[str, str], Priced] = {}

    def loading(self) -> None:
        """See :meth:`LibraryPrices.loading`."""
        self._library.loading()

    def pending(self, upstream: str, model: str) -> Awaitable[None] | None:
        """What to await before :meth:`rates` answers for ``model`` at once (None: nothing; see
        :meth:`LibraryPrices.pending`)."""
        if not self._library.learns or self._find_configured(upstream, model) is not None:
            return None
        provider = self._providers.get(upstream)
        if provider is None or provider == FREE:
            return None
        return self._library.pending((provider, model))

    def load(self) -> None:
        """Gets the library's rates of the served models ready (see :meth:`LibraryPrices.load`)."""
        wanted, everything = set(), not self._served
        for upstream, models in self._served.items():
            provider = self._providers.get(upstream)
            if provider is None or provider == FREE:
                continue
            for model in models:
                if model == "*":
                    everything = True
                elif self._find_configured(upstream, model) is None:
                    wanted.add((provider, model))
        self._library.load(wanted, everything)

    def rates(self, upstream: str, model: str) -> Rates | None:
        """The rates of ``model`` served by the upstream named ``upstream``; None when unknown."""
        key = (upstream, model)
        found = self._cache.get(key)
        now = time.monotonic()
        if found is None or now - found.compiled_at > _RECOMPILE_S:
            found = Priced(self._find(upstream, model), now)
            if len(self._cache) > 10_000:  # wildcard upstreams: any model id may come
                self._cache.clear()
            self._cache[key] = found
        return found.rates

    def cost(self, upstream: str, model: str, used: Tokens) -> float | None:
        rates = self.rates(upstream, model)
        return None if rates is None else rates.cost(used)

    def _find_configured(self, upstream: str, model: str) -> Rates | None:
        return (
            self._by_pair.get((upstream, model))
            or self._by_model.get(model)
            or self._by_upstream.get(upstream)
        )

    def _find(self, upstream: str, model: str) -> Rates | None:
        configured = self._find_configured(upstream, model)
        if configured is not None:
            return configured
        provider = self._providers.get(upstream)
        if provider is None:
            return None
        if provider == FREE:
            return ZERO
        return self._library.rates(provider, model)
