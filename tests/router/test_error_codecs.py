"""Each protocol's error format and status table (TRANSLATION §11)."""

from __future__ import annotations

import orjson
import pytest

from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.protocols.anthropic.errors import AnthropicErrors
from torouter.router.protocols.gemini.errors import GeminiErrors
from torouter.router.protocols.openai.errors import OpenAIErrors

CASES = [
    (ErrorCode.INVALID_REQUEST, 400, "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
    (ErrorCode.UNAUTHENTICATED, 401, "invalid_request_error", "authentication_error", "UNAUTHENTICATED"),
    (ErrorCode.PERMISSION_DENIED, 403, "invalid_request_error", "permission_error", "PERMISSION_DENIED"),
    (ErrorCode.NOT_FOUND, 404, "invalid_request_error", "not_found_error", "NOT_FOUND"),
    (ErrorCode.REQUEST_TOO_LARGE, 413, "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
    (ErrorCode.RATE_LIMITED, 429, "requests", "rate_limit_error", "RESOURCE_EXHAUSTED"),
    (ErrorCode.UPSTREAM_AUTH, 502, "upstream_error", "api_error", "UNAVAILABLE"),
    (ErrorCode.UNAVAILABLE, 503, "server_error", "api_error", "UNAVAILABLE"),
    (ErrorCode.UPSTREAM_TIMEOUT, 504, "timeout", "timeout_error", "DEADLINE_EXCEEDED"),
]


@pytest.mark.parametrize(("code", "status", "oa_type", "an_type", "gm_status"), CASES)
def test_each_protocol_renders_each_code(
    code: ErrorCode, status: int, oa_type: str, an_type: str, gm_status: str
) -> None:
    error = GatewayError(code, "something failed", param="model" if status == 400 else None)
    oa = OpenAIErrors().render(error, "req_1")
    body = orjson.loads(oa.body)
    assert oa.status == status and body["error"]["type"] == oa_type
    assert set(body["error"]) == {"message", "type", "param", "code"}
    validate("openai", "Error", body["error"])

    an = AnthropicErrors().render(error, "req_1")
    body = orjson.loads(an.body)
    assert an.status == status and body["type"] == "error" and body["error"]["type"] == an_type
    assert an.headers["request-id"] == "req_1"
    validate("anthropic", "ErrorResponse", body)

    gm = GeminiErrors().render(error, "req_1")
    body = orjson.loads(gm.body)
    assert gm.status == status and body["error"] == {
        "code": status,
        "message": "something failed",
        "status": gm_status,
    }


def test_overloaded_is_529_for_anthropic_callers_and_503_for_others() -> None:
    error = GatewayError(ErrorCode.UPSTREAM_OVERLOADED, "busy", retry_after=2.5)
    assert AnthropicErrors().render(error, "r").status == 529
    oa = OpenAIErrors().render(error, "r")
    assert oa.status == 503 and oa.headers["retry-after"] == "3" and oa.headers["retry-after-ms"] == "2500"
    assert GeminiErrors().render(error, "r").status == 503


def test_openai_retry_after_says_the_whole_wait() -> None:
    # a key's 5-hour window: the SDK falls back to its own backoff past 60 s, the header stays true
    rendered = OpenAIErrors().render(GatewayError(ErrorCode.RATE_LIMITED, "slow down", retry_after=600), "r")
    assert rendered.headers["retry-after"] == "600" and rendered.headers["retry-after-ms"] == "600000"


def test_stream_error_events() -> None:
    error = GatewayError(ErrorCode.UPSTREAM_ERROR, "cut")
    assert OpenAIErrors().stream_event(error).startswith(b'data: {"error":')
    assert AnthropicErrors().stream_event(error).startswith(b"event: error\ndata: ")
    assert GeminiErrors().stream_event(error).endswith(b"\r\n\r\n")


def test_reading_upstream_errors_keeps_vendor_details() -> None:
    body = (
        b'{"error":{"message":"too long","type":"invalid_request_error",'
        b'"param":"messages","code":"context_length_exceeded"}}'
    )
    error = OpenAIErrors().read_upstream(400, body, {"retry-after": "7"})
    assert (error.status, error.message, error.vendor_code, error.param, error.retry_after) == (
        400,
        "too long",
        "context_length_exceeded",
        "messages",
        7.0,
    )
    assert (
        OpenAIErrors().read_upstream(502, b"<html>bad gateway</html>", {}).message
        == "upstream returned HTTP 502"
    )
    gm = GeminiErrors().read_upstream(
        400, b'[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}]', {}
    )
    assert gm.code is ErrorCode.UPSTREAM_AUTH
    an = AnthropicErrors().read_upstream(
        529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', {}
    )
    assert an.code is ErrorCode.UPSTREAM_OVERLOADED and an.vendor_type == "overloaded_error"
