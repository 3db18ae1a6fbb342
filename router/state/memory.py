"""An in-process state store (tests, throwaway runs)."""

from __future__ import annotations

from dataclasses import replace

from . import DuplicateKeyName, KeyRecord, WindowCounters


class MemoryStore(WindowCounters):
    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, KeyRecord] = {}

    async def find_key(self, key_sha256: str) -> KeyRecord | None:
        return next((k for k in self._keys.values() if k.key_sha256 == key_sha256), None)

    async def create_key(self, record: KeyRecord) -> None:
        if record.name in self._keys:
            raise DuplicateKeyName(record.name)
        self._keys[record.name] = record

    async def list_keys(self) -> list[KeyRecord]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    async def revoke_key(self, name: str) -> bool:
        if name not in self._keys:
            return False
        self._keys[name] = replace(self._keys[name], revoked=True)
        return True

    async def close(self) -> None:
        return None
