"""Mock sites from recordings: a browsing session on the back office recorded as a HAR, stripped of
cookies and secrets, then served offline to a fresh context that never signed in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import ReplayError
from operator_agent.replay import record_har, replay_har, sanitize_har
from operator_agent.testing.backoffice import BackofficeSite


async def _record(browser: Browser, site: BackofficeSite, har: Path) -> str:
    """Browse the signed-in back office: the invoice list, a search, the first invoice; returns its path."""
    context = await browser.new_context()
    await site.sign_in(context)
    await record_har(context, har, url=site.url + "/**")
    page = await context.new_page()
    await page.goto(site.url + "/invoices")
    first = page.locator("table a[href^='/invoices/']").first
    href = str(await first.get_attribute("href"))
    await first.click()
    await page.wait_for_url("**" + href)
    await context.close()  # the HAR is written now
    return href


async def test_a_recorded_session_is_served_offline_without_its_cookies(
    browser: Browser, site: BackofficeSite, tmp_path: Path
) -> None:
    har = tmp_path / "backoffice.har"
    href = await _record(browser, site, har)
    recorded = json.loads(har.read_text())["log"]["entries"]
    cookies = {c["value"] for e in recorded for c in e["request"]["cookies"]}
    assert cookies  # the session cookie went along with every request

    entries = sanitize_har(har)

    text = har.read_text()
    assert entries == len(recorded)
    for cookie in cookies:
        assert cookie not in text
    for entry in json.loads(text)["log"]["entries"]:
        for part in (entry["request"], entry["response"]):
            assert not [h for h in part["headers"] if h["name"].lower() in ("cookie", "set-cookie")]
            assert part["cookies"] == []

    # A fresh context that never signed in gets the recorded pages, and the site sees no request.
    before = site.state().requests
    context = await browser.new_context()
    try:
        await replay_har(context, har)
        page = await context.new_page()
        await page.goto(site.url + "/invoices")
        assert await page.get_by_role("heading", level=1).inner_text() == "Invoices"
        await page.get_by_role("link", name=await page.locator(f"a[href='{href}']").inner_text()).click()
        await page.wait_for_url("**" + href)
        # What was never recorded fails instead of reaching the network.
        with pytest.raises(PlaywrightError):
            await page.goto(site.url + "/vendors")
    finally:
        await context.close()
    assert site.state().requests == before


async def test_bad_recordings_give_clear_errors(browser: Browser, tmp_path: Path) -> None:
    context = await browser.new_context()
    try:
        with pytest.raises(ReplayError, match="no HAR recording at"):
            await replay_har(context, tmp_path / "missing.har")
        bogus = tmp_path / "bogus.har"
        await asyncio.to_thread(bogus.write_text, '{"entries": []}')
        with pytest.raises(ReplayError, match="is not a HAR file"):
            await replay_har(context, bogus)
    finally:
        await context.close()
    broken = tmp_path / "broken.har"
    broken.write_text("{")
    with pytest.raises(ReplayError, match="invalid JSON"):
        sanitize_har(broken)
