"""Managing caller keys: create, read, change, list and revoke, with every restriction of
CONTRACT §5. One implementation behind both the admin API (``/admin/v1/keys``) and
``torouter keys``; every input is validated before anything is written, and each problem names its
field.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from ..config import Config, KeyConfig, hash_key, secret_hint
from ..key_rules import RULE_FIELDS, KeyRules, RuleError, rfc3339
from ..state import DuplicateKeyName, KeyRecord, StateStore

SECRET_PREFIX: Final = "tr-"
LIMIT_FIELDS: Final = ("rpm", "tpm")
CREATE_FIELDS: Final = ("name", "group", "expires_in_days", *LIMIT_FIELDS, *RULE_FIELDS)
UPDATE_FIELDS: Final = (*LIMIT_FIELDS, *RULE_FIELDS)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeyProblem(ValueError):
    """A request to manage keys that cannot be done: ``field`` names the culprit (or is None),
    ``status`` is what the admin API answers (400 bad input, 404 no such key, 409 conflict)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass(slots=True, frozen=True)
class CreatedKey:
    record: KeyRecord
    secret: str  # shown once


class KeyAdmin:
    """The keys of the state store, beside the config's static ones (which are read-only here)."""

    def __init__(
        self, store: StateStore, config: Config | None, unwritten_spend: Callable[[str], float] | None = None
    ) -> None:
        self.store = store
        self.unwritten_spend = unwritten_spend  # spend charged in this router, not yet in the store
        self.static: dict[str, KeyConfig] = {k.name: k for k in config.keys} if config else {}
        self.groups = frozenset(config.groups) if config else None

    async def create(self, fields: Mapping[str, Any]) -> CreatedKey:
        _known(fields, CREATE_FIELDS)
        now = time.time()
        group = fields.get("group")
        if not isinstance(group, str) or not group:
            raise KeyProblem("group is required", "group")
        if self.groups is not None and group not in self.groups:
            raise KeyProblem(f"unknown group {group!r} (known: {', '.join(sorted(self.groups))})", "group")
        name = fields.get("name") or f"key-{secrets.token_hex(4)}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise KeyProblem("name must be 1-64 letters, digits, '.', '_' or '-'", "name")
        if name in self.static:
            raise KeyProblem(f"a key named {name!r} exists already (in the config file)", "name", 409)
        raw_rules = {k: v for k, v in fields.items() if k in RULE_FIELDS}
        days = fields.get("expires_in_days")
        if days is not None:
            if "expires_at" in raw_rules:
                raise KeyProblem("give expires_at or expires_in_days, not both", "expires_in_days")
            if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
                raise KeyProblem("must be a positive number of days", "expires_in_days")
            raw_rules["expires_at"] = rfc3339(now + days * 86400)
        rules = _rules(KeyRules(), raw_rules, now)
        secret = SECRET_PREFIX + secrets.token_urlsafe(30)
        record = KeyRecord(
            name=name,
            key_sha256=hash_key(secret),
            group=group,
            rpm=_limit(fields, "rpm"),
            tpm=_limit(fields, "tpm"),
            created_at=now,
            rules=rules,
            hint=secret_hint(secret),
        )
        try:
            await self.store.create_key(record)
        except DuplicateKeyName:
            raise KeyProblem(f"a key named {name!r} exists already", "name", 409) from None
        return CreatedKey(record, secret)

    async def get(self, name: str) -> KeyRecord:
        static = self.static.get(name)
        if static is not None:
            return _static_record(static)
        record = await self.store.key_named(name)
        if record is None:
            raise KeyProblem(f"no key named {name!r}", None, 404)
        return record

    async def update(self, name: str, changes: Mapping[str, Any]) -> KeyRecord:
        """Changes limits and restrictions; ``null`` clears one. Takes effect within a second."""
        _known(changes, UPDATE_FIELDS)
        if name in self.static:
            raise KeyProblem(f"the key {name!r} is defined in the config file: change it there", None, 409)
        record = await self.get(name)
        rules = _rules(record.rules, {k: v for k, v in changes.items() if k in RULE_FIELDS}, time.time())
        updated = replace(
            record,
            rules=rules,
            rpm=_limit(changes, "rpm") if "rpm" in changes else record.rpm,
            tpm=_limit(changes, "tpm") if "tpm" in changes else record.tpm,
        )
        if not await self.store.update_key(updated):
            raise KeyProblem(f"no key named {name!r}", None, 404)
        return updated

    async def revoke(self, name: str) -> KeyRecord:
        if name in self.static:
            raise KeyProblem(f"the key {name!r} is defined in the config file: remove it there", None, 409)
        record = await self.get(name)
        await self.store.revoke_key(name)
        return replace(record, revoked=True)

    async def list(self) -> list[KeyRecord]:
        return [_static_record(k) for k in self.static.values()] + await self.store.list_keys()

    async def view(self, record: KeyRecord) -> dict[str, Any]:
        """A key as the admin API and the console show it: never its secret."""
        return {
            "name": record.name,
            "key_hint": record.hint or f"sha256:{record.key_sha256[:8]}…",
            "group": record.group,
            "source": "config" if record.name in self.static else "store",
            "rpm": record.rpm,
            "tpm": record.tpm,
            **{name: None for name in RULE_FIELDS},
            **record.rules.to_json(),
            "spend_usd": round(await self._spend(record.name), 6),
            "created_at": rfc3339(record.created_at) if record.created_at else None,
            "revoked": record.revoked,
            "expired": record.rules.expired(time.time()),
        }

    async def _spend(self, name: str) -> float:
        spent = await self.store.spend(name)
        return spent + self.unwritten_spend(name) if self.unwritten_spend is not None else spent


def _known(fields: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for name in fields:
        if name not in allowed:
            raise KeyProblem(f"unknown field {name!r} (allowed: {', '.join(allowed)})", name)


def _rules(current: KeyRules, raw: dict[str, Any], now: float) -> KeyRules:
    try:
        return current.updated(raw, now=now)
    except RuleError as error:
        raise KeyProblem(f"{error.field}: {error.message}", error.field) from None


def _limit(fields: Mapping[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KeyProblem(f"{name} must be a whole number ≥ 0 (0 or null: no limit)", name)
    return value or None


def _static_record(key: KeyConfig) -> KeyRecord:
    return KeyRecord(key.name, key.key_sha256, key.group, key.rpm, key.tpm, 0.0, False, key.rules, key.hint)
