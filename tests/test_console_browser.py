"""The console in a real headless Chromium (Debian's package, driven by Playwright), against the
whole gateway and a mock OpenAI upstream that streams a word every 0.1 s: log in, create a key with
restrictions, chat with it in the playground on every protocol (streamed, and stopped), find the
requests in Usage and on the dashboard's charts, export them as CSV, revoke the key and see the
playground refused. Screenshots of each page land in the test's tmp dir; no page may log a script
or console error (but the 401s the test provokes)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from support.browser import PageProblems, chromium, screenshot
from support.gateway import Gateway
from support.openai_upstream import MockOpenAI
from support.stack import upstream_config

pytestmark = pytest.mark.browser

ADMIN_KEY = "tr-admin-console-browser-0123456789"
STATIC_KEY = "tr-static-console-browser-0123456789"
PAGER_KEY = "tr-pager-console-browser-0123456789"  # only the request log test uses it
WAIT_MS = 20_000  # every wait is on an element or a text, bounded by this
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHUNK_DELAY_S = 0.1
PAGES = {
    "dashboard": "Dashboard",
    "usage": "Usage",
    "keys": "Keys",
    "models": "Models",
    "playground": "Playground",
}
# protocol option -> what only that protocol's raw stream carries
STREAMS = {
    "openai-chat": "chat.completion.chunk",
    "anthropic": "event: content_block_delta",
    "gemini": '"candidates"',
    "openai-responses": "event: response.output_text.delta",
}
# protocol option -> its request's field for the largest answer
MAX_TOKENS = {
    "openai-chat": "max_completion_tokens",
    "anthropic": "max_tokens",
    "gemini": "maxOutputTokens",
    "openai-responses": "max_output_tokens",
}


@dataclass
class ConsoleStack:
    gateway: Gateway
    upstream: MockOpenAI
    browser: Browser


def gateway_config(upstream: MockOpenAI) -> dict[str, Any]:
    return {
        "admin": {"keys": [ADMIN_KEY]},
        "usage": {"flush_interval_s": 0.1},
        "upstreams": {
            "oai": upstream_config("openai", upstream),
            "echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["echo-1"]},
        },
        "groups": {"team": {"upstreams": ["oai"]}, "demo": {"upstreams": ["echo"]}},
        "keys": [
            {"name": "from-config", "key": STATIC_KEY, "group": "team"},
            {"name": "pager", "key": PAGER_KEY, "group": "team"},
        ],
    }


@pytest.fixture(scope="module")
async def console_stack() -> AsyncIterator[ConsoleStack]:
    expect.set_options(timeout=WAIT_MS)
    async with (
        MockOpenAI(name="console", chunk_delay_s=CHUNK_DELAY_S) as upstream,
        Gateway(gateway_config(upstream)) as gateway,
        chromium() as browser,
    ):
        yield ConsoleStack(gateway, upstream, browser)


async def new_page(stack: ConsoleStack, problems: PageProblems, viewport: dict[str, int] = DESKTOP) -> Page:
    context: BrowserContext = await stack.browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.gateway.base_url)
    page = problems.watch(await context.new_page())
    page.set_default_timeout(WAIT_MS)
    await page.goto(f"{stack.gateway.base_url}/console")
    return page


async def log_in(page: Page, key: str = ADMIN_KEY) -> None:
    await page.fill("#admin-key", key)
    await page.click("#login-form button[type=submit]")


async def go(page: Page, name: str) -> None:
    await page.click(f"nav a[data-page={name}]")
    await expect(page.locator("#main h1")).to_have_text(PAGES[name])


async def admin_get(stack: ConsoleStack, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{stack.gateway.base_url}/admin/v1{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def records_of(stack: ConsoleStack, key: str, count: int) -> list[dict[str, Any]]:
    """The key's usage records once ``count`` of them are written (they are written behind)."""
    deadline = asyncio.get_running_loop().time() + WAIT_MS / 1000
    while True:
        page = await admin_get(stack, f"/usage/requests?key={key}&limit=100")
        if len(page["data"]) >= count or asyncio.get_running_loop().time() > deadline:
            return list(page["data"])
        await asyncio.sleep(0.1)


async def watch_answer(page: Page) -> None:
    """Records every text the newest answer shows, as the page changes it."""
    await page.evaluate(
        """() => {
            window.__answerTexts = [];
            const transcript = document.getElementById("transcript");
            new MutationObserver(() => {
                const answers = transcript.querySelectorAll(".msg.assistant .text");
                const last = answers[answers.length - 1];
                if (last) window.__answerTexts.push(last.textContent);
            }).observe(transcript, { subtree: true, childList: true, characterData: true });
        }"""
    )


