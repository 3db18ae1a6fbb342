"""Grounding with Google Search in an answer, read for the neutral form.

A candidate's ``groundingMetadata`` says what Gemini searched for (``webSearchQueries``), the pages
it used (``groundingChunks[].web``: ``uri``, ``title``) and which span of the answer's text each
supports (``groundingSupports``: a ``segment`` of UTF-8 byte offsets into the candidate's text,
and the indices of its chunks). They become one :class:`WebSearch` of the turn and a
:class:`Citation` per supported span and page, in character offsets into the turn's text. The
metadata stays whole in the candidate's residual (a writer of this dialect gives it back); only
writers of other dialects read the neutral form of it.
"""

from __future__ import annotations

from typing import Any

from ....ir import Citation, JSONDict, WebSearch


def _sources(metadata: JSONDict) -> list[tuple[str, str]]:
    chunks = metadata.get("groundingChunks")
    out: list[tuple[str, str]] = []
    for chunk in chunks if isinstance(chunks, list) else []:
        web = chunk.get("web") if isinstance(chunk, dict) else None
        uri = web.get("uri") if isinstance(web, dict) else None
        title = web.get("title") if isinstance(web, dict) else None
        out.append((uri if isinstance(uri, str) else "", title if isinstance(title, str) else ""))
    return out


def search_of(metadata: object) -> WebSearch | None:
    """The search a ``groundingMetadata`` reports (None when it reports none)."""
    if not isinstance(metadata, dict):
        return None
    queries = metadata.get("webSearchQueries")
    asked = [q for q in queries if isinstance(q, str)] if isinstance(queries, list) else []
    sources = [s for s in _sources(metadata) if s[0]]
    return WebSearch(asked, sources) if asked or sources else None


def _characters(text: str, offset: object) -> int | None:
    """A UTF-8 byte offset into ``text`` as a character offset."""
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        return None
    return len(text.encode()[:offset].decode(errors="ignore"))


def citations_of(metadata: object, text: str) -> list[Citation]:
    """A citation per supported span and page, its span in characters of ``text`` (the
    candidate's whole text so far)."""
    if not isinstance(metadata, dict):
        return []
    sources = _sources(metadata)
    supports: Any = metadata.get("groundingSupports")
    out: list[Citation] = []
    for support in supports if isinstance(supports, list) else []:
        segment = support.get("segment") if isinstance(support, dict) else None
        indices = support.get("groundingChunkIndices") if isinstance(support, dict) else None
        if not isinstance(segment, dict) or not isinstance(indices, list):
            continue
        start = _characters(text, segment.get("startIndex", 0))
        end = _characters(text, segment.get("endIndex"))
        if start is None or end is None:
            continue
        for index in indices:
            if isinstance(index, int) and 0 <= index < len(sources) and sources[index][0]:
                out.append(Citation(sources[index][0], sources[index][1], start, end))
    return out
