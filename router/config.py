"""The config file (CONTRACT §2): environment substitution, YAML, strict validation with YAML paths."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .key_rules import RULE_FIELDS, KeyRules, RuleError, parse_rules

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
USAGE_SCHEMES = ("sqlite://", "postgresql://", "postgres://")
_PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")


class ConfigError(Exception):
    """The config is invalid. ``problems`` lists ``(yaml_path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


@dataclass(slots=True, frozen=True)
class EdgeConfig:
    listen: str = "127.0.0.1:8080"
    router: str = "127.0.0.1:50051"
    max_body_mb: float = 32.0
    request_timeout_s: float = 600.0
    keepalive_s: float = 15.0  # idle time after which an SSE answer gets a keep-alive frame
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For names the client
    # how often a dns:/// router name is resolved again, so that routers added later get calls (0: off)
    router_refresh_s: float = 10.0
    # Slow and hostile clients (see edge/server.py): a request's head must arrive within
    # header_timeout_s of the connection opening (or of its first byte, on a reused connection:
    # idle_timeout_s bounds the wait for that), its body within body_timeout_s of its head, and
    # one IP may hold at most max_pending_per_ip connections that have not sent a whole head yet.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    idle_timeout_s: float = 75.0
    max_pending_per_ip: int = 1024  # a client pool opening 1,000 streams at once must fit


# The sizes of model a group's ``default_model`` names (read from requested ids in routing/families.py).
FAMILIES = ("small", "medium", "large")
MAX_WORKERS = 1024
DEFAULT_FALLBACK_ON = (401, 403, 408, 429, 500, 502, 503, 504, 529)


@dataclass(slots=True, frozen=True)
class RouterConfig:
    listen: str = "127.0.0.1:50051"
    state: str = "sqlite:///./torouter.db"
    shutdown_grace_s: float = 30.0
    retries: int = 1  # extra rounds over a request's routes after upstream failures
    fallback_on: tuple[int, ...] = DEFAULT_FALLBACK_ON
    usage: str = ""  # the usage store: sqlite:///PATH, postgresql://..., off; "" = beside the state
    # an edge's connection is closed (gracefully: calls in flight finish) after this long, so that
    # edges resolve the routers' name again and spread over routers added since (0: never)
    max_connection_age_s: float = 20.0


@dataclass(slots=True, frozen=True)
class UpstreamConfig:
    name: str
    kind: str
    base_url: str
    api_key: str
    models: tuple[str, ...]
    timeout_s: float = 600.0
    weight: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    max_connections: int = 4096  # concurrent requests (connections) to this upstream per router
    pool_timeout_s: float = 30.0  # how long a request waits for one of them to be free

    def serves_any_model(self) -> bool:
        return "*" in self.models


@dataclass(slots=True, frozen=True)
class GroupConfig:
    """``upstreams`` in priority order; ``tiers`` groups those of equal priority (a nested list in
    the config), among which requests are spread by the upstreams' ``weight``."""

    name: str
    upstreams: tuple[str, ...]
    model_map: dict[str, str] = field(default_factory=dict)  # ids and glob patterns, in order
    tiers: tuple[tuple[str, ...], ...] = ()
    fallback_models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The model serving a requested id of a family ("small", "medium", "large") the group does not
    # list (routing/families.py); a family left out gets the built-in choice.
    default_model: dict[str, str] = field(default_factory=dict)

    def priority_tiers(self) -> tuple[tuple[str, ...], ...]:
        return self.tiers or tuple((name,) for name in self.upstreams)


@dataclass(slots=True, frozen=True)
class KeyConfig:
    name: str
    key_sha256: str  # hex digest; a literal key is hashed at load time and never kept
    group: str
    rpm: int | None = None
    tpm: int | None = None
    rules: KeyRules = field(default_factory=KeyRules)
    hint: str = ""  # ``prefix…last4`` of a literal key; empty for a key given by its digest


@dataclass(slots=True, frozen=True)
class PluginsConfig:
    disabled: tuple[str, ...] = ()  # plugin names (built-ins: openai, anthropic, …; entry point names)


@dataclass(slots=True, frozen=True)
class UsageConfig:
    """The usage records (``usage:``): how long raw records are kept, and the write queue."""

    retention_days: int = 90
    queue_size: int = 100_000  # records held in memory while the store is slow or down
    batch_size: int = 500
    flush_interval_s: float = 1.0


@dataclass(slots=True, frozen=True)
class PriceRule:
    """One ``prices:`` entry: USD per million tokens for a model, an upstream, or both. A cache rate
    left out bills those tokens at the input rate (``cache_write_1h`` at ``cache_write``)."""

    upstream: str | None
    model: str | None
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None


@dataclass(slots=True, frozen=True)
class AdminConfig:
    """``admin.keys``, kept only as SHA-256 digests (``TOROUTER_ADMIN_KEY`` is added at start)."""

    key_sha256s: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class Config:
    edge: EdgeConfig
    router: RouterConfig
    upstreams: dict[str, UpstreamConfig]
    groups: dict[str, GroupConfig]
    keys: tuple[KeyConfig, ...]
    source: str = "<memory>"
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    prices: tuple[PriceRule, ...] = ()
    admin: AdminConfig = field(default_factory=AdminConfig)
    # ``torouter up``: how many edge/router pairs it runs (``workers: auto`` is the number of cores)
    workers: int = 1
    # whether the file names the edge→router link (``edge.router`` or ``router.listen``): ``torouter
    # up`` then links them over TCP as configured, and otherwise over its own Unix sockets
    router_link_given: bool = False


WORKERS_WANTED = f"a whole number from 1 to {MAX_WORKERS}, or auto"


def workers_count(value: object) -> int | None:
    """How many workers ``value`` asks for (``auto``: one per core); None when it is not
    ``WORKERS_WANTED`` (the config's ``workers:`` and ``torouter up --workers``)."""
    if value == "auto":
        return os.cpu_count() or 1
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        return None
    return value


ADMIN_KEY_ENV = "TOROUTER_ADMIN_KEY"
EDGE_DRAIN_MARGIN_S = 5.0


def edge_drain_s(config: Config) -> float:
    """How long a stopping edge lets answers in flight finish: as long as routers drain theirs
    (``router.shutdown_grace_s``), and a little more to relay what they send last."""
    return config.router.shutdown_grace_s + EDGE_DRAIN_MARGIN_S


def admin_key_digests(config: Config, env: dict[str, str] | None = None) -> frozenset[str]:
    """The admin keys' digests: the config's ``admin.keys`` and ``TOROUTER_ADMIN_KEY``."""
    environ = os.environ if env is None else env
    digests = set(config.admin.key_sha256s)
    if environ.get(ADMIN_KEY_ENV):
        digests.add(hash_key(environ[ADMIN_KEY_ENV]))
    return frozenset(digests)


def hash_key(secret: str) -> str:
    """The SHA-256 hex digest under which a caller key is stored and looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_hint(secret: str) -> str:
    """What lists show of a secret: its first characters and its last four."""
    return f"{secret[:7]}…{secret[-4:]}" if len(secret) > 12 else "…"


def substitute_env(text: str, env: dict[str, str] | None = None) -> str:
    """Replaces ``${VAR}`` and ``${VAR:-default}``; an unset ``${VAR}`` becomes the empty string."""
    environ = os.environ if env is None else env

    def repl(match: re.Match[str]) -> str:
        value = environ.get(match.group(1))
        if value is None or (value == "" and match.group(2) is not None):
            return match.group(2) or ""
        return value

    return _VAR.sub(repl, text)


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Reads, substitutes and validates a config file; raises ConfigError with every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("$", f"cannot read {path}: {exc.strerror}")]) from None
    return parse_config(text, source=str(path), env=env)


def parse_config(text: str, source: str = "<memory>", env: dict[str, str] | None = None) -> Config:
    try:
        raw = yaml.safe_load(substitute_env(text, env))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError([("$", f"not valid YAML{where}")]) from None
    return _Validator(source).config(raw if raw is not None else {})


class _Validator:
    """Walks the raw YAML once, collecting every problem with its path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, value: Any, path: str, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping")
            return {}
        allowed_set = set(allowed)
        for key in value:
            if key not in allowed_set:
                self.fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed_set))})")
        return value

    def typed(self, value: Any, path: str, kind: type | tuple[type, ...], what: str) -> Any:
        if (
            isinstance(value, bool)
            and kind is not bool
            and bool not in (kind if isinstance(kind, tuple) else ())
        ):
            self.fail(path, f"must be {what}")
            return None
        if not isinstance(value, kind):
            self.fail(path, f"must be {what}")
            return None
        return value

    def string(self, section: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
        if key not in section:
            if default is None:
                self.fail(f"{path}.{key}", "is required")
                return ""
            return default
        value = self.typed(section[key], f"{path}.{key}", str, "a string")
        return value if value is not None else ""

    def number(
        self, section: dict[str, Any], key: str, path: str, default: float, minimum: float = 0
    ) -> float:
        if key not in section:
            return default
        value = self.typed(section[key], f"{path}.{key}", (int, float), "a number")
        if value is None:
            return default
        if value <= minimum:
            self.fail(f"{path}.{key}", f"must be greater than {minimum}")
            return default
        return float(value)

    def optional_int(self, section: dict[str, Any], key: str, path: str) -> int | None:
        if key not in section or section[key] is None:
            return None
        value = self.typed(section[key], f"{path}.{key}", int, "a whole number")
        if value is not None and value <= 0:
            self.fail(f"{path}.{key}", "must be a positive whole number")
            return None
        return int(value) if value is not None else None

    def string_list(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(path, "must be a list of strings")
            return ()
        items: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                items.append(item)
            else:
                self.fail(f"{path}[{i}]", "must be a non-empty string")
        return tuple(items)

    def string_map(self, value: Any, path: str) -> dict[str, str]:
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of strings to strings")
            return {}
        result: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(key, str) and isinstance(item, str):
                result[key] = item
            else:
                self.fail(f"{path}.{key}", "must map a string to a string")
        return result

    def listen_address(self, value: str, path: str) -> None:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.fail(path, "must be host:port")

    # -- sections

    def config(self, raw: Any) -> Config:
        top = self.mapping(
            raw,
            "$",
            (
                "edge",
                "router",
                "upstreams",
                "groups",
                "keys",
                "usage",
                "prices",
                "admin",
                "plugins",
                "workers",
            ),
        )
        edge = self.edge(top.get("edge", {}), "edge")
        router = self.router(top.get("router", {}), "router")
        upstreams = self.named_section(top.get("upstreams", {}), "upstreams", self.upstream)
        groups = self.named_section(top.get("groups", {}), "groups", self.group)
        for group in groups.values():
            for i, name in enumerate(group.upstreams):
                if name not in upstreams:
                    self.fail(f"groups.{group.name}.upstreams[{i}]", f"unknown upstream {name!r}")
            self.default_models(group, upstreams)
        keys = self.keys(top.get("keys", []), groups)
        usage = self.usage(top.get("usage", {}), "usage")
        prices = self.prices(top.get("prices", []), "prices", upstreams)
        admin = self.admin(top.get("admin", {}), "admin")
        plugins_section = self.mapping(top.get("plugins", {}), "plugins", ("disabled",))
        disabled = plugins_section.get("disabled")
        plugins = PluginsConfig(
            self.string_list(disabled, "plugins.disabled") if disabled is not None else ()
        )
        workers = self.workers(top.get("workers", 1), "workers")
        link_given = any(
            isinstance(top.get(section), dict) and name in top[section]
            for section, name in (("edge", "router"), ("router", "listen"))
        )
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            edge,
            router,
            upstreams,
            groups,
            keys,
            self.source,
            plugins=plugins,
            usage=usage,
            prices=prices,
            admin=admin,
            workers=workers,
            router_link_given=link_given,
        )

    def workers(self, value: Any, path: str) -> int:
        count = workers_count(value)
        if count is None:
            self.fail(path, f"must be {WORKERS_WANTED}")
            return 1
        return count

    def edge(self, raw: Any, path: str) -> EdgeConfig:
        section = self.mapping(
            raw,
            path,
            (
                "listen",
                "router",
                "max_body_mb",
                "request_timeout_s",
                "keepalive_s",
                "trusted_proxies",
                "router_refresh_s",
                "header_timeout_s",
                "body_timeout_s",
                "idle_timeout_s",
                "max_pending_per_ip",
            ),
        )
        listen = self.string(section, "listen", path, "127.0.0.1:8080")
        self.listen_address(listen, f"{path}.listen")
        return EdgeConfig(
            listen=listen,
            router=self.string(section, "router", path, "127.0.0.1:50051"),
            max_body_mb=self.number(section, "max_body_mb", path, 32.0),
            request_timeout_s=self.number(section, "request_timeout_s", path, 600.0),
            keepalive_s=self.number(section, "keepalive_s", path, 15.0),
            trusted_proxies=self.cidrs(section.get("trusted_proxies"), f"{path}.trusted_proxies"),
            router_refresh_s=self.number(section, "router_refresh_s", path, 10.0, minimum=-1),
            header_timeout_s=self.number(section, "header_timeout_s", path, 10.0),
            body_timeout_s=self.number(section, "body_timeout_s", path, 60.0),
            idle_timeout_s=self.number(section, "idle_timeout_s", path, 75.0),
            max_pending_per_ip=self.optional_int(section, "max_pending_per_ip", path) or 1024,
        )

    def cidrs(self, raw: Any, path: str) -> tuple[str, ...]:
        if raw is None:
            return ()
        try:
            return parse_rules({"ip_allow": raw}).ip_allow
        except RuleError as error:
            self.fail(path + error.field.removeprefix("ip_allow"), error.message)
            return ()

    def key_rules(self, section: dict[str, Any], path: str) -> KeyRules:
        try:
            return parse_rules({name: section[name] for name in RULE_FIELDS if name in section})
        except RuleError as error:
            self.fail(f"{path}.{error.field}", error.message)
            return KeyRules()

    def router(self, raw: Any, path: str) -> RouterConfig:
        section = self.mapping(
            raw,
            path,
            (
                "listen",
                "state",
                "shutdown_grace_s",
                "retries",
                "fallback_on",
                "usage",
                "max_connection_age_s",
            ),
        )
        listen = self.string(section, "listen", path, "127.0.0.1:50051")
        self.listen_address(listen, f"{path}.listen")
        state = self.string(section, "state", path, "sqlite:///./torouter.db")
        if not state.startswith(("sqlite://", "redis://", "rediss://", "memory://")):
            self.fail(f"{path}.state", "must be sqlite:///PATH, redis://HOST:PORT/DB or memory://")
        grace = self.number(section, "shutdown_grace_s", path, 30.0, minimum=-1)
        retries = 1
        if "retries" in section:
            value = self.typed(section["retries"], f"{path}.retries", int, "a whole number")
            if value is not None and not 0 <= value <= 10:
                self.fail(f"{path}.retries", "must be between 0 and 10")
            elif value is not None:
                retries = value
        fallback_on = DEFAULT_FALLBACK_ON
        if "fallback_on" in section:
            statuses = section["fallback_on"]
            if not isinstance(statuses, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 599 for s in statuses
            ):
                self.fail(f"{path}.fallback_on", "must be a list of HTTP statuses (400-599)")
            else:
                fallback_on = tuple(statuses)
        usage = self.string(section, "usage", path, "")
        if usage and usage != "off" and not usage.startswith(USAGE_SCHEMES):
            self.fail(f"{path}.usage", "must be sqlite:///PATH, postgresql://USER@HOST:PORT/DB or off")
        return RouterConfig(
            listen=listen,
            state=state,
            shutdown_grace_s=grace,
            retries=retries,
            fallback_on=fallback_on,
            usage=usage,
            max_connection_age_s=self.number(section, "max_connection_age_s", path, 20.0, minimum=-1),
        )

    def named_section(self, raw: Any, path: str, build: Callable[[str, Any, str], Any]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail(path, "must be a mapping of names")
            return {}
        result: dict[str, Any] = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not _NAME.match(name):
                self.fail(f"{path}.{name}", "names may use letters, digits, '_', '-' and '.'")
                continue
            result[name] = build(name, value, f"{path}.{name}")
        return result

    def upstream(self, name: str, raw: Any, path: str) -> UpstreamConfig:
        section = self.mapping(
            raw,
            path,
            (
                "kind",
                "base_url",
                "api_key",
                "models",
                "timeout_s",
                "weight",
                "headers",
                "max_connections",
                "pool_timeout_s",
            ),
        )
        base_url = self.string(section, "base_url", path)
        if base_url and not base_url.startswith(("http://", "https://")):
            self.fail(f"{path}.base_url", "must start with http:// or https://")
        models = self.string_list(section.get("models", []), f"{path}.models")
        if "models" not in section or not models:
            self.fail(f"{path}.models", 'must list at least one model (or "*" for any)')
        api_key = self.string(section, "api_key", path, "")
        headers = self.string_map(section.get("headers", {}), f"{path}.headers")
        # each goes in a request's head, where a line break would end its line
        texts = [(f"{path}.api_key", api_key), *((f"{path}.headers.{k}", k + v) for k, v in headers.items())]
        for where, text in texts:
            if any(c in text for c in "\r\n\0"):
                self.fail(where, "must not contain a line break or NUL (a stray newline from a file?)")
        return UpstreamConfig(
            name=name,
            kind=self.string(section, "kind", path),
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            models=models,
            timeout_s=self.number(section, "timeout_s", path, 600.0),
            weight=self.number(section, "weight", path, 1.0),
            headers=headers,
            max_connections=self.optional_int(section, "max_connections", path) or 4096,
            pool_timeout_s=self.number(section, "pool_timeout_s", path, 30.0),
        )

    def group(self, name: str, raw: Any, path: str) -> GroupConfig:
        section = self.mapping(raw, path, ("upstreams", "model_map", "fallback_models", "default_model"))
        tiers = self.tiers(section.get("upstreams", []), f"{path}.upstreams")
        if not tiers:
            self.fail(f"{path}.upstreams", "must list at least one upstream")
        fallbacks: dict[str, tuple[str, ...]] = {}
        raw_fallbacks = section.get("fallback_models", {})
        if not isinstance(raw_fallbacks, dict):
            self.fail(f"{path}.fallback_models", "must map a model to a list of fallback models")
        else:
            for model, targets in raw_fallbacks.items():
                fallbacks[str(model)] = self.string_list(targets, f"{path}.fallback_models.{model}")
        return GroupConfig(
            name=name,
            upstreams=tuple(u for tier in tiers for u in tier),
            model_map=self.string_map(section.get("model_map", {}), f"{path}.model_map"),
            tiers=tiers,
            fallback_models=fallbacks,
            default_model=self.default_model(section.get("default_model"), f"{path}.default_model"),
        )

    def default_model(self, value: Any, path: str) -> dict[str, str]:
        """``"gpt-5"`` (every family) or ``{small: gpt-5-mini, large: gpt-5}``."""
        if value is None:
            return {}
        if isinstance(value, str) and value:
            return dict.fromkeys(FAMILIES, value)
        if not isinstance(value, dict):
            self.fail(path, "must be a model id or a mapping of small/medium/large to model ids")
            return {}
        section = self.mapping(value, path, FAMILIES)
        result: dict[str, str] = {}
        for family in FAMILIES:
            if family in section:
                model = self.string(section, family, path)
                if model:
                    result[family] = model
                else:
                    self.fail(f"{path}.{family}", "must be a non-empty model id")
        return result

    def default_models(self, group: GroupConfig, upstreams: dict[str, UpstreamConfig]) -> None:
        """Each default model must be one that an upstream of the group serves."""
        members = [upstreams[name] for name in group.upstreams if name in upstreams]
        if any(u.serves_any_model() for u in members):
            return
        served = {model for u in members for model in u.models}
        for family, model in group.default_model.items():
            if model not in served:
                self.fail(
                    f"groups.{group.name}.default_model.{family}",
                    f"{model!r} is not a model of the group's upstreams",
                )

    def tiers(self, value: Any, path: str) -> tuple[tuple[str, ...], ...]:
        """``["a", ["b", "c"], "d"]``: a, then b and c shared by weight, then d."""
        if not isinstance(value, list):
            self.fail(path, "must be a list of upstream names (a nested list for equal priority)")
            return ()
        tiers: list[tuple[str, ...]] = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                tiers.append((item,))
            elif isinstance(item, list) and item:
                tiers.append(self.string_list(item, f"{path}[{i}]"))
            else:
                self.fail(f"{path}[{i}]", "must be an upstream name or a list of names of equal priority")
        return tuple(tiers)

    def keys(self, raw: Any, groups: dict[str, GroupConfig]) -> tuple[KeyConfig, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail("keys", "must be a list")
            return ()
        result: list[KeyConfig] = []
        names: set[str] = set()
        for i, item in enumerate(raw):
            path = f"keys[{i}]"
            section = self.mapping(
                item, path, ("name", "key", "key_sha256", "group", "rpm", "tpm", *RULE_FIELDS)
            )
            if not section:
                continue
            name = self.string(section, "name", path)
            if name in names:
                self.fail(f"{path}.name", f"duplicate key name {name!r}")
            names.add(name)
            group = self.string(section, "group", path)
            if group and group not in groups:
                self.fail(f"{path}.group", f"unknown group {group!r}")
            digest = hint = ""
            if ("key" in section) == ("key_sha256" in section):
                self.fail(path, "needs exactly one of key or key_sha256")
            elif "key" in section:
                secret = self.string(section, "key", path)
                if not secret:
                    self.fail(f"{path}.key", "is empty (is its environment variable set?)")
                else:
                    digest, hint = hash_key(secret), secret_hint(secret)
            else:
                digest = self.string(section, "key_sha256", path).lower()
                if not _HEX64.match(digest):
                    self.fail(f"{path}.key_sha256", "must be 64 hex digits")
            result.append(
                KeyConfig(
                    name=name,
                    key_sha256=digest,
                    group=group,
                    rpm=self.optional_int(section, "rpm", path),
                    tpm=self.optional_int(section, "tpm", path),
                    rules=self.key_rules(section, path),
                    hint=hint,
                )
            )
        return tuple(result)

    # -- the account layer's sections (usage, prices, admin)

    def whole(self, section: dict[str, Any], key: str, path: str, default: int, low: int, high: int) -> int:
        if key not in section:
            return default
        value = self.typed(section[key], f"{path}.{key}", int, "a whole number")
        if value is None:
            return default
        if not low <= value <= high:
            self.fail(f"{path}.{key}", f"must be between {low} and {high}")
            return default
        return int(value)

    def usage(self, raw: Any, path: str) -> UsageConfig:
        section = self.mapping(raw, path, ("retention_days", "queue_size", "batch_size", "flush_interval_s"))
        return UsageConfig(
            retention_days=self.whole(section, "retention_days", path, 90, 1, 36_500),
            queue_size=self.whole(section, "queue_size", path, 100_000, 1, 10_000_000),
            batch_size=self.whole(section, "batch_size", path, 500, 1, 10_000),
            flush_interval_s=self.number(section, "flush_interval_s", path, 1.0),
        )

    def prices(self, raw: Any, path: str, upstreams: dict[str, UpstreamConfig]) -> tuple[PriceRule, ...]:
        """``prices:`` is a list of rules: ``{model, upstream, input, output, cache_read, cache_write,
        cache_write_1h}``; the most specific match wins (upstream and model, model, upstream)."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail(path, "must be a list of {model, upstream, input, output, ...} entries")
            return ()
        rules: list[PriceRule] = []
        seen: set[tuple[str | None, str | None]] = set()
        for i, item in enumerate(raw):
            where = f"{path}[{i}]"
            section = self.mapping(item, where, ("model", "upstream", *_PRICE_FIELDS))
            if not section:
                continue
            model = self.string(section, "model", where, "") or None
            upstream = self.string(section, "upstream", where, "") or None
            if model is None and upstream is None:
                self.fail(where, "needs a model, an upstream, or both")
            if upstream is not None and upstream not in upstreams:
                self.fail(f"{where}.upstream", f"unknown upstream {upstream!r}")
            if (upstream, model) in seen:
                self.fail(where, "another entry prices the same model and upstream")
            seen.add((upstream, model))
            rates: dict[str, float | None] = {}
            for name in _PRICE_FIELDS:
                if name not in section:
                    if name in ("input", "output"):
                        self.fail(f"{where}.{name}", "is required (USD per million tokens)")
                    rates[name] = None
                    continue
                value = self.typed(section[name], f"{where}.{name}", (int, float), "a number")
                if value is not None and value < 0:
                    self.fail(f"{where}.{name}", "must not be negative")
                rates[name] = float(value) if value is not None else None
            rules.append(
                PriceRule(
                    upstream,
                    model,
                    rates["input"] or 0.0,
                    rates["output"] or 0.0,
                    rates["cache_read"],
                    rates["cache_write"],
                    rates["cache_write_1h"],
                )
            )
        return tuple(rules)

    def admin(self, raw: Any, path: str) -> AdminConfig:
        """``admin.keys``: secrets (``"${ADMIN_KEY}"``) or ``{key_sha256: <hex>}`` entries."""
        section = self.mapping(raw, path, ("keys",))
        entries = section.get("keys", [])
        if not isinstance(entries, list):
            self.fail(f"{path}.keys", "must be a list of keys")
            return AdminConfig()
        digests: list[str] = []
        for i, entry in enumerate(entries):
            where = f"{path}.keys[{i}]"
            if isinstance(entry, str):
                if entry:
                    digests.append(hash_key(entry))
                else:
                    self.fail(where, "is empty (is its environment variable set?)")
                continue
            item = self.mapping(entry, where, ("key_sha256",))
            digest = self.string(item, "key_sha256", where).lower() if item else ""
            if item and not _HEX64.match(digest):
                self.fail(f"{where}.key_sha256", "must be 64 hex digits")
            elif digest:
                digests.append(digest)
        return AdminConfig(tuple(digests))
