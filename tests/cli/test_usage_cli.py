"""`torouter usage` (the usage store's numbers, as `GET /admin/v1/usage` gives them) and the admin key
the built-in default prints."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest

# the helpers and the `torouter up` fixture of test_cli.py (its folder is on the path, as pytest
# imports test modules)
from test_cli import printed_line, torouter, up_default, write_config  # noqa: F401

from support.usage import record
from torouter.router.account.records import UsageRecord
from torouter.router.account.store import open_usage_store
from torouter.router.account.usage_api import today_start

CONFIG = """
router: {state: "sqlite:///%s/state.db"}
upstreams:
  echo: {kind: echo, base_url: "http://127.0.0.1", models: ["*"]}
groups:
  demo: {upstreams: [echo]}
"""


def _seed(tmp_path: Path) -> list[UsageRecord]:
    """Today: 12 records (alice on gpt-4o-mini, bob on house-model, unpriced); 3 days ago: 5 more."""
    today, earlier = today_start(), today_start() - 3 * 86_400
    records = [
        record(
            i,
            today + 60 + i,
            key="alice" if i % 2 else "bob",
            model="gpt-4o-mini" if i % 2 else "house-model",
            cost=0.002 if i % 2 else None,
        )
        for i in range(12)
    ] + [record(100 + i, earlier + i, key="alice") for i in range(5)]

    async def write() -> None:
        store = open_usage_store(f"sqlite:///{tmp_path / 'torouter-usage.db'}")
        await store.write(records)
        await store.close()

    asyncio.run(write())
    return records


def test_usage_by_model_key_and_day(tmp_path: Path) -> None:
    seeded = _seed(tmp_path)
    config = write_config(tmp_path, CONFIG % tmp_path)
    by_model = torouter("usage", "--config", str(config))
    assert by_model.returncode == 0, by_model.stderr
    lines = by_model.stdout.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "REQUESTS", "INPUT"]
    assert any(
        line.startswith("gpt-4o-mini") and " 11 " in f" {line} " for line in lines
    )  # 6 today, 5 before
    assert any(line.startswith("house-model") and "unknown" in line for line in lines)
    assert lines[-2].startswith("TOTAL") and " 17 " in f" {lines[-2]} "
    assert "unknown" in lines[-1]  # the unpriced requests are said, not counted as 0

    by_key = torouter("usage", "--by", "key", "--csv", "--config", str(config))
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(by_key.stdout))}
    assert rows["alice"]["requests"] == "11" and rows["bob"]["requests"] == "6"
    alice = sum(r.cost_usd or 0 for r in seeded if r.key == "alice")
    assert float(rows["alice"]["cost_usd"]) == pytest.approx(alice) and alice > 0
    assert rows["bob"]["cost_usd"] == ""  # unknown, never 0
    assert rows["TOTAL"]["requests"] == "17"

    last_day = torouter("usage", "--since", "1d", "--by", "day", "--csv", "--config", str(config))
    days = list(csv.DictReader(io.StringIO(last_day.stdout)))
    assert [d["day"] for d in days][-1] == "TOTAL" and days[-1]["requests"] == "12"
    only_bob = torouter("usage", "--since", "24h", "--key", "bob", "--csv", "--config", str(config))
    assert list(csv.DictReader(io.StringIO(only_bob.stdout)))[-1]["requests"] == "6"


def test_usage_says_what_is_wrong(tmp_path: Path) -> None:
    config = write_config(tmp_path, CONFIG % tmp_path)
    bad = torouter("usage", "--since", "last week", "--config", str(config))
    assert bad.returncode == 1 and "start" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_the_default_prints_an_admin_key_that_opens_the_admin_api(
    up_default: tuple[subprocess.Popen[str], str, str],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    process, base, key = up_default
    line = printed_line(process, "admin key:")  # the line after the caller's key
    admin = line.rsplit("admin key:", 1)[1].strip().rstrip(")")
    assert admin and admin != key
    assert (tmp_path / "home" / "admin.key").read_text().strip() == admin  # generated and kept
    openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "count me"}]
    )
    assert httpx.get(f"{base}/admin/v1/usage", headers={"authorization": f"Bearer {key}"}).status_code == 401
    deadline = time.monotonic() + 10
    while True:  # the record reaches the store within the writer's flush interval
        summary = httpx.get(f"{base}/admin/v1/usage", headers={"authorization": f"Bearer {admin}"})
        assert summary.status_code == 200
        if summary.json()["totals"]["requests"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert summary.json()["totals"]["requests"] == 1
    assert summary.json()["models"][0]["cost_usd"] == 0.0  # echo is free
