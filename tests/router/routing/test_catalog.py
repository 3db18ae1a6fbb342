from __future__ import annotations

import pytest

from torouter.router.config import ConfigError, parse_config
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.routing.catalog import Catalog

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
groups:
  openai: {upstreams: [oai, oai2]}
  claude: {upstreams: [claude], model_map: {"my-alias": "claude-haiku-4-5"}}
  router: {upstreams: [orr]}
  demo: {upstreams: [echo], model_map: {"fast": "echo-fast"}}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(parse_config(CONFIG, env={}))


@pytest.mark.parametrize(
    ("group", "requested", "upstream", "model", "thinking"),
    [
        ("openai", "gpt-5", "oai", "gpt-5", False),  # exact, first in priority order
        ("openai", "openai/gpt-5", "oai", "gpt-5", False),  # provider prefix (kind)
        ("openai", "oai2/gpt-5", "oai2", "gpt-5", False),  # provider prefix (upstream name)
        ("openai", "gpt-5-thinking", "oai", "gpt-5", True),
        ("claude", "gpt-5", "claude", "claude-sonnet-4-5", False),  # built-in default map
        ("openai", "claude-haiku-4-5", "oai", "gpt-5-mini", False),  # ... in both directions
        ("claude", "my-alias", "claude", "claude-haiku-4-5", False),  # group model_map
        ("claude", "gpt-5-thinking", "claude", "claude-sonnet-4-5", True),
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
        catalog.resolve("openai", "claude-opus-4-6")
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
    catalog = Catalog(parse_config(WEIGHTED, env={}))
    firsts = {"a": 0, "b": 0}
    for _ in range(4000):
        routes = catalog.resolve("g", "gpt-5").routes
        names = [r.upstream.name for r in routes]
        assert sorted(names[:2]) == ["a", "b"] and names[2:] == ["c", "claude"]
        assert routes[3].model == "claude-sonnet-4-6"
        firsts[names[0]] += 1
    assert 0.70 < firsts["b"] / 4000 < 0.80  # weight 3 of 4


def test_bad_tiers_and_fallbacks_are_config_errors() -> None:
    bad = WEIGHTED.replace("[[a, b], c, claude]", "[[a, 5], {}]").replace('["claude-sonnet-4-6"]', '"x"')
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env={})
    paths = [p for p, _ in info.value.problems]
    assert "groups.g.upstreams[0][1]" in paths and "groups.g.upstreams[1]" in paths
    assert "groups.g.fallback_models.gpt-5" in paths
