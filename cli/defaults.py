"""The built-in default (CONTRACT §3): what ``torouter up`` runs with no config file."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import yaml

from torouter.router.config import ADMIN_KEY_ENV, hash_key

# env var -> (upstream name, kind, base_url, models)
PROVIDERS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "OPENAI_API_KEY",
        "openai",
        "openai",
        "https://api.openai.com/v1",
        (
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4.1",
            "gpt-4o",
            "gpt-4o-mini",
            "text-embedding-3-small",
            "text-embedding-3-large",
            "gpt-image-1",
            "*",
        ),
    ),
    (
        "ANTHROPIC_API_KEY",
        "anthropic",
        "anthropic",
        "https://api.anthropic.com",
        (
            "claude-opus-4-7",
            "claude-sonnet-4-6",
            "claude-haiku-4-5",
            "claude-sonnet-4-5",
            "claude-opus-4-1",
            "*",
        ),
    ),
    (
        "GEMINI_API_KEY",
        "gemini",
        "gemini",
        "https://generativelanguage.googleapis.com",
        ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-embedding-001", "*"),
    ),
    (
        "OPENROUTER_API_KEY",
        "openrouter",
        "openrouter",
        "https://openrouter.ai/api/v1",
        ("openai/gpt-5", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-pro", "*"),
    ),
)


@dataclass(slots=True, frozen=True)
class DefaultSetup:
    config_path: Path
    key: str
    key_source: str  # "TOROUTER_KEY" or the file the generated key is kept in
    admin_key: str = ""
    admin_key_source: str = ""  # "TOROUTER_ADMIN_KEY" or the file the generated key is kept in


def data_dir() -> Path:
    return Path(os.environ.get("TOROUTER_HOME") or platformdirs.user_data_dir("torouter"))


def default_key(
    directory: Path,
    env: dict[str, str],
    var: str = "TOROUTER_KEY",
    file: str = "default.key",
    prefix: str = "tr-",
) -> tuple[str, str]:
    """``TOROUTER_KEY`` (or ``var``), else a key generated once and kept (mode 0600) in the data
    directory."""
    if env.get(var):
        return env[var], var
    path = directory / file
    if path.exists():
        return path.read_text().strip(), str(path)
    key = prefix + secrets.token_urlsafe(30)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, str(path)


def default_config(
    env: dict[str, str], directory: Path, key_sha256: str, admin_sha256: str = ""
) -> dict[str, object]:
    """Provider upstreams (built-in kinds) for the keys that are set, else echo. The edge reaches
    the router through ``torouter up``'s own Unix socket, unless ``TOROUTER_DEFAULT_ROUTER`` names
    a TCP address."""
    upstreams: dict[str, object] = {}
    groups: dict[str, object] = {}
    for var, name, kind, base_url, models in PROVIDERS:
        if env.get(var):
            upstreams[name] = {
                "kind": kind,
                "base_url": base_url,
                "api_key": f"${{{var}}}",
                "models": list(models),
            }
            groups[name] = {"upstreams": [name]}
    if not upstreams:
        upstreams["echo"] = {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["echo", "*"]}
    groups["default"] = {"upstreams": list(upstreams)}
    edge: dict[str, object] = {"listen": env.get("TOROUTER_DEFAULT_LISTEN", "127.0.0.1:8080")}
    router: dict[str, object] = {"state": f"sqlite:///{directory / 'torouter.db'}"}
    if env.get("TOROUTER_DEFAULT_ROUTER"):
        edge["router"] = router["listen"] = env["TOROUTER_DEFAULT_ROUTER"]
    config: dict[str, object] = {
        "edge": edge,
        "router": router,
        "upstreams": upstreams,
        "groups": groups,
        "keys": [{"name": "default", "key_sha256": key_sha256, "group": "default"}],
    }
    if admin_sha256:
        config["admin"] = {"keys": [{"key_sha256": admin_sha256}]}
    return config


def write_default_setup(env: dict[str, str] | None = None) -> DefaultSetup:
    """Writes the default config (secrets only as ``${VAR}`` references) and returns its key."""
    environ = dict(os.environ if env is None else env)
    directory = data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key, source = default_key(directory, environ)
    admin_key, admin_source = default_key(directory, environ, ADMIN_KEY_ENV, "admin.key", "tra-")
    config = default_config(environ, directory, hash_key(key), hash_key(admin_key))
    path = directory / "default-config.yaml"
    path.write_text(
        "# Written by `torouter up` from the built-in default; edit a copy, not this file.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return DefaultSetup(path, key, source, admin_key, admin_source)
