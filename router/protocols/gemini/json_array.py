"""Gemini's stream without ``alt=sse``: one JSON array whose elements (the chunks) arrive as they
are made — ``[{chunk}`` then ``,\\r\\n{chunk}`` … then ``]`` (what the API sends when ``alt`` is
absent or ``json``).

The router always reads and writes Gemini streams as SSE (upstreams are asked ``alt=sse``); a caller
that asked for the array gets each SSE event's data as the next element, error events included,
so that a stream cut short still ends with an error element and a closing bracket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from ..sse import SSEParser


class JSONArrayFraming:
    content_type = "application/json; charset=utf-8"

    def applies(self, params: Mapping[str, str]) -> bool:
        return params.get("alt", "json") != "sse"

    async def frame(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        parser = SSEParser()
        opened = False
        try:
            async for chunk in chunks:
                elements = [event.data.encode() for event in parser.feed(chunk) if event.data]
                if not elements:
                    continue
                yield (b",\r\n" if opened else b"[") + b",\r\n".join(elements)
                opened = True
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        yield b"]" if opened else b"[]"
