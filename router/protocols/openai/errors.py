"""OpenAI's error format: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import math
from typing import Any

import orjson

from ...errors import ErrorCode, GatewayError, code_for_status
from ..base import RenderedError
from ..sse import format_event

# code -> (OpenAI error type, OpenAI error code)
_TABLE: dict[ErrorCode, tuple[str, str | None]] = {
    ErrorCode.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorCode.UNAUTHENTICATED: ("invalid_request_error", "invalid_api_key"),
    ErrorCode.SPEND_CAP_REACHED: ("insufficient_quota", "insufficient_quota"),
    ErrorCode.PERMISSION_DENIED: ("invalid_request_error", "model_not_allowed"),
    ErrorCode.NOT_FOUND: ("invalid_request_error", "not_found"),
    ErrorCode.REQUEST_TOO_LARGE: ("invalid_request_error", "request_too_large"),
    ErrorCode.UNPROCESSABLE: ("invalid_request_error", None),
    ErrorCode.RATE_LIMITED: ("requests", "rate_limit_exceeded"),
    ErrorCode.INTERNAL: ("server_error", None),
    ErrorCode.NOT_IMPLEMENTED: ("invalid_request_error", "not_implemented"),
    ErrorCode.UPSTREAM_AUTH: ("upstream_error", "upstream_auth_failed"),
    ErrorCode.UPSTREAM_ERROR: ("upstream_error", "upstream_error"),
    ErrorCode.UNAVAILABLE: ("server_error", "service_unavailable"),
    ErrorCode.UPSTREAM_OVERLOADED: ("server_error", "server_is_overloaded"),
    ErrorCode.UPSTREAM_TIMEOUT: ("timeout", "upstream_timeout"),
}


def error_object(error: GatewayError) -> dict[str, Any]:
    etype, ecode = _TABLE[error.code]
    return {
        "message": error.message,
        "type": error.vendor_type or etype,
        "param": error.param,
        "code": error.vendor_code or ecode,
    }


def retry_headers(error: GatewayError) -> dict[str, str]:
    if error.retry_after is None:
        return {}
    seconds = max(0.0, error.retry_after)
    return {
        "retry-after": str(math.ceil(seconds)),
        "retry-after-ms": str(int(seconds * 1000)),
    }


class OpenAIErrors:
    """The ErrorCodec of the OpenAI protocol (chat, responses, embeddings, images, models)."""

    def render(self, error: GatewayError, request_id: str) -> RenderedError:
        body = orjson.dumps({"error": error_object(error)})
        headers = {"content-type": "application/json", **retry_headers(error)}
        return RenderedError(error.status, body, headers)

    def stream_event(self, error: GatewayError) -> bytes:
        return format_event(orjson.dumps({"error": error_object(error)}))

    def read_upstream(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        message = f"upstream returned HTTP {status}"
        vendor_type = vendor_code = param = None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
            if isinstance(err.get("message"), str) and err["message"]:
                message = err["message"]
            vendor_type = err.get("type") if isinstance(err.get("type"), str) else None
            raw_code = err.get("code")
            vendor_code = str(raw_code) if isinstance(raw_code, str | int) else None
            param = err.get("param") if isinstance(err.get("param"), str) else None
        return GatewayError(
            code_for_status(status),
            message,
            param=param,
            status=status,
            retry_after=parse_retry_after(headers),
            vendor_type=vendor_type,
            vendor_code=vendor_code,
        )


def parse_retry_after(headers: dict[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds only)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None
