"""Debian's chromium, driven by Playwright, as the browser tests and scripts/screenshots use it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.support import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TABLET = {"width": 1180, "height": 820}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000  # a deadline for things to show up, never a measure of speed


class Site(Protocol):
    """A running `gymfloor api` and the tokens of its users, by role."""

    base: str
    tokens: dict[str, str]


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class Tab:
    """A page in its own browser context, which records what the page complained about."""

    def __init__(self, browser: Browser, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.set_default_timeout(WAIT_MS)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):  # a CSP violation or a failed load among them
            self.problems.append(message.text)

    def sign_in(self, site: Site, path: str, role: str) -> Page:
        self.page.goto(f"{site.base}{path}")
        self.page.fill("#sign-in input", site.tokens[role])
        self.page.click("#sign-in button[type=submit]")
        return self.page

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def opened(browser: Browser, viewport: dict[str, int]) -> Iterator[Tab]:
    """A tab for one test, which fails if the page complained."""
    tab = Tab(browser, viewport)
    yield tab
    tab.close()
    assert tab.problems == [], tab.problems
