"""Residuals: what the neutral form cannot hold, kept in ``extra`` shaped like the JSON it came from.

Readers copy an object and take out of the copy what the neutral form holds (``_take``,
``_nest``, ``_without``); writers of ``DIALECT`` objects start from that copy and write the
neutral values over it (``_sub``, ``_put``); those generic helpers live in
:mod:`torouter.router.protocols.common`, shared with the other codecs. A field with a deprecated
twin (``max_tokens``, ``functions``, ``function_call``) keeps the spelling the caller used
(``_take_pair``, ``_write_pair``). The rules are in the package docstring.
"""

from __future__ import annotations

from typing import Final, TypeVar

from ....ir import JSONDict
from ...common import drop_stale as _drop_stale
from ...common import nest as _nest
from ...common import put as _put
from ...common import sub as _sub
from ...common import take as _take
from ...common import without as _without

__all__ = [
    "DIALECT",
    "_drop_stale",
    "_nest",
    "_put",
    "_sub",
    "_take",
    "_take_pair",
    "_tool_kind",
    "_use_legacy",
    "_without",
    "_write_pair",
]

DIALECT: Final = "openai"

_T = TypeVar("_T")


def _use_legacy(out: JSONDict, new: str, legacy: str) -> bool:
    """True when the caller used only the deprecated spelling (its original sits in ``out``)."""
    return out.get(legacy) is not None and out.get(new) is None


def _take_pair(
    rest: JSONDict, new: str, new_value: _T | None, legacy: str, legacy_value: _T | None
) -> _T | None:
    """A field with a deprecated twin: ``new`` wins; when only ``legacy`` is set, its original
    stays in the residual so that the writer uses the old spelling again. When both are set, both
    originals stay: the writer gives the twin back only while the neutral value is unchanged."""
    if new_value is not None:
        if legacy_value is None:
            del rest[new]
        return new_value
    return legacy_value


def _write_pair(out: JSONDict, value: object, new: str, legacy: str, legacy_value: object) -> None:
    """Write a field with a deprecated twin under the spelling the caller used.

    ``legacy_value`` is the value in the deprecated form, None when that form cannot express it.
    """
    if value is None:
        _drop_stale(out, new, legacy)
    elif legacy_value is not None and _use_legacy(out, new, legacy):
        out[legacy] = legacy_value
    else:
        # Only the deprecated form was used but it cannot say the value (switch to the current
        # one), or both were used and the value changed since (the twin is stale).
        if out.get(legacy) is not None and out.get(new) != value:
            del out[legacy]
        out[new] = value


def _tool_kind(extra: JSONDict) -> tuple[str, JSONDict]:
    """The kind of a tool, tool choice or tool call (``custom`` when its residual says so, else
    ``function``) and a copy of the residual nested under that kind."""
    kind = "custom" if extra.get("type") == "custom" else "function"
    return kind, _sub(extra, kind)
