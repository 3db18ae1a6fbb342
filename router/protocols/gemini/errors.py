"""Gemini's error format: ``{"error": {"code", "message", "status"}}`` (google.rpc.Status)."""

from __future__ import annotations

import math
from typing import Any

import orjson

from ...errors import ErrorCode, GatewayError, code_for_status
from ..base import RenderedError
from ..openai.errors import parse_retry_after

_STATUS: dict[ErrorCode, str] = {
    ErrorCode.INVALID_REQUEST: "INVALID_ARGUMENT",
    ErrorCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    ErrorCode.SPEND_CAP_REACHED: "RESOURCE_EXHAUSTED",
    ErrorCode.PERMISSION_DENIED: "PERMISSION_DENIED",
    ErrorCode.NOT_FOUND: "NOT_FOUND",
    ErrorCode.REQUEST_TOO_LARGE: "INVALID_ARGUMENT",
    ErrorCode.UNPROCESSABLE: "INVALID_ARGUMENT",
    ErrorCode.RATE_LIMITED: "RESOURCE_EXHAUSTED",
    ErrorCode.INTERNAL: "INTERNAL",
    ErrorCode.NOT_IMPLEMENTED: "UNIMPLEMENTED",
    ErrorCode.UPSTREAM_AUTH: "UNAVAILABLE",
    ErrorCode.UPSTREAM_ERROR: "UNAVAILABLE",
    ErrorCode.UNAVAILABLE: "UNAVAILABLE",
    ErrorCode.UPSTREAM_OVERLOADED: "UNAVAILABLE",
    ErrorCode.UPSTREAM_TIMEOUT: "DEADLINE_EXCEEDED",
}


def _status_object(error: GatewayError) -> dict[str, Any]:
    status = error.status if error.status != 529 else 503
    body: dict[str, Any] = {
        "code": status,
        "message": error.message,
        "status": error.vendor_type or _STATUS[error.code],
    }
    if error.retry_after is not None:
        body["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{math.ceil(error.retry_after)}s",
            }
        ]
    return body


class GeminiErrors:
    def render(self, error: GatewayError, request_id: str) -> RenderedError:
        status = error.status if error.status != 529 else 503
        headers = {"content-type": "application/json"}
        if error.retry_after is not None:
            headers["retry-after"] = str(math.ceil(max(0.0, error.retry_after)))
        return RenderedError(status, orjson.dumps({"error": _status_object(error)}), headers)

    def stream_event(self, error: GatewayError) -> bytes:
        return b"data: " + orjson.dumps({"error": _status_object(error)}) + b"\r\n\r\n"

    def read_upstream(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        message, vendor_status = f"upstream returned HTTP {status}", None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and parsed:
            parsed = parsed[0]
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
            if isinstance(err.get("message"), str) and err["message"]:
                message = err["message"]
            if isinstance(err.get("status"), str):
                vendor_status = err["status"]
        code = code_for_status(status)
        if status == 400 and vendor_status == "INVALID_ARGUMENT" and "API key" in message:
            code, status = ErrorCode.UPSTREAM_AUTH, 401  # Gemini answers 400 for a bad key
        return GatewayError(
            code, message, status=status, retry_after=parse_retry_after(headers), vendor_type=vendor_status
        )
