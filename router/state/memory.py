"""An in-process state store (tests, throwaway runs)."""

from __future__ import annotations

import time
from dataclasses import replace

from . import DuplicateKeyName, KeyRecord, RequestLog, SpendTotals, StoredResponse, WindowCounters


class MemoryStore(WindowCounters, SpendTotals):
    def __init__(self) -> None:
        WindowCounters.__init__(self)
        SpendTotals.__init__(self)
        self._requests = RequestLog()
        self._keys: dict[str, KeyRecord] = {}
        self._responses: dict[str, StoredResponse] = {}
        self._memos: dict[str, tuple[float, bytes]] = {}

    async def find_key(self, key_sha256: str) -> KeyRecord | None:
        return next((k for k in self._keys.values() if k.key_sha256 == key_sha256), None)

    async def create_key(self, record: KeyRecord) -> None:
        if record.name in self._keys:
            raise DuplicateKeyName(record.name)
        self._keys[record.name] = record

    async def list_keys(self) -> list[KeyRecord]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    async def key_named(self, name: str) -> KeyRecord | None:
        return self._keys.get(name)

    async def update_key(self, record: KeyRecord) -> bool:
        current = self._keys.get(record.name)
        if current is None:
            return False
        self._keys[record.name] = replace(current, rpm=record.rpm, tpm=record.tpm, rules=record.rules)
        return True

    async def admit_request(self, name: str, now: float, windows: tuple[tuple[int, int], ...]) -> float:
        return self._requests.admit(name, now, windows)

    async def revoke_key(self, name: str) -> bool:
        if name not in self._keys:
            return False
        self._keys[name] = replace(self._keys[name], revoked=True)
        return True

    async def put_response(self, record: StoredResponse) -> None:
        now = time.time()
        if len(self._responses) > 10_000:  # drop the expired ones now and then
            self._responses = {k: v for k, v in self._responses.items() if v.expires_at > now}
        self._responses[record.id] = record

    async def get_response(self, response_id: str) -> StoredResponse | None:
        record = self._responses.get(response_id)
        return record if record is not None and record.expires_at > time.time() else None

    async def delete_response(self, response_id: str) -> bool:
        record = self._responses.pop(response_id, None)
        return record is not None and record.expires_at > time.time()

    async def put_memos(self, memos: dict[str, bytes], expires_at: float) -> None:
        if len(self._memos) > 50_000:  # drop the expired ones now and then
            now = time.time()
            self._memos = {k: v for k, v in self._memos.items() if v[0] > now}
        for memo_id, data in memos.items():
            self._memos[memo_id] = (expires_at, data)

    async def get_memos(self, ids: list[str]) -> dict[str, bytes]:
        now = time.time()
        found = ((memo_id, self._memos.get(memo_id)) for memo_id in ids)
        return {memo_id: entry[1] for memo_id, entry in found if entry is not None and entry[0] > now}

    async def close(self) -> None:
        return None
