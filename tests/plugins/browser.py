"""Browser fixtures: one Chromium per test session, a fresh context and page per test.

- ``browser_session``: the session-wide :class:`BrowserSession` (Chromium found by ``find_chromium``).
- ``browser``: its Playwright ``Browser``.
- ``context``: a plain Playwright ``BrowserContext`` per test (1280x800, downloads accepted).
- ``page``: a fresh ``Page`` in ``context``.
- ``run_context``: a :class:`RunContext` per test, with downloads saved under the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from operator_agent.browser import BrowserSession, RunContext


@pytest.fixture(scope="session")
async def browser_session() -> AsyncIterator[BrowserSession]:
    async with BrowserSession() as session:
        yield session


@pytest.fixture(scope="session")
async def browser(browser_session: BrowserSession) -> Browser:
    return browser_session.browser


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
async def run_context(browser_session: BrowserSession, tmp_path: Path) -> AsyncIterator[RunContext]:
    async with await browser_session.new_context(downloads_dir=tmp_path / "downloads") as run:
        yield run
