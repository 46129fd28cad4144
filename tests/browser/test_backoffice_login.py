"""Sign-in to the mock back office: password, TOTP step, redirect back, sign-out, session expiry."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.async_api import BrowserContext, Page, expect

from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(scope="module")
def totp_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(totp_secret=SECRET, invoice_count=40) as running:
        yield running


def _wrong_code() -> str:
    totp = pyotp.TOTP(SECRET)
    now = time.time()
    valid = {totp.at(now + shift) for shift in (-60, -30, 0, 30, 60)}
    return next(code for code in ("123456", "654321", "111111", "222222", "333333") if code not in valid)


async def _password_step(page: Page, site: BackofficeSite, password: str) -> None:
    await page.get_by_label("Username").fill(site.credentials.username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_wrong_password_shows_inline_error_and_keeps_the_username(
    site: BackofficeSite, page: Page
) -> None:
    await page.goto(site.url + "/invoices")
    await expect(page).to_have_url(re.compile(r"/login\?next=/invoices$"))
    await _password_step(page, site, "not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    await expect(page.get_by_label("Username")).to_have_value(site.credentials.username)
    await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    assert [event.outcome for event in site.state().logins] == ["bad_password"]


async def test_password_login_without_totp_returns_to_the_requested_page(
    site: BackofficeSite, page: Page, context: BrowserContext
) -> None:
    await page.goto(site.url + "/invoices?status=paid&sort=amount")
    await _password_step(page, site, site.credentials.password)
    await expect(page).to_have_url(site.url + "/invoices?status=paid&sort=amount")
    cookie = next(c for c in await context.cookies() if c["name"] == "bo_session")
    assert cookie["httpOnly"] is True
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto(site.url + "/vendors")
    await expect(page).to_have_url(re.compile(r"/login\?next=/vendors$"))
    assert [event.outcome for event in site.state().logins] == ["success", "logout"]


async def test_totp_step_is_required_rejects_a_wrong_code_then_redirects_back(
    totp_site: BackofficeSite, page: Page
) -> None:
    totp_site.reset()
    await page.goto(totp_site.url + "/tickets?status=open")
    await _password_step(page, totp_site, totp_site.credentials.password)
    await expect(page).to_have_url(totp_site.url + "/login/code")
    # The second step cannot be skipped by browsing elsewhere.
    await page.goto(totp_site.url + "/invoices")
    await expect(page).to_have_url(re.compile(r"/login\?next=/invoices$"))
    await page.goto(totp_site.url + "/login/code")
    await page.get_by_label("Authentication code").fill(_wrong_code())
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_text("That code is not valid.")).to_be_visible()
    await expect(page.get_by_label("Authentication code")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Authentication code").fill(totp_site.totp_now())
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(totp_site.url + "/tickets?status=open")
    await expect(page.get_by_role("heading", name="Helpdesk")).to_be_visible()
    outcomes = [event.outcome for event in totp_site.state().logins]
    assert outcomes == ["password_ok", "bad_code", "success"]


async def test_idle_session_expires_and_login_returns_to_the_page(
    page: Page, context: BrowserContext
) -> None:
    with serve_backoffice(session_ttl_s=1, invoice_count=30) as short:
        await short.sign_in(context)
        await page.goto(short.url + "/vendors")
        await expect(page.get_by_role("heading", name="Vendors")).to_be_visible()
        await page.wait_for_timeout(1300)
        await page.goto(short.url + "/vendors?q=acme")
        await expect(page).to_have_url(re.compile(r"/login\?next=/vendors%3Fq%3Dacme$"))
        await _password_step(page, short, short.credentials.password)
        await expect(page).to_have_url(short.url + "/vendors?q=acme")
        assert [event.outcome for event in short.state().logins] == ["expired", "success"]
