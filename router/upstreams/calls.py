"""What a caller sees of an upstream's failure: statuses mapped, internals and secrets kept in."""

from __future__ import annotations

from ..errors import ErrorCode, GatewayError
from ..protocols.base import WireProtocol
from .base import Upstream, UpstreamRequest, UpstreamResponse


async def send(
    caller_protocol: str, upstream: Upstream, target: WireProtocol, request: UpstreamRequest
) -> UpstreamResponse:
    """Calls an upstream; its error responses come back as the GatewayError the caller should see."""
    try:
        response = await upstream.send(request)
    except GatewayError as failure:
        raise _scrubbed(failure, upstream) from None
    if response.status < 300:
        return response
    error = target.errors.read_upstream(response.status, response.body, response.headers)
    raise upstream_failure(error, upstream, same_protocol=upstream.protocol == caller_protocol)


def upstream_failure(error: GatewayError, upstream: Upstream, *, same_protocol: bool) -> GatewayError:
    """What a caller sees of an upstream's error response (``upstream_status`` keeps the original)."""
    failure = _caller_view(error, upstream, same_protocol=same_protocol)
    failure.upstream_status = error.status
    return failure


def _caller_view(error: GatewayError, upstream: Upstream, *, same_protocol: bool) -> GatewayError:
    """What a caller sees of an upstream's error response.

    4xx caused by the request keep their status and message (and the vendor's type and code when
    the caller speaks the upstream's protocol); 401/403 mean the gateway's own credential is wrong
    and become 502; 5xx become 502/503/504 without the upstream's internals; a 3xx (a redirect,
    which the gateway never follows: it would carry the upstream key to another host) becomes 502.
    """
    name = upstream.config.name
    status = error.status
    if status in (401, 403):
        return GatewayError(
            ErrorCode.UPSTREAM_AUTH,
            f"The upstream {name!r} rejected the gateway's credentials (HTTP {status}). "
            "This is a gateway configuration problem, not a problem with your API key.",
        )
    if status < 400:  # a redirect: never followed
        return GatewayError(
            ErrorCode.UPSTREAM_ERROR,
            f"The upstream {name!r} answered HTTP {status}, which the gateway does not follow "
            "(its base_url in the gateway's config may be out of date).",
        )
    if status >= 500 or status == 408:
        code = (
            error.code
            if error.code in (ErrorCode.UPSTREAM_OVERLOADED, ErrorCode.UPSTREAM_TIMEOUT)
            else ErrorCode.UPSTREAM_ERROR
        )
        return GatewayError(
            code, f"The upstream {name!r} failed (HTTP {status}).", retry_after=error.retry_after
        )
    return GatewayError(
        error.code,
        scrub(error.message, upstream.config.api_key),
        param=error.param,
        status=status,
        retry_after=error.retry_after,
        vendor_type=error.vendor_type if same_protocol else None,
        vendor_code=error.vendor_code if same_protocol else None,
    )


def _scrubbed(error: GatewayError, upstream: Upstream) -> GatewayError:
    error.message = scrub(error.message, upstream.config.api_key)
    return error


def scrub(text: str, secret: str) -> str:
    """The text with every occurrence of the secret (and of long pieces of it) masked."""
    if not secret or len(secret) < 8:
        return text
    if secret in text:
        text = text.replace(secret, "[redacted]")
    return text
