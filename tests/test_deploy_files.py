"""The deployment files: docker-compose.yml, deploy/config.yaml, Dockerfile, .dockerignore.

No Docker engine runs here, so these check structure against the CONTRACT (commands, config
format, secrets only from the environment) rather than building or starting anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY_CONFIG = ROOT / "deploy" / "config.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
README = ROOT / "README.md"

CONFIG_IN_CONTAINER = "/etc/torouter/config.yaml"
SECRET_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY", "TOROUTER_KEY")
ADMIN_VAR = "TOROUTER_ADMIN_KEY"
CONTRACT_SUBCOMMANDS = {"up", "edge", "router", "check", "keys"}
ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
OFFICIAL_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "openrouter": "https://openrouter.ai/api/v1",
}
# strings shaped like real credentials (OpenAI/Anthropic/OpenRouter sk-…, Google AIza…)
SECRET_SHAPES = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{20,}")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"][name]
    assert isinstance(service, dict)
    return service


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _deploy_config() -> dict[str, Any]:
    data = yaml.safe_load(DEPLOY_CONFIG.read_text())
    assert isinstance(data, dict)
    return data


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as name -> literal value (None when passed through by name)."""
    env = service.get("environment", {})
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    out: dict[str, str | None] = {}
    for item in env:
        name, sep, value = str(item).partition("=")
        out[name] = value if sep else None
    return out


def _healthcheck_code(service: dict[str, Any]) -> str:
    test = _argv(service["healthcheck"]["test"])
    assert test[0] in ("CMD", "CMD-SHELL"), test
    assert "python" in test[1], f"the healthcheck runs python: {test}"
    code = test[test.index("-c") + 1]
    compile(code, "<healthcheck>", "exec")  # the one-liner must at least be valid Python
    return code


def _port(hostport: str) -> int:
    return int(hostport.rsplit(":", 1)[1])


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_has_exactly_redis_postgres_router_and_edge() -> None:
    assert set(_compose()["services"]) == {"redis", "postgres", "router", "edge"}


def test_redis_is_redis7_with_a_healthcheck() -> None:
    redis = _service("redis")
    assert str(redis["image"]).startswith("redis:7")
    test = _argv(redis["healthcheck"]["test"])
    assert "redis-cli" in " ".join(test)
    assert "ping" in test[-1]


