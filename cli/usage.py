"""``torouter usage``: the usage store's totals by model, key, day or group, as a table or CSV.

It reads the store the config names (``router.usage``, else beside the state store), the same
numbers ``GET /admin/v1/usage`` answers. ``--since 7d`` counts whole UTC days, today included;
``--since 24h`` the last hours; ``--since 2026-12-01`` from that date on.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import sys
from typing import Any

from torouter.router.config import Config

COLUMNS = (
    ("requests", "REQUESTS"),
    ("input_tokens", "INPUT"),
    ("output_tokens", "OUTPUT"),
    ("cache_write_tokens", "CACHE WRITE"),
    ("cache_read_tokens", "CACHE READ"),
    ("reasoning_tokens", "REASONING"),
    ("cost_usd", "COST USD"),
)


def since_params(since: str, now: float | None = None) -> dict[str, str]:
    """``start`` for the usage filter: ``Nd`` (whole days, today included), ``Nh``, or a date."""
    from torouter.router.account.usage_api import today_start

    moment = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    text = since.strip().lower()
    if text[:-1].isdigit() and text.endswith("d") and int(text[:-1]) > 0:
        start = today_start(moment) - (int(text[:-1]) - 1) * 86_400
        return {"start": dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%d")}
    if text[:-1].isdigit() and text.endswith("h") and int(text[:-1]) > 0:
        start = moment - int(text[:-1]) * 3600
        return {"start": _iso(start), "end": _iso(moment + 1)}
    return {"start": since}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _cell(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:.6f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_usage(args: argparse.Namespace, config: Config | None) -> int:
    from torouter.router.account.store import default_url, open_usage_store
    from torouter.router.account.usage_api import usage_filter
    from torouter.router.errors import GatewayError

    from .defaults import data_dir

    if config is not None:
        url = config.router.usage or default_url(config.router.state)
    else:
        url = default_url(f"sqlite:///{data_dir() / 'torouter.db'}")
    if url == "off":
        print("torouter usage: usage records are off (router.usage: off)", file=sys.stderr)
        return 1
    params = since_params(args.since)
    for name in ("key", "model", "group"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    try:
        where = usage_filter(params)
    except GatewayError as exc:
        print(f"torouter usage: {exc.message}", file=sys.stderr)
        return 1
    store = open_usage_store(url)

    async def run() -> Any:
        try:
            return await store.summary(where, args.by)
        finally:
            await store.close()

    try:
        summary = asyncio.run(run())
    except Exception as exc:  # a store that cannot be reached: say so, no traceback
        print(f"torouter usage: cannot read the usage store ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    rows = [(label, totals.as_json()) for label, totals in summary.rows]
    rows.append(("TOTAL", summary.totals.as_json()))
    header = [args.by.upper(), *(title for _, title in COLUMNS)]
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([args.by, *(name for name, _ in COLUMNS)])
        for label, values in rows:
            writer.writerow([label, *("" if values[n] is None else values[n] for n, _ in COLUMNS)])
        return 0
    table = [header] + [[label, *(_cell(values[n]) for n, _ in COLUMNS)] for label, values in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        if i == len(table) - 1:
            print("  ".join("-" * w for w in widths))
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(cells)))
    unpriced = summary.totals.unpriced_requests
    if unpriced:
        print(f"{unpriced} request(s) used models whose price is unknown: not in COST USD.")
    return 0
