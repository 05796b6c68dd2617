"""The browser the page tests share (one chromium per module) and a tab of it at each size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.browser import PHONE, TABLET, Tab, chromium, opened


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    yield from opened(browser, TABLET)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:
    yield from opened(browser, PHONE)
