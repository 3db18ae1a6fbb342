"""The admin API on the router: a registry of operations, each an async handler, behind the admin key.

The edge maps ``/admin/v1/...`` paths to operation names (``usage.summary``, ``keys.list``, …) and
sends them over the same gRPC envelope as any call, with protocol :data:`ADMIN_PROTOCOL`, the
query and path parameters as ``params`` and the JSON body as it came. Here:

- no admin key configured (``admin.keys``, ``TOROUTER_ADMIN_KEY``): every operation is a 404, as
  if the admin API did not exist; a key that is not an admin key (a caller's, a wrong one): 401;
- an operation nobody registered: 501; a handler's :class:`GatewayError`: its status;
- answers are JSON (:func:`json_outcome`) or, for exports, an :class:`Outcome` with ``chunks``;
  errors in OpenAI's format.

Adding operations: ``admin.register("keys.list", handler)`` where ``handler`` takes an
:class:`AdminRequest` and returns an :class:`Outcome` (see ``usage_api.py`` for examples).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..call import JSON_HEADERS, Call, Outcome
from ..errors import ErrorCode, GatewayError
from ..protocols.base import ErrorCodec

log = logging.getLogger("torouter.admin")

ADMIN_PROTOCOL = "admin"


@dataclass(slots=True)
class AdminRequest:
    """One admin call: the operation, its parameters (query and path) and body."""

    operation: str
    params: dict[str, str]
    body: bytes
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body's JSON (``{}`` when empty); a 400 when it is not JSON."""
        if not self.body.strip():
            return {}
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise GatewayError(ErrorCode.INVALID_REQUEST, "The request body is not valid JSON.") from None

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None


AdminHandler = Callable[[AdminRequest], Awaitable[Outcome]]


def json_outcome(body: Any, status: int = 200) -> Outcome:
    return Outcome(status, dict(JSON_HEADERS), orjson.dumps(body))


class AdminAPI:
    """The admin operations by name, and the admin keys (as SHA-256 digests) that may call them."""

    def __init__(self, key_digests: Iterable[str], errors: ErrorCodec) -> None:
        self._digests = tuple(key_digests)
        self._errors = errors
        self._operations: dict[str, AdminHandler] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def register(self, operation: str, handler: AdminHandler) -> None:
        """Adds an operation; registering a name twice is an error, not a silent override."""
        if operation in self._operations:
            raise ValueError(f"admin operation {operation!r} is registered twice")
        self._operations[operation] = handler

    def operations(self) -> list[str]:
        return sorted(self._operations)

    def authorized(self, key: str) -> bool:
        from ..config import hash_key

        if not key or not self._digests:
            return False
        digest = hash_key(key)
        return any(hmac.compare_digest(digest, known) for known in self._digests)

    async def handle(self, call: Call) -> Outcome:
        """Answers an admin call. Never raises (but for cancellation)."""
        try:
            if not self.enabled:
                raise GatewayError(ErrorCode.NOT_FOUND, "Unknown path: the admin API is not enabled.")
            if not self.authorized(call.key):
                raise GatewayError(ErrorCode.UNAUTHENTICATED, "Incorrect admin key provided.")
            handler = self._operations.get(call.operation)
            if handler is None:
                raise GatewayError(
                    ErrorCode.NOT_IMPLEMENTED,
                    f"The admin operation {call.operation!r} is not available in this version.",
                )
            request = AdminRequest(
                call.operation, dict(call.params), call.body, call.request_id, call.headers
            )
            return await handler(request)
        except GatewayError as failure:
            return self.error(failure, call.request_id)
        except Exception:
            log.exception("admin operation failed", extra={"request_id": call.request_id})
            internal = GatewayError(
                ErrorCode.INTERNAL, f"Internal gateway error (request id {call.request_id})."
            )
            return self.error(internal, call.request_id)

    def error(self, error: GatewayError, request_id: str) -> Outcome:
        rendered = self._errors.render(error, request_id)
        return Outcome(rendered.status, dict(rendered.headers), rendered.body, error_code=error.code.value)
