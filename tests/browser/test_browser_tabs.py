"""Tabs: new pages and popups are tracked, listed, switchable, and closing one falls back sensibly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.browser import RunContext, TabInfo
from operator_agent.errors import BrowserError, InvalidActionError
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "browser"
FAST_MS = 5_000


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


async def _open_popup(run: RunContext, selector: str) -> Page:
    async with run.context.expect_page(timeout=FAST_MS) as popup_info:
        await run.page.click(selector)
    popup = await popup_info.value
    await popup.wait_for_load_state("load")
    return popup


async def test_popups_are_tracked_in_opening_order_and_become_active(
    run_context: RunContext, site: LocalServer
) -> None:
    home = run_context.page
    await home.goto(site.url + "/tabs.html")
    second = await _open_popup(run_context, "#blank-link")
    assert run_context.page is second
    await run_context.switch_to(0)
    third = await _open_popup(run_context, "#open-third")
    assert run_context.pages == [home, second, third]
    assert run_context.page is third
    assert await run_context.refresh_tabs() == [
        TabInfo(index=0, url=site.url + "/tabs.html", title="Tabs home", active=False),
        TabInfo(index=1, url=site.url + "/second.html", title="Second tab", active=False),
        TabInfo(index=2, url=site.url + "/third.html", title="Third tab", active=True),
    ]


async def test_cached_titles_follow_page_loads(run_context: RunContext, site: LocalServer) -> None:
    await run_context.page.goto(site.url + "/tabs.html")
    await _wait_for_title(run_context, 0, "Tabs home")
    await run_context.page.goto(site.url + "/second.html")
    await _wait_for_title(run_context, 0, "Second tab")


async def _wait_for_title(run: RunContext, index: int, title: str) -> None:
    for _ in range(100):
        if run.tabs()[index].title == title:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"tab {index} title stayed {run.tabs()[index].title!r}, expected {title!r}")


async def test_switch_to_makes_a_tab_active(run_context: RunContext, site: LocalServer) -> None:
    home = run_context.page
    await home.goto(site.url + "/tabs.html")
    second = await _open_popup(run_context, "#blank-link")
    assert [tab.active for tab in run_context.tabs()] == [False, True]
    assert await run_context.switch_to(0) is home
    assert run_context.page is home
    assert [tab.active for tab in run_context.tabs()] == [True, False]
    assert await run_context.switch_to(1) is second
    assert run_context.page is second


async def test_switch_to_a_missing_tab_lists_the_open_ones(
    run_context: RunContext, site: LocalServer
) -> None:
    await run_context.page.goto(site.url + "/tabs.html")
    await _open_popup(run_context, "#blank-link")
    await run_context.refresh_tabs()
    with pytest.raises(InvalidActionError) as caught:
        await run_context.switch_to(5)
    message = str(caught.value)
    assert "no tab with index 5" in message
    assert f"[0] {site.url}/tabs.html 'Tabs home'" in message
    assert f"[1] {site.url}/second.html 'Second tab' (active)" in message
    with pytest.raises(InvalidActionError):
        await run_context.switch_to(-1)


async def test_closing_the_active_tab_returns_to_the_one_active_before(
    run_context: RunContext, site: LocalServer
) -> None:
    home = run_context.page
    await home.goto(site.url + "/tabs.html")
    second = await _open_popup(run_context, "#blank-link")
    await run_context.switch_to(0)
    third = await _open_popup(run_context, "#open-third")
    await run_context.switch_to(1)
    await run_context.switch_to(2)
    # The page closes itself, as a "Done" button in a popup would.
    async with third.expect_event("close", timeout=FAST_MS):
        # Playwright's click can lose the race with the close it causes; the close event is what counts.
        with contextlib.suppress(PlaywrightError):
            await third.click("#close-me")
    assert run_context.page is second
    assert [tab.url for tab in run_context.tabs()] == [site.url + "/tabs.html", site.url + "/second.html"]
    await second.close()
    assert run_context.page is home
    assert run_context.tabs() == [
        TabInfo(index=0, url=site.url + "/tabs.html", title="Tabs home", active=True)
    ]


async def test_closing_every_tab_is_a_clear_error_until_a_new_one_opens(run_context: RunContext) -> None:
    await run_context.page.close()
    assert run_context.tabs() == []
    with pytest.raises(BrowserError, match="every tab of this run context is closed"):
        _ = run_context.page
    with pytest.raises(InvalidActionError, match="no tab is open"):
        await run_context.switch_to(0)
    page = await run_context.new_tab()
    assert run_context.page is page
    assert run_context.pages == [page]
