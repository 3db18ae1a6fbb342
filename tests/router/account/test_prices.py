"""Prices: the compiled rates give genai-prices' own answers; the config's rules win, most specific
first; an unknown model has no price (never 0); echo is free; the library never fetches."""

from __future__ import annotations

import itertools
import socket
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from torouter.router.account.prices import FREE, LibraryPrices, PriceTable, Rates, Tiered, Tokens
from torouter.router.config import PriceRule

# (genai-prices provider, model): cache reads and writes, 1-hour writes, tiers, image tokens
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-5"),
    ("openai", "gpt-4.1"),
    ("openai", "text-embedding-3-small"),
    ("openai", "gpt-image-1"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash-image"),
    ("openrouter", "anthropic/claude-sonnet-4.5"),
    ("openrouter", "openai/gpt-4o-mini"),
]
USAGES = [
    Tokens(input=1_000, output=500),
    Tokens(input=1_000, output=500, cache_read=400),
    Tokens(input=1_000, output=500, cache_read=400, cache_write=100),
    Tokens(input=1_000, output=500, cache_read=300, cache_write=150, cache_write_1h=50),
    Tokens(input=250_000, output=2_000, cache_read=100_000, cache_write=20_000),  # past 200k tiers
    Tokens(input=600, output=4_200, input_image=200, output_image=4_000),
]


def _library_usage(used: Tokens) -> Usage:
    fields: dict[str, Any] = {"input_tokens": used.input, "output_tokens": used.output}
    if used.cache_read:
        fields["cache_read_tokens"] = used.cache_read
    if used.cache_write:
        fields["cache_write_tokens"] = used.cache_write
        if used.cache_write_1h:
            fields["cache_write_1h_tokens"] = used.cache_write_1h
            fields["cache_write_5m_tokens"] = used.cache_write - used.cache_write_1h
    if used.input_image:
        fields["input_image_tokens"] = used.input_image
    if used.output_image:
        fields["output_image_tokens"] = used.output_image
    return Usage(**fields)


@pytest.mark.parametrize(("provider", "model"), MODELS)
def test_compiled_rates_cost_what_genai_prices_says(provider: str, model: str) -> None:
    rates = LibraryPrices().rates(provider, model)
    assert rates is not None, f"{provider}/{model} has no price in the bundled data"
    for used in USAGES:
        expected = calc_price(_library_usage(used), model, provider_id=provider).total_price
        assert Decimal(repr(rates.cost(used))).quantize(Decimal("1e-12")) == expected.quantize(
            Decimal("1e-12")
        ), (model, used)


def test_unknown_models_and_providers_have_no_price() -> None:
    table = PriceTable(providers={"oai": "openai", "custom": None})
    assert table.rates("oai", "no-such-model-anywhere") is None
    assert table.cost("oai", "no-such-model-anywhere", Tokens(10, 10)) is None
    assert table.rates("custom", "gpt-4o-mini") is None  # a kind without price_provider
    assert table.rates("not-configured", "gpt-4o-mini") is None


def test_free_kind_costs_zero() -> None:
    table = PriceTable(providers={"echo": FREE})
    assert table.cost("echo", "anything", Tokens(1_000, 1_000)) == 0.0
    rates = table.rates("echo", "anything")
    assert rates is not None and rates.source == "free"


def test_config_rules_win_most_specific_first() -> None:
    rules = [
        PriceRule(upstream="oai", model=None, input=1.0, output=2.0),
        PriceRule(upstream=None, model="gpt-4o-mini", input=3.0, output=4.0),
        PriceRule(upstream="oai", model="gpt-4o-mini", input=5.0, output=6.0, cache_read=0.5),
    ]
    table = PriceTable(rules, providers={"oai": "openai", "other": "openai"})
    pair, model, upstream = (
        table.rates("oai", "gpt-4o-mini"),
        table.rates("other", "gpt-4o-mini"),
        table.rates("oai", "gpt-4.1"),
    )
    assert pair is not None and (pair.input, pair.output, pair.cache_read, pair.source) == (
        5.0,
        6.0,
        0.5,
        "config",
    )
    assert model is not None and (model.input, model.output) == (3.0, 4.0)
    assert upstream is not None and (upstream.input, upstream.output) == (1.0, 2.0)
    library = table.rates("other", "gpt-4.1")
    assert library is not None and library.source == "genai-prices"
    # 1M input of which 400k cache reads at 0.5, 600k at 5; 1M output at 6
    assert pair.cost(Tokens(1_000_000, 1_000_000, cache_read=400_000)) == pytest.approx(0.2 + 3.0 + 6.0)


def test_a_rate_left_out_bills_at_what_the_tokens_are_part_of() -> None:
    rates = Rates(input=2.0, output=8.0)  # no cache rates: cache reads and writes are input
    assert rates.cost(Tokens(1_000_000, 0, cache_read=500_000, cache_write=200_000)) == pytest.approx(2.0)
    one_hour = Rates(input=2.0, output=8.0, cache_write=2.5)  # 1h writes at the cache-write rate
    assert one_hour.cost(Tokens(1_000_000, 0, cache_write=400_000, cache_write_1h=100_000)) == (
        pytest.approx(600_000 * 2.0 / 1e6 + 400_000 * 2.5 / 1e6)
    )


def test_tiers_apply_to_all_tokens_past_their_start() -> None:
    rates = Rates(input=Tiered(3.0, ((200_000, 6.0),)), output=Tiered(15.0, ((200_000, 22.5),)))
    assert rates.cost(Tokens(200_000, 1_000_000)) == pytest.approx(0.6 + 15.0)
    assert rates.cost(Tokens(200_001, 1_000_000)) == pytest.approx(200_001 * 6.0 / 1e6 + 22.5)
    listed = rates.per_million()
    assert listed["input"] == 3.0 and listed["input_tiers"] == [{"above_input_tokens": 200_000, "rate": 6.0}]


def test_the_price_data_never_goes_to_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled data is read; genai-prices' updater (which fetches) is never started."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    table = PriceTable(providers={"oai": "openai", "claude": "anthropic", "g": "google"})
    for upstream, model in itertools.product(
        ("oai", "claude", "g"), ("gpt-4o", "claude-haiku-4-5", "gemini-2.5-pro")
    ):
        table.rates(upstream, model)
    assert table.rates("claude", "claude-haiku-4-5") is not None
