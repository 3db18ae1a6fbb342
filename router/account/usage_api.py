"""The admin API's usage and catalog operations (CONTRACT §7):

- ``usage.summary`` (``GET /admin/v1/usage``): totals and per-model rows of a range;
- ``usage.daily`` (``/usage/daily?days=7``): per-day spend and requests, days without any included;
- ``usage.requests`` (``/usage/requests``): the records, newest first, ``cursor`` pagination;
- ``usage.export`` (``/usage/export.csv``): every record of the range as CSV, streamed page by page;
- ``models.list`` (``/admin/v1/models``): every group's catalog with prices per million tokens.

Ranges: ``start`` and ``end`` are dates (``YYYY-MM-DD``, UTC, ``end`` inclusive) or RFC 3339 times
(``end`` exclusive); by default the last 30 days, today included. Filters: ``key``, ``model`` (as
served), ``group``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Any

from ..call import Outcome
from ..config import Config
from ..errors import ErrorCode, GatewayError
from ..routing.catalog import Catalog
from .admin import AdminAPI, AdminRequest, json_outcome
from .prices import PriceTable
from .records import CSV_COLUMNS, csv_cells
from .store import Cursor, Totals, UsageFilter, UsageStore, all_records

DEFAULT_DAYS = 30
MAX_PAGE = 1000
CSV_PAGE = 100  # records per streamed piece of the export (a piece costs ~2.5 kB of memory a record)


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def _instant(text: str, param: str, end: bool) -> float:
    """A date (midnight UTC; the day after it for an inclusive ``end``) or an RFC 3339 time."""
    try:
        if len(text) == 10:
            day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
            return (day + dt.timedelta(days=1 if end else 0)).timestamp()
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"Invalid '{param}': expected YYYY-MM-DD or an RFC 3339 time.", param) from None
    if moment.tzinfo is None:
        raise _bad(f"Invalid '{param}': an RFC 3339 time needs its offset (Z or +hh:mm).", param)
    return moment.timestamp()


def today_start(now: float | None = None) -> float:
    return float(int((dt.datetime.now(dt.UTC).timestamp() if now is None else now) // 86_400) * 86_400)


def usage_filter(params: dict[str, str], default_days: int = DEFAULT_DAYS) -> UsageFilter:
    """The range and filters of a request's parameters; a 400 naming the parameter when wrong."""
    end = _instant(params["end"], "end", end=True) if params.get("end") else today_start() + 86_400
    if params.get("start"):
        start = _instant(params["start"], "start", end=False)
    else:
        start = (today_start(end - 1) if end % 86_400 else end) - default_days * 86_400
        start = max(start, 0.0)
    if start >= end:
        raise _bad("'start' must come before 'end'.", "start")
    return UsageFilter(
        start, end, params.get("key") or None, params.get("model") or None, params.get("group") or None
    )


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _range_json(where: UsageFilter) -> dict[str, Any]:
    if where.whole_days:
        return {"start": where.first_day, "end": where.last_day}
    return {"start": _iso(where.start), "end": _iso(where.end)}


def _filters_json(where: UsageFilter) -> dict[str, str]:
    found = {"key": where.key, "model": where.model, "group": where.group}
    return {k: v for k, v in found.items() if v is not None}


