"""Key restrictions: parsing with the culprit named, and the matching rules of CONTRACT §5."""

from __future__ import annotations

import pytest

from torouter.router.config import ConfigError, parse_config
from torouter.router.key_rules import KeyRules, RuleError, parse_ip, parse_rules, parse_time, rfc3339


def test_empty_rules_restrict_nothing() -> None:
    rules = parse_rules({})
    assert rules.is_empty() and rules == KeyRules() and rules.windows() == ()
    assert rules.ip_allowed("") and rules.model_allowed("anything") and not rules.expired(1e12)


@pytest.mark.parametrize(
    ("raw", "field", "said"),
    [
        ({"ip_allow": ["10.0.0.0/33"]}, "ip_allow[0]", "not an IPv4 or IPv6"),
        ({"ip_deny": ["10.0.0.0/8", "nope"]}, "ip_deny[1]", "not an IPv4 or IPv6"),
        ({"ip_allow": 5}, "ip_allow", "list of CIDRs"),
        ({"spend_cap_usd": -1}, "spend_cap_usd", "negative"),
        ({"spend_cap_usd": "10"}, "spend_cap_usd", "number"),
        ({"spend_cap_usd": float("nan")}, "spend_cap_usd", "number"),
        ({"requests_5h": 1.5}, "requests_5h", "whole number"),
        ({"requests_7d": -3}, "requests_7d", "negative"),
        ({"requests_24h": True}, "requests_24h", "whole number"),
        ({"expires_at": "next tuesday"}, "expires_at", "RFC 3339"),
        ({"models": [""]}, "models[0]", "non-empty"),
        ({"modles": ["x"]}, "modles", "unknown restriction"),
    ],
)
def test_invalid_restrictions_name_their_field(raw: dict[str, object], field: str, said: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(raw)
    assert caught.value.field == field and said in caught.value.message


def test_a_past_expiry_is_refused_only_when_creating() -> None:
    assert parse_rules({"expires_at": "2020-01-01T00:00:00Z"}).expired(1.7e9)
    with pytest.raises(RuleError, match="in the past"):
        parse_rules({"expires_at": "2020-01-01T00:00:00Z"}, now=1.7e9)


def test_times_are_rfc3339_with_utc_by_default() -> None:
    assert parse_time("t", "2027-01-31T00:00:00Z") == parse_time("t", "2027-01-31T01:00:00+01:00")
    assert parse_time("t", "2027-01-31T00:00:00") == parse_time("t", "2027-01-31T00:00:00Z")
    assert rfc3339(parse_time("t", "2027-01-31T12:30:00Z")) == "2027-01-31T12:30:00Z"


def test_ip_rules_deny_wins_and_v4_and_v6_are_matched_apart() -> None:
    rules = parse_rules({"ip_allow": ["10.0.0.0/8", "2001:db8::/32"], "ip_deny": ["10.9.0.0/16"]})
    assert rules.ip_allowed("10.1.2.3") and rules.ip_allowed("2001:db8::5")
    assert not rules.ip_allowed("10.9.1.1")  # inside deny
    assert not rules.ip_allowed("192.0.2.1") and not rules.ip_allowed("2001:db9::1")
    assert rules.ip_allowed("::ffff:10.1.2.3")  # an IPv4-mapped address is its IPv4 one
    assert not rules.ip_allowed("") and not rules.ip_allowed("garbage")  # unknown: refused
    deny_only = parse_rules({"ip_deny": ["::1/128"]})
    assert deny_only.ip_allowed("127.0.0.1") and not deny_only.ip_allowed("::1")
    assert parse_rules({"ip_allow": ["192.0.2.9"]}).ip_allow == ("192.0.2.9/32",)  # a bare address
    assert parse_ip("fe80::1%eth0") is not None


def test_models_cover_thinking_ids_and_match_prefixes_literally() -> None:
    rules = parse_rules({"models": ["claude-opus-4-7", "openai/gpt-5"]})
    assert rules.model_allowed("claude-opus-4-7") and rules.model_allowed("claude-opus-4-7-thinking")
    assert rules.model_allowed("openai/gpt-5") and not rules.model_allowed("gpt-5")
    assert not rules.model_allowed("anthropic/claude-opus-4-7")
    assert parse_rules({"models": "a, b"}).models == ("a", "b")


def test_zero_means_off_and_null_clears() -> None:
    rules = parse_rules({"spend_cap_usd": 0, "requests_5h": 0, "requests_24h": 10})
    assert rules.spend_cap_usd is None and rules.windows() == (("requests_24h", 86400, 10),)
    cleared = rules.updated({"requests_24h": None, "ip_allow": ["10.0.0.0/8"]})
    assert cleared.windows() == () and cleared.ip_allow == ("10.0.0.0/8",)
    assert cleared.to_json() == {"ip_allow": ["10.0.0.0/8"]}


CONFIG = """
upstreams:
  e: {kind: echo, base_url: "http://127.0.0.1", models: ["*"]}
groups:
  g: {upstreams: [e]}
edge:
  trusted_proxies: ["10.0.0.0/8", "bad"]
keys:
  - name: a
    key: tr-aaaaaaaaaaaaaaaaaaaa
    group: g
    spend_cap_usd: -5
    ip_allow: ["1.2.3.4/40"]
    requests_5h: 10
    expires_at: 2030-01-01T00:00:00Z
    models: [gpt-5]
  - {name: b, key: tr-bbbbbbbb, group: g, requests_24h: "many", colour: red}
"""


def test_config_problems_carry_their_yaml_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG)
    paths = dict(caught.value.problems)
    assert "edge.trusted_proxies[1]" in paths
    assert "negative" in paths["keys[0].spend_cap_usd"]
    assert "keys[1].requests_24h" in paths and "keys[1].colour" in paths
    fixed = CONFIG.replace('"bad"', '"192.168.0.0/16"').replace("usd: -5", "usd: 5").replace("/40", "/32")
    good = parse_config(fixed.split("  - {name: b")[0])
    key = good.keys[0]
    assert key.rules.spend_cap_usd == 5 and key.rules.requests_5h == 10 and key.rules.models == ("gpt-5",)
    assert key.rules.expires_at == parse_time("x", "2030-01-01T00:00:00Z") and key.hint == "tr-aaaa…aaaa"
    assert good.edge.trusted_proxies == ("10.0.0.0/8", "192.168.0.0/16")
