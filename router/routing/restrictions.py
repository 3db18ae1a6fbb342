"""A key's restrictions checked on a call (CONTRACT §5), cheapest first and all before any upstream
byte: expiry and IP rules as soon as the key is known, the model allowlist once the model is.
Request windows and the spend cap are counted in the state store (``limits.py``).
"""

from __future__ import annotations

import time

from ..errors import ErrorCode, GatewayError, cut
from ..key_rules import KeyRules


class KeyBlocked(GatewayError):
    """A call refused by one of its key's restrictions; ``reason`` goes to the request log."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        reason: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        # an OpenAI caller reads why a key was refused from the error's code (``key_expired``)
        vendor_code = reason if code is ErrorCode.UNAUTHENTICATED else None
        super().__init__(code, message, vendor_code=vendor_code, param=param, retry_after=retry_after)
        self.reason = reason


def check_key(rules: KeyRules, client_ip: str) -> None:
    """401 for an expired key, or for a client IP its rules do not let in."""
    if rules.expired(time.time()):
        raise KeyBlocked(ErrorCode.UNAUTHENTICATED, "This API key has expired (key expired).", "key_expired")
    if not rules.ip_allowed(client_ip):
        raise KeyBlocked(
            ErrorCode.UNAUTHENTICATED,
            "This API key may not be used from this address (ip not allowed).",
            "ip_not_allowed",
        )


def check_model(rules: KeyRules, model: str) -> None:
    """403 ``model_not_allowed`` for a model outside the key's allowlist (as the caller named it)."""
    if not rules.model_allowed(model):
        raise KeyBlocked(
            ErrorCode.PERMISSION_DENIED,
            f"This API key may not use the model `{cut(model)}` (model not allowed).",
            "model_not_allowed",
            param="model",
        )
