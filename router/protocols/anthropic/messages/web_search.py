"""Anthropic's server-side web search in an answer, read for the neutral form.

The model's ``server_tool_use`` block named ``web_search`` (its ``input.query``) and the
``web_search_tool_result`` block after it (``web_search_result`` items: ``url``, ``title``) are one
:class:`WebSearch` of the assistant turn; a text block's ``web_search_result_location`` citations
are :class:`Citation` s of that text (of all of it: Anthropic cites block by block). The blocks
themselves stay whole in the residual, so that a writer of this dialect gives them back as they
came; only writers of other dialects (the Responses API's ``web_search_call`` items and
``url_citation`` annotations) read the neutral form of them.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ....ir import Citation, JSONDict, WebSearch

SEARCH_TOOL: Final = "web_search"
RESULT_BLOCK: Final = "web_search_tool_result"
LOCATION: Final = "web_search_result_location"


def query_of(block: JSONDict) -> str | None:
    """The query of a ``server_tool_use`` block of the web search tool (None for another block)."""
    if block.get("type") != "server_tool_use" or block.get("name") != SEARCH_TOOL:
        return None
    arguments = block.get("input")
    query = arguments.get("query") if isinstance(arguments, dict) else None
    return query if isinstance(query, str) else ""


def query_in(partial_json: str) -> str:
    """The query of a streamed ``server_tool_use`` input (its ``input_json_delta`` pieces joined)."""
    try:
        arguments: Any = orjson.loads(partial_json) if partial_json else {}
    except orjson.JSONDecodeError:
        return ""
    query = arguments.get("query") if isinstance(arguments, dict) else None
    return query if isinstance(query, str) else ""


def sources_of(block: JSONDict) -> list[tuple[str, str]] | None:
    """The ``(url, title)`` of each page a ``web_search_tool_result`` block found (None for another
    block; [] for a search that failed)."""
    if block.get("type") != RESULT_BLOCK:
        return None
    content = block.get("content")
    results = content if isinstance(content, list) else []
    return [
        (str(r["url"]), str(r.get("title") or ""))
        for r in results
        if isinstance(r, dict) and isinstance(r.get("url"), str)
    ]


def citation_of(raw: object) -> Citation | None:
    """A ``web_search_result_location`` citation (None for any other kind)."""
    if not isinstance(raw, dict) or raw.get("type") != LOCATION or not isinstance(raw.get("url"), str):
        return None
    title = raw.get("title")
    return Citation(raw["url"], title if isinstance(title, str) else "")


def citations_of(block: JSONDict) -> list[Citation]:
    """The web citations of a text block."""
    raw = block.get("citations")
    return [c for item in raw if (c := citation_of(item)) is not None] if isinstance(raw, list) else []


def searches_of(blocks: list[Any]) -> list[WebSearch]:
    """The web searches of an answer's content blocks, each with the query of the call before it."""
    searches: list[WebSearch] = []
    query = ""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        asked = query_of(block)
        if asked is not None:
            query = asked
            continue
        sources = sources_of(block)
        if sources is not None:
            searches.append(WebSearch([query] if query else [], sources))
    return searches
