"""A caller key's restrictions (CONTRACT §5): spend cap, request windows, expiry, IP rules, models.

One type, read from three places — the config's ``keys:`` entries, ``torouter keys create/update``
and the admin API — by one parser that names the offending field, and stored as JSON beside the
key. ``rpm`` / ``tpm`` stay fields of the key itself (they predate this module).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

THINKING_SUFFIX: Final = "-thinking"

# The sliding request windows: field name -> length in seconds.
WINDOWS: Final[dict[str, int]] = {
    "requests_5h": 5 * 3600,
    "requests_24h": 24 * 3600,
    "requests_7d": 7 * 24 * 3600,
}
RULE_FIELDS: Final = (
    "spend_cap_usd",
    "requests_5h",
    "requests_24h",
    "requests_7d",
    "expires_at",
    "ip_allow",
    "ip_deny",
    "models",
)


class RuleError(ValueError):
    """A restriction is invalid: ``field`` names it (``ip_allow[1]``), ``message`` says why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(slots=True, frozen=True)
class KeyRules:
    """Every restriction a key may carry; the defaults restrict nothing."""

    spend_cap_usd: float | None = None
    requests_5h: int | None = None
    requests_24h: int | None = None
    requests_7d: int | None = None
    expires_at: float | None = None  # unix time
    ip_allow: tuple[str, ...] = ()  # normalised CIDRs
    ip_deny: tuple[str, ...] = ()
    models: tuple[str, ...] | None = None  # None: every model of the group
    _allow: tuple[IPNetwork, ...] = field(default=(), compare=False, repr=False)
    _deny: tuple[IPNetwork, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", tuple(ipaddress.ip_network(c) for c in self.ip_allow))
        object.__setattr__(self, "_deny", tuple(ipaddress.ip_network(c) for c in self.ip_deny))

    def is_empty(self) -> bool:
        return self == KeyRules()

    def windows(self) -> tuple[tuple[str, int, int], ...]:
        """``(name, seconds, limit)`` of each request window that is on."""
        found = ((name, seconds, getattr(self, name)) for name, seconds in WINDOWS.items())
        return tuple((name, seconds, limit) for name, seconds, limit in found if limit)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def ip_allowed(self, client_ip: str) -> bool:
        """Deny wins; with an allow list the IP must be inside it. No IP known: only when unruled."""
        if not self._allow and not self._deny:
            return True
        address = parse_ip(client_ip)
        if address is None:
            return False
        if any(address in net for net in self._deny if net.version == address.version):
            return False
        return not self._allow or any(address in net for net in self._allow if net.version == address.version)

    def model_allowed(self, model: str) -> bool:
        """Listed as named; a ``-thinking`` id is also covered by its base id. Prefixes are literal."""
        if self.models is None:
            return True
        if model in self.models:
            return True
        return model.endswith(THINKING_SUFFIX) and model[: -len(THINKING_SUFFIX)] in self.models

    def to_json(self) -> dict[str, Any]:
        """The restrictions that are set, JSON-ready (``expires_at`` as RFC 3339)."""
        out: dict[str, Any] = {}
        for name in RULE_FIELDS:
            value = getattr(self, name)
            if value is None or value == ():
                continue
            if name == "expires_at":
                value = rfc3339(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    def updated(self, changes: Mapping[str, Any], *, now: float | None = None) -> KeyRules:
        """These rules with ``changes`` applied (``null`` clears a field); RuleError if invalid."""
        return replace(self, **_parse_fields(changes, now=now))


def parse_rules(raw: Mapping[str, Any], *, now: float | None = None) -> KeyRules:
    """Restrictions from JSON/YAML values. ``now`` given: an ``expires_at`` not after it is refused."""
    return KeyRules(**_parse_fields(raw, now=now))


def _parse_fields(raw: Mapping[str, Any], *, now: float | None) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in RULE_FIELDS:
            raise RuleError(name, f"unknown restriction (known: {', '.join(RULE_FIELDS)})")
        if value is None:
            parsed[name] = () if name in ("ip_allow", "ip_deny") else None
        elif name == "spend_cap_usd":
            parsed[name] = _spend_cap(value)
        elif name in WINDOWS:
            parsed[name] = _count(name, value)
        elif name == "expires_at":
            parsed[name] = parse_time(name, value)
            if now is not None and parsed[name] <= now:
                raise RuleError(name, "is in the past")
        elif name in ("ip_allow", "ip_deny"):
            parsed[name] = _cidrs(name, value)
        else:
            parsed[name] = _models(value)
    return parsed


def _spend_cap(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError("spend_cap_usd", "must be a number of US dollars")
    if value < 0:
        raise RuleError("spend_cap_usd", "must not be negative")
    return float(value) or None  # 0: no cap


def _count(name: str, value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(name, "must be a whole number of requests")
    if value < 0:
        raise RuleError(name, "must not be negative")
    return value or None  # 0: off


def _cidrs(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise RuleError(name, "must be a list of CIDRs (e.g. 10.0.0.0/8, 2001:db8::/32)")
    cidrs: list[str] = []
    for i, item in enumerate(value):
        try:
            if not isinstance(item, str):
                raise TypeError
            cidrs.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except (ValueError, TypeError):
            raise RuleError(f"{name}[{i}]", f"{item!r} is not an IPv4 or IPv6 address or CIDR") from None
    return tuple(cidrs)


def _models(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [m for m in value.split(",") if m.strip()]
    if not isinstance(value, list | tuple):
        raise RuleError("models", "must be a list of model ids")
    models: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise RuleError(f"models[{i}]", "must be a non-empty model id")
        models.append(item.strip())
    return tuple(models)


def parse_time(name: str, value: Any) -> float:
    """RFC 3339 (a ``Z`` or an offset; none means UTC) or a date (midnight UTC) -> unix time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise RuleError(name, f"{value!r} is not an RFC 3339 time (e.g. 2027-01-31T00:00:00Z)") from None
    else:
        raise RuleError(name, "must be an RFC 3339 time (e.g. 2027-01-31T00:00:00Z)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def parse_ip(text: str) -> IPAddress | None:
    """An address as the edge reported it; an IPv4-mapped IPv6 address is its IPv4 one."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
