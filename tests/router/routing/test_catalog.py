from __future__ import annotations

import pytest

from torouter.router.config import ConfigError, parse_config
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.plugins import load_registry
from torouter.router.routing import catalog as catalog_module
from torouter.router.routing.catalog import Catalog, thinking_models
from torouter.router.routing.families import ModelFamilies, family_rules

# what the built-in kinds declare, as the router builds it
KINDS = load_registry(entry_points=False).kinds
THINKING = thinking_models(KINDS)
VENDORS = family_rules(KINDS)

CONFIG = """
upstreams:
  oai: {kind: openai, base_url: "http://o/v1", models: ["gpt-5", "gpt-5-mini"]}
  oai2: {kind: openai, base_url: "http://o2/v1", models: ["gpt-5"]}
  claude:
    kind: anthropic
    base_url: "http://a"
    models: ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-6"]
  orr:
    kind: openrouter
    base_url: "http://r/api/v1"
    models: ["anthropic/claude-sonnet-4.5", "openai/gpt-5"]
  echo: {kind: echo, base_url: "http://e", models: ["*"]}
  house: {kind: openai, base_url: "http://h/v1", models: ["house-llm-7b"]}
groups:
  openai: {upstreams: [oai, oai2]}
  claude: {upstreams: [claude], model_map: {"my-alias": "claude-haiku-4-5"}}
  router: {upstreams: [orr]}
  demo: {upstreams: [echo], model_map: {"fast": "echo-fast"}}
  house: {upstreams: [house]}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(parse_config(CONFIG, env={}), THINKING, VENDORS)


@pytest.mark.parametrize(
    ("group", "requested", "upstream", "model", "thinking"),
    [
        ("openai", "gpt-5", "oai", "gpt-5", False),  # exact, first in priority order
        ("openai", "openai/gpt-5", "oai", "gpt-5", False),  # provider prefix (kind)
        ("openai", "oai2/gpt-5", "oai2", "gpt-5", False),  # provider prefix (upstream name)
        ("openai", "gpt-5-thinking", "oai", "gpt-5", True),
        ("claude", "gpt-5", "claude", "claude-opus-4-6", False),  # family: large to the largest
        ("openai", "claude-haiku-4-5", "oai", "gpt-5-mini", False),  # ... small to the smallest
        ("claude", "my-alias", "claude", "claude-haiku-4-5", False),  # group model_map
        ("claude", "gpt-5-mini-thinking", "claude", "claude-haiku-4-5", True),
        ("router", "anthropic/claude-sonnet-4.5", "orr", "anthropic/claude-sonnet-4.5", False),  # full id
        ("demo", "anything-at-all", "echo", "anything-at-all", False),  # wildcard
        ("demo", "fast", "echo", "echo-fast", False),
    ],
)
def test_resolve(
    catalog: Catalog, group: str, requested: str, upstream: str, model: str, thinking: bool
) -> None:
    resolution = catalog.resolve(group, requested)
    route = resolution.routes[0]
    assert (route.upstream.name, route.model, resolution.thinking) == (upstream, model, thinking)


def test_priority_order_lists_fallbacks(catalog: Catalog) -> None:
    assert [r.upstream.name for r in catalog.resolve("openai", "gpt-5").routes] == ["oai", "oai2"]


def test_model_of_another_group_is_403_and_unknown_is_404(catalog: Catalog) -> None:
    with pytest.raises(GatewayError) as other:
        catalog.resolve("openai", "house-llm-7b")
    assert other.value.code is ErrorCode.PERMISSION_DENIED and other.value.status == 403
    with pytest.raises(GatewayError) as unknown:
        catalog.resolve("openai", "no-such-model")
    assert unknown.value.code is ErrorCode.NOT_FOUND and unknown.value.status == 404
    assert unknown.value.param == "model"


def test_models_lists_what_the_group_can_use(catalog: Catalog) -> None:
    ids = {m.id: m for m in catalog.models("claude")}
    assert set(ids) == {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-6", "my-alias"}
    assert ids["claude-sonnet-4-5"].owned_by == "anthropic" and ids["claude-sonnet-4-5"].thinking
    assert {m.id for m in catalog.models("router")} == {"anthropic/claude-sonnet-4.5", "openai/gpt-5"}


WEIGHTED = """
upstreams:
  a: {kind: openai, base_url: "http://a/v1", models: ["gpt-5"], weight: 1}
  b: {kind: openai, base_url: "http://b/v1", models: ["gpt-5"], weight: 3}
  c: {kind: openai, base_url: "http://c/v1", models: ["gpt-5"]}
  claude: {kind: anthropic, base_url: "http://x", models: ["claude-sonnet-4-6"]}
groups:
  g:
    upstreams: [[a, b], c, claude]
    fallback_models: {"gpt-5": ["claude-sonnet-4-6"]}
