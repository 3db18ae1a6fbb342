from __future__ import annotations

import os
from pathlib import Path

import pytest

from torouter.router.config import ConfigError, hash_key, load_config, parse_config, substitute_env

GOOD = """
edge:
  listen: "127.0.0.1:8080"
  router: "127.0.0.1:50051"
  max_body_mb: 32
router:
  listen: "127.0.0.1:50051"
  state: "sqlite:///./torouter.db"
upstreams:
  oai:
    kind: openai
    base_url: "https://api.openai.com/v1/"
    api_key: "${OPENAI_API_KEY}"
    models: ["gpt-5", "gpt-5-mini"]
    timeout_s: 600
    weight: 1
  claude:
    kind: anthropic
    base_url: "https://api.anthropic.com"
    api_key: "${ANTHROPIC_API_KEY:-sk-ant-default}"
    models: ["claude-sonnet-4-5"]
groups:
  openai:
    upstreams: ["oai"]
  claude:
    upstreams: ["claude"]
    model_map: {"gpt-5": "claude-sonnet-4-5"}
keys:
  - name: alice
    key: "${ALICE_KEY}"
    group: openai
    rpm: 600
    tpm: 200000
  - name: bob
    key_sha256: "%s"
    group: claude
""" % ("ab" * 32)


def test_contract_example_parses_with_env_substitution() -> None:
    config = parse_config(GOOD, env={"OPENAI_API_KEY": "sk-o", "ALICE_KEY": "alice-secret"})
    assert config.upstreams["oai"].api_key == "sk-o"
    assert config.upstreams["oai"].base_url == "https://api.openai.com/v1"  # trailing slash dropped
    assert config.upstreams["claude"].api_key == "sk-ant-default"  # ${VAR:-default}
    assert config.groups["claude"].model_map == {"gpt-5": "claude-sonnet-4-5"}
    alice, bob = config.keys
    assert alice.key_sha256 == hash_key("alice-secret") and alice.rpm == 600 and alice.tpm == 200000
    assert bob.key_sha256 == "ab" * 32
    assert "alice-secret" not in repr(config)  # literal keys are hashed, never kept


def test_substitution_rules() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute_env("${A} ${B:-two} ${EMPTY:-x} ${MISSING}", env) == "1 two x "


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"ALICE_KEY": "k"} if env is None else env)
    return info.value.problems


@pytest.mark.parametrize(
    ("mutation", "path"),
    [
        (("  max_body_mb: 32", "  max_body_mb: 32\n  max_bodyy: 1"), "edge.max_bodyy"),
        (("    weight: 1", "    weight: 1\n    wieght: 2"), "upstreams.oai.wieght"),
        (('    upstreams: ["oai"]', '    upstreams: ["nope"]'), "groups.openai.upstreams[0]"),
        (("    group: openai", "    group: missing"), "keys[0].group"),
        (('    models: ["gpt-5", "gpt-5-mini"]', "    models: []"), "upstreams.oai.models"),
        (("    timeout_s: 600", '    timeout_s: "soon"'), "upstreams.oai.timeout_s"),
        (('  listen: "127.0.0.1:8080"', '  listen: "nowhere"'), "edge.listen"),
        (
            ('    base_url: "https://api.openai.com/v1/"', '    base_url: "api.openai.com"'),
            "upstreams.oai.base_url",
        ),
        (("    rpm: 600", "    rpm: -3"), "keys[0].rpm"),
        (('  state: "sqlite:///./torouter.db"', '  state: "postgres://x"'), "router.state"),
    ],
)
def test_problems_name_their_yaml_path(mutation: tuple[str, str], path: str) -> None:
    old, new = mutation
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert path in [p for p, _ in found], found


@pytest.mark.parametrize(
    ("mutation", "env", "path"),
    [
        (('api_key: "${OPENAI_API_KEY}"', 'api_key: "sk-o\\n"'), {}, "upstreams.oai.api_key"),
        (
            ("    weight: 1", '    weight: 1\n    headers: {"x-org": "a\\r\\nhost: b"}'),
            {},
            "upstreams.oai.headers.x-org",
        ),
    ],
)
def test_a_line_break_in_what_goes_in_an_upstream_request_s_head(
    mutation: tuple[str, str], env: dict[str, str], path: str
) -> None:
    """A key read with its file's newline, or a header value that would end its line, is refused
    when the config loads, not found out by the first request."""
    found = problems(GOOD.replace(*mutation), {"ALICE_KEY": "k", **env})
    assert path in [p for p, _ in found], found


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("    weight: 1", "    weight: 1\n    bogus: 1").replace(
        "    group: openai", "    group: x"
    )
    paths = [p for p, _ in problems(text)]
    assert "upstreams.oai.bogus" in paths and "keys[0].group" in paths


def test_unset_key_variable_is_an_error() -> None:
    found = problems(GOOD, env={})
    assert ("keys[0].key", "is empty (is its environment variable set?)") in found


def test_not_yaml_and_unreadable(tmp_path: Path) -> None:
    assert problems("edge: [unclosed")[0][0] == "$"
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.yaml")


def test_defaults_for_an_almost_empty_file() -> None:
    config = parse_config("upstreams: {e: {kind: echo, base_url: 'http://x', models: ['*']}}", env={})
    assert config.edge.listen == "127.0.0.1:8080" and config.router.listen == "127.0.0.1:50051"
    assert config.upstreams["e"].serves_any_model()


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("header_timeout_s", "0"),
        ("body_timeout_s", "-1"),
        ("idle_timeout_s", '"soon"'),
        ("max_pending_per_ip", "0"),
        ("max_pending_per_ip", "2.5"),
    ],
)
def test_slow_client_knobs_are_validated(knob: str, value: str) -> None:
    found = problems(GOOD.replace("  max_body_mb: 32", f"  max_body_mb: 32\n  {knob}: {value}", 1))
    assert f"edge.{knob}" in [p for p, _ in found], found


def test_slow_client_knobs_have_defaults() -> None:
    edge = parse_config("edge: {header_timeout_s: 2, max_pending_per_ip: 5}", env={}).edge
    assert (edge.header_timeout_s, edge.body_timeout_s, edge.idle_timeout_s, edge.max_pending_per_ip) == (
        2.0,
        60.0,
        75.0,
        5,
    )


def test_workers_and_whether_the_router_link_is_named() -> None:
    echo = "upstreams: {e: {kind: echo, base_url: 'http://x', models: ['*']}}\n"
    plain = parse_config(echo, env={})
    assert plain.workers == 1 and not plain.router_link_given  # torouter up: its own Unix sockets
    assert parse_config(echo + "workers: 3", env={}).workers == 3
    assert parse_config(echo + "workers: auto", env={}).workers == (os.cpu_count() or 1)
    for bad in ("0", "-2", "2.5", "true", '"many"', "2000"):
        assert [p for p, _ in problems(echo + f"workers: {bad}")] == ["workers"], bad
    assert parse_config(echo + "edge: {router: 'dns:///router:50051'}", env={}).router_link_given
    assert parse_config(echo + "router: {listen: '0.0.0.0:50051'}", env={}).router_link_given
    assert not parse_config(echo + "edge: {listen: '127.0.0.1:9000'}", env={}).router_link_given
