"""Debian's Chromium (the Makefile's ``chromium`` target installs it; no browser is ever downloaded)
driven by Playwright, and what the console tests check on every page: no script error, no console
error but the HTTP refusals a test provokes on purpose."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

# Chromium reports every failed fetch in the console; a refusal a test asks for is not a defect.
_REFUSED = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")
LAUNCH_TIMEOUT_MS = 60_000  # a busy 2-core box starts Chromium slowly


def chromium_executable() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("chromium is not installed: `make test` installs it (Debian package chromium)")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium for the test module (contexts are cheap; the browser is not)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(),
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
            args=["--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class PageProblems:
    """Script errors and console errors of one page. ``allowed`` lists the HTTP statuses the test
    provokes (a wrong key's 401): Chromium logs those fetches as console errors too."""

    allowed: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)
        return page

    def _on_page_error(self, error: Error) -> None:
        self.errors.append(f"script error: {error}")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type not in ("error", "assert"):
            return
        refused = _REFUSED.match(message.text)
        if refused and int(refused.group(1)) in self.allowed:
            return
        self.errors.append(f"console {message.type}: {message.text} ({message.location.get('url', '')})")


async def screenshot(page: Page, folder: Path, name: str) -> Path:
    """The whole page as a PNG (Playwright makes the folder)."""
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