"""


def test_equal_priority_tiers_are_spread_by_weight_and_fallback_models_come_last() -> None:
    catalog = Catalog(parse_config(WEIGHTED, env={}), THINKING, VENDORS)
    firsts = {"a": 0, "b": 0}
    for _ in range(4000):
        routes = catalog.resolve("g", "gpt-5").routes
        names = [r.upstream.name for r in routes]
        assert sorted(names[:2]) == ["a", "b"] and names[2:] == ["c", "claude"]
        assert routes[3].model == "claude-sonnet-4-6"
        firsts[names[0]] += 1
    assert 0.70 < firsts["b"] / 4000 < 0.80  # weight 3 of 4


def test_a_resolution_without_a_weighted_tier_is_kept_and_a_flood_of_ids_stays_bounded(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = catalog.resolve("openai", "gpt-5-mini")
    assert catalog.resolve("openai", "gpt-5-mini") is first  # answered again, not worked out again
    assert catalog.resolve("demo", "fast") is catalog.resolve("demo", "fast")
    with pytest.raises(GatewayError):  # a refusal is never kept as an answer
        catalog.resolve("openai", "no-such-model")
    with pytest.raises(GatewayError):
        catalog.resolve("openai", "no-such-model")
    monkeypatch.setattr(catalog_module, "MAX_KEPT_RESOLUTIONS", 50)
    for n in range(500):  # the echo upstream serves any id
        assert catalog.resolve("demo", f"made-up-{n}").routes[0].model == f"made-up-{n}"
    assert len(catalog._resolved) <= 50
    long_id = "x" * 300
    assert catalog.resolve("demo", long_id).routes[0].model == long_id
    assert ("demo", long_id) not in catalog._resolved


def test_bad_tiers_and_fallbacks_are_config_errors() -> None:
    bad = WEIGHTED.replace("[[a, b], c, claude]", "[[a, 5], {}]").replace('["claude-sonnet-4-6"]', '"x"')
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env={})
    paths = [p for p, _ in info.value.problems]
    assert "groups.g.upstreams[0][1]" in paths and "groups.g.upstreams[1]" in paths
    assert "groups.g.fallback_models.gpt-5" in paths


FAMILIES = """
upstreams:
  oai:
    kind: openai
    base_url: "http://o/v1"
    models: ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-5", "gpt-5-mini", "text-embedding-3-small"]
  claude:
    kind: anthropic
    base_url: "http://a"
    models: ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-sonnet-4-6"]
  gem:
    kind: gemini
    base_url: "http://g"
    models: ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview", "gemini-embedding-001"]
  echo: {kind: echo, base_url: "http://e", models: ["*"]}
groups:
  openai: {upstreams: [oai]}
  claude: {upstreams: [claude]}
  gemini: {upstreams: [gem]}
  mapped:
    upstreams: [oai, claude]
    model_map: {"claude-*": "gpt-5", "gemini-*-flash*": "gpt-5-mini", "gpt-4o": "claude-sonnet-4-5"}
  defaults:
    upstreams: [oai]
    default_model: {small: "gpt-4o-mini", large: "gpt-4.1"}
  one-default: {upstreams: [claude], default_model: "claude-sonnet-4-5"}
  demo: {upstreams: [echo]}