def _bounded(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _bad(f"Invalid '{name}': expected an integer from {low} to {high}.", name)
    return value


class UsageAPI:
    """The usage operations over one store."""

    def __init__(self, store: UsageStore | None) -> None:
        self.store = store

    def register(self, admin: AdminAPI) -> None:
        admin.register("usage.summary", self.summary)
        admin.register("usage.daily", self.daily)
        admin.register("usage.requests", self.requests)
        admin.register("usage.export", self.export)

    def _store(self) -> UsageStore:
        if self.store is None:
            raise GatewayError(ErrorCode.NOT_FOUND, "Usage records are off (router.usage: off).")
        return self.store

    async def summary(self, request: AdminRequest) -> Outcome:
        where = usage_filter(request.params)
        result = await self._store().summary(where, "model")
        return json_outcome(
            {
                "object": "usage.summary",
                **_range_json(where),
                "filters": _filters_json(where),
                "totals": result.totals.as_json(),
                "models": [{"model": model, **totals.as_json()} for model, totals in result.rows],
            }
        )

    async def daily(self, request: AdminRequest) -> Outcome:
        days = _bounded(request.params, "days", 7, 1, 366)
        end = today_start() + 86_400
        params = {k: v for k, v in request.params.items() if k not in ("start", "end")}
        params["start"] = dt.datetime.fromtimestamp(end - days * 86_400, dt.UTC).strftime("%Y-%m-%d")
        where = usage_filter(params)
        result = await self._store().summary(where, "day")
        by_day = dict(result.rows)
        series = []
        for i in range(days):
            day = dt.datetime.fromtimestamp(where.start + i * 86_400, dt.UTC).strftime("%Y-%m-%d")
            series.append({"date": day, **by_day.get(day, Totals()).as_json()})
        return json_outcome(
            {"object": "usage.daily", **_range_json(where), "totals": result.totals.as_json(), "days": series}
        )

    async def requests(self, request: AdminRequest) -> Outcome:
        where = usage_filter(request.params)
        limit = _bounded(request.params, "limit", 50, 1, MAX_PAGE)
        after = None
        if request.param("cursor"):
            try:
                after = Cursor.decode(request.params["cursor"])
            except (ValueError, UnicodeDecodeError):
                raise _bad("Invalid 'cursor': use the next_cursor of a previous page.", "cursor") from None
        found = await self._store().records(where, after, limit + 1)
        page, more = found[:limit], len(found) > limit
        next_cursor = Cursor(page[-1].ts, page[-1].id).encode() if more and page else None
        return json_outcome(
            {
                "object": "list",
                **_range_json(where),
                "data": [record.as_json() for record in page],
                "has_more": more,
                "next_cursor": next_cursor,
            }
        )

    async def export(self, request: AdminRequest) -> Outcome:
        where = usage_filter(request.params)
        store = self._store()
        span = _range_json(where)
        name = f"usage-{_file_part(span['start'])}_{_file_part(span['end'])}.csv"
        headers = {
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-cache",
        }
        return Outcome(200, headers, chunks=_csv(store, where))


def _file_part(text: str) -> str:
    return text.replace(":", "").replace("-", "") if "T" in text else text


async def _csv(store: UsageStore, where: UsageFilter) -> AsyncIterator[bytes]:
    """The header row, then a piece per page of records: never the whole export in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    async for page in all_records(store, where, CSV_PAGE):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_cells(record) for record in page)
        yield buffer.getvalue().encode()


class ModelsAPI:
    """``models.list``: every group's catalog, each model with its price per million tokens."""

    def __init__(self, config: Config, catalog: Catalog, prices: PriceTable) -> None:
        self.config = config
        self.catalog = catalog
        self.prices = prices

    def register(self, admin: AdminAPI) -> None:
        admin.register("models.list", self.list)

    async def list(self, request: AdminRequest) -> Outcome:
        wanted = request.param("group")
        data: list[dict[str, Any]] = []
        for group in self.config.groups:
            if wanted is not None and group != wanted:
                continue
            for entry in self.catalog.models(group):
                served = entry.id
                try:
                    served = self.catalog.resolve(group, entry.id).routes[0].model
                except GatewayError:
                    pass
                waiting = self.prices.pending(entry.upstream, served)
                if waiting is not None:
                    await waiting
                rates = self.prices.rates(entry.upstream, served)
                data.append(
                    {
                        "group": group,
                        "id": entry.id,
                        "served_as": served,
                        "upstream": entry.upstream,
                        "kind": entry.owned_by,
                        "thinking": entry.thinking,
                        "price": rates.per_million() if rates is not None else None,
                    }
                )
        return json_outcome({"object": "list", "data": data})
