"""Asking an OpenAI chat stream for its usage, for a key with a token limit whose caller did not.

OpenAI reports a stream's usage only with ``stream_options.include_usage``: a final chunk with
``choices: []`` and the ``usage`` (every chunk before it then carries ``"usage": null``). A
passthrough stream of a key with a ``tpm`` limit must be charged, so the router asks for it, and
drops that final chunk on the way back to a caller that did not ask (a client reading
``choices[0]`` of every chunk would fail on it). The ``"usage": null`` fields stay: they are part
of the chunk's schema.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...ir import JSONDict

_CHEAP = (b'"choices":[]', b'"usage":{')


class OpenAIStreamUsage:
    marker = _CHEAP[0]

    def ask(self, body: JSONDict) -> JSONDict | None:
        """The body asking for the usage, or None when the caller asked already."""
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            return None
        merged = dict(options) if isinstance(options, dict) else {}
        merged["include_usage"] = True
        return {**body, "stream_options": merged}

    def may_hold(self, events: bytes) -> bool:
        return b'"choices":[]' in events and b'"usage":{' in events  # _CHEAP, spelt out: every block

    def usage_only(self, event: bytes) -> dict[str, Any] | None:
        """The JSON of one SSE event when it is the usage chunk that asking added (else None): the
        router's tap counts it from there, without reading it again."""
        if b'"choices":[]' not in event or b'"usage":{' not in event:  # _CHEAP, spelt out
            return None
        for line in event.splitlines():
            if line.startswith(b"data:"):
                try:
                    chunk: Any = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    return None
                if isinstance(chunk, dict) and chunk.get("choices") == [] and chunk.get("usage"):
                    return chunk
                return None
        return None
