"""Debug logging of bodies, off unless asked for.

With the ``torouter.bodies`` logger at DEBUG (``TOROUTER_LOG_LEVEL=DEBUG`` for ``torouter up``,
``router`` or ``edge``), the router logs, per request id: the caller's body and the answer it gets
(a stream chunk by chunk), and the body of every upstream call and of its answer. These are the
bytes on each side of a translation, which is what one needs to see when a field goes astray.
Headers are never logged (they carry the keys); a body is cut at :data:`MAX_CHARS`. Off, the cost
is one level check per request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Final

log = logging.getLogger("torouter.bodies")
MAX_CHARS: Final = 64 * 1024


def enabled() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def body(event: str, data: bytes, request_id: str, **fields: object) -> None:
    """Logs one body (``event``: ``caller.request``, ``upstream.response``, ...)."""
    text = data[:MAX_CHARS].decode("utf-8", "replace")
    cut = len(data) > MAX_CHARS
    log.debug(event, extra={"request_id": request_id, "body": text, "truncated": cut, **fields})


async def chunks(
    event: str, stream: AsyncIterator[bytes], request_id: str, **fields: object
) -> AsyncIterator[bytes]:
    """``stream`` as it is, each chunk logged as it passes; closing it closes ``stream``."""
    try:
        async for chunk in stream:
            body(event, chunk, request_id, **fields)
            yield chunk
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
