"""Anthropic's error format: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""

from __future__ import annotations

import math

import orjson

from ...errors import ErrorCode, GatewayError, code_for_status
from ..base import RenderedError
from ..openai.errors import parse_retry_after
from ..sse import format_event

# code -> (error.type, HTTP status when it differs from the gateway default)
_TABLE: dict[ErrorCode, tuple[str, int | None]] = {
    ErrorCode.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorCode.UNAUTHENTICATED: ("authentication_error", None),
    ErrorCode.SPEND_CAP_REACHED: ("billing_error", None),
    ErrorCode.PERMISSION_DENIED: ("permission_error", None),
    ErrorCode.NOT_FOUND: ("not_found_error", None),
    ErrorCode.REQUEST_TOO_LARGE: ("invalid_request_error", None),  # the spec's enum has no request_too_large
    ErrorCode.UNPROCESSABLE: ("invalid_request_error", None),
    ErrorCode.RATE_LIMITED: ("rate_limit_error", None),
    ErrorCode.INTERNAL: ("api_error", None),
    ErrorCode.NOT_IMPLEMENTED: ("invalid_request_error", None),
    ErrorCode.UPSTREAM_AUTH: ("api_error", None),
    ErrorCode.UPSTREAM_ERROR: ("api_error", None),
    ErrorCode.UNAVAILABLE: ("api_error", None),
    ErrorCode.UPSTREAM_OVERLOADED: ("overloaded_error", 529),
    ErrorCode.UPSTREAM_TIMEOUT: ("timeout_error", None),
}


def _error(error: GatewayError) -> dict[str, str]:
    return {"type": error.vendor_type or _TABLE[error.code][0], "message": error.message}


class AnthropicErrors:
    def render(self, error: GatewayError, request_id: str) -> RenderedError:
        status = error.status
        override = _TABLE[error.code][1]
        if override is not None and error.status == 503:
            status = override
        body = orjson.dumps({"type": "error", "error": _error(error), "request_id": request_id})
        headers = {"content-type": "application/json", "request-id": request_id}
        if error.retry_after is not None:
            headers["retry-after"] = str(math.ceil(max(0.0, error.retry_after)))
            headers["retry-after-ms"] = str(int(max(0.0, error.retry_after) * 1000))
        return RenderedError(status, body, headers)

    def stream_event(self, error: GatewayError) -> bytes:
        return format_event(orjson.dumps({"type": "error", "error": _error(error)}), "error")

    def read_upstream(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        message, vendor_type = f"upstream returned HTTP {status}", None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
            if isinstance(err.get("message"), str) and err["message"]:
                message = err["message"]
            if isinstance(err.get("type"), str):
                vendor_type = err["type"]
        return GatewayError(
            code_for_status(status),
            message,
            status=status,
            retry_after=parse_retry_after(headers),
            vendor_type=vendor_type,
        )