async def chat(page: Page, protocol: str, text: str) -> str:
    """Sends one message on ``protocol`` and waits for the answer; returns the status line."""
    await page.select_option("#pg-protocol", protocol)
    await page.fill("#pg-prompt", text)
    await page.click("#pg-send")
    status = page.locator("#pg-status")
    await expect(status).to_have_text(re.compile(r"^(Done|Refused|Failed|Stopped)"))
    return await status.inner_text()


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


async def test_the_console_end_to_end(console_stack: ConsoleStack, tmp_path: Path) -> None:
    stack = console_stack
    shots = tmp_path / "screens"
    problems = PageProblems(allowed={400, 401})  # the bad CIDR, the wrong admin key, the revoked key
    page = await new_page(stack, problems)

    # log in: a wrong key is told so, the right one opens the dashboard; the key stays in the tab
    await expect(page.locator("#login")).to_be_visible()
    await log_in(page, "tr-not-an-admin-key-000000")
    await expect(page.locator("#login-error")).to_contain_text("not an admin key")
    await log_in(page, STATIC_KEY)  # a caller key is no admin key either
    await expect(page.locator("#login-error")).to_contain_text("not an admin key")
    await log_in(page)
    await expect(page.locator("#main h1")).to_have_text("Dashboard")
    await expect(page.locator("#totals")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('torouter.adminKey')") == ADMIN_KEY
    assert await page.evaluate("localStorage.length") == 0
    await screenshot(page, shots, "dashboard-empty")

    # keys: create one with every restriction; a bad CIDR is named at its field first
    await go(page, "keys")
    await expect(page.locator("#keys-table tr[data-key=from-config]")).to_contain_text("config file")
    await page.click("#create-key")
    await expect(page.locator("#key-dialog")).to_be_visible()
    await page.fill("#key-name", "playground-key")
    await page.select_option("#key-group", "team")
    for field, value in {
        "rpm": "600",
        "tpm": "200000",
        "spend-cap-usd": "5",
        "requests-5h": "100",
        "requests-24h": "200",
        "requests-7d": "1000",
        "expires-in-days": "30",
        "ip-allow": "127.0.0.0/8\n::1/128",
        "ip-deny": "10.0.0.0/8, not-a-cidr",
    }.items():
        await page.fill(f"#key-{field}", value)
    await page.check("#key-models input[value=gpt-4o-mini]")
    await page.check("#key-models input[value=gpt-4o]")
    await page.click("#key-submit")
    await expect(page.locator("#key-ip-deny-error")).to_contain_text("not-a-cidr")
    await expect(page.locator("#key-ip-deny")).to_have_attribute("aria-invalid", "true")
    await page.fill("#key-ip-deny", "10.0.0.0/8")
    await page.click("#key-submit")
    await expect(page.locator("#secret-dialog")).to_be_visible()
    secret = await page.locator("#new-secret").inner_text()
    assert secret.startswith("tr-") and len(secret) > 30
    await page.click("#copy-secret")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await screenshot(page, shots, "keys-secret-once")
    row = page.locator("#keys-table tr[data-key=playground-key]")
    await expect(row).to_contain_text(f"{secret[:7]}…{secret[-4:]}")
    for shown in ("600 rpm", "200,000 tpm", "100 / 5 h", "200 / 24 h", "1,000 / 7 d", "allow 127.0.0.0/8"):
        await expect(row).to_contain_text(shown)
    await expect(row).to_contain_text("of $5.00")

    # "Try it in the playground" hands the secret over: the key's own catalog (its allowlist)
    await page.click("#secret-to-playground")
    await expect(page.locator("#main h1")).to_have_text("Playground")
    await expect(page.locator("#pg-model option")).to_have_count(2)

    # edit: a changed limit shows, an emptied restriction is gone; the secret is not shown again
    await go(page, "keys")
    await expect(row).to_be_visible()
    assert secret not in await page.content()
    await row.locator("button:has-text('Edit')").click()
    await expect(page.locator("#key-dialog")).to_be_visible()
    await expect(page.locator("#key-rpm")).to_have_value("600")
    await expect(page.locator("#key-models input[value=gpt-4o]")).to_be_checked()
    await page.fill("#key-rpm", "300")
    await page.fill("#key-ip-deny", "")
    await page.click("#key-submit")
    await expect(page.locator("#key-dialog")).to_be_hidden()
    await expect(row).to_contain_text("300 rpm")
    await expect(row).not_to_contain_text("deny 10.0.0.0/8")
    await expect(row).to_contain_text("allow 127.0.0.0/8")
    edited = await admin_get(stack, "/keys/playground-key")
    assert edited["rpm"] == 300 and edited["ip_deny"] in (None, [])
    assert edited["models"] == ["gpt-4o-mini", "gpt-4o"]

    # playground: tokens as they arrive, on every protocol (the key is still there)
    await go(page, "playground")
    await expect(page.locator("#pg-key")).to_have_value(secret)
    await expect(page.locator("#pg-model option")).to_have_count(2)
    await page.select_option("#pg-model", "gpt-4o-mini")
    await page.fill("#pg-system", "You are terse.")
    await page.fill("#pg-temperature", "0.5")
    await page.fill("#pg-max-tokens", "200")
    for protocol, marker in STREAMS.items():
        await watch_answer(page)
        words = f"hello over {protocol} one two three four five"
        assert (await chat(page, protocol, words)).startswith("Done"), protocol
        answer = page.locator("#transcript .msg.assistant .text").last
        await expect(answer).to_have_text(f"Mock reply to: {words}")
        seen: list[str] = await page.evaluate("window.__answerTexts")
        partial = {text for text in seen if text and text != f"Mock reply to: {words}"}
        assert len(partial) >= 2, f"{protocol}: the answer did not grow token by token: {seen}"
        raw = await page.locator("#raw-response").inner_text()
        assert raw.startswith("HTTP 200") and marker in raw, protocol
        request = await page.locator("#raw-request").inner_text()
        assert secret not in request and f"{secret[:7]}…{secret[-4:]}" in request
        assert f'"{MAX_TOKENS[protocol]}": 200' in request and '"temperature": 0.5' in request
        assert "You are terse." in request
    await screenshot(page, shots, "playground")

    # Stop aborts the fetch mid-stream, and the upstream sees the caller go
    long = " ".join(f"word{i}" for i in range(60))
    await page.select_option("#pg-protocol", "openai-chat")
    await page.fill("#pg-prompt", long)
    await page.click("#pg-send")
    answer = page.locator("#transcript .msg.assistant .text").last
    await expect(answer).to_contain_text("Mock reply to: word0")
    await page.click("#pg-stop")
    await expect(page.locator("#pg-status")).to_have_text("Stopped.")
    await expect(page.locator("#transcript .msg.assistant").last).to_have_class(re.compile("stopped"))
    assert "word59" not in await answer.inner_text()
    stopped = stack.upstream.chat_requests[-1]
    await asyncio.wait_for(stopped.finished.wait(), WAIT_MS / 1000)
    assert stopped.outcome == "cancelled"

    # usage: the key's requests, by model and one by one, and the CSV export of the same filter
    records = await records_of(stack, "playground-key", len(STREAMS) + 1)  # the stopped one too
    assert len(records) == len(STREAMS) + 1
    await go(page, "usage")
    await page.fill("#usage-key", "playground-key")
    await page.click("#usage-filters button[type=submit]")
    await expect(page.locator("#request-log tbody tr")).to_have_count(len(records))
    by_model = page.locator("#usage-summary tbody tr")
    await expect(by_model).to_have_count(1)
    await expect(by_model).to_contain_text("gpt-4o-mini")
    await expect(by_model.locator("td[data-col=requests]")).to_have_text(str(len(records)))
    await screenshot(page, shots, "usage")
    async with page.expect_download() as download_info:
        await page.click("#export-csv")
    download = await download_info.value
    assert re.fullmatch(r"usage-\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    with saved.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(records)
    assert {row["key"] for row in rows} == {"playground-key"}
    assert {row["request_id"] for row in rows} == {record["request_id"] for record in records}
    assert all(row["model"] == "gpt-4o-mini" for row in rows)
    await expect(page.locator("#export-status")).to_contain_text(download.suggested_filename)

    # dashboard: today's bars hold the requests and their cost; hovering shows the values
    daily = await admin_get(stack, "/usage/daily?days=7")
    requests_today = daily["days"][-1]["requests"]
    assert daily["days"][-1]["date"] == today() and requests_today >= len(records)
    await go(page, "dashboard")
    bar = page.locator(f"#requests-chart .bar[data-date='{today()}']")
    await expect(bar).to_have_attribute("data-value", str(requests_today))
    spend_bar = page.locator(f"#spend-chart .bar[data-date='{today()}']")
    assert float(await spend_bar.get_attribute("data-value") or 0) > 0
    await spend_bar.hover()
    tooltip = page.locator("#spend-chart .tooltip")
    await expect(tooltip).to_be_visible()
    await expect(tooltip).to_contain_text(f"{today()}: $")
    await expect(tooltip).to_contain_text(f"{requests_today} requests")
    await expect(page.locator("#recent-requests")).to_contain_text("playground-key")
    await expect(page.locator("#spend-chart svg text.tick.y").first).to_have_text("$0")
    await screenshot(page, shots, "dashboard")
    await page.click("button[data-days='30']")
    await expect(page.locator("#requests-chart .bar")).to_have_count(30)

    # models: each group's catalog and the snippets with this gateway's base URL
    await go(page, "models")
    await expect(page.locator("section.group[data-group=team] tbody tr")).to_have_count(
        len(stack.upstream.models)
    )
    await expect(page.locator(".snippet[data-client=openai] .base-url")).to_have_text(
        f"{stack.gateway.base_url}/v1"
    )
    await screenshot(page, shots, "models")

    # revoke, confirmed: the playground's next requests are refused with 401
    await go(page, "keys")
    await expect(page.locator("#keys-table tr[data-key=playground-key]")).to_be_visible()
    assert secret not in await page.content()  # the secret was shown once, never again
    # its use shows: spend against the cap, the time of its last request
    await expect(row.locator("td[data-col=spend]")).to_contain_text(re.compile(r"\$0\.0*[1-9]\d* of \$5\.00"))
    await expect(row.locator("td[data-col=last_used]")).to_contain_text(today())
    await page.click("#keys-table tr[data-key=playground-key] button:has-text('Revoke')")
    await expect(page.locator("#revoke-dialog")).to_be_visible()
    await expect(page.locator("#revoke-text")).to_contain_text("playground-key")
    await page.click("#confirm-revoke")
    await expect(page.locator("#keys-table tr[data-key=playground-key]")).to_contain_text("revoked")
    await screenshot(page, shots, "keys")
    await go(page, "playground")
    for _ in range(10):  # the router may serve from its key cache for up to 0.9 s more
        if (await chat(page, "anthropic", "are you still there")).startswith("Refused with 401"):
            break
    await expect(page.locator("#transcript .msg.error").last).to_contain_text("401")
    await screenshot(page, shots, "playground-revoked")

    # log out: the key leaves the tab
    await page.click("#logout")
    await expect(page.locator("#login")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('torouter.adminKey')") is None
    assert problems.errors == []
    await page.context.close()


async def tab_to(page: Page, selector: str, presses: int = 60) -> None:
    """Presses Tab until ``selector`` has the focus (or fails after ``presses``)."""
    for _ in range(presses):
        if await page.evaluate("(selector) => document.activeElement?.matches(selector) ?? false", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def test_the_keyboard_reaches_every_page_and_control(
    console_stack: ConsoleStack, tmp_path: Path
) -> None:
    problems = PageProblems()
    page = await new_page(console_stack, problems)
    await expect(page.locator("#admin-key")).to_be_focused()
    await page.keyboard.type(ADMIN_KEY)
    await page.keyboard.press("Enter")
    await expect(page.locator("#main h1")).to_have_text("Dashboard")
    for name, title in PAGES.items():
        await tab_to(page, f"nav a[data-page={name}]")
        await page.keyboard.press("Enter")
        await expect(page.locator("#main h1")).to_have_text(title)
        await expect(page.locator("#main h1")).to_be_focused()  # a reader starts at the new page
        if name == "dashboard":
            await tab_to(page, "#spend-chart .bar")
            await expect(page.locator("#spend-chart .tooltip")).to_be_visible()
        if name == "keys":
            await tab_to(page, "#create-key")
            await page.keyboard.press("Enter")
            await expect(page.locator("#key-dialog")).to_be_visible()
            await expect(page.locator("#key-name")).to_be_focused()
            await page.keyboard.press("Escape")
            await expect(page.locator("#key-dialog")).to_be_hidden()
        if name == "playground":
            await tab_to(page, "#pg-key")
            await page.keyboard.type(STATIC_KEY)
            await tab_to(page, "#pg-load-models")
            await page.keyboard.press("Enter")
            await expect(page.locator("#pg-model option")).to_have_count(len(console_stack.upstream.models))
            await tab_to(page, "#pg-prompt")
            await page.keyboard.type("typed on the keyboard")
            await page.keyboard.press("Control+Enter")
            await expect(page.locator("#transcript .msg.assistant .text").last).to_have_text(
                "Mock reply to: typed on the keyboard"
            )
    await tab_to(page, "#logout")
    await page.keyboard.press("Enter")
    await expect(page.locator("#admin-key")).to_be_focused()
    await screenshot(page, tmp_path, "logged-out")
    assert problems.errors == []
    await page.context.close()


async def test_a_phone_screen_shows_every_page_without_sideways_scrolling(
    console_stack: ConsoleStack, tmp_path: Path
) -> None:
    problems = PageProblems()
    page = await new_page(console_stack, problems, PHONE)
    await log_in(page)
    await expect(page.locator("#main h1")).to_have_text("Dashboard")
    for name, title in PAGES.items():
        await go(page, name)
        await expect(page.locator("#main h1")).to_have_text(title)
        await expect(page.locator("#main .notice")).to_have_count(0)  # loaded, no error notice
        for link in await page.locator("nav a").all():
            box = await link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} is {width} px wide"
        await screenshot(page, tmp_path, f"phone-{name}")
    assert problems.errors == []
    await page.context.close()


async def test_the_playground_without_streaming_and_with_a_bad_key(
    console_stack: ConsoleStack, tmp_path: Path
) -> None:
    problems = PageProblems(allowed={401})  # the bad key
    page = await new_page(console_stack, problems)
    await log_in(page)
    await go(page, "playground")
    await page.fill("#pg-key", "tr-no-such-key-0000000000")
    await page.click("#pg-load-models")
    await expect(page.locator("#pg-key-status")).to_contain_text("401")
    await page.fill("#pg-key", STATIC_KEY)
    await page.click("#pg-load-models")
    await expect(page.locator("#pg-model option")).to_have_count(len(console_stack.upstream.models))
    await page.uncheck("#pg-stream")
    for protocol in STREAMS:
        words = f"whole answer over {protocol}"
        assert (await chat(page, protocol, words)).startswith("Done in"), protocol
        await expect(page.locator("#transcript .msg.assistant .text").last).to_have_text(
            f"Mock reply to: {words}"
        )
        raw = await page.locator("#raw-response").inner_text()
        assert raw.startswith("HTTP 200") and "content-type: application/json" in raw
    await screenshot(page, tmp_path, "playground-whole-answers")
    assert problems.errors == []
    await page.context.close()


async def test_the_request_log_pages_and_filters(console_stack: ConsoleStack, tmp_path: Path) -> None:
    """More requests than a page holds: Older and Newer walk the cursor pages; the model filter
    narrows the table and the log."""
    stack = console_stack
    async with aiohttp.ClientSession() as http:
        for i in range(30):
            model = "gpt-4o" if i % 10 == 0 else "gpt-4o-mini"
            body = {"model": model, "messages": [{"role": "user", "content": f"page {i}"}]}
            async with http.post(
                f"{stack.gateway.base_url}/v1/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {PAGER_KEY}"},
            ) as response:
                assert response.status == 200
    records = await records_of(stack, "pager", 30)
    assert len(records) == 30
    problems = PageProblems()
    page = await new_page(stack, problems)
    await log_in(page)
    await go(page, "usage")
    await page.fill("#usage-key", "pager")
    await page.click("#usage-filters button[type=submit]")
    log = page.locator("#request-log tbody tr")
    await expect(log).to_have_count(25)
    newest = await log.first.locator("td[data-col=time]").inner_text()
    await page.click("#usage-log button:has-text('Older')")
    await expect(page.locator("#usage-log .pager")).to_contain_text("Page 2")
    await expect(log).to_have_count(5)
    await expect(page.locator("#usage-log button:has-text('Older')")).to_be_disabled()
    await page.click("#usage-log button:has-text('Newer')")
    await expect(page.locator("#usage-log .pager")).to_contain_text("Page 1")
    await expect(log.first.locator("td[data-col=time]")).to_have_text(newest)
    await page.fill("#usage-model", "gpt-4o")
    await page.click("#usage-filters button[type=submit]")
    gpt4o = sum(1 for record in records if record["model"] == "gpt-4o")
    assert gpt4o == 3
    await expect(log).to_have_count(gpt4o)
    await expect(page.locator("#usage-summary tbody tr")).to_have_count(1)
    await expect(page.locator("#usage-summary tbody td[data-col=requests]")).to_have_text(str(gpt4o))
    await page.fill("#usage-start", "2001-01-01")
    await page.fill("#usage-end", "2001-01-31")
    await page.click("#usage-filters button[type=submit]")
    await expect(page.locator("#usage-summary td.empty")).to_have_text("No requests match.")
    await screenshot(page, tmp_path, "usage-empty-range")
    assert problems.errors == []
    await page.context.close()
