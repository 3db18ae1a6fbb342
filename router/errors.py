"""The gateway's one error type. Each protocol's codec renders it in its own format and status."""

from __future__ import annotations

from enum import StrEnum

SHOWN_CHARS = 256  # the most of a caller's value (a model id, a path) an error message repeats


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text``, or its first ``limit`` characters and how many more there were."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


class ErrorCode(StrEnum):
    """What went wrong, independent of the protocol that will report it."""

    INVALID_REQUEST = "invalid_request"  # 400: malformed JSON, wrong types, bad parameters
    UNAUTHENTICATED = "unauthenticated"  # 401: no key, or an unknown key
    SPEND_CAP_REACHED = "spend_cap_reached"  # 402: the key's spend reached its cap
    PERMISSION_DENIED = "permission_denied"  # 403: model exists, but not for this key's group
    NOT_FOUND = "not_found"  # 404: unknown model, path or resource
    REQUEST_TOO_LARGE = "request_too_large"  # 413
    UNPROCESSABLE = "unprocessable"  # 422
    RATE_LIMITED = "rate_limited"  # 429
    INTERNAL = "internal"  # 500
    NOT_IMPLEMENTED = "not_implemented"  # 501: endpoint not built yet / operation unsupported
    UPSTREAM_AUTH = "upstream_auth"  # 502: the upstream rejected the gateway's credentials
    UPSTREAM_ERROR = "upstream_error"  # 502: upstream 5xx, connection error, malformed answer
    UNAVAILABLE = "unavailable"  # 503: router unreachable or shutting down
    UPSTREAM_OVERLOADED = "upstream_overloaded"  # 503 (529 for Anthropic callers)
    UPSTREAM_TIMEOUT = "upstream_timeout"  # 504


DEFAULT_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.SPEND_CAP_REACHED: 402,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.UNPROCESSABLE: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.UPSTREAM_AUTH: 502,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.UPSTREAM_OVERLOADED: 503,
    ErrorCode.UPSTREAM_TIMEOUT: 504,
}


def code_for_status(status: int) -> ErrorCode:
    """The error code an HTTP status from an upstream stands for (as the caller should see it)."""
    if status == 400:
        return ErrorCode.INVALID_REQUEST
    if status in (401, 403):
        return ErrorCode.UPSTREAM_AUTH
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status == 413:
        return ErrorCode.REQUEST_TOO_LARGE
    if status == 422:
        return ErrorCode.UNPROCESSABLE
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (503, 529):
        return ErrorCode.UPSTREAM_OVERLOADED
    if status in (408, 504):
        return ErrorCode.UPSTREAM_TIMEOUT
    if status >= 500:
        return ErrorCode.UPSTREAM_ERROR
    return ErrorCode.INVALID_REQUEST


class GatewayError(Exception):
    """An error to report to the caller, in the caller's protocol.

    ``message`` is written to the caller as is: it must never contain a secret, a traceback or
    an upstream URL. ``param`` names the offending request field when there is one.
    ``vendor_type`` / ``vendor_code`` keep an upstream's own error type and code when the caller
    speaks the same protocol, so that e.g. ``context_length_exceeded`` survives.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        vendor_type: str | None = None,
        vendor_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.status = status if status is not None else DEFAULT_STATUS[code]
        self.retry_after = retry_after
        self.vendor_type = vendor_type
        self.vendor_code = vendor_code
        self.headers: dict[str, str] = {}  # extra response headers (e.g. x-ratelimit-*)
        self.upstream_status: int | None = None  # the upstream's own HTTP status, when it answered

    def __repr__(self) -> str:
        return f"GatewayError({self.code.value}, {self.status}, {self.message!r})"
