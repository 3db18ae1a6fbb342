"""The admin API's key operations (CONTRACT §5, §7) over :class:`KeyAdmin`:

- ``keys.list`` (``GET /admin/v1/keys``): every key, the config's and the store's, never a secret;
- ``keys.create`` (``POST``): the answer holds the secret, once (201);
- ``keys.get`` / ``keys.update`` (``PATCH``: limits and restrictions, ``null`` clears one) /
  ``keys.revoke`` (``DELETE``) of ``/admin/v1/keys/{name}``.

Bad input is a 400 naming the field (``param``), an unknown key a 404, a taken name or a key from
the config file a 409 — with nothing written. A change reaches every router within a second.
"""

from __future__ import annotations

import time
from typing import Any

from ..call import Outcome
from ..errors import ErrorCode, GatewayError
from ..key_rules import rfc3339
from ..state import KeyRecord
from .admin import AdminAPI, AdminRequest, json_outcome
from .key_admin import KeyAdmin, KeyProblem
from .store import UsageFilter, UsageStore

_CODES = {400: ErrorCode.INVALID_REQUEST, 404: ErrorCode.NOT_FOUND, 409: ErrorCode.INVALID_REQUEST}


def _error(problem: KeyProblem) -> GatewayError:
    return GatewayError(_CODES[problem.status], problem.message, param=problem.field, status=problem.status)


class KeysAPI:
    def __init__(self, keys: KeyAdmin, usage: UsageStore | None) -> None:
        self.keys = keys
        self.usage = usage

    def register(self, admin: AdminAPI) -> None:
        admin.register("keys.list", self.list)
        admin.register("keys.create", self.create)
        admin.register("keys.get", self.get)
        admin.register("keys.update", self.update)
        admin.register("keys.revoke", self.revoke)

    async def list(self, request: AdminRequest) -> Outcome:
        records = await self.keys.list()
        return json_outcome({"object": "list", "data": [await self._view(r) for r in records]})

    async def create(self, request: AdminRequest) -> Outcome:
        try:
            created = await self.keys.create(_object(request))
        except KeyProblem as problem:
            raise _error(problem) from None
        return json_outcome({"key": await self._view(created.record), "secret": created.secret}, 201)

    async def get(self, request: AdminRequest) -> Outcome:
        try:
            record = await self.keys.get(_name(request))
        except KeyProblem as problem:
            raise _error(problem) from None
        return json_outcome(await self._view(record))

    async def update(self, request: AdminRequest) -> Outcome:
        try:
            record = await self.keys.update(_name(request), _object(request))
        except KeyProblem as problem:
            raise _error(problem) from None
        return json_outcome(await self._view(record))

    async def revoke(self, request: AdminRequest) -> Outcome:
        try:
            record = await self.keys.revoke(_name(request))
        except KeyProblem as problem:
            raise _error(problem) from None
        return json_outcome(await self._view(record))

    async def _view(self, record: KeyRecord) -> dict[str, Any]:
        return {**await self.keys.view(record), "last_used_at": await self._last_used(record.name)}

    async def _last_used(self, name: str) -> str | None:
        """When the key's newest usage record was made (None: never, or records are off)."""
        if self.usage is None:
            return None
        newest = await self.usage.records(UsageFilter(0.0, time.time() + 86_400, key=name), None, 1)
        return rfc3339(newest[0].ts) if newest else None


def _name(request: AdminRequest) -> str:
    name = request.param("name")
    if not name:
        raise GatewayError(ErrorCode.INVALID_REQUEST, "A key name is required in the path.", param="name")
    return name


def _object(request: AdminRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise GatewayError(ErrorCode.INVALID_REQUEST, "The request body must be a JSON object.")
    return body
