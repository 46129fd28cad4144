"""Fault modes seen from the browser: interstitials, session expiry, slow spinners, re-rendered rows."""

from __future__ import annotations

import re
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest
from playwright.async_api import BrowserContext, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from operator_agent.testing.backoffice import BackofficeSite, FaultConfig


def _interstitial_seeds(site: BackofficeSite) -> dict[str, int]:
    """For each interstitial kind, a fault seed whose first /invoices load shows it."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    creds = site.credentials
    login = urlencode({"username": creds.username, "password": creds.password}).encode()
    seeds: dict[str, int] = {}
    for seed in range(40):
        site.reset()
        site.set_faults(FaultConfig(seed=seed, interstitial_rate=1.0))
        opener.open(site.url + "/login", data=login).read()
        events = [e for e in site.state().fault_events if e.kind == "interstitial"]
        assert events
        assert events[-1].path == "/invoices"
        seeds.setdefault(str(events[-1].modal), seed)
        if len(seeds) == 3:
            return seeds
    raise AssertionError(f"not every interstitial kind appeared: {seeds}")


async def test_interstitials_block_the_page_until_dismissed(
    site: BackofficeSite, context: BrowserContext, page: Page
) -> None:
    seeds = _interstitial_seeds(site)
    dismiss = {
        "session_warning": ("Your session is about to expire", "Stay signed in"),
        "cookie_banner": ("We value your privacy", "Reject"),
        "whats_new": ("What's new in Back Office", "Close"),
    }
    for kind, (title, button) in dismiss.items():
        site.reset()
        site.set_faults(FaultConfig(seed=seeds[kind], interstitial_rate=1.0))
        await site.sign_in(context)
        await page.goto(site.url + "/invoices")
        dialog = page.get_by_role("dialog", name=title)
        await expect(dialog).to_be_visible()
        new_invoice = page.get_by_role("link", name="New invoice")
        with pytest.raises(PlaywrightTimeoutError):
            await new_invoice.click(timeout=300, trial=True)  # the overlay intercepts the click
        await dialog.get_by_role("button", name=button).click()
        await expect(dialog).to_have_count(0)
        await new_invoice.click(trial=True)
        kinds = [e.modal for e in site.state().fault_events if e.kind == "interstitial"]
        assert kinds == [kind]


async def test_session_expiry_fault_sends_to_login_then_back(site: BackofficeSite, page: Page) -> None:
    site.set_faults(FaultConfig(session_expiry_after=2))
    creds = site.credentials
    await page.goto(site.url + "/login")
    await page.get_by_label("Username").fill(creds.username)
    await page.get_by_label("Password").fill(creds.password)
    await page.get_by_role("button", name="Sign in").click()  # -> /invoices, request 1
    await page.goto(site.url + "/vendors")  # request 2
    await page.goto(site.url + "/tickets?status=pending")  # request 3: expired
    await expect(page).to_have_url(re.compile(r"/login\?next=/tickets%3Fstatus%3Dpending&expired=1$"))
    await expect(page.get_by_text("Your session has expired. Please sign in again.")).to_be_visible()
    await page.get_by_label("Username").fill(creds.username)
    await page.get_by_label("Password").fill(creds.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(site.url + "/tickets?status=pending")
    state = site.state()
    assert [e.outcome for e in state.logins] == ["success", "expired", "success"]
    assert [(e.kind, e.path) for e in state.fault_events] == [("session_expired", "/tickets")]


async def test_slow_spinner_hides_the_list_first(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    # Long enough that a loaded machine still sees the spinner before it goes.
    site.set_faults(FaultConfig(slow_spinner_ms=2500))
    await page.goto(site.url + "/invoices", wait_until="domcontentloaded")
    await expect(page.get_by_role("status").filter(has_text="Loading…")).to_be_visible()
    await expect(page.get_by_role("table")).to_be_hidden()
    await expect(page.get_by_role("table")).to_be_visible()
    await expect(page.get_by_text("Loading…")).to_have_count(0)


async def test_rerender_detaches_rows_after_load(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    site.set_faults(FaultConfig(rerender_rate=1.0))
    # Count table rows taken out of the document, from before any page script runs.
    await page.add_init_script(
        """window.__detachedRows = 0;
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.removedNodes) if (n.nodeName === "TR") window.__detachedRows++;
        }).observe(document, {childList: true, subtree: true});"""
    )
    await page.goto(site.url + "/invoices")
    await page.wait_for_function("window.__detachedRows === 25")
    await expect(page.locator("table tbody tr")).to_have_count(25)  # same rows, new nodes
    assert [e.kind for e in site.state().fault_events] == ["rerender"]
    site.set_faults(None)
    await page.goto(site.url + "/invoices")
    await page.wait_for_timeout(600)
    assert await page.evaluate("window.__detachedRows") == 0
