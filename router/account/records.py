"""One usage record per request that reached an upstream (CONTRACT §6), and the token counts of an
upstream's usage report as the records and prices count them."""

from __future__ import annotations

import datetime as dt
import operator
import time
from dataclasses import dataclass, fields
from typing import Any

from ..ir import Usage
from .prices import Tokens

__all__ = ["COLUMNS", "CSV_COLUMNS", "Tokens", "UsageRecord", "csv_cells", "tokens_of"]


@dataclass(slots=True)
class UsageRecord:
    """What a request used and cost. Token counts are None when the upstream did not report them
    (a failed request has none); ``input_tokens`` counts every prompt token, cached ones included,
    ``output_tokens`` every completion token, reasoning ones included. ``cost_usd`` is None when
    the price is unknown."""

    id: str  # the record's own id (request ids may come from callers and repeat)
    ts: float  # unix time the request arrived
    request_id: str
    key: str
    group: str
    protocol: str
    operation: str
    model_requested: str
    model: str  # as served: the upstream's name for it
    upstream: str
    upstream_kind: str
    status: int
    stream: bool
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None  # cache creation, both TTLs
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: str = ""  # "upstream" (reported by it), "config", "genai-prices", "free", "" (unknown)
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    error: str = ""

    @property
    def day(self) -> str:
        """The UTC date of the record, as its daily rollup names it."""
        return time.strftime("%Y-%m-%d", time.gmtime(self.ts))

    def row(self) -> tuple[Any, ...]:
        """The fields in ``COLUMNS`` order (``dataclasses.astuple`` deep-copies: 20 times slower)."""
        return _ROW(self)

    def as_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in COLUMNS}
        out["time"] = _rfc3339(self.ts)
        return out


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(UsageRecord))
_ROW = operator.attrgetter(*COLUMNS)

# The CSV export's columns: the record with a readable time first.
CSV_COLUMNS: tuple[str, ...] = ("time", *(c for c in COLUMNS if c != "ts"), "ts")


def _rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def csv_cells(record: UsageRecord) -> list[Any]:
    values = record.as_json()
    return ["" if values[c] is None else values[c] for c in CSV_COLUMNS]


def tokens_of(usage: Usage) -> Tokens:
    """The neutral usage as records count it. Anthropic's split of cache writes by TTL and
    OpenRouter's ``cost`` travel in the usage's ``extra`` (what the codec did not take)."""
    extra = usage.extra
    five = one = None
    creation = extra.get("cache_creation")
    if isinstance(creation, dict):
        five = _count(creation.get("ephemeral_5m_input_tokens"))
        one = _count(creation.get("ephemeral_1h_input_tokens"))
    cost = extra.get("cost")
    reported = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    return Tokens(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        five,
        one,
        usage.reasoning_tokens,
        reported_cost=reported,
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