def test_postgres_keeps_its_data_and_has_a_healthcheck() -> None:
    postgres = _service("postgres")
    assert str(postgres["image"]).startswith("postgres:")
    test = _argv(postgres["healthcheck"]["test"])
    assert "pg_isready" in " ".join(test)
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert _environment(postgres)["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-torouter}"


@pytest.mark.parametrize("name", ["router", "edge"])
def test_router_and_edge_run_the_contract_commands_on_the_mounted_config(name: str) -> None:
    service = _service(name)
    assert _argv(service["command"]) == ["torouter", name, "--config", CONFIG_IN_CONTAINER]


@pytest.mark.parametrize("name", ["router", "edge"])
def test_router_and_edge_are_built_from_the_dockerfile(name: str) -> None:
    build = _service(name)["build"]
    if isinstance(build, str):
        build = {"context": build}
    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", ["router", "edge"])
def test_config_is_mounted_read_only_from_deploy(name: str) -> None:
    mounts = []
    for volume in _service(name).get("volumes", []):
        if isinstance(volume, str):
            source, target, *rest = volume.split(":")
            read_only = bool(rest) and "ro" in rest[0].split(",")
        else:
            source, target, read_only = volume["source"], volume["target"], bool(volume.get("read_only"))
        mounts.append((source, target, read_only))
    config_mounts = [m for m in mounts if m[1] == CONFIG_IN_CONTAINER]
    assert len(config_mounts) == 1, mounts
    source, _, read_only = config_mounts[0]
    assert (ROOT / source).resolve() == DEPLOY_CONFIG
    assert read_only, f"{name} must mount its config read-only"


def test_router_gets_every_provider_secret_from_the_environment_by_name() -> None:
    env = _environment(_service("router"))
    for var in SECRET_VARS:
        assert var in env, f"router does not receive {var}"


def test_no_literal_secrets_in_compose() -> None:
    for name, service in _compose()["services"].items():
        for var, value in _environment(service).items():
            if var.endswith(("_API_KEY", "_KEY", "_TOKEN", "_SECRET")):
                assert value is None or value == f"${{{var}}}", f"{name}.{var} has a literal value"
    assert not SECRET_SHAPES.search(COMPOSE.read_text())


def test_router_and_edge_know_the_admin_key_from_the_environment() -> None:
    for name in ("router", "edge"):
        assert _environment(_service(name)).get(ADMIN_VAR, "missing") is None, name  # passed by name


def test_edge_holds_no_provider_secret() -> None:
    env = _environment(_service("edge"))
    assert not [var for var in env if var.endswith("_API_KEY")], "upstream secrets never leave the router"


def test_startup_order_follows_health() -> None:
    assert _service("router")["depends_on"]["redis"]["condition"] == "service_healthy"
    assert _service("router")["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert _service("edge")["depends_on"]["router"]["condition"] == "service_healthy"


def test_router_healthcheck_uses_grpc_health_on_the_router_port() -> None:
    code = _healthcheck_code(_service("router"))
    assert "grpc_health.v1" in code
    assert "HealthStub" in code
    assert ".Check(" in code
    assert f":{_port(_deploy_config()['router']['listen'])}" in code
    assert "SERVING" in code


def test_edge_healthcheck_asks_readyz_on_the_edge_port() -> None:
    code = _healthcheck_code(_service("edge"))
    assert "urllib" in code
    assert f"127.0.0.1:{_port(_deploy_config()['edge']['listen'])}/readyz" in code


def test_edge_publishes_its_listen_port() -> None:
    port = _port(_deploy_config()["edge"]["listen"])
    assert f"{port}:{port}" in [str(p) for p in _service("edge")["ports"]]


# ---------------------------------------------------------------------------------------------
# deploy/config.yaml


def test_deploy_config_is_the_compose_topology() -> None:
    config = _deploy_config()
    assert config["edge"]["listen"] == "0.0.0.0:8080"
    assert config["edge"]["router"] == "dns:///router:50051"
    assert config["router"]["listen"] == "0.0.0.0:50051"
    assert config["router"]["state"] == "redis://redis:6379/0"
    assert config["router"]["usage"].startswith("postgresql://torouter:")
    # the hosts it names are compose services
    services = set(_compose()["services"])
    usage_host = config["router"]["usage"].rpartition("@")[2].split("/")[0].rsplit(":", 1)[0]
    assert usage_host in services
    router_host = config["edge"]["router"].removeprefix("dns:///").rsplit(":", 1)[0]
    redis_host = config["router"]["state"].removeprefix("redis://").split("/")[0].rsplit(":", 1)[0]
    assert router_host in services
    assert redis_host in services


def test_deploy_config_uses_only_contract_sections() -> None:
    config = _deploy_config()
    assert set(config) <= {"edge", "router", "upstreams", "groups", "keys"}
    assert set(config["edge"]) <= {"listen", "router", "max_body_mb"}
    assert set(config["router"]) <= {"listen", "state", "usage"}


def test_deploy_config_has_every_installed_provider_with_its_official_base_url() -> None:
    from torouter.router.plugins import load_registry

    installed = set(OFFICIAL_BASE_URLS) & set(load_registry().kinds)
    upstreams = _deploy_config()["upstreams"]
    by_kind = {u["kind"]: u for u in upstreams.values()}
    assert set(by_kind) == installed
    for kind, url in OFFICIAL_BASE_URLS.items():
        if kind not in installed:
            continue
        assert by_kind[kind]["base_url"] == url
        assert by_kind[kind]["models"], f"{kind} upstream lists no models"


def test_deploy_config_secrets_come_only_from_env_vars() -> None:
    config = _deploy_config()
    for name, upstream in config["upstreams"].items():
        assert ENV_REF.match(upstream["api_key"]), f"upstreams.{name}.api_key must be ${{VAR}}"
    keys = config["keys"]
    assert len(keys) == 1
    assert keys[0]["key"] == "${TOROUTER_KEY}"
    assert "key_sha256" not in keys[0]
    assert not SECRET_SHAPES.search(DEPLOY_CONFIG.read_text())


def test_deploy_config_references_are_consistent() -> None:
    config = _deploy_config()
    for name, group in config["groups"].items():
        assert group["upstreams"], f"group {name} has no upstream"
        assert set(group["upstreams"]) <= set(config["upstreams"]), f"group {name}"
    for key in config["keys"]:
        assert key["group"] in config["groups"]


def test_deploy_config_passes_torouter_check() -> None:
    """`torouter check` (CONTRACT §1) accepts the shipped config, given the environment it expects."""
    if importlib.util.find_spec("torouter.cli.main") is None:
        pytest.skip("torouter.cli.main is not installed yet")
    env = {**os.environ, **{var: f"test-{var.lower()}" for var in SECRET_VARS}}
    result = subprocess.run(
        [sys.executable, "-m", "torouter.cli.main", "check", "--config", str(DEPLOY_CONFIG)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, args = stripped.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def test_dockerfile_is_python311_slim() -> None:
    froms = [args for instruction, args in _dockerfile_instructions() if instruction == "FROM"]
    assert froms, "no FROM"
    assert froms[-1].split()[0] == "python:3.11-slim"


def test_dockerfile_installs_the_project_with_pip() -> None:
    runs = [args for instruction, args in _dockerfile_instructions() if instruction == "RUN"]
    assert any(re.search(r"pip install (\S+ )*\.(\s|$|&)", run) for run in runs), runs


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [args for instruction, args in _dockerfile_instructions() if instruction == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_cmd_is_a_contract_command() -> None:
    cmds = [args for instruction, args in _dockerfile_instructions() if instruction == "CMD"]
    assert len(cmds) == 1
    argv = json.loads(cmds[0])  # exec form, so SIGTERM reaches torouter itself
    assert argv == ["torouter", "up", "--config", CONFIG_IN_CONTAINER]
    assert argv[1] in CONTRACT_SUBCOMMANDS


def test_dockerfile_bakes_in_no_secrets() -> None:
    for instruction, args in _dockerfile_instructions():
        if instruction in ("ENV", "ARG"):
            assert not re.search(r"(API_KEY|TOROUTER_KEY|SECRET|TOKEN|PASSWORD)", args, re.I), args
        if instruction in ("COPY", "ADD"):
            assert ".env" not in args.split(), args
    assert not SECRET_SHAPES.search(DOCKERFILE.read_text())


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".env", ".git", ".venv", "*.db"):
        assert needed in patterns, f".dockerignore must exclude {needed}"
    # the build needs these: pyproject's readme and the packages it maps
    for kept in ("README.md", "pyproject.toml", "proto", "router", "edge", "plugins", "cli"):
        assert kept not in patterns, f".dockerignore must not exclude {kept}"


# ---------------------------------------------------------------------------------------------
# README


def test_readme_tells_how_to_start_with_compose() -> None:
    assert README.exists(), "the top-level README.md is missing"
    assert "docker compose up" in README.read_text()


# ---------------------------------------------------------------------------------------------
# docker-compose.yml against the CLI: commands, environment, grace periods, open files


def _duration_s(value: str) -> float:
    """A compose duration (``45s``, ``1m30s``, ``500ms``) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts and "".join(n + u for n, u in parts) == str(value), f"not a duration: {value!r}"
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def _loaded_deploy_config() -> Any:
    from torouter.router.config import load_config

    return load_config(DEPLOY_CONFIG, env={var: f"test-{var.lower()}" for var in SECRET_VARS})


@pytest.mark.parametrize("name", ["router", "edge"])
def test_the_compose_commands_are_the_clis(name: str) -> None:
    from torouter.cli.main import cmd_edge, cmd_router, parser

    args = parser().parse_args(_argv(_service(name)["command"])[1:])
    assert args.func is {"router": cmd_router, "edge": cmd_edge}[name]
    assert args.config == CONFIG_IN_CONTAINER


@pytest.mark.parametrize("name", ["router", "edge"])
def test_the_containers_name_their_config_for_every_torouter_command(name: str) -> None:
    assert _environment(_service(name))["TOROUTER_CONFIG"] == CONFIG_IN_CONTAINER
    envs = [args for instruction, args in _dockerfile_instructions() if instruction == "ENV"]
    assert any(f"TOROUTER_CONFIG={CONFIG_IN_CONTAINER}" in args.split() for args in envs)


def test_keys_created_in_the_router_container_go_to_the_shared_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`docker compose exec router torouter keys create --group G`, as deploy/config.yaml says: the
    CLI reads TOROUTER_CONFIG (the container's environment) and writes to the routers' Redis."""
    from torouter.cli.main import _store_url, parser

    assert "docker compose exec router torouter keys create" in DEPLOY_CONFIG.read_text()
    container_env = _environment(_service("router"))
    monkeypatch.setenv("TOROUTER_CONFIG", str(DEPLOY_CONFIG))  # the mounted file, here
    assert container_env["TOROUTER_CONFIG"] == CONFIG_IN_CONTAINER
    for var in SECRET_VARS:
        monkeypatch.setenv(var, f"test-{var.lower()}")
    args = parser().parse_args(["keys", "create", "--group", "all"])
    url, config = _store_url(args)
    assert url == _deploy_config()["router"]["state"] == "redis://redis:6379/0"
    assert config is not None and "all" in config.groups


def test_stop_grace_periods_outlast_the_drains() -> None:
    """Docker sends SIGKILL after stop_grace_period (10 s by default): a router drains its calls for
    router.shutdown_grace_s, an edge relays them for as long and a little more."""
    from torouter.router.config import edge_drain_s

    config = _loaded_deploy_config()
    router_grace = _duration_s(_service("router")["stop_grace_period"])
    edge_grace = _duration_s(_service("edge")["stop_grace_period"])
    assert router_grace >= config.router.shutdown_grace_s + 5
    assert edge_grace >= edge_drain_s(config) + 5


@pytest.mark.parametrize("name", ["router", "edge"])
def test_router_and_edge_may_hold_many_connections(name: str) -> None:
    nofile = _service(name)["ulimits"]["nofile"]
    soft, hard = (nofile, nofile) if isinstance(nofile, int) else (nofile["soft"], nofile["hard"])
    assert 16384 <= int(soft) <= int(hard)
