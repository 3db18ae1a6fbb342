"""The config sections of the account layer: ``router.usage``, ``usage:``, ``prices:`` and ``admin:``,
validated like the rest (problems named by their YAML path, unknown keys rejected)."""

from __future__ import annotations

import pytest

from torouter.router.account.store import default_url
from torouter.router.config import (
    AdminConfig,
    ConfigError,
    PriceRule,
    UsageConfig,
    admin_key_digests,
    hash_key,
    parse_config,
)

BASE = """
upstreams:
  oai: {kind: openai, base_url: "https://api.openai.com/v1", api_key: x, models: ["gpt-5"]}
groups:
  g: {upstreams: [oai]}
"""


def _problems(extra: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as failed:
        parse_config(BASE + extra, env={})
    return failed.value.problems


def test_defaults() -> None:
    config = parse_config(BASE, env={})
    assert config.router.usage == ""
    assert config.usage == UsageConfig(retention_days=90)
    assert config.prices == ()
    assert config.admin == AdminConfig()
    assert admin_key_digests(config, env={}) == frozenset()


def test_the_sections_as_written() -> None:
    config = parse_config(
        BASE
        + """
router: {usage: "postgresql://torouter@db:5432/usage"}
usage: {retention_days: 30, queue_size: 5000, batch_size: 100, flush_interval_s: 0.5}
prices:
  - {model: gpt-5, input: 1.25, output: 10, cache_read: 0.125}
  - {upstream: oai, input: 0, output: 0}
  - {upstream: oai, model: house, input: 0.1, output: 0.2, cache_write: 0.3, cache_write_1h: 0.4}
admin:
  keys: ["${ADMIN_KEY}", {key_sha256: "%s"}]
"""
        % ("cd" * 32),
        env={"ADMIN_KEY": "the-admin-secret"},
    )
    assert config.router.usage == "postgresql://torouter@db:5432/usage"
    assert config.usage == UsageConfig(30, 5000, 100, 0.5)
    assert config.prices == (
        PriceRule(None, "gpt-5", 1.25, 10.0, 0.125),
        PriceRule("oai", None, 0.0, 0.0),
        PriceRule("oai", "house", 0.1, 0.2, None, 0.3, 0.4),
    )
    assert config.admin.key_sha256s == (hash_key("the-admin-secret"), "cd" * 32)
    assert "the-admin-secret" not in repr(config)
    digests = admin_key_digests(config, env={"TOROUTER_ADMIN_KEY": "from-env"})
    assert digests == {hash_key("the-admin-secret"), "cd" * 32, hash_key("from-env")}


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ('router: {usage: "mysql://x"}', "router.usage"),
        ("usage: {retention_days: 0}", "usage.retention_days"),
        ("usage: {retention: 5}", "usage.retention"),
        ('usage: {batch_size: "many"}', "usage.batch_size"),
        ("prices: {gpt-5: 1}", "prices"),
        ("prices: [{model: gpt-5, output: 1}]", "prices[0].input"),
        ("prices: [{model: gpt-5, input: -1, output: 1}]", "prices[0].input"),
        ("prices: [{model: gpt-5, input: 1, output: 1, cache: 1}]", "prices[0].cache"),
        ("prices: [{upstream: nope, input: 1, output: 1}]", "prices[0].upstream"),
        ("prices: [{input: 1, output: 1}]", "prices[0]"),
        ('prices: [{model: gpt-5, input: "1", output: 1}]', "prices[0].input"),
        ("prices: [{model: a, input: 1, output: 1}, {model: a, input: 2, output: 2}]", "prices[1]"),
        ('admin: {keys: [""]}', "admin.keys[0]"),
        ("admin: {keys: [{key_sha256: short}]}", "admin.keys[0].key_sha256"),
        ("admin: {keys: secret}", "admin.keys"),
        ("admin: {key: [a]}", "admin.key"),
    ],
)
def test_problems_name_their_yaml_path(extra: str, path: str) -> None:
    assert path in [where for where, _ in _problems(extra)]


def test_the_usage_store_sits_beside_the_state_store() -> None:
    assert (
        default_url("sqlite:////var/lib/torouter/torouter.db")
        == "sqlite:////var/lib/torouter/torouter-usage.db"
    )
    assert default_url("sqlite:///./torouter.db") == "sqlite:///torouter-usage.db"
    assert default_url("memory://") == "sqlite://:memory:"
    assert default_url("redis://redis:6379/0") == "sqlite:///./torouter-usage.db"