"""


@pytest.fixture(scope="module")
def families() -> Catalog:
    return Catalog(parse_config(FAMILIES, env={}), THINKING, VENDORS)


@pytest.mark.parametrize(
    ("group", "requested", "served"),
    [
        # the CLIs' newest defaults, in no upstream's list: by family
        ("openai", "claude-opus-5-5", "gpt-5"),
        ("openai", "claude-sonnet-5", "gpt-5"),  # no medium OpenAI model: the largest
        ("openai", "claude-haiku-5-1", "gpt-5-mini"),  # the newest of the small ones
        ("openai", "gemini-3.5-flash-lite", "gpt-5-mini"),
        ("openai", "gemini-3.1-pro-preview", "gpt-5"),
        ("claude", "gpt-6.1-sol", "claude-opus-4-1"),
        ("claude", "gpt-7-nano", "claude-haiku-4-5"),
        ("claude", "gemini-3.8-flash", "claude-sonnet-4-6"),  # medium: the newest sonnet
        ("claude", "claude-opus-5-5", "claude-opus-4-1"),
        ("claude", "o5", "claude-opus-4-1"),
        ("claude", "o5-mini", "claude-haiku-4-5"),
        ("gemini", "claude-opus-5-5", "gemini-3-pro-preview"),  # the newest pro
        ("gemini", "claude-sonnet-5", "gemini-2.5-flash"),
        ("gemini", "claude-haiku-5", "gemini-2.5-flash"),  # no small one: the nearest size
        ("gemini", "gpt-6.1-sol", "gemini-3-pro-preview"),
        # an exact id always wins; then the group's map, exact keys before patterns
        ("openai", "gpt-4o", "gpt-4o"),
        ("mapped", "gpt-4o", "gpt-4o"),
        ("mapped", "claude-haiku-4-5", "claude-haiku-4-5"),
        ("mapped", "claude-opus-9", "gpt-5"),
        ("mapped", "gemini-3.8-flash-lite", "gpt-5-mini"),
        ("mapped", "gemini-3-pro", "gpt-5"),  # no pattern: the family
        # the group's default model per family, the built-in choice for a family it leaves out
        ("defaults", "claude-opus-5-5", "gpt-4.1"),
        ("defaults", "claude-haiku-5", "gpt-4o-mini"),
        ("defaults", "claude-sonnet-5", "gpt-5"),
        ("one-default", "gpt-6.1-sol", "claude-sonnet-4-5"),
        ("one-default", "gemini-3.5-flash-lite", "claude-sonnet-4-5"),
        # a wildcard upstream serves any id as it is
        ("demo", "claude-opus-5-5", "claude-opus-5-5"),
    ],
)
def test_families(families: Catalog, group: str, requested: str, served: str) -> None:
    assert families.resolve(group, requested).routes[0].model == served


def test_family_thinking_and_unknown_ids(families: Catalog) -> None:
    resolution = families.resolve("claude", "claude-opus-5-5-thinking")
    assert resolution.thinking and resolution.routes[0].model == "claude-opus-4-1"
    for unknown in ("llama-4-maverick", "text-embedding-9", "gpt-image-2", "claudette"):
        with pytest.raises(GatewayError) as info:
            families.resolve("openai", unknown)
        assert info.value.code is ErrorCode.NOT_FOUND


def test_patterns_are_not_listed_as_models(families: Catalog) -> None:
    ids = {m.id for m in families.models("mapped")}
    assert "gpt-4o" in ids and not any("*" in i for i in ids)


def test_route_headers_name_the_served_model(families: Catalog) -> None:
    route = families.resolve("openai", "claude-opus-5-5").routes[0]
    assert route.headers() == {"x-torouter-upstream": "oai", "x-torouter-model": "gpt-5"}


def test_default_model_is_validated_with_yaml_paths() -> None:
    bad = FAMILIES.replace('large: "gpt-4.1"', 'large: "claude-opus-4-1", huge: "gpt-5"').replace(
        'default_model: "claude-sonnet-4-5"', "default_model: [1]"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env={})
    problems = dict(info.value.problems)
    assert "is not a model of the group's upstreams" in problems["groups.defaults.default_model.large"]
    assert "unknown key" in problems["groups.defaults.default_model.huge"]
    assert "groups.one-default.default_model" in problems


def test_kinds_declare_their_reasoning_models() -> None:
    """The catalog knows no model family itself: each kind says which of its models reason."""
    assert THINKING["openai"] == ("gpt-5", "o1", "o3", "o4")
    assert THINKING["echo"] == ("",)  # every echo model accepts -thinking
    catalog = Catalog(parse_config(CONFIG, env={}), {"openai": ("gpt-5",)}, VENDORS)
    assert catalog.supports_thinking("openai", "gpt-5-mini") and not catalog.supports_thinking("openai", "o3")
    assert not catalog.supports_thinking("acme", "anything")  # a kind that declares none


def test_a_third_party_kind_without_the_attribute_declares_none() -> None:
    class Plain:
        name = "plain"

    assert thinking_models({"plain": Plain()}) == {"plain": ()}


def test_model_families_are_the_kinds_declarations() -> None:
    """The catalog reads a requested id's size by the vendors the kinds declare: a third-party
    kind's own words, and nothing for a kind that declares none."""

    class Acme:
        name = "acme"
        model_families = (ModelFamilies("acme", small=("pebble",), large=("boulder",), not_chat=("paint",)),)

    class Plain:
        name = "plain"

    rules = family_rules({"acme": Acme(), "plain": Plain()})
    assert [rules.family_of(m) for m in ("acme-boulder-9", "acme-pebble", "acme-9", "acme-paint-2")] == [
        "large",
        "small",
        "medium",
        None,
    ]
    assert rules.family_of("claude-opus-5") is None  # no kind here declares Claude
    assert family_rules({"plain": Plain()}).family_of("acme-boulder-9") is None
    config = parse_config(
        """
upstreams:
  house: {kind: openai, base_url: "http://h/v1", models: ["house-pebble-1", "house-boulder-2", "house-paint"]}
groups:
  house: {upstreams: [house]}
""",
        env={},
    )
    catalog = Catalog(config, {}, rules)
    assert catalog.resolve("house", "acme-boulder-9").routes[0].model == "house-boulder-2"
    assert catalog.resolve("house", "acme-pebble-3").routes[0].model == "house-pebble-1"
